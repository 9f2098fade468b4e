"""The diff between the desired state and what was applied, so a pass changes only that."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.dataplane.netns import (
    HostSpec,
    RouterSpec,
)
from harness.dataplane.planner import DesiredState

# --------------------------------------------------------------------------- the diff


@dataclass(frozen=True)
class AppliedState:
    """What the reconciler has put in place, keyed like :class:`DesiredState`."""

    routers: Mapping[str, RouterSpec] = field(default_factory=dict)
    hosts: Mapping[str, HostSpec] = field(default_factory=dict)
    rulesets: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Changes:
    create_routers: tuple[str, ...] = ()
    delete_routers: tuple[str, ...] = ()
    create_hosts: tuple[str, ...] = ()
    delete_hosts: tuple[str, ...] = ()
    apply_rulesets: tuple[str, ...] = ()
    clear_rulesets: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.create_routers,
                self.delete_routers,
                self.create_hosts,
                self.delete_hosts,
                self.apply_rulesets,
                self.clear_rulesets,
            )
        )


def plan_changes(
    applied: AppliedState, desired: DesiredState, existing_namespaces: Iterable[str]
) -> Changes:
    """The namespace/firewall work that turns ``applied`` into ``desired``.

    A namespace that was applied but has vanished (deleted by hand) is created again; one
    whose spec changed (new address, other subnet) is deleted and created again.
    """
    existing = set(existing_namespaces)
    recreate_routers = {
        ns
        for ns, spec in desired.routers.items()
        if ns in applied.routers and (applied.routers[ns] != spec or ns not in existing)
    }
    create_routers = {ns for ns in desired.routers if ns not in applied.routers}
    create_routers |= recreate_routers
    delete_routers = {ns for ns in applied.routers if ns not in desired.routers}
    delete_routers |= recreate_routers & set(applied.routers)

    recreate_hosts = {
        ns
        for ns, spec in desired.hosts.items()
        if ns in applied.hosts
        and (
            applied.hosts[ns] != spec
            or ns not in existing
            or spec.router_namespace in recreate_routers
        )
    }
    create_hosts = {ns for ns in desired.hosts if ns not in applied.hosts} | recreate_hosts
    delete_hosts = {ns for ns in applied.hosts if ns not in desired.hosts} | recreate_hosts

    apply_rulesets = {
        ns
        for ns, text in desired.rulesets.items()
        if ns in create_hosts or applied.rulesets.get(ns) != text
    }
    clear_rulesets = {
        ns
        for ns in applied.rulesets
        if ns not in desired.rulesets and ns in desired.hosts and ns not in create_hosts
    }
    return Changes(
        create_routers=tuple(sorted(create_routers)),
        delete_routers=tuple(sorted(delete_routers)),
        create_hosts=tuple(sorted(create_hosts)),
        delete_hosts=tuple(sorted(delete_hosts)),
        apply_rulesets=tuple(sorted(apply_rulesets)),
        clear_rulesets=tuple(sorted(clear_rulesets)),
    )
