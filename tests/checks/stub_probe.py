"""A probe that answers like the seed deployment (`tests/seed.py`) unless a test overrides it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.checks.checks import GREETING, Facts
from harness.checks.probes import CommandResult, ConnectResult, HttpResult, Resolution
from tests.seed import (
    AZ_A,
    ENI_IPS,
    NLB_DNS,
    NODE_IPS,
    REGIONAL,
    TARGET_A,
    TARGET_C,
    ZONAL,
    seed_outputs,
    seed_topology,
)


def facts(**variant: Any) -> Facts:
    """What the checks expect of the seed deployment (``variant``: see ``seed_topology``)."""
    return Facts.from_outputs(seed_outputs(), seed_topology(**variant))


def greeting(url: str, served_by: str) -> HttpResult:
    return HttpResult(url, 200, GREETING, {"x-served-by": served_by})


class HealthyHttp:
    """What a working stack answers: a zonal name reaches its AZ's target, regional alternates."""

    def __init__(self) -> None:
        self.turn = 0

    def __call__(self, url: str) -> HttpResult:
        for az, name in ZONAL.items():
            if name in url:
                return greeting(url, TARGET_A if az == AZ_A else TARGET_C)
        self.turn += 1
        return greeting(url, (TARGET_A, TARGET_C)[self.turn % 2])


@dataclass
class StubProbe:
    """Answers like a working stack unless a test overrides one of the callables."""

    dns: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            NLB_DNS: tuple(NODE_IPS.values()),
            REGIONAL: tuple(ENI_IPS.values()),
            **{ZONAL[az]: (ENI_IPS[az],) for az in ZONAL},
        }
    )
    http: Callable[[str], HttpResult] = field(default_factory=HealthyHttp)
    connect: Callable[[str, int], ConnectResult] = lambda a, p: ConnectResult(a, p, "unreachable")
    commands: dict[str, CommandResult] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    target: str = "stub"

    def resolve(self, name: str, from_host: str) -> Resolution:
        self.calls.append(("resolve", from_host))
        return Resolution(name, self.dns.get(name, ()), f"stub {from_host}")

    def resolve_in_vpc(self, name: str, host: str) -> Resolution:
        self.calls.append(("resolve_in_vpc", host))
        return Resolution(name, self.dns.get(name, ()), f"stub {host}")

    def http_get(self, host: str, urls: Sequence[str]) -> list[HttpResult]:
        self.calls.append(("http", host))
        return [self.http(url) for url in urls]

    def tcp_connect(self, host: str, targets: Sequence[tuple[str, int]]) -> list[ConnectResult]:
        self.calls.append(("tcp", host))
        return [self.connect(a, p) for a, p in targets]

    def run(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        self.calls.append(("run", host))
        return self.commands[argv[0]]


def with_dns(probe: StubProbe, name: str, addresses: tuple[str, ...]) -> StubProbe:
    return replace(probe, dns={**probe.dns, name: addresses})
