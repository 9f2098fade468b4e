"""Every check's pass and fail paths, against a stub probe and the seed topology."""

from __future__ import annotations

from dataclasses import replace
from importlib.metadata import version

import pytest

from harness.checks import checks
from harness.checks.checks import GREETING, evaluate
from harness.checks.probes import CommandResult, ConnectResult, HttpResult
from harness.dataplane.topology import SecurityGroup, SecurityGroupRule, Topology
from harness.errors import StackNotDeployedError, WaitTimeout
from tests.seed import (
    AZ_A,
    AZ_C,
    CLIENT,
    CONSUMER_CIDR,
    ENI_IPS,
    NLB_DNS,
    NODE_IPS,
    REGIONAL,
    SVC,
    TARGET_A,
    TARGET_C,
    TARGET_IPS,
    VPCE,
    ZONAL,
    seed_outputs,
    seed_topology,
)

from .stub_probe import StubProbe, facts, greeting, with_dns


def names(results: list[checks.CheckResult]) -> dict[str, checks.CheckResult]:
    return {r.name: r for r in results}


def test_a_working_stack_passes_every_check() -> None:
    results = evaluate(StubProbe(), facts())
    failing = [r for r in results if not r.passed]
    assert failing == []
    # The pending/rejected check (the endpoint is available) and private DNS (the seed has none).
    assert [r.name for r in results if r.skipped] == [
        "dns: private DNS name -> endpoint ENI addresses (consumer VPC)",
        "negative: pending/rejected endpoint carries no traffic",
    ]
    assert len(results) == 14


def test_missing_outputs_name_the_missing_keys() -> None:
    partial = seed_outputs()
    del partial["endpoint_id"], partial["nlb_dns_name"]
    with pytest.raises(StackNotDeployedError, match="nlb_dns_name, endpoint_id"):
        checks.Facts.from_outputs(partial, seed_topology())


def test_a_malformed_output_names_itself() -> None:
    broken = {**seed_outputs(), "listener_port": "eighty"}
    with pytest.raises(StackNotDeployedError, match="output listener_port is 'eighty', not a TCP"):
        checks.Facts.from_outputs(broken, seed_topology())


def test_ports_come_from_the_outputs_not_the_seed() -> None:
    """A stack whose NLB listens on 8000 and whose targets serve on 9090."""
    moved = checks.Facts.from_outputs(
        {**seed_outputs(), "listener_port": 8000, "target_port": 9090},
        seed_topology(endpoint_ingress=()),
    )
    urls: list[str] = []
    tried: list[tuple[str, int]] = []

    def record_url(url: str) -> HttpResult:
        urls.append(url)
        return greeting(url, TARGET_A)

    def record_connect(address: str, port: int) -> ConnectResult:
        tried.append((address, port))
        return ConnectResult(address, port, "unreachable")

    probe = StubProbe(http=record_url, connect=record_connect)
    checks.check_greeting(probe, moved)
    assert {url.split("/user/")[0] for url in urls} == {
        f"http://{name}:8000" for name in (REGIONAL, *ZONAL.values())
    }
    checks.check_consumer_cannot_reach_provider(probe, moved)
    assert set(tried) == {
        *((ip, 9090) for ip in TARGET_IPS.values()),
        *((ip, 8000) for ip in NODE_IPS.values()),
    }
    assert "--port 8000" in checks.traffic_hint(moved)


# --- DNS ---------------------------------------------------------------------------------


def test_nlb_dns_resolved_from_a_provider_host_to_node_addresses() -> None:
    probe = StubProbe()
    result = checks.check_nlb_dns(probe, facts())
    assert result.passed, result
    assert probe.calls == [("resolve", TARGET_A)]
    assert "10.10.1.217, 10.10.3.73" in result.expected


def test_nlb_dns_unresolved_fails_with_resolver_hint() -> None:
    result = checks.check_nlb_dns(with_dns(StubProbe(), NLB_DNS, ()), facts())
    assert not result.passed
    assert result.observed.startswith("(none)")
    assert "resolver" in result.hint


def test_nlb_dns_outside_provider_subnets_fails_naming_the_address() -> None:
    probe = with_dns(StubProbe(), NLB_DNS, ("10.10.1.217", "52.78.1.2"))
    result = checks.check_nlb_dns(probe, facts())
    assert not result.passed
    assert "52.78.1.2 is outside the provider subnets" in result.hint


def test_nlb_dns_inside_subnet_but_not_a_node_fails() -> None:
    probe = with_dns(StubProbe(), NLB_DNS, ("10.10.1.99",))
    result = checks.check_nlb_dns(probe, facts())
    assert not result.passed
    assert "describe-target-health" in result.hint


def test_an_az_without_healthy_targets_leaves_nlb_dns() -> None:
    sick = facts(health={TARGET_A: "healthy", TARGET_C: "unhealthy"})
    assert checks.expected_nlb_addresses(sick) == {NODE_IPS["ap-northeast-2a"]}
    only_a = with_dns(StubProbe(), NLB_DNS, (NODE_IPS["ap-northeast-2a"],))
    assert checks.check_nlb_dns(only_a, sick).passed
    assert not checks.check_nlb_dns(StubProbe(), sick).passed


def test_no_healthy_target_anywhere_fails_open_to_all_nodes() -> None:
    dead = facts(health={TARGET_A: "unhealthy", TARGET_C: "unhealthy"})
    assert checks.expected_nlb_addresses(dead) == set(NODE_IPS.values())


def test_vpce_names_resolve_to_their_enis_from_the_client() -> None:
    probe = StubProbe()
    results = checks.check_endpoint_dns(probe, facts())
    assert [r.passed for r in results] == [True, True, True]
    assert {host for _, host in probe.calls} == {CLIENT}


def test_zonal_name_pointing_at_the_other_az_fails() -> None:
    probe = with_dns(StubProbe(), ZONAL["ap-northeast-2a"], (ENI_IPS["ap-northeast-2c"],))
    results = names(checks.check_endpoint_dns(probe, facts()))
    bad = results["dns: vpce zonal ap-northeast-2a name -> endpoint ENI addresses"]
    assert not bad.passed
    assert ENI_IPS["ap-northeast-2a"] in bad.expected
    assert ENI_IPS["ap-northeast-2c"] in bad.observed
    assert "disagree" in bad.hint


def test_vpce_name_outside_consumer_subnets_fails() -> None:
    probe = with_dns(StubProbe(), REGIONAL, ("10.10.1.217",))
    regional = checks.check_endpoint_dns(probe, facts())[0]
    assert not regional.passed
    assert "outside the consumer subnets" in regional.hint


def test_vpce_name_not_resolving_fails() -> None:
    regional = checks.check_endpoint_dns(with_dns(StubProbe(), REGIONAL, ()), facts())[0]
    assert not regional.passed
    assert "does not resolve" in regional.hint


# --- greeting ----------------------------------------------------------------------------


def test_greeting_over_every_name_and_every_target_serves() -> None:
    probe = StubProbe()
    results = checks.check_greeting(probe, facts())
    assert all(r.passed for r in results), results
    assert probe.calls == [("http", CLIENT)]  # one batch, on the consumer client
    assert results[-1].name == "greeting: every healthy target serves"


def test_greeting_with_a_different_body_fails_byte_exact() -> None:
    probe = StubProbe(
        http=lambda url: HttpResult(url, 200, GREETING + "\n", {"x-served-by": TARGET_A})
    )
    regional = checks.check_greeting(probe, facts())[0]
    assert not regional.passed
    assert "byte for byte" in regional.hint
    assert f"jerp-privatelink {version('jerp-privatelink')}" in regional.hint
    assert repr(GREETING + "\n") in regional.observed


def test_greeting_without_served_by_fails() -> None:
    probe = StubProbe(http=lambda url: HttpResult(url, 200, GREETING, {}))
    regional = checks.check_greeting(probe, facts())[0]
    assert not regional.passed
    assert "X-Served-By" in regional.hint


def test_pending_connection_failure_says_how_to_accept() -> None:
    pending = facts(endpoint_state="pendingAcceptance")
    probe = StubProbe(http=lambda url: HttpResult(url, 0, "", error="curl exit 7: refused"))
    results = checks.check_greeting(probe, pending)
    assert not results[0].passed
    assert results[0].hint == (
        "connection pendingAcceptance: accept it with `aws ec2 accept-vpc-endpoint-connections "
        f"--service-id {SVC} --vpc-endpoint-ids {VPCE}`"
    )
    assert "curl exit 7" in results[0].observed


def test_rejected_connection_failure_says_to_recreate() -> None:
    hint = checks.traffic_hint(facts(endpoint_state="rejected"))
    assert "rejected" in hint and "cannot be accepted" in hint


def test_endpoint_sg_without_port_80_is_named_as_the_cause() -> None:
    no_80 = facts(endpoint_ingress=(SecurityGroupRule("tcp", 443, 443, cidrs=("10.20.0.0/16",)),))
    hint = checks.traffic_hint(no_80)
    assert "authorize-security-group-ingress --group-id sg-vpce" in hint
    assert "--port 80 --cidr 10.20.0.0/16" in hint


def test_sg_rule_by_source_group_admits_the_client() -> None:
    by_group = facts(
        endpoint_ingress=(SecurityGroupRule("tcp", 80, 80, source_groups=("sg-client",)),)
    )
    assert "security groups" not in checks.traffic_hint(by_group)


def test_no_healthy_targets_hint_points_at_target_health() -> None:
    hint = checks.traffic_hint(facts(health={TARGET_A: "unhealthy", TARGET_C: "unhealthy"}))
    assert "describe-target-health" in hint


def test_a_healthy_target_that_never_answers_fails_the_spread_check() -> None:
    probe = StubProbe(http=lambda url: greeting(url, TARGET_A))
    results = names(checks.check_greeting(probe, facts()))
    spread = results["greeting: every healthy target serves"]
    assert not spread.passed
    assert TARGET_C in spread.hint
    # the zonal c name was answered by the wrong... still a provider instance: that passes
    assert results["greeting: GET /user/yundream over vpce regional name"].passed


def test_an_unhealthy_target_is_not_required_to_serve() -> None:
    sick = facts(health={TARGET_A: "healthy", TARGET_C: "unhealthy"})
    probe = StubProbe(http=lambda url: greeting(url, TARGET_A))
    assert names(checks.check_greeting(probe, sick))["greeting: every healthy target serves"].passed


# --- negative cases ----------------------------------------------------------------------


def test_consumer_reaching_a_provider_address_fails() -> None:
    def leaky(address: str, port: int) -> ConnectResult:
        return ConnectResult(address, port, "refused" if address == "10.10.1.10" else "timeout")

    probe = StubProbe(connect=leaky)
    result = checks.check_consumer_cannot_reach_provider(probe, facts())
    assert not result.passed
    assert "10.10.1.10:8080 refused" in result.observed
    assert "route tables" in result.hint
    assert probe.calls == [("tcp", CLIENT)]


def test_consumer_isolated_passes_and_tries_targets_and_nodes() -> None:
    tried: list[tuple[str, int]] = []

    def record(address: str, port: int) -> ConnectResult:
        tried.append((address, port))
        return ConnectResult(address, port, "unreachable")

    assert checks.check_consumer_cannot_reach_provider(StubProbe(connect=record), facts()).passed
    assert set(tried) == {
        ("10.10.1.10", 8080),
        ("10.10.3.10", 8080),
        ("10.10.1.217", 80),
        ("10.10.3.73", 80),
    }


def test_provider_connecting_into_consumer_fails() -> None:
    probe = StubProbe(connect=lambda a, p: ConnectResult(a, p, "connected"))
    result = checks.check_provider_cannot_reach_consumer(probe, facts())
    assert not result.passed
    assert probe.calls == [("tcp", TARGET_A)]
    assert "10.20.1.50:80 connected" in result.observed


def test_provider_isolated_passes() -> None:
    assert checks.check_provider_cannot_reach_consumer(StubProbe(), facts()).passed


def test_endpoint_state_check_fails_with_accept_command_when_pending() -> None:
    result = checks.check_endpoint_state(StubProbe(), facts(endpoint_state="pendingAcceptance"))
    assert not result.passed
    assert "accept-vpc-endpoint-connections" in result.hint


@pytest.mark.parametrize("state", ["pendingAcceptance", "rejected"])
def test_no_traffic_while_not_available_passes_when_nothing_answers(state: str) -> None:
    probe = StubProbe(http=lambda url: HttpResult(url, 0, "", error="curl exit 28: timeout"))
    result = checks.check_no_traffic_unless_available(probe, facts(endpoint_state=state))
    assert result.passed and not result.skipped


def test_traffic_while_pending_fails() -> None:
    result = checks.check_no_traffic_unless_available(
        StubProbe(), facts(endpoint_state="pendingAcceptance")
    )
    assert not result.passed
    assert "does not follow the connection state" in result.hint


def test_targets_healthy_check() -> None:
    assert checks.check_targets_healthy(StubProbe(), facts()).passed
    sick = checks.check_targets_healthy(
        StubProbe(), facts(health={TARGET_A: "unhealthy", TARGET_C: "healthy"})
    )
    assert not sick.passed
    assert f"{TARGET_A} unhealthy" in sick.observed


def test_a_check_that_raises_becomes_a_failed_result() -> None:
    def broken(probe: object, f: object) -> checks.CheckResult:
        raise WaitTimeout("SSM command still InProgress", hint="check the SSM agent")

    results = evaluate(StubProbe(), facts(), [broken])
    assert len(results) == 1
    assert not results[0].passed
    assert "SSM command still InProgress" in results[0].observed
    assert results[0].hint == "check the SSM agent"


# --- transcripts -------------------------------------------------------------------------


def test_transcripts_are_the_programs_output_under_seed_style_command_lines() -> None:
    nslookup = (
        f"Server:\t\t10.10.0.2\nAddress:\t10.10.0.2#53\n\nName:\t{NLB_DNS}\nAddress: 10.10.1.217\n"
    )
    probe = StubProbe(
        commands={
            "nslookup": CommandResult(0, nslookup),
            "curl": CommandResult(0, GREETING, "  % Total  progress meter"),
        }
    )
    text = checks.transcripts_with(probe, seed_outputs())
    assert text == (
        f"# nslookup {NLB_DNS}\n{nslookup}# curl {REGIONAL}/user/yundream\n{GREETING}\n"
    )
    assert probe.calls == [("run", TARGET_A), ("run", CLIENT)]


def test_transcripts_show_a_failing_program_with_its_error() -> None:
    probe = StubProbe(
        commands={
            "nslookup": CommandResult(
                1, "", ";; connection timed out; no servers could be reached"
            ),
            "curl": CommandResult(7, "", "curl: (7) Failed to connect"),
        }
    )
    text = checks.transcripts_with(probe, seed_outputs())
    assert "no servers could be reached\n(exit 1)" in text
    assert "curl: (7) Failed to connect\n(exit 7)" in text


def test_replace_keeps_results_frozen() -> None:
    result = checks.passed("x", "a", "b")
    assert replace(result, duration_s=1.0).duration_s == 1.0
    assert TARGET_C != TARGET_A


# --- private DNS -----------------------------------------------------------------------------


def test_private_dns_verified_resolves_in_the_consumer_vpc_and_carries_the_greeting() -> None:
    probe = with_dns(StubProbe(), "jerp.example.com", tuple(ENI_IPS.values()))
    results = checks.check_private_dns(probe, facts(private_dns_name="jerp.example.com"))
    assert [(r.name, r.status) for r in results] == [
        ("dns: private DNS name -> endpoint ENI addresses (consumer VPC)", "PASS"),
        ("greeting: GET /user/yundream over the private DNS name", "PASS"),
    ]
    # Asked on the consumer client (its VPC's resolver), not from this machine's public DNS.
    assert probe.calls[0] == ("resolve_in_vpc", CLIENT)
    assert "http://jerp.example.com/user/yundream" in results[1].expected


def test_private_dns_wildcard_is_probed_one_label_under_its_domain() -> None:
    probe = with_dns(StubProbe(), "jerp.example.com", tuple(ENI_IPS.values()))
    dns, greeting_result = checks.check_private_dns(probe, facts(private_dns_name="*.example.com"))
    assert dns.passed and greeting_result.passed
    assert dns.expected.startswith("jerp.example.com -> ")


def test_private_dns_unverified_fails_naming_the_verification_steps() -> None:
    (result,) = checks.check_private_dns(
        StubProbe(),
        facts(private_dns_name="jerp.example.com", private_dns_state="pendingVerification"),
    )
    assert not result.passed and not result.skipped
    assert result.observed == "verification state pendingVerification"
    assert f"start-vpc-endpoint-service-private-dns-verification --service-id {SVC}" in (
        result.hint
    )


def test_private_dns_not_resolving_or_resolving_elsewhere_fails() -> None:
    verified = facts(private_dns_name="jerp.example.com")
    missing, _ = checks.check_private_dns(StubProbe(), verified)
    assert not missing.passed and "enableDnsSupport" in missing.hint
    public = with_dns(StubProbe(), "jerp.example.com", ("203.0.113.7",))
    elsewhere, _ = checks.check_private_dns(public, verified)
    assert not elsewhere.passed and "outside the consumer subnets" in elsewhere.hint


def test_private_dns_is_not_applicable_when_the_endpoint_does_not_use_it() -> None:
    for variant in ({}, {"private_dns_name": "jerp.example.com", "private_dns_enabled": False}):
        (result,) = checks.check_private_dns(StubProbe(), facts(**variant))
        assert result.skipped and result.observed.startswith("not applicable: "), variant


def _facts_with(
    topology: Topology,
    *,
    tg: dict[str, object] | None = None,
    lb: dict[str, object] | None = None,
    groups: tuple[SecurityGroup, ...] = (),
) -> checks.Facts:
    changed = replace(
        topology,
        target_groups=tuple(replace(t, **(tg or {})) for t in topology.target_groups),  # type: ignore[arg-type]
        load_balancers=tuple(replace(b, **(lb or {})) for b in topology.load_balancers),  # type: ignore[arg-type]
        security_groups=topology.security_groups + groups,
    )
    return checks.Facts.from_outputs(seed_outputs(), changed)


def test_unhealthy_targets_behind_proxy_protocol_v2_name_the_header() -> None:
    down = seed_topology(health={TARGET_A: "unhealthy", TARGET_C: "unhealthy"})
    ppv2 = _facts_with(down, tg={"proxy_protocol_v2": True})
    with_ppv2 = checks.check_targets_healthy(StubProbe(), ppv2)
    assert not with_ppv2.passed
    assert "PROXY protocol v2" in with_ppv2.hint and "JERP_PROXY_PROTOCOL=v2" in with_ppv2.hint
    without = checks.check_targets_healthy(StubProbe(), _facts_with(down))
    assert "PROXY" not in without.hint


def test_a_zonal_name_of_an_az_without_healthy_target_names_cross_zone() -> None:
    one_down = seed_topology(health={TARGET_A: "healthy", TARGET_C: "unhealthy"})
    off = _facts_with(one_down, tg={"cross_zone": "false"})
    hint = checks.traffic_hint(off, AZ_C)
    assert f"no healthy target in {AZ_C}" in hint and "cross-zone" in hint
    # The target group's own attribute wins over the NLB's.
    on = _facts_with(one_down, tg={"cross_zone": "true"})
    assert "cross-zone" not in checks.traffic_hint(on, AZ_C)
    # The AZ that has a healthy target is not blamed.
    assert "cross-zone" not in checks.traffic_hint(off, AZ_A)


def test_nlb_security_groups_are_blamed_only_when_enforced_and_not_admitting() -> None:
    closed = SecurityGroup("sg-nlb", "vpc-provider", "nlb")
    admitting = SecurityGroup(
        "sg-nlb-open",
        "vpc-provider",
        "nlb",
        ingress=(SecurityGroupRule("tcp", 80, 80, cidrs=(CONSUMER_CIDR,)),),
    )
    seed = seed_topology()
    enforced = _facts_with(seed, lb={"security_groups": ("sg-nlb",)}, groups=(closed,))
    assert "NLB's security groups (sg-nlb)" in checks.traffic_hint(enforced)
    off = _facts_with(
        seed,
        lb={"security_groups": ("sg-nlb",), "enforce_sg_on_privatelink": False},
        groups=(closed,),
    )
    assert "NLB's security groups" not in checks.traffic_hint(off)
    open_ = _facts_with(seed, lb={"security_groups": ("sg-nlb-open",)}, groups=(admitting,))
    assert "NLB's security groups" not in checks.traffic_hint(open_)
