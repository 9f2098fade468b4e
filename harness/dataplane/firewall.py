"""Security groups as nftables rules inside a host's namespace.

Ingress is enforced the way a security group is: stateful (replies to allowed traffic and to
the host's own connections pass), everything not allowed by a rule is dropped. Source-group
references arrive already resolved to the member addresses. Egress is left open (the default
security group egress rule); the rules of one namespace are replaced atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.dataplane.netns import ns_exec, run

TABLE = "jerp_sg"

_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp"}


@dataclass(frozen=True)
class IngressRule:
    """One resolved permission: protocol (tcp/udp/icmp/-1), inclusive ports, source CIDRs."""

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


def render_ruleset(rules: Iterable[IngressRule]) -> str:
    """An nft script that (re)creates the namespace's security-group table in one transaction."""
    lines = [
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        f"table inet {TABLE} {{",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
        "    ct state invalid drop",
    ]
    seen: set[str] = set()
    for rule in rules:
        match = _match(rule)
        if match is None or not rule.sources:
            continue
        sources = ", ".join(sorted(set(rule.sources)))
        line = f"    ip saddr {{ {sources} }} {match}accept"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def apply_ruleset(namespace: str, ruleset: str) -> None:
    run(ns_exec(namespace, ["nft", "-f", "-"]), input_text=ruleset)
