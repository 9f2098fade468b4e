"""The deployed topology as a picture: graphviz ``dot`` renders what the control plane holds.

VPCs and subnets are clusters; instances, NLB nodes, endpoint ENIs and each VPC's resolver
are nodes; bold red edges follow a request from the consumer client through an endpoint ENI
and an NLB node to the targets (the one-way PrivateLink path).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.dataplane.topology import (
    EndpointService,
    LoadBalancer,
    LoadBalancerNode,
    TargetGroup,
    Topology,
)
from harness.errors import HarnessError, PrerequisiteError

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot"}
PATH_STYLE = 'color="#c0392b", penwidth=2, fontcolor="#c0392b"'


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _id(*parts: str) -> str:
    return _q("_".join(parts))


def to_dot(topology: Topology) -> str:
    """The DOT source for ``topology`` (no graphviz needed)."""
    lines = [
        "digraph privatelink {",
        "  graph [rankdir=LR, fontname=Helvetica, fontsize=11, compound=true, "
        f"label={_q(f'JERP over PrivateLink ({topology.region})')}, labelloc=t];",
        '  node [fontname=Helvetica, fontsize=10, shape=box, style="rounded,filled", '
        'fillcolor="#ffffff"];',
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    services = {s.service_name: s for s in topology.endpoint_services}
    for vpc in topology.vpcs:
        lines.append(f"  subgraph {_q('cluster_' + vpc.vpc_id)} {{")
        title = f"{vpc.name or vpc.vpc_id}\\n{vpc.vpc_id} {vpc.cidr}"
        lines.append(f'    label="{title}"; style="rounded,filled"; fillcolor="#eef3fb";')
        lines.append(
            f"    {_id('dns', vpc.vpc_id)} [label={_q('resolver ' + vpc.resolver_ip)}, "
            'shape=ellipse, fillcolor="#fdf2d0"];'
        )
        for subnet in vpc.subnets:
            lines.append(f"    subgraph {_q('cluster_' + subnet.subnet_id)} {{")
            lines.append(
                f"      label={_q(f'{subnet.subnet_id} {subnet.cidr} ({subnet.az})')}; "
                'style="rounded,filled"; fillcolor="#ffffff";'
            )
            for inst in topology.instances:
                if inst.subnet_id == subnet.subnet_id:
                    label = f"{inst.name or 'instance'}\\n{inst.instance_id}\\n{inst.private_ip}"
                    color = "#d5f5e3" if inst.state == "running" else "#e5e7e9"
                    lines.append(
                        f'      {_id(inst.instance_id)} [label="{label}", fillcolor="{color}"];'
                    )
            for lb in topology.load_balancers:
                for node in lb.nodes:
                    if node.subnet_id == subnet.subnet_id:
                        label = f"NLB node {lb.name}\\n{node.az} {node.private_ip}"
                        lines.append(
                            f'      {_id(lb.arn, node.az)} [label="{label}", '
                            'shape=component, fillcolor="#d6eaf8"];'
                        )
            for endpoint in topology.endpoints:
                for eni in endpoint.interfaces:
                    if eni.subnet_id == subnet.subnet_id:
                        label = f"endpoint ENI\\n{eni.eni_id}\\n{eni.private_ip}"
                        lines.append(
                            f'      {_id(eni.eni_id)} [label="{label}", shape=cds, '
                            f'fillcolor="{_endpoint_color(endpoint.state)}"];'
                        )
            lines.append("    }")
        lines.append("  }")
    for endpoint in topology.endpoints:
        service = services.get(endpoint.service_name)
        lbs = [lb for lb in topology.load_balancers if service and lb.arn in _lb_arns(service)]
        clients = [i for i in topology.instances if i.vpc_id == endpoint.vpc_id]
        ports = ",".join(str(p) for p in sorted({ls.port for lb in lbs for ls in lb.listeners}))
        http = f"2. HTTP :{ports or '?'}"
        for client in clients:
            lines.append(
                f"  {_id(client.instance_id)} -> {_id('dns', endpoint.vpc_id)} "
                '[label="1. DNS: vpce name -> ENI addresses", style=dotted];'
            )
            for eni in endpoint.interfaces:
                lines.append(
                    f"  {_id(client.instance_id)} -> {_id(eni.eni_id)} "
                    f"[label={_q(f'{http} {eni.az}')}, {PATH_STYLE}];"
                )
        for eni in endpoint.interfaces:
            for lb in lbs:
                for node in _nodes_for(lb, eni.az):
                    label = f"3. PrivateLink ({endpoint.state})"
                    style = PATH_STYLE if endpoint.state == "available" else "style=dashed"
                    lines.append(
                        f"  {_id(eni.eni_id)} -> {_id(lb.arn, node.az)} "
                        f"[label={_q(label)}, {style}];"
                    )
    for lb in topology.load_balancers:
        for group in _groups_for(topology, lb):
            for node in lb.nodes:
                for target in group.targets:
                    if not lb.cross_zone and _target_az(topology, target.target_id) != node.az:
                        continue
                    style = PATH_STYLE if target.health == "healthy" else "style=dashed"
                    lines.append(
                        f"  {_id(lb.arn, node.az)} -> {_id(target.target_id)} "
                        f"[label={_q(f'4. TCP :{target.port} {target.health}')}, {style}];"
                    )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _endpoint_color(state: str) -> str:
    return {"available": "#fadbd8", "pendingAcceptance": "#fcf3cf"}.get(state, "#e5e7e9")


def _lb_arns(service: EndpointService) -> tuple[str, ...]:
    return service.load_balancer_arns


def _nodes_for(lb: LoadBalancer, az: str) -> list[LoadBalancerNode]:
    # An endpoint ENI sends to the node in its own AZ when there is one, else to all nodes.
    same = [n for n in lb.nodes if n.az == az]
    return list(same or lb.nodes)


def _groups_for(topology: Topology, lb: LoadBalancer) -> list[TargetGroup]:
    arns = {listener.target_group_arn for listener in lb.listeners}
    return [tg for tg in topology.target_groups if tg.arn in arns]


def _target_az(topology: Topology, target_id: str) -> str:
    try:
        return topology.subnet(topology.instance(target_id).subnet_id).az
    except KeyError:
        return ""


def render_graph(topology: Topology, path: Path) -> Path:
    """Write ``topology`` to ``path``; the suffix picks the format (.svg, .png, .pdf, .dot)."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise HarnessError(
            f"cannot draw {path.name}: unknown picture format {path.suffix or '(no suffix)'}",
            hint=f"name the output file with one of {', '.join(FORMATS)}",
        )
    source = to_dot(topology)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        path.write_text(source)
        return path
    dot = shutil.which("dot")
    if dot is None:
        raise PrerequisiteError(
            "graphviz `dot` is not installed", hint="apt-get install graphviz (or brew install)"
        )
    proc = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(path)], input=source, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise HarnessError(
            f"dot failed to render {path}: {proc.stderr.strip()}",
            hint="write the .dot source instead (`--out topology.dot`) and report the error",
        )
    return path
