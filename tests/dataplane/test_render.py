"""Configuration rendering: HAProxy, dnsmasq hosts, nftables rulesets."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest

from harness.dataplane import dnsmasq
from harness.dataplane.dnsmasq import Resolver, dnsmasq_args, render_hosts
from harness.dataplane.firewall import IngressRule, render_ruleset
from harness.dataplane.haproxy import (
    HealthCheckSpec,
    ProxySpec,
    ServerSpec,
    parse_stat,
    render_config,
)
from harness.dataplane.planner import plan
from harness.dataplane.topology import Topology

CHECK = HealthCheckSpec(path="/healthz", interval_s=10, rise=3, fall=2)


def _proxy() -> ProxySpec:
    return ProxySpec(
        "nlb-1-a-80",
        "10.10.1.100",
        80,
        "ns-node-a",
        (
            ServerSpec("i-2-8080", "10.10.3.73", 8080, "ns-node-a", backup=True),
            ServerSpec("i-1-8080", "10.10.1.217", 8080, "ns-node-a"),
        ),
        CHECK,
    )


def test_haproxy_binds_and_connects_in_namespaces_with_the_configured_check(
    tmp_path: Path,
) -> None:
    text = render_config([_proxy()], tmp_path / "s.sock", tmp_path / "s.state")
    assert "    bind 10.10.1.100:80 namespace ns-node-a" in text
    assert "    option httpchk GET /healthz" in text
    assert "    http-check expect status 200-399" in text
    assert (
        "    server i-1-8080 10.10.1.217:8080 namespace ns-node-a check inter 10s rise 3 fall 2"
        in text
    )
    assert text.index("server i-1-8080") < text.index("server i-2-8080")
    assert text.rstrip().endswith("fall 2 backup")
    assert "mode tcp" in text


def test_haproxy_tcp_check_has_no_httpchk_and_custom_port(tmp_path: Path) -> None:
    proxy = ProxySpec(
        "p",
        "10.0.0.5",
        443,
        "ns",
        (ServerSpec("s", "10.0.0.6", 8443, "ns"),),
        HealthCheckSpec(path=None, interval_s=5, rise=2, fall=2, port=9000),
    )
    text = render_config([proxy], tmp_path / "s.sock", tmp_path / "s.state")
    assert "httpchk" not in text
    assert "check inter 5s rise 2 fall 2 port 9000" in text


def test_haproxy_rendering_is_deterministic(tmp_path: Path, topology: Topology) -> None:
    desired = plan(topology, "jdt001")
    one = render_config(desired.proxies, tmp_path / "a", tmp_path / "b")
    two = render_config(tuple(reversed(desired.proxies)), tmp_path / "a", tmp_path / "b")
    assert one == two


@pytest.mark.requires("haproxy")
def test_haproxy_accepts_the_config_planned_for_the_seed_topology(
    tmp_path: Path, topology: Topology
) -> None:
    desired = plan(topology, "jdt001")
    cfg = tmp_path / "h.cfg"
    text = render_config(desired.proxies, tmp_path / "h.sock", tmp_path / "h.state")
    # `haproxy -c` opens the namespaces; they exist only while the data plane runs (the root
    # tests cover that), so check everything else here.
    cfg.write_text(re.sub(r" namespace \S+", "", text))
    proc = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_parse_stat_reads_server_rows_only() -> None:
    csv_text = (
        "# pxname,svname,qcur,status,check_status,check_desc\n"
        "px,FRONTEND,,OPEN,,\n"
        "px,i-1-8080,0,UP,L7OK,Layer7 check passed\n"
        "px,i-2-8080,0,DOWN,* L4CON,Layer4 connection problem\n"
        "px,i-3-8080,0,UP,* INI,Initializing\n"
        "px,BACKEND,0,UP,,\n"
    )
    rows = parse_stat(csv_text)
    assert [(r.server, r.up, r.checked) for r in rows] == [
        ("i-1-8080", True, True),
        ("i-2-8080", False, True),
        ("i-3-8080", True, False),
    ]
    assert rows[1].check_status == "L4CON"


def test_hosts_file_lists_every_address_sorted() -> None:
    text = render_hosts({"b.example": ["10.0.0.9", "10.0.0.10"], "a.example": ["10.0.0.1"]})
    assert text == "10.0.0.1 a.example\n10.0.0.9 b.example\n10.0.0.10 b.example\n"


def test_dnsmasq_has_no_upstream_and_answers_nxdomain_locally(tmp_path: Path) -> None:
    args = dnsmasq_args("10.10.0.2", tmp_path / "h")
    assert "--no-resolv" in args
    assert "--address=/#/" in args
    assert "--listen-address=10.10.0.2" in args
    assert "--bind-interfaces" in args


def test_ruleset_is_stateful_default_drop_with_one_rule_per_permission() -> None:
    text = render_ruleset(
        [
            IngressRule("tcp", 80, 80, ("10.20.0.0/16",)),
            IngressRule("tcp", 8000, 8100, ("10.10.1.100/32", "10.10.3.100/32")),
            IngressRule("-1", -1, -1, ("10.0.0.0/8",)),
            IngressRule("icmp", -1, -1, ("0.0.0.0/0",)),
            IngressRule("tcp", 22, 22, ()),  # a source group with no members admits nobody
        ]
    )
    assert "policy drop;" in text
    assert "ct state established,related accept" in text
    assert "ip saddr { 10.20.0.0/16 } tcp dport 80 accept" in text
    assert "ip saddr { 10.10.1.100/32, 10.10.3.100/32 } tcp dport 8000-8100 accept" in text
    assert "ip saddr { 10.0.0.0/8 } accept" in text
    assert "ip saddr { 0.0.0.0/0 } meta l4proto icmp accept" in text
    assert "dport 22" not in text
    assert text.startswith("table inet jerp_sg\ndelete table inet jerp_sg\n")


class _RunningDnsmasq:
    """Stands in for a running dnsmasq: records the signals it gets."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.signals: list[int] = []

    def running(self) -> bool:
        return True

    def signal(self, signum: int) -> None:
        self.signals.append(signum)


def _resolver_on_a_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Resolver, _RunningDnsmasq]:
    resolver = Resolver("ns", "10.20.0.2", tmp_path, tmp_path / "dnsmasq.log")
    running = _RunningDnsmasq(dnsmasq_args("10.20.0.2", resolver.hosts_file, []))
    monkeypatch.setattr(resolver, "process", running)
    return resolver, running


def test_a_resolver_handed_the_records_it_serves_renders_and_reloads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver, running = _resolver_on_a_stand_in(tmp_path, monkeypatch)
    assert resolver.update({"a.example": ("10.20.1.5",)}) is True
    assert running.signals == [signal.SIGHUP]
    rendered: list[object] = []
    monkeypatch.setattr(dnsmasq, "render_hosts", lambda records: rendered.append(records) or "")
    assert resolver.update({"a.example": ["10.20.1.5"]}) is False
    assert resolver.update({"a.example": ["10.20.1.5", "10.20.1.5"]}) is False
    assert rendered == [], "the same records are not rendered again"
    assert running.signals == [signal.SIGHUP], "nor reloaded"
    monkeypatch.undo()
    monkeypatch.setattr(resolver, "process", running)
    assert resolver.update({"a.example": ("10.20.1.6",)}) is True
    assert "10.20.1.6" in resolver.hosts_file.read_text()
    assert running.signals == [signal.SIGHUP, signal.SIGHUP]
    assert resolver.update({"a.example": ("10.20.1.6", "10.20.1.5")}) is True
    assert resolver.update({"a.example": ("10.20.1.5", "10.20.1.6")}) is False, (
        "the same addresses in another order are the same records"
    )
    assert running.signals == [signal.SIGHUP] * 3


def test_a_dnsmasq_still_reading_the_last_hosts_file_never_sees_it_truncated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dnsmasq re-reads its hosts file on SIGHUP; one still reading the last version when the
    # next pass writes must get all of it, not a file truncated for the next one (NXDOMAIN for
    # names it serves). The file is replaced by a rename, so an open reader keeps its version.
    resolver, running = _resolver_on_a_stand_in(tmp_path, monkeypatch)
    assert resolver.update({"a.example": ("10.20.1.5",)})
    assert running.signals == [signal.SIGHUP]
    with resolver.hosts_file.open() as reader:
        assert resolver.update({"a.example": ("10.20.1.5",), "b.example": ("10.20.1.6",)})
        assert reader.read() == "10.20.1.5 a.example\n"
    assert resolver.hosts_file.read_text() == "10.20.1.5 a.example\n10.20.1.6 b.example\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ns.hosts"]
