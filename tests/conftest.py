"""What every test directory shares: one requirement check per marker, one ``free_port``, the
seed topology (``topology``, from ``tests/seed.py``), and one real LocalStack (with the kit's
plug-in) per session for the tests that ask for it.

Requirements are declared with markers and checked here, in one place, so a skipped test always
says exactly what is missing and how to run it:

- ``root``: root and the data-plane tools (network namespaces, nftables, HAProxy, dnsmasq, ...);
- ``integration``: a Python >= 3.13 for LocalStack and Terraform on PATH;
- ``e2e``: both of the above;
- ``requires("dot", ...)``: the named programs on PATH.

Before anything starts, the session removes what an interrupted one left (``tests/leftovers.py``)
and marks itself, so the next session can do the same for it.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterable, Iterator

import pytest

from harness import preflight
from harness.controlplane.aws import AwsClients
from harness.controlplane.localstack import LocalStackProcess, health
from harness.controlplane.localstack_container import LocalStackContainer
from harness.dataplane.topology import Topology
from harness.packaging.docker_engine import DockerEngine
from harness.preflight import Finding
from harness.settings import HarnessSettings, load_settings
from tests.docker_support import session_engine
from tests.leftovers import mark_session, sweep
from tests.localstack_variants import container_image, running, settings_for
from tests.seed import seed_topology

# Which tests share an xdist worker (`make test` runs the suite with -n N --dist loadgroup).
pytest_plugins = ["tests.groups"]

HOW_TO_RUN_ROOT = "run `sudo make test` (or the harness image: README 'Without root')"
_SWEPT = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    # The controller sweeps and marks; xdist workers inherit its mark (and must not sweep:
    # they start after it, and a worker of this very session is no leftover).
    if hasattr(config, "workerinput"):
        return
    config.stash[_SWEPT] = sweep()
    mark_session()


def pytest_report_header(config: pytest.Config) -> list[str]:
    removed = config.stash.get(_SWEPT, [])
    return (
        [f"removed what an interrupted test session left: {', '.join(removed)}"] if removed else []
    )


@pytest.fixture
def topology() -> Topology:
    """The seed article's deployment (``tests/seed.py``); variants come from ``seed_topology``."""
    return seed_topology()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tools(programs: Iterable[str]) -> list[Finding]:
    known = {**preflight.DATAPLANE_TOOLS, **preflight.TEST_TOOLS}
    return preflight.check_tools({p: known.get(p, p) for p in programs})


def _root() -> list[Finding]:
    return [Finding(f.what, HOW_TO_RUN_ROOT) for f in preflight.check_root()]


@functools.cache  # one probe of the interpreters and Terraform per session, not one per test
def _localstack_and_terraform() -> list[Finding]:
    settings = load_settings()
    minimum = preflight.required_terraform(settings.stack_dir / "versions.tf")
    return [
        *preflight.check_localstack_python(settings, preflight.os_release()),
        *preflight.check_terraform(settings.terraform_bin, minimum),
    ]


def missing_for(item: pytest.Item) -> list[Finding]:
    """Everything the markers of ``item`` need that this machine does not have: the same
    checks (and fixes) as ``harness preflight``."""
    missing: list[Finding] = []
    names = {m.name for m in item.iter_markers()}
    if names & {"root", "e2e"}:
        missing += _root() + _tools(preflight.DATAPLANE_TOOLS)
    if names & {"integration", "e2e"}:
        missing += _localstack_and_terraform()
    for marker in item.iter_markers("requires"):
        missing += _tools(str(a) for a in marker.args)
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        missing = missing_for(item)
        if missing:
            needs = "; ".join(f"{m.what} (fix: {m.fix})" for m in missing)
            item.add_marker(pytest.mark.skip(reason=f"needs {needs}"))


# --------------------------------------------------------------------------- LocalStack


@pytest.fixture(scope="session")
def ls_settings(tmp_path_factory: pytest.TempPathFactory) -> HarnessSettings:
    return load_settings(
        STACK="local",
        LOCALSTACK_ENDPOINT=None,
        LOCALSTACK_PORT=free_port(),
        HARNESS_STATE_DIR=str(tmp_path_factory.mktemp("localstack-state")),
    )


@pytest.fixture(scope="session")
def localstack(
    request: pytest.FixtureRequest, ls_settings: HarnessSettings
) -> Iterator[LocalStackProcess | LocalStackContainer]:
    """One real LocalStack with the plug-in for the session, or the matrix variant a module
    asks for (``tests/localstack_variants.py``); checked to be gone after."""
    settings = settings_for(ls_settings, getattr(request, "param", None))
    with running(settings, request) as process:
        yield process
    assert health(process.url, timeout_s=1.0) is None, "LocalStack still answers after stop"


@pytest.fixture(scope="session")
def localstack_env(request: pytest.FixtureRequest, ls_settings: HarnessSettings) -> dict[str, str]:
    """Settings for a LocalStack the harness starts itself (``deploy`` in process, or
    ``python -m harness`` with the test's environment) in the run's ``LOCALSTACK_MODE``: none in
    host mode; in container mode ``LOCALSTACK_IMAGE``, the image built for the session, since
    the harness's own default needs a registry. The session's engine is in ``os.environ``
    (``DOCKER_HOST``) while ``docker_engine`` lives, so the harness uses that engine too."""
    if ls_settings.localstack_mode == "host":
        return {}
    return {"LOCALSTACK_IMAGE": container_image(ls_settings, request)}


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """The session's Docker engine (``tests/docker_support.py``)."""
    yield from session_engine()


@pytest.fixture(scope="session")
def clients(
    localstack: LocalStackProcess | LocalStackContainer, ls_settings: HarnessSettings
) -> AwsClients:
    return AwsClients(region=ls_settings.region, endpoint_url=localstack.url)
