"""Emulated EC2 hosts running JERP: the real service, in the instance's namespace."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from harness.dataplane.netns import NamespacedProcess, OneProcess
from harness.settings import REPO_ROOT


@dataclass(frozen=True)
class JerpSpec:
    """JERP on one instance: listen on its private address at the target port."""

    instance_id: str
    namespace: str
    ip: str
    port: int
    proxy_protocol: str = ""  # JERP_PROXY_PROTOCOL from the instance's user data


def jerp_env(spec: JerpSpec) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "JERP_HOST": spec.ip,
        "JERP_PORT": str(spec.port),
        "JERP_INSTANCE_ID": spec.instance_id,
    }
    if spec.proxy_protocol:
        env["JERP_PROXY_PROTOCOL"] = spec.proxy_protocol
    return env


class JerpHost(OneProcess):
    """``python -m jerp`` inside an instance namespace; start()/stop(), context manager."""

    def __init__(self, spec: JerpSpec, log_path: Path, python: str = sys.executable) -> None:
        self.spec = spec
        self.process = NamespacedProcess(
            f"jerp on {spec.instance_id}",
            [python, "-m", "jerp"],
            namespace=spec.namespace,
            env=jerp_env(spec),
            log_path=log_path,
        )
