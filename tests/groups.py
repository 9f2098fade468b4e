"""Which tests share a pytest-xdist worker (``make test`` runs ``pytest -n <N> --dist loadgroup``).

Most of the slow tests wait rather than compute (Terraform's fixed 30 s load-balancer waits,
LocalStack and Docker start-ups), so independent groups run side by side. A group keeps
together what shares a session resource that must exist once:

- every test that uses the e2e ``deployment`` (one deployed stack);
- everything that talks to the Docker engine (one private ``dockerd`` per data root), which
  includes LocalStack in container mode (with ``LOCALSTACK_MODE=container``, every integration
  and e2e test);
- every test of one LocalStack release variant (one virtualenv to install);
- the tests of one module that need LocalStack, root or Terraform (module-scoped fixtures).

Unit tests belong to no group and are spread over the workers one by one.
"""

from __future__ import annotations

import functools

import pytest

from harness.settings import load_settings

_SLOW_MARKERS = ("root", "integration", "e2e", "docker")


@functools.cache
def _container_mode() -> bool:
    """Whether the run's LocalStacks are containers (``LOCALSTACK_MODE=container``)."""
    return load_settings().localstack_mode == "container"


def group_of(item: pytest.Item) -> str | None:
    names = set(getattr(item, "fixturenames", ()))
    callspec = getattr(item, "callspec", None)
    variant = callspec.params.get("localstack") if callspec is not None else None
    if variant is not None:
        mode = getattr(variant, "mode", "host")
        return "docker" if mode == "container" else f"localstack-{getattr(variant, 'id', variant)}"
    if item.get_closest_marker("docker") or "docker_engine" in names:
        return "docker"
    # In container mode every LocalStack a test starts (the session's, a module's own, the
    # harness's in e2e) runs on the one engine, so all of them share its worker.
    if _container_mode() and any(item.get_closest_marker(m) for m in ("integration", "e2e")):
        return "docker"
    if "deployment" in names:
        return "e2e-deployment"
    if "localstack" in names or any(item.get_closest_marker(m) for m in _SLOW_MARKERS):
        return f"module:{item.path}"
    return None


@pytest.hookimpl(tryfirst=True)  # before xdist turns the marker into the node id's group
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        group = group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
