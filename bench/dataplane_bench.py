"""Data-plane benchmark: the greeting over the PrivateLink path versus straight to a target.

Two subjects, measured side by side in the same run with wrk inside the emulated hosts'
network namespaces (alternating rounds, so CPU noise from other work hits both alike):

- ``vpce``: from the consumer client to ``<zonal vpce name>/user/yundream`` -- endpoint ENI,
  one-way bridge, NLB node, target (the zonal name of target A's AZ, so with cross-zone off
  every request lands on target A);
- ``direct``: from the NLB node in target A's AZ straight to target A's address and port:
  the source the NLB itself connects from, so target A sees the same peer on both paths (the
  consumer has no route to a target, by design, and the other target's security group egress
  rules, enforced since ``sg-egress-enforced``, do not let it open the target port).

Targets (issue 7): vpce throughput at least 0.9x direct with a p99 at most 0.5 ms above
direct's, and, with ``--fresh``, ``make deploy`` to the first successful greeting under 2
minutes. Needs root and a local stack (``make deploy``), or
``--fresh`` to deploy one, measure, and destroy it again. Bounded: ``--duration`` seconds per
subject per round, ``--rounds`` rounds, a 1 s warm-up each.

    python -m bench.dataplane_bench [--duration 5] [--rounds 2] [--connections 8] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, PrerequisiteError

RATIO_TARGET = 0.9
P99_MARGIN_MS = 0.5
DEPLOY_TARGET_S = 120.0
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors plus non-2xx responses


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Requests/sec, p50/p99 (``--latency``) and errors from wrk's report."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p50 and p99 and total):
        raise HarnessError(
            f"could not read wrk's report:\n{output.strip()[:800]}",
            hint="run wrk with --latency; is the URL answering at all?",
        )
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)) + sum(
        int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output)
    )
    return WrkResult(
        float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(total.group(1)), errors
    )


def wrk_argv(url: str, duration_s: float, connections: int) -> list[str]:
    return [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--timeout",
        "5s",
        "--latency",
        url,
    ]


def _run_wrk(settings: Any, host: str, url: str, duration_s: float, connections: int) -> WrkResult:
    from harness.dataplane.hostexec import host_command

    argv = host_command(settings, host, wrk_argv(url, duration_s, connections))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 30)
    except subprocess.TimeoutExpired as err:
        # wrk whose connections never open does not stop at -d: it waits for them forever.
        raise HarnessError(
            f"wrk on {host} did not finish within {duration_s + 30:g}s ({url})",
            hint=f"`python -m harness exec {host} curl -m 5 {url}` shows whether it connects",
        ) from err
    if proc.returncode != 0:
        raise HarnessError(
            f"wrk on {host} failed ({proc.returncode}): {proc.stderr.strip()}",
            hint="apt-get install wrk; `make check` shows whether the path works at all",
        )
    return parse_wrk(proc.stdout)


def _first_greeting(settings: Any, outputs: dict[str, Any], deadline_s: float) -> float:
    """Seconds until the greeting first comes back over the regional vpce name."""
    from harness.checks.checks import GREETING, GREETING_PATH
    from harness.checks.probes import LocalProbe, hostexec_runner

    probe = LocalProbe(hostexec_runner(settings))
    url = f"http://{outputs['endpoint_regional_dns_name']}{GREETING_PATH}"
    started = time.monotonic()
    while True:
        [answer] = probe.http_get(str(outputs["consumer_client_instance_id"]), [url])
        if answer.status == 200 and answer.body == GREETING:
            return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            raise HarnessError(
                f"no greeting over {url} within {deadline_s:.0f}s: {answer.error or answer.status}",
                hint="`make check` explains what is wrong",
            )
        time.sleep(0.2)


def _subjects(outputs: dict[str, Any], clients: Any) -> dict[str, tuple[str, str]]:
    """name -> (host to run wrk on, URL)."""
    from harness.checks.checks import GREETING_PATH, gather_facts

    facts = gather_facts(outputs, clients)
    target_a = facts.provider_instance_ids[0]
    inst = facts.topology.instance(target_a)
    tg = facts.target_group()
    port = tg.port if tg else 8080
    az = facts.target_az(target_a)
    zonal = dict(facts.zonal_dns_names).get(az, facts.regional_dns_name)
    [lb] = facts.topology.load_balancers
    return {
        "vpce": (facts.client_instance_id, f"http://{zonal}{GREETING_PATH}"),
        # hostexec names an NLB node ``<lb name>/<az>``.
        "direct": (f"{lb.name}/{az}", f"http://{inst.private_ip}:{port}{GREETING_PATH}"),
    }


def run(
    settings: Any, duration_s: float, rounds: int, connections: int, fresh: bool
) -> dict[str, Any]:
    from harness.deploy import deploy, destroy, load_deployment

    report: dict[str, Any] = {
        "duration_s": duration_s,
        "rounds": rounds,
        "connections": connections,
    }
    started = time.monotonic()
    deployment = deploy(settings) if fresh else load_deployment(settings)
    try:
        if fresh:
            _first_greeting(settings, deployment.outputs, DEPLOY_TARGET_S)
            report["deploy_to_first_greeting_s"] = round(time.monotonic() - started, 1)
            report["deploy_timings_s"] = {k: round(v, 1) for k, v in deployment.timings.items()}
        else:
            _first_greeting(settings, deployment.outputs, 10)
        subjects = _subjects(deployment.outputs, deployment.clients)
        report["subjects"] = {k: {"host": h, "url": u} for k, (h, u) in subjects.items()}
        runs: dict[str, list[WrkResult]] = {name: [] for name in subjects}
        for host, url in subjects.values():
            _run_wrk(settings, host, url, 1, connections)  # warm-up
        for _ in range(rounds):
            for name, (host, url) in subjects.items():
                runs[name].append(_run_wrk(settings, host, url, duration_s, connections))
        for name, results in runs.items():
            report[name] = {
                "requests_per_s": round(statistics.median(r.requests_per_s for r in results), 1),
                "p50_ms": round(statistics.median(r.p50_ms for r in results), 2),
                "p99_ms": round(statistics.median(r.p99_ms for r in results), 2),
                "errors": sum(r.errors for r in results),
                "rounds": [asdict(r) for r in results],
            }
        report["vpce_over_direct"] = round(
            report["vpce"]["requests_per_s"] / report["direct"]["requests_per_s"], 3
        )
    finally:
        if fresh:
            destroy(settings)
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"greeting throughput, wrk -t1 -c{report['connections']}, "
        f"{report['rounds']} x {report['duration_s']:g}s per subject (medians)",
        f"  {'subject':<8} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  url",
    ]
    for name in ("vpce", "direct"):
        r = report[name]
        lines.append(
            f"  {name:<8} {r['requests_per_s']:>10.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['errors']:>7}  {report['subjects'][name]['url']}"
        )
    ratio = report["vpce_over_direct"]
    verdict = "meets" if ratio >= RATIO_TARGET else "BELOW"
    lines.append(f"  vpce/direct throughput: {ratio:.2f}x ({verdict} the {RATIO_TARGET}x target)")
    extra = report["vpce"]["p99_ms"] - report["direct"]["p99_ms"]
    verdict = "meets" if extra <= P99_MARGIN_MS else "OVER"
    lines.append(
        f"  vpce p99 over direct: {extra:+.2f} ms ({verdict} the +{P99_MARGIN_MS} ms target)"
    )
    if "deploy_to_first_greeting_s" in report:
        spent = report["deploy_to_first_greeting_s"]
        verdict = "meets" if spent <= DEPLOY_TARGET_S else "OVER"
        lines.append(
            f"  deploy to first greeting: {spent:.1f}s ({verdict} the {DEPLOY_TARGET_S:.0f}s "
            f"target; {report['deploy_timings_s']})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import os

    from harness.settings import load_settings

    parser = argparse.ArgumentParser(
        prog="bench.dataplane_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per subject per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per subject")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument(
        "--fresh", action="store_true", help="deploy, time to first greeting, destroy"
    )
    parser.add_argument("--json", default="reports/dataplane-bench.json", help="write results here")
    args = parser.parse_args(argv)
    if (
        not 1 <= args.duration <= 60
        or not 1 <= args.rounds <= 10
        or not 1 <= args.connections <= 256
    ):
        parser.error("keep it bounded: --duration 1..60, --rounds 1..10, --connections 1..256")
    try:
        settings = load_settings()
        if settings.stack != "local":
            raise PrerequisiteError(
                "the data-plane benchmark runs on the local stack", hint="STACK=local"
            )
        if os.geteuid() != 0:
            raise PrerequisiteError(
                "the data-plane benchmark needs root (wrk runs inside network namespaces)",
                hint="sudo make bench, or inside the harness image",
            )
        report = run(settings, args.duration, args.rounds, args.connections, args.fresh)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  (results in {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
