"""The kernel forwarder: PrivateLink flows from an endpoint ENI to its NLB node and on to a
target as nftables NAT in the namespaces, with no user-space hop.

An NLB is a layer-4 flow forwarder that does not terminate TCP (ELB user guide,
how-elastic-load-balancing-works.html#routing-algorithm): it picks a target with a flow hash
and keeps that flow on it. Here each endpoint ENI namespace has a veth link of its own to the
node namespace of its AZ (link-local addresses outside every VPC, so neither VPC gets a route
to the other), and:

- the ENI DNATs ``eni_ip:port`` to the node's end of the link and masquerades behind its own
  end; only flows it DNATed cross the link, the endpoint's security groups judge them on the
  consumer's address (:mod:`harness.dataplane.firewall`, ``forward="ingress"``), and so do
  the NLB's when they are enforced on PrivateLink traffic
  (NLB/load-balancer-security-groups.html, Considerations);
- the node DNATs to one of its serving targets by ``jhash`` of the flow's addresses and ports
  (conntrack then keeps the flow on that target; the TCP sequence number AWS also hashes is
  not available to nftables) and SNATs to its own private address, so targets see the node as
  the source (PL/privatelink-share-your-services.html); the NLB's egress rules judge what it
  sends to targets (``forward="egress"``);
- a target enters the hash only once HAProxy's checks (HAProxy stays the health checker and
  serves the node's own listeners) mark it up: no flow before ``healthy_threshold`` checks
  pass (NLB/target-group-health-checks.html);
- a target marked down has its open flows reset: its connections from the node are destroyed
  in its namespace (``ss -K``, which sends the peer a reset through the NAT) and every later
  segment of a flow to it is answered with a reset (NLB/target-group-health-checks.html,
  unhealthy connection termination on by default);
- a draining target leaves the hash but keeps its flows (conntrack keeps them;
  NLB/edit-target-group-attributes.html#deregistration-delay);
- flows idle for 350 s are forgotten on each hop (a ``ct timeout`` policy), and a segment of a
  forgotten flow is answered with a reset (NLB/update-idle-timeout.html).

Target groups with proxy protocol v2 keep the HAProxy path: a header is new bytes at the start
of the stream, which NAT cannot add.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from harness.dataplane.haproxy import ProxySpec, ServerStatus
from harness.dataplane.netns import NETNS_RUN, ns_exec, run, short_hash
from harness.errors import DataPlaneError

TABLE = "jerp_fwd"
IDLE_TIMEOUT_S = 350  # NLB/update-idle-timeout.html: TCP idle timeout default
# Link-local /30s, one per (ENI, node) link: never a VPC address (a VPC CIDR cannot be in
# 169.254.0.0/16), and below 169.254.169.0/24 where AWS keeps its own services.
LINK_NETWORK = ipaddress.IPv4Network("169.254.0.0/17")
MAX_LINKS = LINK_NETWORK.num_addresses // 4
LINK_PREFIX = "pl"  # interface names pl<index>, the same at both ends
APPLY_WORKERS = 8  # namespaces configured at once
_NAT_PREROUTING = "    type nat hook prerouting priority dstnat; policy accept;"
# A segment that would open a flow without being a SYN: conntrack forgot the flow (idle
# timeout) or never had it; AWS answers it with a reset.
_NOT_A_SYN = "ct state new tcp flags & (syn | ack | fin | rst) != syn reject with tcp reset"


@dataclass(frozen=True)
class KernelRoute:
    """One endpoint ENI listener forwarded in the kernel to the NLB node of its AZ.

    ``node_proxy`` names the node's HAProxy listener whose up servers are the targets;
    ``allow``: the sources the NLB's security groups admit on the port for PrivateLink
    traffic (None: not evaluated); ``open``: the endpoint is available (otherwise the node
    refuses the link's flows: an endpoint carries traffic only once accepted).
    """

    eni_namespace: str
    eni_ip: str
    node_namespace: str
    node_ip: str
    port: int
    node_proxy: str
    allow: tuple[str, ...] | None = None
    open: bool = True


@dataclass(frozen=True, order=True)
class Target:
    address: str
    port: int


def link_addresses(index: int) -> tuple[str, str]:
    """The (ENI end, node end) addresses of link ``index``."""
    if not 0 <= index < MAX_LINKS:
        raise DataPlaneError(
            f"link index {index} is outside the {MAX_LINKS} links the kit can make",
            hint="fewer endpoint ENIs per data plane",
        )
    base = LINK_NETWORK.network_address + 4 * index
    return str(base + 1), str(base + 2)


def _set(items: Iterable[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def _header() -> list[str]:
    # Created (if missing), deleted and made again in one transaction: atomic.
    return [f"table ip {TABLE}", f"delete table ip {TABLE}", f"table ip {TABLE} {{"]


def _idle_policy() -> list[str]:
    return [
        "  ct timeout idle {",
        "    protocol tcp; l3proto ip;",
        f"    policy = {{ established: {IDLE_TIMEOUT_S} }}",
        "  }",
    ]


def render_eni_table(routes: Iterable[KernelRoute], links: Mapping[str, int]) -> str:
    """The ENI namespace's table: ``links`` maps a node namespace to its link's index."""
    routes = sorted(routes, key=lambda r: (r.port, r.node_namespace))
    lines = [*_header(), *_idle_policy()]
    lines += ["  chain prerouting {", _NAT_PREROUTING]
    for route in routes:
        node_end = link_addresses(links[route.node_namespace])[1]
        lines.append(
            f"    ip daddr {route.eni_ip} tcp dport {route.port} "
            f'ct timeout set "idle" dnat to {node_end}'
        )
    lines += ["  }"]
    lines += [
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f'    oifname "{LINK_PREFIX}*" masquerade',
        "  }",
        "  chain forward {",
        "    type filter hook forward priority -10; policy drop;",
        f"    {_NOT_A_SYN}",
    ]
    for route in routes:
        if route.allow is None:
            continue
        # New flows only: a security group is stateful, a rule removed leaves open flows be.
        link = f"{LINK_PREFIX}{links[route.node_namespace]}"
        match = f'    ct state new oifname "{link}" tcp dport {route.port}'
        if route.allow:
            lines.append(f"{match} ip saddr != {_set(sorted(set(route.allow)))} drop")
        else:
            lines.append(f"{match} drop")
    lines += [
        f'    iifname "eth0" oifname "{LINK_PREFIX}*" ct status dnat accept',
        f'    iifname "{LINK_PREFIX}*" oifname "eth0" ct status dnat accept',
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


def render_node_table(
    node_namespace: str,
    node_ip: str,
    serving: Mapping[int, Iterable[Target]],
    down: Iterable[Target],
    closed: Iterable[str] = (),
) -> str:
    """The node namespace's table: per listener port its serving targets; ``down``: targets
    whose open flows are reset; ``closed``: the links of endpoints that are not available,
    whose flows the node refuses (so accepting endpoints changes only this table)."""
    lines = [*_header(), *_idle_policy()]
    closed_links = sorted({f'"{name}"' for name in closed})
    lines += ["  set closed {", "    type ifname;"]
    if closed_links:
        lines.append(f"    elements = {_set(closed_links)}")
    lines += ["  }"]
    down_elements = sorted({f"{t.address} . {t.port}" for t in down})
    lines += ["  set down {", "    type ipv4_addr . inet_service;"]
    if down_elements:
        lines.append(f"    elements = {_set(down_elements)}")
    lines += ["  }"]
    seed = int(short_hash(node_namespace, 8), 16)
    lines += ["  chain prerouting {", _NAT_PREROUTING, "    iifname @closed return"]
    for port in sorted(serving):
        targets = sorted(set(serving[port]), key=lambda t: (t.address, t.port))
        if not targets:
            continue  # no target up: the input chain resets the flow
        mapping = _set(f"{i} : {t.address} . {t.port}" for i, t in enumerate(targets))
        lines.append(
            f'    iifname "{LINK_PREFIX}*" tcp dport {port} ct timeout set "idle" '
            f"dnat ip to jhash ip saddr . tcp sport . ip daddr . tcp dport "
            f"mod {len(targets)} seed 0x{seed:08x} map {mapping}"
        )
    lines += [
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        f'    oifname "eth0" ct status dnat snat to {node_ip}',
        "  }",
        "  chain input {",
        "    type filter hook input priority -10; policy accept;",
        # Reached the node itself: an endpoint not available, or no target up for the flow.
        f'    iifname "{LINK_PREFIX}*" meta l4proto tcp reject with tcp reset',
        f'    iifname "{LINK_PREFIX}*" drop',
        "  }",
        "  chain forward {",
        "    type filter hook forward priority -10; policy drop;",
        "    tcp flags & rst == 0 ip daddr . tcp dport @down reject with tcp reset",
        "    tcp flags & rst == 0 ip saddr . tcp sport @down reject with tcp reset",
        f"    {_NOT_A_SYN}",
        f'    iifname "{LINK_PREFIX}*" oifname "eth0" ct status dnat accept',
        f'    iifname "eth0" oifname "{LINK_PREFIX}*" ct status dnat accept',
        "  }",
        "}",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- applying


def create_links(links: Iterable[tuple[str, str, int]]) -> None:
    """The veth pairs ``pl<index>`` for (ENI namespace, node namespace, index), each end made
    in its namespace, all in one ``ip -batch`` (the host's namespace holds neither end)."""
    links = list(links)
    batch = "".join(_link_line(eni, node, index) for eni, node, index in links)
    if not batch:
        return
    try:
        run(["ip", "-batch", "-"], input_text=batch)
    except DataPlaneError:
        # A name left by an interrupted pass: remove both ends, then one by one.
        for eni, node, index in links:
            for ns in (eni, node):
                run(["ip", "-n", ns, "link", "del", f"{LINK_PREFIX}{index}"], check=False)
            run(["ip", "-batch", "-"], input_text=_link_line(eni, node, index))


def _link_line(eni: str, node: str, index: int) -> str:
    return (
        f"link add name {LINK_PREFIX}{index} netns {eni} type veth"
        f" peer name {LINK_PREFIX}{index} netns {node}\n"
    )


def delete_link(eni_namespace: str, index: int) -> None:
    run(["ip", "-n", eni_namespace, "link", "del", f"{LINK_PREFIX}{index}"], check=False)


# The kernel modules the tables use (loaded on demand where the kernel allows it).
KERNEL_MODULES = "nft_nat, nft_masq, nft_ct, nf_conntrack_timeout, nft_hash, nft_reject_inet"


def apply_table(namespace: str, text: str, addresses: Iterable[tuple[str, str]] = ()) -> None:
    """Apply ``text`` in ``namespace``; first give the links in ``addresses`` (name, address)
    their address and bring them up: one process per namespace, which keeps a pass that
    links many ENIs cheap (the namespace forwards from its creation, netns.create_host)."""
    steps = "".join(f"addr replace {address}/30 dev {name}\nlink set {name} up\n"
                    for name, address in addresses)  # fmt: skip
    try:
        if steps:
            run(["ip", "-n", namespace, "-batch", "-"], input_text=steps)
        # nsenter switches only the network namespace (``ip netns exec`` also sets up a mount
        # namespace, which nft does not need): the cheaper of the two per namespace.
        run(["nsenter", f"--net={NETNS_RUN / namespace}", "nft", "-f", "-"], input_text=text)
    except DataPlaneError as exc:
        raise DataPlaneError(
            f"could not apply the kernel forwarder's table in {namespace}: {exc.args[0]}",
            hint="where nft refused the table, the kernel lacks nftables NAT, conntrack timeouts"
            f" or hashing ({KERNEL_MODULES}): `modprobe` them on the host (a container cannot"
            " load them)",
        ) from exc


def reset_flows_from(target_namespace: str, target: Target, node_ip: str) -> None:
    """Destroy the target's connections from ``node_ip`` on its port: each sends its peer a
    reset, which the node's NAT carries back to the consumer."""
    run(
        ns_exec(
            target_namespace,
            [
                "ss",
                "-K",
                "-t",
                "state",
                "established",
                "src",
                f"{target.address}",
                "sport",
                f"= :{target.port}",
                "dst",
                node_ip,
            ],
        ),
        check=False,
    )


def node_targets(
    routes: Iterable[KernelRoute],
    proxies: Iterable[ProxySpec],
    statuses: Iterable[ServerStatus],
    proxy_groups: Mapping[str, str],
) -> tuple[dict[str, dict[int, list[Target]]], dict[str, list[Target]]]:
    """Per node namespace: the targets that take new flows per port (HAProxy's checks have
    them up) and those whose flows are reset (checked down, or still rising).

    ``proxy_groups`` maps every node listener to its target group. A target group whose
    targets have all been checked and all failed fails open: every node sends new flows to
    all of its targets and resets none (NLB/target-group-health-checks.html: "If all targets
    fail health checks at the same time in all enabled Availability Zones, the load balancer
    fails open").
    """
    statuses = list(statuses)
    up = {(s.proxy, s.server) for s in statuses if s.up}
    failing: dict[str, bool] = {}  # target group -> every target checked and down
    for status in statuses:
        group = proxy_groups.get(status.proxy)
        if group is not None:
            failing[group] = failing.get(group, True) and status.checked and not status.up
    by_name = {p.name: p for p in proxies}
    serving: dict[str, dict[int, list[Target]]] = {}
    down: dict[str, list[Target]] = {}
    for route in routes:
        ports = serving.setdefault(route.node_namespace, {})
        if route.port in ports:  # another ENI's route to the same node listener
            continue
        targets = ports.setdefault(route.port, [])
        proxy = by_name.get(route.node_proxy)
        fail_open = failing.get(proxy_groups.get(route.node_proxy, ""), False)
        for server in proxy.servers if proxy is not None else ():
            target = Target(server.address, server.port)
            if fail_open or (route.node_proxy, server.name) in up:
                targets.append(target)
            else:
                down.setdefault(route.node_namespace, []).append(target)
    return serving, down


class KernelForwarder:
    """The links and tables of :class:`KernelRoute` s, changed only where they differ."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str], int] = {}  # (eni ns, node ns) -> link index
        self.tables: dict[str, str] = {}  # namespace -> applied table text
        self.serving: dict[str, set[Target]] = {}  # node ns -> targets in its hash
        self.open: set[tuple[str, str]] = set()  # links of available endpoints

    def apply(
        self,
        routes: Iterable[KernelRoute],
        serving: Mapping[str, Mapping[int, Iterable[Target]]],
        down: Mapping[str, Iterable[Target]],
        target_namespaces: Mapping[str, str],
        remade: Iterable[str],
        gone: Iterable[str] = (),
    ) -> list[str]:
        """Converge to ``routes``; ``target_namespaces`` maps a target address to its
        namespace (to reset flows); ``remade``: namespaces made anew this pass and ``gone``:
        deleted (their links and tables went with them)."""
        routes = list(routes)
        gone = set(gone)
        remade = set(remade) | gone
        changes: list[str] = []
        for ns in remade:
            self.tables.pop(ns, None)
            self.serving.pop(ns, None)
        wanted = {(r.eni_namespace, r.node_namespace) for r in routes}
        for pair, index in sorted(self.links.items()):
            if pair not in wanted and not remade & set(pair):
                delete_link(pair[0], index)
                changes.append(f"removed the link from {pair[0]} to {pair[1]}")
            if pair not in wanted or remade & set(pair):
                del self.links[pair]
        # New links: made in one batch, addressed with their namespaces' tables below.
        addresses: dict[str, list[tuple[str, str]]] = {}
        new: list[tuple[str, str, int]] = []
        used = set(self.links.values())
        free = (i for i in range(MAX_LINKS + 1) if i not in used)
        for eni_ns, node_ns in sorted(wanted - set(self.links)):
            index = next(free)
            eni_end, node_end = link_addresses(index)
            new.append((eni_ns, node_ns, index))
            addresses.setdefault(eni_ns, []).append((f"{LINK_PREFIX}{index}", eni_end))
            addresses.setdefault(node_ns, []).append((f"{LINK_PREFIX}{index}", node_end))
        create_links(new)
        for eni_ns, node_ns, index in new:
            self.links[(eni_ns, node_ns)] = index
            changes.append(f"linked {eni_ns} to {node_ns}")
        wanted_tables: dict[str, str] = {}
        by_eni: dict[str, list[KernelRoute]] = {}
        node_ips: dict[str, str] = {}
        for route in routes:
            by_eni.setdefault(route.eni_namespace, []).append(route)
            node_ips[route.node_namespace] = route.node_ip
        for eni_ns, eni_routes in by_eni.items():
            links = {r.node_namespace: self.links[(eni_ns, r.node_namespace)] for r in eni_routes}
            wanted_tables[eni_ns] = render_eni_table(eni_routes, links)
        closed: dict[str, list[str]] = {}
        for route in routes:
            if not route.open:
                index = self.links[(route.eni_namespace, route.node_namespace)]
                closed.setdefault(route.node_namespace, []).append(f"{LINK_PREFIX}{index}")
        for node_ns, node_ip in node_ips.items():
            wanted_tables[node_ns] = render_node_table(
                node_ns,
                node_ip,
                serving.get(node_ns, {}),
                down.get(node_ns, ()),
                closed.get(node_ns, ()),
            )
        for ns in sorted(set(self.tables) - set(wanted_tables)):
            run(ns_exec(ns, ["nft", "delete", "table", "ip", TABLE]), check=False)
            del self.tables[ns]
            self.serving.pop(ns, None)
            changes.append(f"removed the kernel forwarder from {ns}")
        changed = [
            ns
            for ns, text in sorted(wanted_tables.items())
            if self.tables.get(ns) != text or ns in addresses
        ]
        # One process per namespace, a few at a time: 100 new endpoints are 100 namespaces.
        with ThreadPoolExecutor(max_workers=APPLY_WORKERS) as pool:
            done = pool.map(
                lambda ns: apply_table(ns, wanted_tables[ns], addresses.get(ns, ())),
                changed,
            )
            list(done)  # raises the first failure
        self.open = {(r.eni_namespace, r.node_namespace) for r in routes if r.open}
        for ns in changed:
            self.tables[ns] = wanted_tables[ns]
            changes.append(f"applied the kernel forwarder in {ns}")
        for node_ns, node_ip in sorted(node_ips.items()):
            now = {t for targets in serving.get(node_ns, {}).values() for t in targets}
            for target in sorted(set(down.get(node_ns, ())) & self.serving.get(node_ns, set())):
                target_ns = target_namespaces.get(target.address)
                if target_ns is not None:
                    reset_flows_from(target_ns, target, node_ip)
                    changes.append(f"reset the flows from {node_ns} to {target.address}")
            self.serving[node_ns] = now
        return changes
