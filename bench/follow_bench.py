"""Change-to-traffic latency: how soon after an API call the emulated traffic follows it.

Three changes, each ``trials`` times on a deployed local stack, with a probe loop
(``bench.traffic_probe``: a new connection every 10 ms, 0.25 s timeout) running in the consumer
client's namespace:

- ``reject``: a fresh endpoint (same subnet and security group as the deployed one) is
  accepted, carries the greeting, then ``RejectVpcEndpointConnections``; then it is deleted;
- ``sg_revoke``: ``RevokeSecurityGroupIngress`` of the deployed endpoint's rules for the
  listener port, probed on its ENI; the rules are authorized again after the trial;
- ``target_stop``: ``StopInstances`` of a target, probed on the endpoint ENI in that target's
  AZ (cross-zone off: that ENI's only path is that target); ``StartInstances`` after.

Latency: from the moment the API call was made to the start of the first probe that failed
(a probe that started after the call; probes that started earlier do not count). A change the
traffic did not follow within ``CHANGE_DEADLINE_S`` counts as a miss, not as a number.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from harness.errors import HarnessError
from harness.settings import REPO_ROOT

CHANGE_DEADLINE_S = 10.0
FLOW_DEADLINE_S = 90.0  # a restarted target passes its health checks within this
EXPECT = "Hello yundream"


class Probe:
    """``bench.traffic_probe`` running on ``host``; its results read as they come."""

    def __init__(self, settings: Any, host: str, address: str, port: int, seconds: float):
        from harness.dataplane.hostexec import host_command

        argv = host_command(
            settings,
            host,
            [sys.executable, "-m", "bench.traffic_probe", address, str(port), EXPECT, f"{seconds}"],
        )
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, stdin=subprocess.DEVNULL
        )
        self.results: queue.Queue[tuple[float, bool]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            started, ok = line.split()
            self.results.put((float(started), ok == "1"))

    def first(self, ok: bool, since: float, deadline_s: float) -> float | None:
        """Start time of the first probe with outcome ``ok`` started at/after ``since``."""
        end = time.monotonic() + deadline_s
        while (left := end - time.monotonic()) > 0:
            try:
                started, outcome = self.results.get(timeout=left)
            except queue.Empty:
                return None
            if started >= since and outcome == ok:
                return started
        return None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def probing(settings: Any, host: str, address: str, port: int) -> Iterator[Probe]:
    probe = Probe(settings, host, address, port, FLOW_DEADLINE_S + CHANGE_DEADLINE_S + 10)
    try:
        yield probe
    finally:
        probe.stop()


def trial(
    settings: Any, host: str, address: str, port: int, change: Callable[[], None]
) -> float | None:
    """Seconds from ``change()`` to the first failed probe; None when traffic did not follow."""
    with probing(settings, host, address, port) as probe:
        if probe.first(True, 0.0, FLOW_DEADLINE_S) is None:
            raise HarnessError(
                f"no greeting from {address}:{port} on {host} within {FLOW_DEADLINE_S:.0f}s "
                "before the change",
                hint="`make check` shows whether the deployed path works at all",
            )
        called = time.time()
        change()
        failed = probe.first(False, called, CHANGE_DEADLINE_S)
    return None if failed is None else failed - called


def summarize(samples: list[float | None]) -> dict[str, Any]:
    got = sorted(s for s in samples if s is not None)
    summary: dict[str, Any] = {"trials": len(samples), "missed": len(samples) - len(got)}
    if got:
        p95 = statistics.quantiles(got, n=20, method="inclusive")[18] if len(got) > 1 else got[0]
        summary.update(
            p50_s=round(statistics.median(got), 3),
            p95_s=round(p95, 3),
            min_s=round(got[0], 3),
            max_s=round(got[-1], 3),
            samples_s=[round(s, 3) for s in samples if s is not None],
        )
    return summary


# --------------------------------------------------------------------------- the three changes


def _eni_ips(ec2: Any, eni_ids: list[str]) -> dict[str, tuple[str, str]]:
    """ENI id -> (AZ, private address)."""
    found = ec2.describe_network_interfaces(NetworkInterfaceIds=eni_ids)["NetworkInterfaces"]
    return {e["NetworkInterfaceId"]: (e["AvailabilityZone"], e["PrivateIpAddress"]) for e in found}


def _wait_available(ec2: Any, endpoint_id: str) -> list[str]:
    from harness.processes import wait_for

    enis: list[str] = []

    def ready() -> bool:
        [ep] = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
        enis[:] = ep.get("NetworkInterfaceIds", [])
        return bool(ep["State"].lower() == "available" and enis)

    wait_for(f"endpoint {endpoint_id} to be available", ready, 30)
    return enis


def reject_trials(settings: Any, outputs: dict[str, Any], ec2: Any, n: int) -> list[float | None]:
    [deployed] = ec2.describe_vpc_endpoints(VpcEndpointIds=[outputs["endpoint_id"]])["VpcEndpoints"]
    service_id = str(outputs["endpoint_service_id"])
    samples: list[float | None] = []
    for _ in range(n):
        endpoint_id = ec2.create_vpc_endpoint(
            VpcId=deployed["VpcId"],
            ServiceName=deployed["ServiceName"],
            VpcEndpointType="Interface",
            SubnetIds=deployed["SubnetIds"][:1],
            SecurityGroupIds=[g["GroupId"] for g in deployed["Groups"]],
        )["VpcEndpoint"]["VpcEndpointId"]
        try:
            ec2.accept_vpc_endpoint_connections(ServiceId=service_id, VpcEndpointIds=[endpoint_id])
            [(_, address)] = _eni_ips(ec2, _wait_available(ec2, endpoint_id)).values()
            reject = functools.partial(
                ec2.reject_vpc_endpoint_connections,
                ServiceId=service_id,
                VpcEndpointIds=[endpoint_id],
            )
            samples.append(
                trial(
                    settings,
                    str(outputs["consumer_client_instance_id"]),
                    address,
                    int(outputs["listener_port"]),
                    reject,
                )
            )
        finally:
            ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    return samples


def _rules_for_port(group: dict[str, Any], port: int) -> list[dict[str, Any]]:
    """The group's ingress permissions that let ``port`` in, in the shape Revoke takes."""
    rules = []
    for perm in group.get("IpPermissions", []):
        proto = perm.get("IpProtocol")
        low, high = perm.get("FromPort", 0), perm.get("ToPort", 65535)
        if proto == "-1" or (proto == "tcp" and low <= port <= high):
            rule: dict[str, Any] = {"IpProtocol": proto}
            if proto != "-1":
                rule.update(FromPort=low, ToPort=high)
            for key, fields in (
                ("IpRanges", ("CidrIp", "Description")),
                ("UserIdGroupPairs", ("GroupId", "Description")),
            ):
                items = [{f: i[f] for f in fields if f in i} for i in perm.get(key, [])]
                if items:
                    rule[key] = items
            rules.append(rule)
    return rules


def sg_revoke_trials(
    settings: Any, outputs: dict[str, Any], ec2: Any, n: int
) -> list[float | None]:
    group_id = str(outputs["endpoint_security_group_id"])
    port = int(outputs["listener_port"])
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    rules = _rules_for_port(group, port)
    if not rules:
        raise HarnessError(
            f"security group {group_id} has no ingress rule for port {port} to revoke",
            hint="the deployed stack is not the kit's; redeploy with `make deploy`",
        )
    (_, address), *_ = _eni_ips(ec2, list(outputs["endpoint_eni_ids"])).values()
    samples: list[float | None] = []
    for _ in range(n):
        try:
            samples.append(
                trial(
                    settings,
                    str(outputs["consumer_client_instance_id"]),
                    address,
                    port,
                    lambda: ec2.revoke_security_group_ingress(
                        GroupId=group_id, IpPermissions=rules
                    ),
                )
            )
        finally:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=rules)
    return samples


def target_stop_trials(
    settings: Any, outputs: dict[str, Any], ec2: Any, n: int
) -> list[float | None]:
    target = str(next(iter(outputs["provider_instance_ids"])))
    [reservation] = ec2.describe_instances(InstanceIds=[target])["Reservations"]
    az = reservation["Instances"][0]["Placement"]["AvailabilityZone"]
    enis = _eni_ips(ec2, list(outputs["endpoint_eni_ids"]))
    address = next((ip for eni_az, ip in enis.values() if eni_az == az), None)
    if address is None:
        raise HarnessError(
            f"the endpoint has no ENI in {az}, the AZ of target {target}",
            hint="the deployed stack is not the kit's; redeploy with `make deploy`",
        )
    samples: list[float | None] = []
    for _ in range(n):
        try:
            samples.append(
                trial(
                    settings,
                    str(outputs["consumer_client_instance_id"]),
                    address,
                    int(outputs["listener_port"]),
                    lambda: ec2.stop_instances(InstanceIds=[target]),
                )
            )
        finally:
            ec2.start_instances(InstanceIds=[target])
    return samples


def run(settings: Any, outputs: dict[str, Any], clients: Any, trials: int) -> dict[str, Any]:
    ec2 = clients.ec2()
    report: dict[str, Any] = {}
    for name, trials_of in (
        ("reject", reject_trials),
        ("sg_revoke", sg_revoke_trials),
        ("target_stop", target_stop_trials),
    ):
        report[name] = summarize(trials_of(settings, outputs, ec2, trials))
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [
        "change-to-traffic latency (API call -> first failed probe; probe every 10 ms)",
        f"  {'change':<12} {'p50 s':>7} {'p95 s':>7} {'max s':>7} {'trials':>7} {'missed':>7}",
    ]
    nan = float("nan")
    for name, r in report.items():
        lines.append(
            f"  {name:<12} {r.get('p50_s', nan):>7.3f} {r.get('p95_s', nan):>7.3f}"
            f" {r.get('max_s', nan):>7.3f} {r['trials']:>7} {r['missed']:>7}"
        )
    return "\n".join(lines)
