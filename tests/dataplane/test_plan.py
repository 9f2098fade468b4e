"""Planning: from a Topology to namespaces, listeners, DNS, rules; and the diff."""

from __future__ import annotations

from dataclasses import replace

from harness.dataplane.diff import AppliedState, plan_changes
from harness.dataplane.haproxy import ServerStatus
from harness.dataplane.health import node_health, target_health
from harness.dataplane.planner import TargetRef, plan
from harness.dataplane.topology import Topology, Vpc
from tests.seed import (
    AZ_A,
    AZ_C,
    CLIENT,
    CONSUMER_CIDR,
    CONSUMER_VPC,
    ENI_A,
    ENI_C,
    ENI_IPS,
    NLB_DNS,
    NLB_NAME,
    NODE_IPS,
    PROVIDER_CIDR,
    REGIONAL,
    TARGET_A,
    TARGET_C,
    TARGET_IPS,
    TG_ARN,
    ZONAL,
    seed_topology,
)

ENV = "jdt001"


def _proxy(desired, name_part):  # type: ignore[no-untyped-def]
    return [p for p in desired.proxies if name_part in p.name]


def _applied(desired):  # type: ignore[no-untyped-def]
    return AppliedState(dict(desired.routers), dict(desired.hosts), dict(desired.rulesets))


def test_every_vpc_gets_a_router_with_router_and_resolver_addresses(topology: Topology) -> None:
    desired = plan(topology, ENV)
    routers = {r.cidr: r for r in desired.routers.values()}
    assert routers[PROVIDER_CIDR].router_ip == "10.10.0.1"
    assert routers[PROVIDER_CIDR].resolver_ip == "10.10.0.2"
    assert routers[CONSUMER_CIDR].resolver_ip == "10.20.0.2"
    assert all(len(r.bridge) <= 15 for r in desired.routers.values())
    assert all(ns.startswith(f"{ENV}-") for ns in [*desired.routers, *desired.hosts])


def test_hosts_sit_at_their_private_addresses_in_their_subnets(topology: Topology) -> None:
    desired = plan(topology, ENV)
    by_ref = {h.ref: h for h in desired.hosts.values()}
    assert by_ref[TARGET_A].ip == TARGET_IPS[TARGET_A]
    assert by_ref[TARGET_A].prefixlen == 24
    assert by_ref[TARGET_A].router_ip == "10.10.0.1"
    assert by_ref[ENI_A].vpc_id == CONSUMER_VPC
    assert by_ref[f"{NLB_NAME}/{AZ_C}"].ip == NODE_IPS[AZ_C]
    assert all(len(h.veth) <= 15 for h in desired.hosts.values())


def test_cross_zone_off_a_node_forwards_only_to_its_own_az() -> None:
    desired = plan(seed_topology(cross_zone=False), ENV)
    node_a = _proxy(desired, f"-{AZ_A}-80")[0]
    assert [s.address for s in node_a.servers] == [TARGET_IPS[TARGET_A]]
    assert node_a.bind_ip == NODE_IPS[AZ_A]
    assert all(s.namespace == node_a.bind_namespace for s in node_a.servers)
    assert node_a.check is not None and node_a.check.path == "/healthz"


def test_cross_zone_on_a_node_forwards_to_every_target() -> None:
    desired = plan(seed_topology(cross_zone=True), ENV)
    node_a = _proxy(desired, f"-{AZ_A}-80")[0]
    assert sorted(s.address for s in node_a.servers) == sorted(TARGET_IPS.values())


def test_available_endpoint_bridges_each_eni_to_its_own_az_node(topology: Topology) -> None:
    desired = plan(topology, ENV)
    [route] = [r for r in desired.kernel_routes if r.eni_namespace == f"{ENV}-{ENI_A}"]
    assert (route.eni_ip, route.port) == (ENI_IPS[AZ_A], 80)
    # The NLB node of the ENI's own AZ, never another AZ's node.
    assert route.node_namespace.endswith(f"-{AZ_A}") and route.node_ip == NODE_IPS[AZ_A]
    assert route.node_proxy in {p.name for p in desired.proxies}
    assert not _proxy(desired, "vpce-")  # no user-space hop


def test_pending_or_rejected_endpoint_carries_no_traffic_but_keeps_its_enis() -> None:
    for state in ("pendingAcceptance", "rejected"):
        desired = plan(seed_topology(endpoint_state=state), ENV)
        assert not _proxy(desired, "vpce-")
        # Linked to the node already, but closed: the node refuses the flows.
        assert desired.kernel_routes and not any(r.open for r in desired.kernel_routes)
        assert any(h.kind == "endpoint-eni" for h in desired.hosts.values())


def test_dns_names_resolve_to_private_addresses(topology: Topology) -> None:
    desired = plan(topology, ENV)
    assert desired.dns[NLB_DNS] == (NODE_IPS[AZ_A], NODE_IPS[AZ_C])
    assert desired.dns[f"{AZ_A}.{NLB_DNS}"] == (NODE_IPS[AZ_A],)
    assert desired.dns[REGIONAL] == (ENI_IPS[AZ_A], ENI_IPS[AZ_C])
    assert desired.dns[ZONAL[AZ_A]] == (ENI_IPS[AZ_A],)


def test_an_az_without_healthy_targets_leaves_the_lb_name() -> None:
    topology = seed_topology()
    first = plan(topology, ENV)
    node_c = _proxy(first, f"-{AZ_C}-80")[0].bind_namespace
    node_a = _proxy(first, f"-{AZ_A}-80")[0].bind_namespace
    desired = plan(topology, ENV, {node_a: True, node_c: False})
    assert desired.dns[NLB_DNS] == (NODE_IPS[AZ_A],)
    # With no healthy node at all, DNS fails open and lists every node, as AWS does.
    desired = plan(topology, ENV, {node_a: False, node_c: False})
    assert desired.dns[NLB_DNS] == (NODE_IPS[AZ_A], NODE_IPS[AZ_C])


def test_stopped_instance_leaves_the_backends_and_runs_no_jerp() -> None:
    desired = plan(seed_topology(stopped=(TARGET_C,)), ENV)
    assert set(desired.jerps) == {TARGET_A}
    assert not _proxy(desired, f"-{AZ_C}-80")[0].servers
    assert desired.invalid_targets[TG_ARN][0][:3] == (TARGET_C, 8080, "Target.InvalidState")
    # Its namespace (and address) stays, as a stopped instance keeps its private IP.
    assert any(h.ref == TARGET_C for h in desired.hosts.values())


def test_deregistered_target_leaves_the_backends() -> None:
    desired = plan(seed_topology(targets=(TARGET_A,)), ENV)
    assert set(desired.jerps) == {TARGET_A}
    assert not _proxy(desired, f"-{AZ_C}-80")[0].servers


def test_jerp_runs_on_targets_at_the_target_port(topology: Topology) -> None:
    desired = plan(topology, ENV)
    assert {(j.instance_id, j.ip, j.port) for j in desired.jerps.values()} == {
        (TARGET_A, TARGET_IPS[TARGET_A], 8080),
        (TARGET_C, TARGET_IPS[TARGET_C], 8080),
    }


def test_source_group_rules_resolve_to_member_addresses(topology: Topology) -> None:
    desired = plan(topology, ENV)
    client = desired.rulesets[f"{ENV}-{CLIENT}"]
    enis = ", ".join(f"{ip}/32" for ip in ENI_IPS.values())
    assert f"ip saddr {{ {enis} }} tcp dport 22 accept" in client
    eni = desired.rulesets[f"{ENV}-{ENI_A}"]
    assert f"ip saddr {{ {CONSUMER_CIDR} }} tcp dport 80 accept" in eni
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
    gone = f"{ENV}-{CLIENT}"
    existing = [ns for ns in [*desired.routers, *desired.hosts] if ns != gone]
    changes = plan_changes(_applied(desired), desired, existing)
    assert changes.create_hosts == (gone,)
    assert changes.apply_rulesets == (gone,)


def test_a_removed_rule_only_rewrites_that_ruleset() -> None:
    before = plan(seed_topology(), ENV)
    after = plan(seed_topology(endpoint_ingress=()), ENV)
    existing = [*before.routers, *before.hosts]
    changes = plan_changes(_applied(before), after, existing)
    assert set(changes.apply_rulesets) == {f"{ENV}-{ENI_A}", f"{ENV}-{ENI_C}"}
    assert not changes.create_hosts and not changes.delete_hosts


def test_a_moved_address_recreates_the_host_and_a_gone_host_is_deleted() -> None:
    topology = seed_topology()
    before = plan(topology, ENV)
    moved = replace(
        topology,
        instances=tuple(
            replace(i, private_ip="10.20.1.11") if i.instance_id == CLIENT else i
            for i in topology.instances
            if i.instance_id != TARGET_C
        ),
    )
    after = plan(moved, ENV)
    changes = plan_changes(_applied(before), after, [*before.routers, *before.hosts])
    assert changes.create_hosts == (f"{ENV}-{CLIENT}",)
    assert set(changes.delete_hosts) == {f"{ENV}-{CLIENT}", f"{ENV}-{TARGET_C}"}


def test_target_health_from_haproxy_checks(topology: Topology) -> None:
    desired = plan(seed_topology(cross_zone=True, stopped=()), ENV)
    proxies = [p.name for p in desired.proxies if p.name.startswith("nlb-")]
    statuses = [
        ServerStatus(proxies[0], f"{TARGET_A}-8080", "UP", "L7OK", ""),
        ServerStatus(proxies[1], f"{TARGET_A}-8080", "DOWN", "L4CON", ""),
        ServerStatus(proxies[0], f"{TARGET_C}-8080", "DOWN", "L7STS", ""),
        ServerStatus(proxies[1], f"{TARGET_C}-8080", "DOWN", "L4CON", ""),
    ]
    report = target_health(desired, statuses)
    by_id = {t["id"]: t for t in report[TG_ARN]}
    assert by_id[TARGET_A]["state"] == "healthy"
    assert by_id[TARGET_C]["state"] == "unhealthy"
    assert by_id[TARGET_C]["reason"] == "Target.FailedHealthChecks"
    assert desired.node_targets[proxies[0]][f"{TARGET_A}-8080"] == TargetRef(TG_ARN, TARGET_A, 8080)


def test_unchecked_targets_are_not_reported_yet(topology: Topology) -> None:
    desired = plan(topology, ENV)
    proxy = next(p.name for p in desired.proxies if p.name.startswith("nlb-"))
    statuses = [ServerStatus(proxy, f"{TARGET_A}-8080", "UP", "INI", "")]
    assert target_health(desired, statuses) == {}


def test_node_health_follows_server_state(topology: Topology) -> None:
    desired = plan(topology, ENV)
    node_a = _proxy(desired, f"-{AZ_A}-80")[0]
    node_c = _proxy(desired, f"-{AZ_C}-80")[0]
    statuses = [
        ServerStatus(node_a.name, f"{TARGET_A}-8080", "UP", "L7OK", ""),
        ServerStatus(node_c.name, f"{TARGET_C}-8080", "DOWN", "L4CON", ""),
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
    assert f"{ENV}-{ENI_A}" not in desired.hosts
    (warning,) = desired.warnings
    assert ENI_A in warning and "10.230.194.2" in warning and "10.20.1.0/24" in warning


def test_an_eni_stays_with_its_own_az_node_even_without_targets_there() -> None:
    # AWS: an endpoint ENI sends to the NLB node in its own AZ; with cross-zone off that node
    # has no target when its AZ has none, and the flow fails rather than crossing zones.
    desired = plan(seed_topology(targets=(TARGET_C,)), ENV)
    routes = [r for r in desired.kernel_routes if r.eni_namespace == f"{ENV}-{ENI_A}"]
    assert [r.node_namespace.endswith(f"-{AZ_A}") for r in routes] == [True]
