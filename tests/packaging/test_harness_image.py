"""The all-in-one harness image, built once (on a debootstrapped trixie: no registry) and run
once, as the README says: ``docker run --rm --privileged jerp-harness deploy check destroy``.

The container gets its own network namespace with nothing but loopback (``--network none``):
the deploy needs no network (LocalStack, the wheelhouse and the Terraform provider are in the
image or mounted), and everything the emulator creates lives and dies in that namespace.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness.packaging.docker_engine import DockerEngine
from harness.packaging.images import TRIXIE_BASE, build_harness_image, debian_base_image
from tests.docker_support import image_cache, terraform_provider_mirror

pytestmark = [pytest.mark.docker, pytest.mark.requires("terraform", "debootstrap", "ip")]

RUN_TIMEOUT_S = 420
# The container's data plane names its namespaces with this prefix, which no host-side test
# uses: the other workers' namespaces come and go meanwhile, and only these would be a leak.
ENV_PREFIX = "jh"
MIRROR_TARGET = "/usr/local/share/terraform/plugins"  # Terraform's implied mirror directory
# Linux capability numbers 0..40, as `docker run --privileged` grants them.
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def _lacking_capabilities() -> list[str]:
    """The capabilities this machine cannot grant (it is itself a container without them)."""
    found = re.search(r"^CapBnd:\s*([0-9a-f]+)$", Path("/proc/self/status").read_text(), re.M)
    assert found is not None, "no CapBnd line in /proc/self/status"
    bounding = int(found[1], 16)
    return [name for bit, name in enumerate(CAPABILITIES) if not bounding >> bit & 1]


def _run_harness(
    engine: DockerEngine, image: str, mirror: Path | None, name: str
) -> tuple[int, str]:
    """``docker run --rm --privileged --network none <image> deploy check destroy``: its exit
    status and output.

    Through testcontainers where ``--privileged`` works. A machine that is itself a container
    without every capability cannot grant it (runc: "unable to apply caps"); there the same run
    goes through the docker CLI with all that --privileged gives and the machine has (its
    capabilities, no seccomp or AppArmor confinement, a writable /proc/sys, which the
    emulator's routers need for their sysctls): docker-py cannot express the CLI's
    ``systempaths=unconfined``."""
    lacking = _lacking_capabilities()
    if not lacking:
        from testcontainers.core.container import DockerContainer

        container = (
            DockerContainer(image, command="deploy check destroy")
            .with_kwargs(network_mode="none", privileged=True)
            .with_env("HARNESS_ENV_PREFIX", ENV_PREFIX)
        )
        if mirror is not None:
            container.with_volume_mapping(str(mirror), MIRROR_TARGET, "ro")
        container.start()
        try:
            wrapped = container.get_wrapped_container()
            status = wrapped.wait(timeout=RUN_TIMEOUT_S)
            return int(status["StatusCode"]), wrapped.logs().decode(errors="replace")
        finally:
            container.stop()
    argv = ["docker", "run", "--rm", "--name", name, "--network", "none", "--cap-add", "ALL"]
    argv += ["--env", f"HARNESS_ENV_PREFIX={ENV_PREFIX}"]
    argv += [f"--cap-drop={cap}" for cap in lacking]
    for option in ("seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"):
        argv += ["--security-opt", option]
    if mirror is not None:
        argv += ["--volume", f"{mirror}:{MIRROR_TARGET}:ro"]
    env = engine.subprocess_env()
    try:
        done = subprocess.run(
            [*argv, image, "deploy", "check", "destroy"],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        subprocess.run(["docker", "rm", "--force", name], env=env, check=False)
        raise
    return done.returncode, done.stdout + done.stderr


def _host_network() -> dict[str, str]:
    """What the host's network looks like: interfaces, the container's would-be namespaces,
    routes, nftables tables."""
    commands = {
        "links": ["ip", "-o", "link", "show"],
        "netns": ["ip", "netns", "list"],
        "routes": ["ip", "route", "show", "table", "all"],
        "nft": ["nft", "list", "tables"],
    }
    snapshot = {}
    for name, argv in commands.items():
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        # Link state changes on its own; names and addresses must not.
        lines = out.splitlines()
        if name == "netns":
            lines = [line for line in lines if line.startswith(ENV_PREFIX)]
        snapshot[name] = "\n".join(sorted(re.sub(r"state \S+", "", line) for line in lines))
    return snapshot


def test_harness_container_deploys_checks_and_destroys_leaving_nothing_on_the_host(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    started = time.monotonic()
    base = debian_base_image(docker_engine, image_cache(), TRIXIE_BASE)
    image = build_harness_image(docker_engine, tmp_path, "terraform", base_image=base)
    built = time.monotonic() - started
    before = _host_network()

    status, logs = _run_harness(
        docker_engine, image, terraform_provider_mirror(), f"jerp-harness-test-{os.getpid()}"
    )
    ran = time.monotonic() - started - built
    print(f"harness image: build {built:.0f}s, deploy+check+destroy {ran:.0f}s")

    assert status == 0, logs[-6000:]
    assert re.search(
        r"^# nslookup jerp-nlb-[0-9a-f]{16}\.elb\.ap-northeast-2\.amazonaws\.com$", logs, re.M
    ), logs[-6000:]
    assert "Server:\t\t10.10.0.2" in logs
    assert re.search(r"^Address: 10\.10\.1\.\d+$", logs, re.M)
    assert re.search(r"^Address: 10\.10\.3\.\d+$", logs, re.M)
    assert re.search(
        r"^# curl vpce-[0-9a-z-]+\.vpce-svc-[0-9a-f]{17}\..*/user/yundream$", logs, re.M
    )
    assert re.search(r"^Hello yundream!\. How are you$", logs, re.M)
    summary = re.search(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", logs, re.M)
    assert summary is not None, logs[-6000:]
    # Skips are checks that do not apply to this deployment (the pending/rejected check on an
    # available endpoint, private DNS where the service has none); each says why.
    assert int(summary[1]) > 0 and summary[2] == "0", logs[-6000:]
    assert _host_network() == before
