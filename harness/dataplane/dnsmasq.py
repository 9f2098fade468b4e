"""The VPC resolver at base+2: dnsmasq inside the VPC's router namespace.

It answers the load balancer and endpoint names with private addresses (as AWS public DNS
does for them) from a hosts file it re-reads on SIGHUP, and NXDOMAIN for every other name at
once: it has no upstream, so nothing leaves the namespaces and nothing hangs. A wildcard name
(``*.example.com``: a private DNS name) cannot go in a hosts file; it becomes an ``--address``
option, which dnsmasq reads only at start, so a change to those restarts it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.dataplane.netns import NamespacedProcess
from harness.dataplane.state import replace_text
from harness.lifecycle import Lifecycle

WILDCARD = "*."


def render_hosts(records: Mapping[str, Iterable[str]]) -> str:
    """A hosts file, one ``address name`` line per record, sorted so equal input is equal text.

    Wildcard names are left out (see :func:`wildcard_args`).
    """
    lines = [
        f"{address} {name}"
        for name in sorted(records)
        if not name.startswith(WILDCARD)
        for address in sorted(set(records[name]), key=_ip_key)
    ]
    return "".join(line + "\n" for line in lines)


def wildcard_args(records: Mapping[str, Iterable[str]]) -> list[str]:
    """``--address=/*.example.com/<ip>`` per address of each wildcard name: dnsmasq answers
    every name under example.com with them, not example.com itself (the ``*.`` form)."""
    return [
        f"--address=/{name}/{address}"
        for name in sorted(records)
        if name.startswith(WILDCARD)
        for address in sorted(set(records[name]), key=_ip_key)
    ]


def _ip_key(address: str) -> tuple[int, ...]:
    return tuple(int(part) for part in address.split("."))


def dnsmasq_args(listen_ip: str, hosts_file: Path, extra: Iterable[str] = ()) -> list[str]:
    return [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        f"--addn-hosts={hosts_file}",
        f"--listen-address={listen_ip}",
        "--bind-interfaces",
        # Every name not in the hosts file: NXDOMAIN, answered locally.
        "--address=/#/",
        "--pid-file=",
        "--user=root",
        "--group=root",  # no credential change: keeps the parent-death signal
        "--log-facility=-",
        "--cache-size=0",
        *extra,
    ]


class Resolver(Lifecycle):
    """dnsmasq for one VPC; ``update(records)`` rewrites the hosts file and reloads it."""

    def __init__(self, namespace: str, listen_ip: str, state_dir: Path, log_path: Path) -> None:
        self.namespace = namespace
        self.listen_ip = listen_ip
        self.hosts_file = state_dir / f"{namespace}.hosts"
        self.log_path = log_path
        # The records last served: every pass hands each VPC's resolver all names, and rendering
        # them to compare texts cost 0.1 s a pass at 100 VPCs when nothing had changed.
        self._records: dict[str, tuple[str, ...]] | None = None
        self.process = self._dnsmasq([])

    def _dnsmasq(self, extra: list[str]) -> NamespacedProcess:
        return NamespacedProcess(
            f"dnsmasq in {self.namespace}",
            dnsmasq_args(self.listen_ip, self.hosts_file, extra),
            namespace=self.namespace,
            log_path=self.log_path,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def update(self, records: Mapping[str, Iterable[str]]) -> bool:
        """Serve ``records``; True when something changed (file rewritten and reloaded, or
        dnsmasq restarted for new wildcard names)."""
        # In the order both renderings use, so equal records mean an equal file and equal
        # arguments, whatever order the addresses came in.
        wanted_records = {
            name: tuple(sorted(set(addresses), key=_ip_key)) for name, addresses in records.items()
        }
        if wanted_records == self._records and self.process.running():
            return False
        extra = wildcard_args(wanted_records)
        wanted = dnsmasq_args(self.listen_ip, self.hosts_file, extra)
        self.hosts_file.parent.mkdir(parents=True, exist_ok=True)
        # Replaced, not rewritten in place: a dnsmasq still re-reading after the last SIGHUP
        # would otherwise read a truncated file and answer NXDOMAIN for names it serves.
        replace_text(self.hosts_file, render_hosts(wanted_records))
        self._records = wanted_records
        if wanted != self.process.args:
            self.process.stop()
            self.process = self._dnsmasq(extra)
        if self.process.running():
            self.process.signal(signal.SIGHUP)
        else:
            self.process.start()
        return True

    def start(self) -> Resolver:
        self.update({})
        return self

    def stop(self) -> None:
        self.process.stop()
        self.hosts_file.unlink(missing_ok=True)
