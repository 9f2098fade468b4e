"""The kernel forwarder's pure part: link addressing, the nftables it renders, and which
targets take flows (no root: tests/dataplane/test_dataplane_root.py runs it for real)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from harness.dataplane import forwarder
from harness.dataplane.forwarder import (
    IDLE_TIMEOUT_S,
    MAX_LINKS,
    KernelRoute,
    Target,
    link_addresses,
    node_targets,
    render_eni_table,
    render_node_table,
)
from harness.dataplane.haproxy import ProxySpec, ServerSpec, ServerStatus
from harness.errors import DataPlaneError

ROUTE = KernelRoute("e-eni", "10.20.1.50", "e-node", "10.10.1.20", 80, "nlb-x-a-80")


def test_links_are_distinct_link_local_30s_outside_every_vpc_and_aws_services() -> None:
    ends = [link_addresses(i) for i in (0, 1, MAX_LINKS - 1)]
    assert ends[0] == ("169.254.0.1", "169.254.0.2")
    assert ends[1] == ("169.254.0.5", "169.254.0.6")
    reserved = ipaddress.IPv4Network("169.254.169.0/24")  # 169.254.169.253/.254
    for eni_end, node_end in ends:
        for address in (eni_end, node_end):
            assert ipaddress.IPv4Address(address).is_link_local
            assert ipaddress.IPv4Address(address) not in reserved
    with pytest.raises(DataPlaneError, match="links the kit can make"):
        link_addresses(MAX_LINKS)


def test_the_eni_dnats_to_its_node_and_judges_the_nlb_groups_on_the_consumer() -> None:
    enforced = replace(ROUTE, allow=("10.20.1.0/24",))
    text = render_eni_table([enforced], {"e-node": 3})
    node_end = link_addresses(3)[1]
    assert f'ip daddr 10.20.1.50 tcp dport 80 ct timeout set "idle" dnat to {node_end}' in text
    # New flows only: security groups are stateful.
    assert 'ct state new oifname "pl3" tcp dport 80 ip saddr != { 10.20.1.0/24 } drop' in text
    assert 'oifname "pl*" masquerade' in text
    assert "policy drop" in text and "ct status dnat accept" in text
    assert f"established: {IDLE_TIMEOUT_S}" in text
    # Nothing admitted: every PrivateLink flow dropped; not enforced: no rule at all.
    closed = replace(ROUTE, allow=())
    assert 'ct state new oifname "pl3" tcp dport 80 drop' in render_eni_table(
        [closed], {"e-node": 3}
    )
    assert "saddr !=" not in render_eni_table([ROUTE], {"e-node": 3})


def test_the_node_hashes_flows_over_its_up_targets_and_resets_the_down_ones() -> None:
    up = [Target("10.10.3.100", 8080), Target("10.10.1.100", 8080)]
    text = render_node_table("e-node", "10.10.1.20", {80: up}, [Target("10.10.1.101", 8080)])
    assert "jhash ip saddr . tcp sport . ip daddr . tcp dport mod 2" in text
    assert "map { 0 : 10.10.1.100 . 8080, 1 : 10.10.3.100 . 8080 }" in text
    assert 'oifname "eth0" ct status dnat snat to 10.10.1.20' in text
    assert "elements = { 10.10.1.101 . 8080 }" in text
    assert "ip daddr . tcp dport @down reject with tcp reset" in text
    # Equal input renders equal text (a pass that changed nothing applies nothing).
    again = render_node_table("e-node", "10.10.1.20", {80: up[::-1]}, [Target("10.10.1.101", 8080)])
    assert again == text
    # An endpoint not available: its link's flows are not DNATed, the node refuses them.
    closed = render_node_table("e-node", "10.10.1.20", {80: up}, [], ["pl4"])
    assert 'elements = { "pl4" }' in closed and "iifname @closed return" in closed
    # No target up: no DNAT, the input chain resets the flow.
    empty = render_node_table("e-node", "10.10.1.20", {80: []}, [])
    assert "jhash" not in empty and "elements" not in empty
    assert 'iifname "pl*" meta l4proto tcp reject with tcp reset' in empty


def _status(server: str, status: str) -> ServerStatus:
    return ServerStatus("nlb-x-a-80", server, status, "L7OK" if status == "UP" else "L4CON", "")


def test_only_targets_haproxy_checks_up_take_flows_the_rest_are_down() -> None:
    proxy = ProxySpec(
        "nlb-x-a-80",
        "10.10.1.20",
        80,
        "e-node",
        (
            ServerSpec("i-a-8080", "10.10.1.100", 8080, "e-node"),
            ServerSpec("i-b-8080", "10.10.1.101", 8080, "e-node"),
            ServerSpec("i-c-8080", "10.10.1.102", 8080, "e-node"),
        ),
    )
    statuses = [_status("i-a-8080", "UP"), _status("i-b-8080", "DOWN")]  # i-c: not checked yet
    # Two ENIs on the same node listener: the targets are counted once.
    second = replace(ROUTE, eni_namespace="e-eni2", eni_ip="10.20.3.50")
    serving, down = node_targets([ROUTE, second], [proxy], statuses, {proxy.name: "tg"})
    assert serving == {"e-node": {80: [Target("10.10.1.100", 8080)]}}
    assert down == {"e-node": [Target("10.10.1.101", 8080), Target("10.10.1.102", 8080)]}


def test_a_target_group_whose_checked_targets_all_failed_fails_open() -> None:
    servers = (
        ServerSpec("i-a-8080", "10.10.1.100", 8080, "e-node"),
        ServerSpec("i-b-8080", "10.10.1.101", 8080, "e-node"),
    )
    here = ProxySpec("nlb-x-a-80", "10.10.1.20", 80, "e-node", servers)
    there = ProxySpec("nlb-x-c-80", "10.10.3.20", 80, "e-node-c", ())
    groups = {here.name: "tg", there.name: "tg"}
    every_target = [Target("10.10.1.100", 8080), Target("10.10.1.101", 8080)]
    failed = [_status("i-a-8080", "DOWN"), _status("i-b-8080", "DOWN")]
    assert node_targets([ROUTE], [here, there], failed, groups) == (
        {"e-node": {80: every_target}},
        {},
    )
    # Not while one is still in its first checks, nor while another AZ's node has one up.
    rising = [failed[0], ServerStatus("nlb-x-a-80", "i-b-8080", "DOWN", "INI", "")]
    assert node_targets([ROUTE], [here, there], rising, groups)[0] == {"e-node": {80: []}}
    elsewhere = [*failed, ServerStatus("nlb-x-c-80", "i-c-8080", "UP", "L7OK", "")]
    assert node_targets([ROUTE], [here, there], elsewhere, groups)[0] == {"e-node": {80: []}}


def test_a_kernel_without_the_modules_gets_an_error_naming_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> str:
        raise DataPlaneError("`nft -f -` failed (1): Error: Could not process rule")

    monkeypatch.setattr(forwarder, "run", refuse)
    with pytest.raises(DataPlaneError) as caught:
        forwarder.apply_table("e-node", "table ip jerp_fwd {}")
    assert "kernel forwarder's table in e-node" in str(caught.value)
    assert "Could not process rule" in str(caught.value)
    assert "nf_conntrack_timeout" in caught.value.hint and "modprobe" in caught.value.hint
