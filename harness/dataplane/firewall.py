"""Security groups as nftables rules inside a host's namespace.

Both directions are enforced the way a security group is: stateful (replies to allowed traffic
pass both ways), everything not allowed by a rule is dropped. Source-group references arrive
already resolved to the member addresses. Egress rules apply to what the host sends (VPC user
guide, "Security group rules": outbound rules control the traffic allowed to leave); traffic to
the Amazon DNS server at VPC base+2 is never filtered by security groups (VPC user guide,
"Security group rules", Considerations: traffic to and from Amazon DNS is not evaluated).
The rules of one namespace are replaced atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.dataplane.forwarder import LINK_PREFIX
from harness.dataplane.netns import ns_exec, run

TABLE = "jerp_sg"

_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}


@dataclass(frozen=True)
class IngressRule:
    """One resolved permission: protocol (tcp/udp/icmp/-1), inclusive ports, and the peer CIDRs
    (sources of an ingress rule, destinations of an egress rule)."""

    protocol: str
    from_port: int
    to_port: int
    sources: tuple[str, ...]


def _match(rule: IngressRule) -> str | None:
    proto = rule.protocol.lower()
    if proto in ("-1", "all"):
        return ""
    name = _PROTOCOLS.get(proto)
    if name is None:
        return None
    if name == "icmp":
        return "meta l4proto icmp "
    if (rule.from_port <= 0 and rule.to_port >= 65535) or rule.from_port < 0:
        return f"meta l4proto {name} "
    ports = str(rule.from_port)
    if rule.to_port != rule.from_port:
        ports = f"{rule.from_port}-{rule.to_port}"
    return f"{name} dport {ports} "


def _rule_lines(rules: Iterable[IngressRule], peer: str) -> list[str]:
    lines: list[str] = []
    for rule in rules:
        match = _match(rule)
        if match is None or not rule.sources:
            continue
        peers = ", ".join(sorted(set(rule.sources)))
        line = f"    ip {peer} {{ {peers} }} {match}accept"
        if line not in lines:
            lines.append(line)
    return lines


def render_ruleset(
    rules: Iterable[IngressRule],
    egress: Iterable[IngressRule] | None = None,
    dns_server: str | None = None,
    forward: str | None = None,
) -> str:
    """An nft script that (re)creates the namespace's security-group table in one transaction.

    ``egress`` None leaves outbound open (a host without security groups, such as an NLB
    created without any); otherwise only what an egress rule allows leaves, plus DNS to
    ``dns_server``. ``forward``: the rules that judge flows the host forwards in the kernel
    (:mod:`harness.dataplane.forwarder`), "ingress" (an endpoint ENI: as if addressed to it)
    or "egress" (an NLB node: as if it sent them; open when ``egress`` is None).
    """
    rules = list(rules)
    egress = None if egress is None else list(egress)
    lines = [
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
        "    ct state invalid drop",
        *_rule_lines(rules, "saddr"),
        "  }",
    ]
    if egress is not None:
        lines += [
            "  chain output {",
            "    type filter hook output priority 0; policy drop;",
            '    oif "lo" accept',
            "    ct state established,related accept",
            "    ct state invalid drop",
        ]
        if forward is not None:
            # The resets the kernel forwarder answers for a flow it carries (a target down, a
            # forgotten flow, no target up) are its own, not the host's traffic.
            lines += ["    ct status dnat accept", f'    oifname "{LINK_PREFIX}*" accept']
        if dns_server:
            lines.append(
                f"    ip daddr {dns_server} meta l4proto {{ tcp, udp }} th dport 53 accept"
            )
        lines += [*_rule_lines(egress, "daddr"), "  }"]
    judged = None
    if forward == "ingress":
        judged = _rule_lines(rules, "saddr")
    elif forward == "egress" and egress is not None:
        judged = _rule_lines(egress, "daddr")
    if judged is not None:
        lines += [
            "  chain forward {",
            "    type filter hook forward priority 0; policy drop;",
            "    ct state established,related accept",
            "    ct state invalid drop",
            *judged,
            "  }",
        ]
    lines += ["}", ""]
    return "\n".join(lines)


def apply_ruleset(namespace: str, ruleset: str) -> None:
    run(ns_exec(namespace, ["nft", "-f", "-"]), input_text=ruleset)
