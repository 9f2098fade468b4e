"""A real data plane (namespaces, HAProxy, dnsmasq, nftables, JERP) for the root tests, driven
by a topology the test sets instead of a control plane.

``emulated(...)`` starts one and yields an :class:`Env`: ``env.converge(topology)`` is what the
daemon does when the control plane changes, ``env.until(...)`` reconciles until a condition
holds, ``env.reports`` collects the target health the data plane would report.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.dataplane.planner import new_env_id
from harness.dataplane.reconciler import DataPlane
from harness.dataplane.topology import Topology
from harness.processes import wait_for

JERP_PYTHON = sys.executable  # this checkout's JERP, in the test's own virtualenv


@dataclass
class Env:
    plane: DataPlane
    topology: Topology
    reports: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def ns(self, ref: str) -> str:
        return f"{self.plane.env_id}-{ref}"

    def sh(self, ref: str, *cmd: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(ref), *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def converge(self, topology: Topology) -> list[str]:
        self.topology = topology
        return self.plane.reconcile()

    def until(self, description: str, check: Callable[[], bool], timeout_s: float = 30) -> None:
        """Reconcile (as the daemon does every 2 s) until ``check`` holds."""

        def step() -> bool:
            self.plane.reconcile()
            return check()

        wait_for(description, step, timeout_s)


@contextmanager
def emulated(state_dir: Path, prefix: str, topology: Topology) -> Iterator[Env]:
    """A data plane converging to ``env.topology``; stopped (nothing left) on exit."""
    holder: list[Env] = []
    plane = DataPlane(
        state_dir,
        new_env_id(prefix),
        lambda: holder[0].topology,
        lambda arn, targets: holder[0].reports.append((arn, targets)),
        python=JERP_PYTHON,
    )
    holder.append(Env(plane, topology))
    with plane:
        yield holder[0]


def curl(env: Env, ref: str, url: str, seconds: int = 3) -> subprocess.CompletedProcess[str]:
    return env.sh(ref, "curl", "-sS", "-m", str(seconds), url)
