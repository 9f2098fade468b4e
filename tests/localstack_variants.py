"""Which LocalStack the session's ``localstack`` fixture runs: the kit's default (a host
process on localstack-core 2026.3.0), or a variant of the matrix the plug-in is tested on.

``test_localstack_plugin.py`` runs on the default and on every :data:`MATRIX` variant (the
other localstack-core release, and LocalStack in a container from the derived image); the
rest of the suite runs on the default only, which keeps the CI budget. ``LOCALSTACK_MODE``
and ``LOCALSTACK_VERSION`` in the environment change the default for a whole run: every
LocalStack the tests start, in process (``running``) or through ``python -m harness``
(``localstack_env`` in ``tests/conftest.py``), is then of that mode and release.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from harness.controlplane.localstack import LocalStackProcess
from harness.controlplane.localstack_container import LocalStackContainer
from harness.settings import HarnessSettings


@dataclass(frozen=True)
class Variant:
    mode: str
    version: str

    @property
    def id(self) -> str:
        return f"{self.mode}-{self.version}"


MATRIX = (Variant("host", "4.14.0"), Variant("container", "4.14.0"))


def settings_for(base: HarnessSettings, variant: Variant | None) -> HarnessSettings:
    if variant is None:
        return base
    return base.model_copy(
        update={"localstack_mode": variant.mode, "localstack_version": variant.version}
    )


def container_image(settings: HarnessSettings, request: pytest.FixtureRequest) -> str:
    """The image container mode runs for ``settings``: ``docker/localstack.Dockerfile`` built
    on the session's engine FROM a LocalStack base with that localstack-core release
    (``tests/docker_support.localstack_image``)."""
    from tests.docker_support import localstack_image

    engine = request.getfixturevalue("docker_engine")
    work = request.getfixturevalue("tmp_path_factory").mktemp("localstack-image")
    return localstack_image(engine, settings.localstack_version, work)


@contextmanager
def running(
    settings: HarnessSettings, request: pytest.FixtureRequest
) -> Iterator[LocalStackProcess | LocalStackContainer]:
    """LocalStack for ``settings``: a host process, or a container of :func:`container_image`."""
    if settings.localstack_mode == "host":
        with LocalStackProcess(settings) as process:
            yield process
        return
    image = container_image(settings, request)
    engine = request.getfixturevalue("docker_engine")
    with LocalStackContainer(
        settings.model_copy(update={"localstack_image": image}), engine
    ) as container:
        yield container
