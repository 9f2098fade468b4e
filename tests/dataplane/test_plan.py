"""Planning: from a Topology to namespaces, listeners, DNS, rules; and the diff."""

from __future__ import annotations

from dataclasses import replace

from harness.dataplane.diff import AppliedState, plan_changes
from harness.dataplane.haproxy import ServerStatus
from harness.dataplane.health import node_health, target_health
from harness.dataplane.planner import TargetRef, plan
from harness.dataplane.topology import Topology, Vpc

from .seed_topology import (
    AZ_A,
    AZ_C,
    LB_DNS,
    TG_ARN,
    VPCE_DNS,
    VPCE_ZONE_A,
    make_topology,
)

ENV = "jdt001"


def _proxy(desired, name_part):  # type: ignore[no-untyped-def]
    return [p for p in desired.proxies if name_part in p.name]


def _applied(desired):  # type: ignore[no-untyped-def]
    return AppliedState(dict(desired.routers), dict(desired.hosts), dict(desired.rulesets))


def test_every_vpc_gets_a_router_with_router_and_resolver_addresses(topology: Topology) -> None:
    desired = plan(topology, ENV)
    routers = {r.cidr: r for r in desired.routers.values()}
    assert routers["10.10.0.0/16"].router_ip == "10.10.0.1"
    assert routers["10.10.0.0/16"].resolver_ip == "10.10.0.2"
    assert routers["10.20.0.0/16"].resolver_ip == "10.20.0.2"
    assert all(len(r.bridge) <= 15 for r in desired.routers.values())
    assert all(ns.startswith(f"{ENV}-") for ns in [*desired.routers, *desired.hosts])


def test_hosts_sit_at_their_private_addresses_in_their_subnets(topology: Topology) -> None:
    desired = plan(topology, ENV)
    by_ref = {h.ref: h for h in desired.hosts.values()}
    assert by_ref["i-jerp-a"].ip == "10.10.1.217"
    assert by_ref["i-jerp-a"].prefixlen == 24
    assert by_ref["i-jerp-a"].router_ip == "10.10.0.1"
    assert by_ref["eni-a"].vpc_id == "vpc-consumer"
    assert by_ref[f"jerp/{AZ_C}"].ip == "10.10.3.100"
    assert all(len(h.veth) <= 15 for h in desired.hosts.values())


def test_cross_zone_off_a_node_forwards_only_to_its_own_az() -> None:
    desired = plan(make_topology(cross_zone=False), ENV)
    node_a = _proxy(desired, f"-{AZ_A}-80")[0]
    assert [s.address for s in node_a.servers] == ["10.10.1.217"]
    assert node_a.bind_ip == "10.10.1.100"
    assert all(s.namespace == node_a.bind_namespace for s in node_a.servers)
    assert node_a.check is not None and node_a.check.path == "/healthz"


def test_cross_zone_on_a_node_forwards_to_every_target() -> None:
    desired = plan(make_topology(cross_zone=True), ENV)
    node_a = _proxy(desired, f"-{AZ_A}-80")[0]
    assert sorted(s.address for s in node_a.servers) == ["10.10.1.217", "10.10.3.73"]


def test_available_endpoint_bridges_each_eni_to_nodes_same_az_first(topology: Topology) -> None:
    desired = plan(topology, ENV)
    eni_a = _proxy(desired, "vpce-eni-a")[0]
    assert (eni_a.bind_ip, eni_a.bind_port) == ("10.20.1.50", 80)
    primary = [s for s in eni_a.servers if not s.backup]
    assert [s.address for s in primary] == ["10.10.1.100"]
    # The ENI connects from the NLB node's namespace: no route between the VPCs is needed.
    assert all(s.namespace.endswith(s.name.removeprefix("node-")) for s in eni_a.servers)
    assert eni_a.bind_namespace == f"{ENV}-eni-a"


def test_pending_or_rejected_endpoint_carries_no_traffic_but_keeps_its_enis() -> None:
    for state in ("pendingAcceptance", "rejected"):
        desired = plan(make_topology(endpoint_state=state), ENV)
        assert not _proxy(desired, "vpce-")
        assert any(h.kind == "endpoint-eni" for h in desired.hosts.values())


def test_dns_names_resolve_to_private_addresses(topology: Topology) -> None:
    desired = plan(topology, ENV)
    assert desired.dns[LB_DNS] == ("10.10.1.100", "10.10.3.100")
    assert desired.dns[f"{AZ_A}.{LB_DNS}"] == ("10.10.1.100",)
    assert desired.dns[VPCE_DNS] == ("10.20.1.50", "10.20.3.50")
    assert desired.dns[VPCE_ZONE_A] == ("10.20.1.50",)


def test_an_az_without_healthy_targets_leaves_the_lb_name() -> None:
    topology = make_topology()
    first = plan(topology, ENV)
    node_c = _proxy(first, f"-{AZ_C}-80")[0].bind_namespace
    node_a = _proxy(first, f"-{AZ_A}-80")[0].bind_namespace
    desired = plan(topology, ENV, {node_a: True, node_c: False})
    assert desired.dns[LB_DNS] == ("10.10.1.100",)
    # With no healthy node at all, DNS fails open and lists every node, as AWS does.
    desired = plan(topology, ENV, {node_a: False, node_c: False})
    assert desired.dns[LB_DNS] == ("10.10.1.100", "10.10.3.100")


def test_stopped_instance_leaves_the_backends_and_runs_no_jerp() -> None:
    desired = plan(make_topology(stopped=("i-jerp-c",)), ENV)
    assert set(desired.jerps) == {"i-jerp-a"}
    assert not _proxy(desired, f"-{AZ_C}-80")[0].servers
    assert desired.invalid_targets[TG_ARN][0][:3] == ("i-jerp-c", 8080, "Target.InvalidState")
    # Its namespace (and address) stays, as a stopped instance keeps its private IP.
    assert any(h.ref == "i-jerp-c" for h in desired.hosts.values())


def test_deregistered_target_leaves_the_backends() -> None:
    desired = plan(make_topology(targets=("i-jerp-a",)), ENV)
    assert set(desired.jerps) == {"i-jerp-a"}
    assert not _proxy(desired, f"-{AZ_C}-80")[0].servers


def test_jerp_runs_on_targets_at_the_target_port(topology: Topology) -> None:
    desired = plan(topology, ENV)
    assert {(j.instance_id, j.ip, j.port) for j in desired.jerps.values()} == {
        ("i-jerp-a", "10.10.1.217", 8080),
        ("i-jerp-c", "10.10.3.73", 8080),
    }


def test_source_group_rules_resolve_to_member_addresses(topology: Topology) -> None:
    desired = plan(topology, ENV)
    client = desired.rulesets[f"{ENV}-i-client"]
    assert "ip saddr { 10.20.1.50/32, 10.20.3.50/32 } tcp dport 22 accept" in client
    eni = desired.rulesets[f"{ENV}-eni-a"]
    assert "ip saddr { 10.20.0.0/16 } tcp dport 80 accept" in eni
    # No security group on the NLB: its nodes get no ruleset at all.
    assert not any("nlb" in ns for ns in desired.rulesets)


def test_nothing_to_do_when_applied_matches_desired(topology: Topology) -> None:
    desired = plan(topology, ENV)
    existing = [*desired.routers, *desired.hosts]
    assert plan_changes(_applied(desired), desired, existing).empty


def test_first_pass_creates_everything(topology: Topology) -> None:
    desired = plan(topology, ENV)
    changes = plan_changes(AppliedState(), desired, [])
    assert set(changes.create_routers) == set(desired.routers)
    assert set(changes.create_hosts) == set(desired.hosts)
    assert set(changes.apply_rulesets) == set(desired.rulesets)
    assert not changes.delete_hosts


def test_a_vanished_namespace_is_created_again(topology: Topology) -> None:
    desired = plan(topology, ENV)
    gone = f"{ENV}-i-client"
    existing = [ns for ns in [*desired.routers, *desired.hosts] if ns != gone]
    changes = plan_changes(_applied(desired), desired, existing)
    assert changes.create_hosts == (gone,)
    assert changes.apply_rulesets == (gone,)


def test_a_removed_rule_only_rewrites_that_ruleset() -> None:
    before = plan(make_topology(), ENV)
    after = plan(make_topology(allow_http=False), ENV)
    existing = [*before.routers, *before.hosts]
    changes = plan_changes(_applied(before), after, existing)
    assert set(changes.apply_rulesets) == {f"{ENV}-eni-a", f"{ENV}-eni-c"}
    assert not changes.create_hosts and not changes.delete_hosts


def test_a_moved_address_recreates_the_host_and_a_gone_host_is_deleted() -> None:
    topology = make_topology()
    before = plan(topology, ENV)
    moved = replace(
        topology,
        instances=tuple(
            replace(i, private_ip="10.20.1.11") if i.instance_id == "i-client" else i
            for i in topology.instances
            if i.instance_id != "i-jerp-c"
        ),
    )
    after = plan(moved, ENV)
    changes = plan_changes(_applied(before), after, [*before.routers, *before.hosts])
    assert changes.create_hosts == (f"{ENV}-i-client",)
    assert set(changes.delete_hosts) == {f"{ENV}-i-client", f"{ENV}-i-jerp-c"}


def test_target_health_from_haproxy_checks(topology: Topology) -> None:
    desired = plan(make_topology(cross_zone=True, stopped=()), ENV)
    proxies = [p.name for p in desired.proxies if p.name.startswith("nlb-")]
    statuses = [
        ServerStatus(proxies[0], "i-jerp-a-8080", "UP", "L7OK", ""),
        ServerStatus(proxies[1], "i-jerp-a-8080", "DOWN", "L4CON", ""),
        ServerStatus(proxies[0], "i-jerp-c-8080", "DOWN", "L7STS", ""),
        ServerStatus(proxies[1], "i-jerp-c-8080", "DOWN", "L4CON", ""),
    ]
    report = target_health(desired, statuses)
    by_id = {t["id"]: t for t in report[TG_ARN]}
    assert by_id["i-jerp-a"]["state"] == "healthy"
    assert by_id["i-jerp-c"]["state"] == "unhealthy"
    assert by_id["i-jerp-c"]["reason"] == "Target.FailedHealthChecks"
    assert desired.node_targets[proxies[0]]["i-jerp-a-8080"] == TargetRef(TG_ARN, "i-jerp-a", 8080)


def test_unchecked_targets_are_not_reported_yet(topology: Topology) -> None:
    desired = plan(topology, ENV)
    proxy = next(p.name for p in desired.proxies if p.name.startswith("nlb-"))
    statuses = [ServerStatus(proxy, "i-jerp-a-8080", "UP", "INI", "")]
    assert target_health(desired, statuses) == {}


def test_node_health_follows_server_state(topology: Topology) -> None:
    desired = plan(topology, ENV)
    node_a = _proxy(desired, f"-{AZ_A}-80")[0]
    node_c = _proxy(desired, f"-{AZ_C}-80")[0]
    statuses = [
        ServerStatus(node_a.name, "i-jerp-a-8080", "UP", "L7OK", ""),
        ServerStatus(node_c.name, "i-jerp-c-8080", "DOWN", "L4CON", ""),
    ]
    assert node_health(desired, statuses) == {
        node_a.bind_namespace: True,
        node_c.bind_namespace: False,
    }


def test_a_vpc_without_hosts_gets_no_router(topology: Topology) -> None:
    default_vpc = Vpc("vpc-default", "172.31.0.0/16", "default")
    desired = plan(replace(topology, vpcs=(*topology.vpcs, default_vpc)), ENV)
    assert f"{ENV}-vpc-default" not in desired.routers
    assert len(desired.routers) == 2


def test_an_address_outside_its_subnet_is_a_named_problem_not_a_host(topology: Topology) -> None:
    (endpoint,) = topology.endpoints
    bad = replace(endpoint.interfaces[0], private_ip="10.230.194.2")
    moved = replace(endpoint, interfaces=(bad, endpoint.interfaces[1]))
    desired = plan(replace(topology, endpoints=(moved,)), ENV)
    assert f"{ENV}-eni-a" not in desired.hosts
    (warning,) = desired.warnings
    assert "eni-a" in warning and "10.230.194.2" in warning and "10.20.1.0/24" in warning


def test_an_eni_skips_a_node_without_targets() -> None:
    desired = plan(make_topology(targets=("i-jerp-c",)), ENV)
    eni_a = _proxy(desired, "vpce-eni-a")[0]
    assert [(s.address, s.backup) for s in eni_a.servers] == [("10.10.3.100", False)]
