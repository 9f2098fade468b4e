"""The local stack's benchmark: one fresh deploy, measured by phase, then on that deployment the
greeting throughput (``bench.dataplane_bench``), change-to-traffic latency
(``bench.follow_bench``), scale (``bench.scale_bench``) and a no-change re-deploy; then destroy.

    python -m bench.stack_bench [--trials 10] [--sizes 1,20,100] [--skip throughput,...]

Needs root (namespaces) and the local stack's prerequisites (``make deploy`` works). It uses a
state directory of its own (``<state dir>/bench``) and a free LocalStack port, so a stack the
user deployed is left alone. Bounded: every wait has a deadline, trials 1..30, sizes 1..100;
the stack is destroyed at the end, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, PrerequisiteError

PARTS = ("throughput", "follow", "scale", "redeploy")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(settings: Any, trials: int, sizes: tuple[int, ...], skip: set[str]) -> dict[str, Any]:
    from bench import dataplane_bench, deploy_bench, follow_bench, scale_bench
    from harness.deploy import destroy

    report: dict[str, Any] = {}
    try:
        deployment, report["deploy"] = deploy_bench.fresh(settings)
        print(deploy_bench.format_report(report["deploy"], None), flush=True)
        outputs, clients = deployment.outputs, deployment.clients
        # The re-deploy first: the latency trials re-create the endpoint's ingress rule under a
        # new rule id, which Terraform would then try to create again.
        parts: dict[str, tuple[Callable[[], Any], Callable[[Any], str]]] = {
            "redeploy": (
                lambda: deploy_bench.redeploy(settings),
                lambda again: deploy_bench.format_report(report["deploy"], again),
            ),
            "throughput": (
                lambda: dataplane_bench.run(settings, 5, 2, 8, fresh=False),
                dataplane_bench.format_report,
            ),
            "follow": (
                lambda: follow_bench.run(settings, outputs, clients, trials),
                follow_bench.format_report,
            ),
            "scale": (
                lambda: scale_bench.run(settings, outputs, clients, sizes),
                scale_bench.format_report,
            ),
        }
        for name, (measure, present) in parts.items():
            if name in skip:
                continue
            # One part failing (a timeout, a bug) still leaves the others' numbers.
            try:
                report[name] = measure()
            except Exception as exc:
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"{name}: failed: {exc}", flush=True)
                continue
            print(present(report[name]), flush=True)
    finally:
        destroy(settings)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    from harness.settings import load_settings

    parser = argparse.ArgumentParser(prog="bench.stack_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per change (latency)")
    parser.add_argument("--sizes", default="1,20,100", help="consumer VPCs per scale step")
    parser.add_argument("--skip", default="", help=f"comma-separated parts of {PARTS}")
    parser.add_argument("--json", default="reports/stack-bench.json", help="write results here")
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.sizes.split(",") if s)
    except ValueError:
        parser.error(f"--sizes takes comma-separated integers, not {args.sizes!r}")
    skip = {s for s in args.skip.split(",") if s}
    if not 1 <= args.trials <= 30 or not sizes or not all(1 <= s <= 100 for s in sizes):
        parser.error("keep it bounded: --trials 1..30, --sizes each 1..100")
    if skip - set(PARTS):
        parser.error(f"unknown parts {sorted(skip - set(PARTS))}; choose from {', '.join(PARTS)}")
    try:
        user = load_settings()
        settings = load_settings(
            STACK=user.stack,
            LOCALSTACK_ENDPOINT=None,
            LOCALSTACK_PORT=_free_port(),
            HARNESS_STATE_DIR=str(user.state_dir / "bench"),
        )
        if settings.stack != "local" or os.geteuid() != 0:
            raise PrerequisiteError(
                "the stack benchmark runs the local stack as root (network namespaces)",
                hint="sudo make bench with STACK=local, or inside the harness image",
            )
        report = run(settings, args.trials, sizes, skip)
    except HarnessError as err:
        print(f"error: {err}\nfix: {err.hint}", file=sys.stderr)
        return 2
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  (results in {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
