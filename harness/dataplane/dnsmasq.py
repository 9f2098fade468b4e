"""The VPC resolver at base+2: dnsmasq inside the VPC's router namespace.

It answers the load balancer and endpoint names with private addresses (as AWS public DNS
does for them) from a hosts file it re-reads on SIGHUP, and NXDOMAIN for every other name at
once: it has no upstream, so nothing leaves the namespaces and nothing hangs.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping
from pathlib import Path

from harness.dataplane.netns import NamespacedProcess
from harness.lifecycle import Lifecycle


def render_hosts(records: Mapping[str, Iterable[str]]) -> str:
    """A hosts file, one ``address name`` line per record, sorted so equal input is equal text."""
    lines = [
        f"{address} {name}"
        for name in sorted(records)
        for address in sorted(set(records[name]), key=_ip_key)
    ]
    return "".join(line + "\n" for line in lines)


def _ip_key(address: str) -> tuple[int, ...]:
    return tuple(int(part) for part in address.split("."))


def dnsmasq_args(listen_ip: str, hosts_file: Path) -> list[str]:
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
    ]


class Resolver(Lifecycle):
    """dnsmasq for one VPC; ``update(records)`` rewrites the hosts file and reloads it."""

    def __init__(self, namespace: str, listen_ip: str, state_dir: Path, log_path: Path) -> None:
        self.namespace = namespace
        self.listen_ip = listen_ip
        self.hosts_file = state_dir / f"{namespace}.hosts"
        self._text: str | None = None
        self.process = NamespacedProcess(
            f"dnsmasq in {namespace}",
            dnsmasq_args(listen_ip, self.hosts_file),
            namespace=namespace,
            log_path=log_path,
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def update(self, records: Mapping[str, Iterable[str]]) -> bool:
        """Serve ``records``; True when something changed (file rewritten and reloaded)."""
        text = render_hosts(records)
        if text == self._text and self.process.running():
            return False
        self.hosts_file.parent.mkdir(parents=True, exist_ok=True)
        self.hosts_file.write_text(text)
        self._text = text
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
