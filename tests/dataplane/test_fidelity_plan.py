"""AWS data-plane behaviours as the planner and the renderers decide them (no root needed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.dataplane.dnsmasq import dnsmasq_args, render_hosts, wildcard_args
from harness.dataplane.forwarder import KernelRoute
from harness.dataplane.haproxy import HAProxy, ProxySpec, ServerStatus, render_config
from harness.dataplane.planner import DesiredState, plan, router_namespace
from harness.dataplane.ppv2 import aws_header
from harness.dataplane.topology import SecurityGroup, SecurityGroupRule, Topology
from harness.errors import DataPlaneError
from jerp.proxy_protocol import ProxyHeader, encode, parse
from tests.seed import (
    AZ_A,
    AZ_C,
    CLIENT_SG,
    CONSUMER_VPC,
    ENI_IPS,
    PROVIDER_VPC,
    REGIONAL,
    TARGET_A,
    TARGET_C,
    TARGET_IPS,
    VPCE,
    ZONAL,
    seed_topology,
)

ENV = "jft001"
DEFERS = "use_load_balancer_configuration"


def _with_lb(topology: Topology, **changes: Any) -> Topology:
    (lb,) = topology.load_balancers
    return replace(topology, load_balancers=(replace(lb, **changes),))


def _with_tg(topology: Topology, **changes: Any) -> Topology:
    (tg,) = topology.target_groups
    return replace(topology, target_groups=(replace(tg, **changes),))


def _node(desired: DesiredState, az: str) -> ProxySpec:
    return next(p for p in desired.proxies if p.name.startswith("nlb-") and f"-{az}-" in p.name)


def _eni(desired: DesiredState, az: str) -> ProxySpec:
    return next(p for p in desired.proxies if p.name.startswith(f"vpce-eni-{az[-1]}"))


def _route(desired: DesiredState, az: str) -> KernelRoute:
    return next(r for r in desired.kernel_routes if r.eni_namespace.endswith(f"eni-{az[-1]}"))


def _targets(proxy: ProxySpec) -> set[str]:
    return {s.name.rsplit("-", 1)[0] for s in proxy.servers}


def test_target_group_cross_zone_attribute_wins_over_the_load_balancers() -> None:
    on = _with_tg(seed_topology(cross_zone=False), cross_zone="true")
    assert _targets(_node(plan(on, ENV), AZ_A)) == {TARGET_A, TARGET_C}
    off = _with_tg(seed_topology(cross_zone=True), cross_zone="false")
    assert _targets(_node(plan(off, ENV), AZ_A)) == {TARGET_A}
    deferred = _with_tg(
        seed_topology(cross_zone=True), cross_zone="use_load_balancer_configuration"
    )
    assert _targets(_node(plan(deferred, ENV), AZ_A)) == {TARGET_A, TARGET_C}


def test_an_eni_forwards_only_to_its_own_az_node_even_when_that_node_has_no_target() -> None:
    desired = plan(seed_topology(targets=(TARGET_C,)), ENV)
    route, node_a = _route(desired, AZ_A), _node(desired, AZ_A)
    assert not node_a.servers
    # In the kernel, to the node of its own AZ, whose listener's checked targets it takes.
    assert route.node_namespace == node_a.bind_namespace
    assert (route.node_proxy, route.node_ip, route.port) == (node_a.name, node_a.bind_ip, 80)
    assert not [p for p in desired.proxies if p.name.startswith("vpce-")]


def test_a_proxy_protocol_target_group_keeps_the_user_space_path_with_the_endpoint_id() -> None:
    desired = plan(_with_tg(seed_topology(), proxy_protocol_v2=True), ENV)
    assert not desired.kernel_routes  # NAT cannot add a header
    eni_a, node_a = _eni(desired, AZ_A), _node(desired, AZ_A)
    ((server),) = eni_a.servers
    assert server.namespace == node_a.bind_namespace and not server.backup
    # Into the node's PrivateLink bind, carrying the consumer address and the endpoint id.
    assert (server.address, server.port) == node_a.privatelink_bind
    assert server.send_proxy and eni_a.unique_id == VPCE


def test_a_draining_target_takes_no_new_flows_but_stays_registered() -> None:
    desired = plan(seed_topology(health={TARGET_A: "draining", TARGET_C: "healthy"}), ENV)
    assert not _node(desired, AZ_A).servers
    assert _targets(_node(desired, AZ_C)) == {TARGET_C}
    assert TARGET_A in desired.jerps  # its open flows finish on a running JERP


def test_idle_timeout_is_aws_350_seconds_and_unhealthy_targets_lose_their_sessions(
    tmp_path: Path,
) -> None:
    text = render_config(plan(seed_topology(), ENV).proxies, tmp_path / "s", tmp_path / "t")
    assert "    timeout client 350s" in text and "    timeout server 350s" in text
    assert "    default-server on-marked-down shutdown-sessions" in text


def test_new_checked_servers_start_down_in_the_server_state_file(tmp_path: Path) -> None:
    proxies = plan(seed_topology(), ENV).proxies
    haproxy = HAProxy(tmp_path, "h", tmp_path / "h.log", Path("/run/jerp/t"))
    checked = {(p.name, s.name): (s.address, s.port) for p in proxies if p.check for s in p.servers}
    haproxy._start_down(checked)
    lines = haproxy.state_file.read_text().splitlines()
    entries = {(f.split()[1], f.split()[3]): f.split() for f in lines[2:]}
    assert set(entries) == set(checked)
    for (proxy, server), fields in entries.items():
        assert fields[4] == checked[(proxy, server)][0]
        assert fields[5] == "0" and fields[12] == "0"  # operational state stopped, health 0
    rising = ServerStatus(*next(iter(checked)), "DOWN 1/2", "L7OK", "", initial=True)
    assert not rising.checked  # still AWS's `initial`: not reported healthy or unhealthy
    assert ServerStatus(*next(iter(checked)), "DOWN 1/2", "L7OK", "").checked


def test_a_rising_target_whose_count_a_reload_reset_stays_initial() -> None:
    # HAProxy 2.6 loads a DOWN server from the server-state file with its pass count at 0 but
    # its last check status: between passes, after a reload, a new target reads "DOWN" L7OK.
    assert not ServerStatus("p", "s", "DOWN", "L7OK", "", initial=True).checked
    # A new target whose checks fail is unhealthy, reload or not.
    assert ServerStatus("p", "s", "DOWN", "L4CON", "", initial=True).checked
    assert ServerStatus("p", "s", "DOWN", "L7STS", "", initial=True).checked


def _sg(group_id: str, ingress: tuple[SecurityGroupRule, ...] = (), **kw: Any) -> SecurityGroup:
    return SecurityGroup(group_id, PROVIDER_VPC, group_id, ingress, **kw)


def test_nlb_security_group_on_privatelink_traffic_follows_the_enforce_attribute() -> None:
    rules = (
        SecurityGroupRule("tcp", 80, 80, cidrs=("10.20.1.0/24",)),
        SecurityGroupRule("tcp", 443, 443, cidrs=("10.20.9.0/24",)),  # another port
    )
    base = replace(
        seed_topology(), security_groups=(*seed_topology().security_groups, _sg("sg-nlb", rules))
    )
    enforced = _with_lb(base, security_groups=("sg-nlb",))
    assert _node(plan(enforced, ENV), AZ_A).privatelink_allow == ("10.20.1.0/24",)
    assert _route(plan(enforced, ENV), AZ_A).allow == ("10.20.1.0/24",)
    off = _with_lb(base, security_groups=("sg-nlb",), enforce_sg_on_privatelink=False)
    assert _node(plan(off, ENV), AZ_A).privatelink_allow is None
    assert _route(plan(off, ENV), AZ_A).allow is None
    assert _node(plan(base, ENV), AZ_A).privatelink_allow is None  # no groups: all allowed
    assert _route(plan(base, ENV), AZ_A).allow is None


def test_egress_rules_become_an_output_chain_that_spares_dns() -> None:
    topology = seed_topology()
    client = next(g for g in topology.security_groups if g.group_id == CLIENT_SG)
    https = (SecurityGroupRule("tcp", 443, 443, cidrs=("10.20.0.0/16",)),)
    groups = tuple(replace(g, egress=https) if g is client else g for g in topology.security_groups)
    ruleset = plan(replace(topology, security_groups=groups), ENV).rulesets[f"{ENV}-i-client"]
    output = ruleset[ruleset.index("chain output") :]
    assert "policy drop;" in output
    assert "ip daddr { 10.20.0.0/16 } tcp dport 443 accept" in output
    assert "ip daddr 10.20.0.2 meta l4proto { tcp, udp } th dport 53 accept" in output
    # An AWS security group as created: all outbound allowed.
    default = plan(topology, ENV).rulesets[f"{ENV}-i-client"]
    assert "ip daddr { 0.0.0.0/0 } accept" in default


def test_proxy_protocol_targets_go_through_the_node_relay_and_checks_go_direct() -> None:
    desired = plan(_with_tg(seed_topology(), proxy_protocol_v2=True), ENV)
    node_a = _node(desired, AZ_A)
    ((server),) = node_a.servers
    ((route),) = desired.relays[node_a.bind_namespace]
    assert (server.address, server.port) == route.listen
    assert route.target == (TARGET_IPS[TARGET_A], 8080)
    assert server.check_address == route.target and server.send_proxy
    assert node_a.unique_id == "%[fc_pp_unique_id]"
    assert not plan(seed_topology(), ENV).relays


def test_the_relay_rewrites_haproxys_unique_id_into_the_aws_vpce_tlv() -> None:
    # What HAProxy 2.6 sends (captured): src 10.20.1.10:34807, dst 127.0.0.3:10080, TLV 0x05.
    haproxy = bytes.fromhex(
        "0d0a0d0a000d0a515549540a211100250a14010a7f00000387f72760050016"
        "767063652d3031323334353637383961626364656630"
    )
    header = parse(aws_header(haproxy))
    assert header.source == ("10.20.1.10", 34807)
    assert header.tlvs == ((0xEA, b"\x01vpce-0123456789abcdef0"),)
    assert header.vpce_id == "vpce-0123456789abcdef0"
    # Health checks: a LOCAL header passes with no addresses and no TLV.
    local = encode(ProxyHeader(local=True))
    assert parse(aws_header(local)) == ProxyHeader(local=True)


def test_the_regional_endpoint_name_drops_the_eni_of_an_az_without_a_healthy_target() -> None:
    topology = seed_topology()
    first = plan(topology, ENV)
    node_a, node_c = _node(first, AZ_A).bind_namespace, _node(first, AZ_C).bind_namespace
    desired = plan(topology, ENV, {node_a: False, node_c: True})
    assert desired.dns[REGIONAL] == (ENI_IPS[AZ_C],)
    assert desired.dns[ZONAL[AZ_A]] == (ENI_IPS[AZ_A],)  # the zonal name still points at it
    everything_down = plan(topology, ENV, {node_a: False, node_c: False})
    assert everything_down.dns[REGIONAL] == (ENI_IPS[AZ_A], ENI_IPS[AZ_C])  # fails open


def test_nlb_node_egress_rules_govern_its_health_checks_and_no_groups_means_open() -> None:
    node_ns = _node(plan(seed_topology(), ENV), AZ_A).bind_namespace
    assert node_ns not in plan(seed_topology(), ENV).rulesets  # an NLB without groups
    elsewhere = (SecurityGroupRule("tcp", 8080, 8080, cidrs=("10.10.9.0/24",)),)
    seed = seed_topology()
    groups = (*seed.security_groups, _sg("sg-nlb", egress=elsewhere))
    ruleset = plan(
        _with_lb(replace(seed, security_groups=groups), security_groups=("sg-nlb",)), ENV
    )
    output = ruleset.rulesets[node_ns].split("chain output", 1)[1]
    assert "ip daddr { 10.10.9.0/24 } tcp dport 8080 accept" in output
    assert TARGET_IPS[TARGET_A] not in output  # checks to the targets are dropped


def test_a_saved_server_state_takes_the_new_address_and_keeps_its_health(tmp_path: Path) -> None:
    haproxy = HAProxy(tmp_path, "h", tmp_path / "h.log", Path("/run/jerp/t"))
    old = "2 nlb-a 1 i-a-8080 10.10.1.10 2 0 1 1 30 6 3 4 6 0 0 0 - 8080 - 0 0 - - 0"
    haproxy.state_file.write_text(f"1\n# header\n{old}\n")
    haproxy._readdress({("nlb-a", "i-a-8080"): ("127.0.0.1", 40000)})
    fields = haproxy.state_file.read_text().splitlines()[2].split()
    assert (fields[4], fields[18]) == ("127.0.0.1", "40000")
    assert fields[5] == "2" and fields[12] == "4"  # still running, same check health


def test_a_socket_path_haproxy_would_refuse_is_an_error_before_it_starts(tmp_path: Path) -> None:
    with pytest.raises(DataPlaneError, match="longer than 97 characters"):
        HAProxy(tmp_path, "h", tmp_path / "h.log", Path("/run/" + "x" * 90))


PRIVATE_NAME = "jerp.example.com"


def _resolvers(desired: DesiredState) -> tuple[dict[str, tuple[str, ...]], ...]:
    """What the consumer VPC's and the provider VPC's resolvers answer."""
    return (
        desired.dns_for(router_namespace(ENV, CONSUMER_VPC)),
        desired.dns_for(router_namespace(ENV, PROVIDER_VPC)),
    )


def test_a_verified_private_dns_name_resolves_to_the_enis_in_the_consumer_vpc_only() -> None:
    consumer, provider = _resolvers(plan(seed_topology(private_dns_name=PRIVATE_NAME), ENV))
    assert consumer[PRIVATE_NAME] == (ENI_IPS[AZ_A], ENI_IPS[AZ_C])
    assert consumer[PRIVATE_NAME] == consumer[REGIONAL]  # what the CNAME's target resolves to
    assert PRIVATE_NAME not in provider  # the private hosted zone is the consumer VPC's
    assert REGIONAL in provider  # while the endpoint's own names are public DNS


def test_a_private_dns_name_is_not_answered_unverified_or_with_private_dns_off() -> None:
    for variant in (
        {"private_dns_state": "pendingVerification"},
        {"private_dns_state": "failed"},
        {"private_dns_enabled": False},
    ):
        desired = plan(seed_topology(private_dns_name=PRIVATE_NAME, **variant), ENV)
        assert all(PRIVATE_NAME not in names for names in _resolvers(desired)), variant
        assert desired.vpc_dns == {}, variant


def test_a_wildcard_private_dns_name_answers_names_under_the_domain_not_the_domain() -> None:
    topology = seed_topology(private_dns_name="*.example.com")
    first = plan(topology, ENV)
    consumer, provider = _resolvers(first)
    assert consumer["*.example.com"] == (ENI_IPS[AZ_A], ENI_IPS[AZ_C])
    assert "*.example.com" not in provider
    # dnsmasq's /*.example.com/ form: every name under example.com, not example.com itself.
    assert "example.com" not in render_hosts(consumer)
    extra = wildcard_args(consumer)
    assert extra == [f"--address=/*.example.com/{ip}" for ip in (ENI_IPS[AZ_A], ENI_IPS[AZ_C])]
    assert dnsmasq_args("10.20.0.2", Path("h"), extra)[-2:] == extra
    # It follows the regional name: an AZ without a healthy target leaves it.
    node_a, node_c = _node(first, AZ_A).bind_namespace, _node(first, AZ_C).bind_namespace
    consumer, _ = _resolvers(plan(topology, ENV, {node_a: False, node_c: True}))
    assert consumer["*.example.com"] == (ENI_IPS[AZ_C],)
