"""The deployed local stack, end to end: live checks, the seed's transcripts, and faults
driven through the control plane (boto3 against LocalStack) that the data plane must follow.

Test order matters only for the last test, which destroys the stack and proves nothing is
left; each fault test restores what it changed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import subprocess
from typing import Any

import pytest

from harness.checks.checks import (
    GREETING,
    GREETING_PATH,
    Facts,
    check_no_traffic_unless_available,
    gather_facts,
    run_checks,
    transcripts,
)
from harness.checks.probes import HttpResult, LocalProbe, hostexec_runner
from harness.checks.report import format_table
from harness.deploy import Deployment
from harness.processes import wait_until
from harness.settings import HarnessSettings

pytestmark = [pytest.mark.e2e, pytest.mark.root]

FAULT_DEADLINE_S = 60.0


def greet(settings: HarnessSettings, outputs: dict[str, Any], dns_name: str) -> HttpResult:
    probe = LocalProbe(hostexec_runner(settings))
    [result] = probe.http_get(
        str(outputs["consumer_client_instance_id"]), [f"http://{dns_name}{GREETING_PATH}"]
    )
    return result


def is_greeting(result: HttpResult) -> bool:
    return result.status == 200 and result.body == GREETING


def target_health(deployment: Deployment) -> dict[str, str]:
    elbv2 = deployment.clients.elbv2()
    described = elbv2.describe_target_health(TargetGroupArn=deployment.outputs["target_group_arn"])
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"] for d in described["TargetHealthDescriptions"]
    }


def test_every_live_check_passes(e2e_settings: HarnessSettings, deployment: Deployment) -> None:
    results = run_checks(e2e_settings, deployment.outputs, deployment.clients)
    assert [r for r in results if not r.passed] == [], format_table(results)
    assert len([r for r in results if r.name.startswith("greeting")]) >= 3


def test_transcripts_have_the_seed_shape(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    outputs = deployment.outputs
    text = transcripts(e2e_settings, outputs)
    nslookup, _, curl = text.partition(
        f"# curl {outputs['endpoint_regional_dns_name']}{GREETING_PATH}\n"
    )
    assert nslookup.startswith(f"# nslookup {outputs['nlb_dns_name']}\n"), text
    assert re.search(r"^Server:\s+10\.10\.0\.2$", nslookup, re.M), text
    assert re.search(r"^Address:\s+10\.10\.0\.2#53$", nslookup, re.M), text
    answers = re.findall(
        rf"^Name:\s+{re.escape(outputs['nlb_dns_name'])}\nAddress: (\S+)$", nslookup, re.M
    )
    nets = sorted({str(ipaddress.ip_network(f"{a}/24", strict=False)) for a in answers})
    assert nets == ["10.10.1.0/24", "10.10.3.0/24"], text
    assert curl == GREETING + "\n", text


def test_a_stopped_target_turns_unused_and_the_greeting_still_comes_back(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    ec2 = deployment.clients.ec2()
    outputs = deployment.outputs
    victim, survivor = list(outputs["provider_instance_ids"])[:2]
    facts = gather_facts(outputs, deployment.clients)
    survivor_az = facts.target_az(survivor)
    ec2.stop_instances(InstanceIds=[victim])
    try:
        # AWS: a stopped instance target is `unused` (Target.InvalidState), not `unhealthy`.
        health = wait_until(
            f"DescribeTargetHealth to show stopped {victim} unused",
            lambda: target_health(deployment),
            lambda h: h.get(victim) == "unused",
            FAULT_DEADLINE_S,
        )
        assert health[survivor] == "healthy"
        zonal = dict(outputs["endpoint_zonal_dns_names"])[survivor_az]
        for name in (outputs["endpoint_regional_dns_name"], zonal):
            # The control plane reports `unused` as soon as the instance stops; the data plane
            # follows within its change-notice latency, so the first greetings can still come
            # from the victim. Once one comes from the survivor, every later one must.
            wait_until(
                f"the greeting over {name} from {survivor} while {victim} is down",
                lambda name=name: greet(e2e_settings, outputs, name),
                lambda r: is_greeting(r) and r.served_by == survivor,
                FAULT_DEADLINE_S,
            )
            later = [greet(e2e_settings, outputs, name) for _ in range(5)]
            assert [(r.status, r.served_by) for r in later if r.served_by != survivor] == []
            assert all(is_greeting(r) for r in later), later
    finally:
        ec2.start_instances(InstanceIds=[victim])
    wait_until(
        f"{victim} healthy again after start",
        lambda: target_health(deployment),
        lambda h: h.get(victim) == "healthy",
        FAULT_DEADLINE_S,
    )


def _port_80_permission(ec2: Any, group_id: str) -> dict[str, Any]:
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    for perm in group["IpPermissions"]:
        if perm.get("IpProtocol") in ("tcp", "6") and perm.get("FromPort", 0) <= 80 <= perm.get(
            "ToPort", -1
        ):
            keep = ("IpProtocol", "FromPort", "ToPort", "IpRanges", "UserIdGroupPairs")
            return {k: v for k, v in perm.items() if k in keep and v}
    pytest.fail(f"{group_id} has no TCP 80 ingress rule to revoke: {group['IpPermissions']}")


def test_revoking_the_endpoint_sg_http_rule_stops_traffic_and_restoring_brings_it_back(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    ec2 = deployment.clients.ec2()
    outputs = deployment.outputs
    [endpoint] = ec2.describe_vpc_endpoints(VpcEndpointIds=[outputs["endpoint_id"]])["VpcEndpoints"]
    group_id = endpoint["Groups"][0]["GroupId"]
    permission = _port_80_permission(ec2, group_id)
    regional = outputs["endpoint_regional_dns_name"]
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    try:
        stopped = wait_until(
            f"traffic over {regional} to stop after revoking {group_id}'s port-80 rule",
            lambda: greet(e2e_settings, outputs, regional),
            lambda r: r.status == 0,
            FAULT_DEADLINE_S,
        )
        assert stopped.error
    finally:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[permission])
    wait_until(
        f"traffic over {regional} to return after restoring the rule",
        lambda: greet(e2e_settings, outputs, regional),
        is_greeting,
        FAULT_DEADLINE_S,
    )


def test_a_second_endpoint_carries_traffic_only_while_accepted(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    """pendingAcceptance -> no traffic; accept -> greeting; reject -> no traffic again.

    A second endpoint, so the stack's own endpoint stays usable (a rejected endpoint cannot
    be accepted again on AWS).
    """
    ec2 = deployment.clients.ec2()
    outputs = deployment.outputs
    [first] = ec2.describe_vpc_endpoints(VpcEndpointIds=[outputs["endpoint_id"]])["VpcEndpoints"]
    created = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=outputs["consumer_vpc_id"],
        ServiceName=outputs["endpoint_service_name"],
        SubnetIds=first["SubnetIds"],
        SecurityGroupIds=[g["GroupId"] for g in first["Groups"]],
        PrivateDnsEnabled=False,
    )["VpcEndpoint"]
    endpoint_id = created["VpcEndpointId"]
    try:
        assert created["State"] == "pendingAcceptance"
        regional = created["DnsEntries"][0]["DnsName"]
        second = {
            **outputs,
            "endpoint_id": endpoint_id,
            "endpoint_regional_dns_name": regional,
            "endpoint_zonal_dns_names": {},
        }
        facts = _facts(second, deployment)
        assert facts.endpoint_state() == "pendingAcceptance"
        quiet = check_no_traffic_unless_available(LocalProbe(hostexec_runner(e2e_settings)), facts)
        assert quiet.passed and not quiet.skipped, quiet

        service_id = outputs["endpoint_service_id"]
        accepted = ec2.accept_vpc_endpoint_connections(
            ServiceId=service_id, VpcEndpointIds=[endpoint_id]
        )
        assert accepted["Unsuccessful"] == []
        wait_until(
            f"the greeting over accepted endpoint {endpoint_id} ({regional})",
            lambda: greet(e2e_settings, outputs, regional),
            is_greeting,
            FAULT_DEADLINE_S,
        )

        ec2.reject_vpc_endpoint_connections(ServiceId=service_id, VpcEndpointIds=[endpoint_id])
        wait_until(
            f"traffic over rejected endpoint {endpoint_id} to stop",
            lambda: greet(e2e_settings, outputs, regional),
            lambda r: r.status == 0,
            FAULT_DEADLINE_S,
        )
        facts = _facts(second, deployment)
        assert facts.endpoint_state() == "rejected"
        quiet = check_no_traffic_unless_available(LocalProbe(hostexec_runner(e2e_settings)), facts)
        assert quiet.passed and not quiet.skipped, quiet
    finally:
        ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    # The stack's own endpoint is untouched.
    assert is_greeting(greet(e2e_settings, outputs, outputs["endpoint_regional_dns_name"]))


def _facts(outputs: dict[str, Any], deployment: Deployment) -> Facts:
    return gather_facts(outputs, deployment.clients)


def test_zz_destroy_leaves_no_namespace_process_or_localstack(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    from harness.dataplane.state import read_state, recorded_processes
    from harness.deploy import destroy

    state = read_state(e2e_settings.state_dir)
    assert state is not None, "the data plane wrote no state file"
    namespaces = set(state.get("namespaces", []))
    processes = recorded_processes(state)
    # The daemon, HAProxy, a dnsmasq per VPC and JERP per instance: every one is checked.
    assert "daemon" in processes and "haproxy" in processes, processes
    assert any(key.startswith("dnsmasq:") for key in processes), processes
    assert any(key.startswith("jerp:") for key in processes), processes
    assert all(p.alive() for p in processes.values()), "a recorded process was already gone"
    env_id = str(state["env_id"])

    destroy(e2e_settings)

    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [
        line
        for line in left.splitlines()
        if line.split()[0] in namespaces or line.startswith(env_id)
    ], left
    assert {key: p.pid for key, p in processes.items() if p.alive()} == {}
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", e2e_settings.localstack_port)) != 0, (
            "LocalStack still answers"
        )
