"""The live checks: plain functions that return a :class:`CheckResult`, for local and AWS.

Every check compares what a :class:`~harness.checks.probes.Probe` observes on the wire with what
the control plane says should be there (:class:`Facts`: Terraform outputs plus the
:class:`~harness.dataplane.topology.Topology` read through the AWS APIs), never with hard-coded
addresses. A failing result carries what was expected, what was seen and the likely cause
with the command that fixes it. :func:`run_checks` runs them all; the CLI and pytest only
present the results (:mod:`harness.checks.report`).
"""

from __future__ import annotations

import ipaddress
import shlex
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from harness.checks.probes import ConnectResult, HttpResult, Probe
from harness.dataplane.topology import Endpoint, LoadBalancer, Subnet, TargetGroup, Topology
from harness.errors import StackNotDeployedError
from harness.settings import VERSION, HarnessSettings

if TYPE_CHECKING:
    from harness.controlplane.aws import AwsClients

# Terraform outputs as `terraform output -json` gives them (JSON values by output name).
Outputs = Mapping[str, object]

GREETING_NAME = "yundream"
GREETING = f"Hello {GREETING_NAME}!. How are you"
GREETING_PATH = f"/user/{GREETING_NAME}"
REQUESTS_PER_NAME = 6
SSH_PORT = 22  # what a provider host would try first on the consumer client

REQUIRED_OUTPUTS = (
    "nlb_arn",
    "nlb_dns_name",
    "target_group_arn",
    "endpoint_service_id",
    "endpoint_id",
    "endpoint_regional_dns_name",
    "endpoint_zonal_dns_names",
    "endpoint_eni_ids",
    "provider_vpc_id",
    "consumer_vpc_id",
    "provider_instance_ids",
    "consumer_client_instance_id",
    "listener_port",
    "target_port",
)


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict; ``skipped`` results neither pass nor fail a run."""

    name: str
    passed: bool
    expected: str
    observed: str
    hint: str = ""
    skipped: bool = False
    duration_s: float = 0.0
    # Passes, but the deployment relies on an AWS behaviour the emulator declines.
    warning: bool = False

    @property
    def status(self) -> str:
        if self.skipped:
            return "SKIP"
        if self.warning:
            return "WARN"
        return "PASS" if self.passed else "FAIL"


def passed(name: str, expected: str, observed: str) -> CheckResult:
    return CheckResult(name, True, expected, observed)


def failed(name: str, expected: str, observed: str, hint: str) -> CheckResult:
    return CheckResult(name, False, expected, observed, hint)


def skipped(name: str, reason: str) -> CheckResult:
    return CheckResult(name, True, "-", reason, skipped=True)


@dataclass(frozen=True)
class Facts:
    """What should be true, from Terraform outputs and the control plane's APIs."""

    topology: Topology
    nlb_arn: str
    nlb_dns_name: str
    target_group_arn: str
    service_id: str
    endpoint_id: str
    regional_dns_name: str
    zonal_dns_names: tuple[tuple[str, str], ...]
    endpoint_eni_ids: tuple[str, ...]
    provider_vpc_id: str
    consumer_vpc_id: str
    provider_instance_ids: tuple[str, ...]
    client_instance_id: str
    listener_port: int  # the NLB listener: the port through the endpoint
    target_port: int  # where JERP listens on the provider instances

    @classmethod
    def from_outputs(cls, outputs: Outputs, topology: Topology) -> Facts:
        missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
        if missing:
            raise StackNotDeployedError(
                f"the stack's Terraform outputs lack {', '.join(missing)}",
                hint="re-run `make deploy` so the outputs file is written by this version",
            )
        return cls(
            topology=topology,
            nlb_arn=str(outputs["nlb_arn"]),
            nlb_dns_name=str(outputs["nlb_dns_name"]),
            target_group_arn=str(outputs["target_group_arn"]),
            service_id=str(outputs["endpoint_service_id"]),
            endpoint_id=str(outputs["endpoint_id"]),
            regional_dns_name=str(outputs["endpoint_regional_dns_name"]),
            zonal_dns_names=tuple(sorted(_output_map(outputs, "endpoint_zonal_dns_names").items())),
            endpoint_eni_ids=_output_list(outputs, "endpoint_eni_ids"),
            provider_vpc_id=str(outputs["provider_vpc_id"]),
            consumer_vpc_id=str(outputs["consumer_vpc_id"]),
            provider_instance_ids=_output_list(outputs, "provider_instance_ids"),
            client_instance_id=str(outputs["consumer_client_instance_id"]),
            listener_port=_output_port(outputs, "listener_port"),
            target_port=_output_port(outputs, "target_port"),
        )

    # What the control plane says about the pieces the checks look at.

    def endpoint(self) -> Endpoint | None:
        return next((e for e in self.topology.endpoints if e.endpoint_id == self.endpoint_id), None)

    def load_balancer(self) -> LoadBalancer | None:
        return next((lb for lb in self.topology.load_balancers if lb.arn == self.nlb_arn), None)

    def target_group(self) -> TargetGroup | None:
        groups = self.topology.target_groups
        return next((tg for tg in groups if tg.arn == self.target_group_arn), None)

    def subnets(self, vpc_id: str) -> tuple[Subnet, ...]:
        try:
            return self.topology.vpc(vpc_id).subnets
        except KeyError:
            return ()

    def healthy_targets(self) -> set[str]:
        tg = self.target_group()
        return {t.target_id for t in tg.targets if t.health == "healthy"} if tg else set()

    def target_az(self, target_id: str) -> str:
        try:
            inst = self.topology.instance(target_id)
            return self.topology.subnet(inst.subnet_id).az
        except KeyError:
            return ""

    def provider_host(self) -> str:
        return self.provider_instance_ids[0]

    def endpoint_state(self) -> str:
        endpoint = self.endpoint()
        return endpoint.state if endpoint else "unknown"


def _malformed(key: str, value: object, shape: str) -> StackNotDeployedError:
    return StackNotDeployedError(
        f"the stack's Terraform output {key} is {value!r}, not {shape}",
        hint="re-run `make deploy` so the outputs file is written by this version",
    )


def _output_list(outputs: Outputs, key: str) -> tuple[str, ...]:
    value = outputs[key]
    if not isinstance(value, list | tuple):
        raise _malformed(key, value, "a list")
    return tuple(str(item) for item in value)


def _output_map(outputs: Outputs, key: str) -> dict[str, str]:
    value = outputs[key]
    if not isinstance(value, Mapping):
        raise _malformed(key, value, "a map")
    return {str(k): str(v) for k, v in value.items()}


def _output_port(outputs: Outputs, key: str) -> int:
    value = outputs[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 65536:
        raise _malformed(key, value, "a TCP port number")
    return int(value)


def _http_host(name: str, port: int) -> str:
    """``name`` as curl's URL host part: the seed's bare name on port 80."""
    return name if port == 80 else f"{name}:{port}"


def _in_subnets(address: str, subnets: Iterable[Subnet]) -> bool:
    ip = ipaddress.IPv4Address(address)
    return any(ip in subnet.network for subnet in subnets)


def _fmt(addresses: Iterable[str]) -> str:
    items = sorted(set(addresses), key=ipaddress.IPv4Address)
    return ", ".join(items) if items else "(none)"


# --- likely causes: read from the control plane so the hint names the fix -----------------


def traffic_hint(facts: Facts, az: str | None = None) -> str:
    """The most likely reason traffic over the endpoint fails, with the command that fixes it;
    ``az`` when the failing name is that AZ's zonal name."""
    state = facts.endpoint_state()
    if state == "pendingAcceptance":
        return (
            "connection pendingAcceptance: accept it with `aws ec2 accept-vpc-endpoint-connections "
            f"--service-id {facts.service_id} --vpc-endpoint-ids {facts.endpoint_id}`"
        )
    if state == "rejected":
        return (
            f"connection rejected by the service owner: a rejected endpoint cannot be accepted; "
            f"delete {facts.endpoint_id} and create a new one (`terraform apply -replace` of the "
            "aws_vpc_endpoint), then accept it"
        )
    if state not in ("available", "unknown"):
        return f"endpoint {facts.endpoint_id} is {state}; it carries traffic only when available"
    endpoint = facts.endpoint()
    if endpoint and not _groups_admit_client(facts, endpoint.security_groups):
        groups = " ".join(endpoint.security_groups) or "(none)"
        first = endpoint.security_groups[0] if endpoint.security_groups else "<sg>"
        port = facts.listener_port
        return (
            f"the endpoint's security groups ({groups}) admit no TCP {port} from the consumer "
            f"client: `aws ec2 authorize-security-group-ingress --group-id {first} "
            f"--protocol tcp --port {port} --cidr {_vpc_cidr(facts, facts.consumer_vpc_id)}`"
        )
    if not facts.healthy_targets():
        return (
            f"no healthy target in {facts.target_group_arn}: `aws elbv2 describe-target-health "
            f"--target-group-arn {facts.target_group_arn}`; check JERP's /healthz on the "
            "instances and that their security group admits the NLB's subnets"
        )
    lb = facts.load_balancer()
    if az is not None and not _cross_zone(facts) and not _healthy_in(facts, az):
        return (
            f"no healthy target in {az} and cross-zone load balancing is off (target group "
            "attribute load_balancing.cross_zone.enabled, else the NLB's), so the zonal name "
            f"of {az} reaches no target: register a healthy target in {az}, or turn cross-zone "
            'on (`target_group_cross_zone = "true"`); the regional name avoids that AZ'
        )
    if (
        lb
        and lb.security_groups
        and lb.enforce_sg_on_privatelink
        and not _groups_admit_client(facts, lb.security_groups)
    ):
        return (
            f"the NLB's security groups ({' '.join(lb.security_groups)}) admit no TCP "
            f"{facts.listener_port} from the consumer client, and they filter PrivateLink "
            "traffic (enforce_security_group_inbound_rules_on_private_link_traffic on): add "
            "an ingress rule for the consumer's addresses, or set "
            '`enforce_sg_inbound_rules_on_private_link_traffic = "off"`'
        )
    return (
        "control plane looks right; local: `make status` (is the data plane up and converged?); "
        "AWS: the endpoint's subnets' network ACLs and the instances' SSM agent"
    )


def _vpc_cidr(facts: Facts, vpc_id: str) -> str:
    try:
        return facts.topology.vpc(vpc_id).cidr
    except KeyError:
        return "<consumer cidr>"


def _cross_zone(facts: Facts) -> bool:
    """Effective cross-zone: the target group's attribute, else the load balancer's."""
    tg = facts.target_group()
    if tg is not None and tg.cross_zone in ("true", "false"):
        return tg.cross_zone == "true"
    lb = facts.load_balancer()
    return bool(lb and lb.cross_zone)


def _healthy_in(facts: Facts, az: str) -> bool:
    return any(facts.target_az(t) == az for t in facts.healthy_targets())


def _groups_admit_client(facts: Facts, group_ids: Sequence[str]) -> bool:
    """Whether ``group_ids`` admit the consumer client on the listener port."""
    groups = {g.group_id: g for g in facts.topology.security_groups}
    known = [groups[g] for g in group_ids if g in groups]
    if not known:
        return True  # nothing to judge by
    client_ip = ipaddress.IPv4Address(_client_ip(facts) or "0.0.0.0")
    client_groups = set(_client_sgs(facts))
    for group in known:
        for rule in group.ingress:
            port_ok = rule.protocol == "-1" or (
                rule.protocol in ("tcp", "6")
                and rule.from_port <= facts.listener_port <= rule.to_port
            )
            if not port_ok:
                continue
            if any(client_ip in ipaddress.IPv4Network(c) for c in rule.cidrs):
                return True
            if client_groups & set(rule.source_groups):
                return True
    return False


def _client_ip(facts: Facts) -> str:
    try:
        return facts.topology.instance(facts.client_instance_id).private_ip
    except KeyError:
        return ""


def _client_sgs(facts: Facts) -> tuple[str, ...]:
    try:
        return facts.topology.instance(facts.client_instance_id).security_groups
    except KeyError:
        return ()


# --- DNS ---------------------------------------------------------------------------------


def expected_nlb_addresses(facts: Facts) -> set[str]:
    """NLB node addresses DNS should return: AZs without a healthy target leave DNS."""
    lb = facts.load_balancer()
    if lb is None:
        return set()
    healthy = facts.healthy_targets()
    if lb.cross_zone and healthy:
        return {n.private_ip for n in lb.nodes}
    healthy_azs = {facts.target_az(t) for t in healthy}
    in_service = {n.private_ip for n in lb.nodes if n.az in healthy_azs}
    # With no healthy target anywhere, AWS fails open and answers every node.
    return in_service or {n.private_ip for n in lb.nodes}


def check_nlb_dns(probe: Probe, facts: Facts) -> CheckResult:
    """The NLB name resolves to its node addresses, inside the provider's subnets."""
    name = "dns: NLB name -> node addresses in provider subnets"
    subnets = facts.subnets(facts.provider_vpc_id)
    nodes = expected_nlb_addresses(facts)
    cidrs = ", ".join(s.cidr for s in subnets) or "(provider VPC has no subnets?)"
    expected = f"{facts.nlb_dns_name} -> {_fmt(nodes)} (inside {cidrs})"
    res = probe.resolve(facts.nlb_dns_name, facts.provider_host())
    observed = f"{_fmt(res.addresses)} from {res.where}" + (f"; {res.error}" if res.error else "")
    if not res.addresses:
        return failed(
            name,
            expected,
            observed,
            "the name does not resolve: local: the provider VPC's resolver (dnsmasq at base+2) "
            "is not answering it (`make status`); AWS: the NLB is still provisioning or deleted",
        )
    outside = [a for a in res.addresses if not _in_subnets(a, subnets)]
    if outside:
        return failed(
            name,
            expected,
            observed,
            f"{_fmt(outside)} is outside the provider subnets: the NLB must be internal "
            "(scheme internal) and placed in the provider VPC's private subnets",
        )
    if nodes and set(res.addresses) != nodes:
        return failed(
            name,
            expected,
            observed,
            "DNS and the NLB's node ENIs (`ELB net/...`) disagree: an AZ whose targets are "
            "unhealthy leaves DNS; `aws elbv2 describe-target-health --target-group-arn "
            f"{facts.target_group_arn}`",
        )
    return passed(name, expected, observed)


def _eni_addresses(facts: Facts) -> dict[str, tuple[str, str]]:
    """ENI id -> (az, address) for the endpoint's interfaces listed in the outputs."""
    endpoint = facts.endpoint()
    if endpoint is None:
        return {}
    return {
        i.eni_id: (i.az, i.private_ip)
        for i in endpoint.interfaces
        if not facts.endpoint_eni_ids or i.eni_id in facts.endpoint_eni_ids
    }


def check_endpoint_dns(probe: Probe, facts: Facts) -> list[CheckResult]:
    """The regional and each zonal vpce name resolve to the endpoint ENIs' addresses."""
    enis = _eni_addresses(facts)
    subnets = facts.subnets(facts.consumer_vpc_id)
    names: list[tuple[str, str, set[str]]] = [
        ("regional", facts.regional_dns_name, {ip for _, ip in enis.values()})
    ]
    for az, dns_name in facts.zonal_dns_names:
        names.append(
            (f"zonal {az}", dns_name, {ip for eni_az, ip in enis.values() if eni_az == az})
        )
    results = []
    for label, dns_name, want in names:
        name = f"dns: vpce {label} name -> endpoint ENI addresses"
        expected = f"{dns_name} -> {_fmt(want)} (ENIs {', '.join(sorted(enis)) or '?'})"
        res = probe.resolve(dns_name, facts.client_instance_id)
        observed = f"{_fmt(res.addresses)} from {res.where}" + (
            f"; {res.error}" if res.error else ""
        )
        if not enis:
            results.append(
                failed(
                    name,
                    expected,
                    observed,
                    f"the control plane shows no ENIs for {facts.endpoint_id}: "
                    f"`aws ec2 describe-vpc-endpoints --vpc-endpoint-ids {facts.endpoint_id}`",
                )
            )
        elif not res.addresses:
            results.append(
                failed(
                    name,
                    expected,
                    observed,
                    "the name does not resolve: local: the consumer VPC's resolver (base+2) lacks "
                    "it (`make status`); AWS: the endpoint is still pending or was deleted",
                )
            )
        elif any(not _in_subnets(a, subnets) for a in res.addresses):
            results.append(
                failed(
                    name,
                    expected,
                    observed,
                    "an address lies outside the consumer subnets "
                    f"({', '.join(s.cidr for s in subnets)}): the name points somewhere else",
                )
            )
        elif set(res.addresses) != want:
            results.append(
                failed(
                    name,
                    expected,
                    observed,
                    "DNS and the endpoint's ENIs disagree: stale resolver data, or an ENI was "
                    "replaced (`aws ec2 describe-network-interfaces --network-interface-ids "
                    f"{' '.join(sorted(enis))}`)",
                )
            )
        else:
            results.append(passed(name, expected, observed))
    return results


# --- the greeting ------------------------------------------------------------------------


def _greeting_urls(facts: Facts) -> list[tuple[str, str]]:
    names = [("regional", facts.regional_dns_name)]
    names += [(f"zonal {az}", dns_name) for az, dns_name in facts.zonal_dns_names]
    return [
        (label, f"http://{_http_host(dns_name, facts.listener_port)}{GREETING_PATH}")
        for label, dns_name in names
    ]


def _describe(result: HttpResult) -> str:
    if result.error:
        return result.error
    served = f" (X-Served-By {result.served_by})" if result.served_by else ""
    return f"HTTP {result.status} {result.body!r}{served}"


def _greeting_result(
    name: str, url: str, responses: Sequence[HttpResult], facts: Facts, az: str | None = None
) -> CheckResult:
    """Every response to ``url`` is the greeting, byte-exact, from a provider instance."""
    targets = set(facts.provider_instance_ids)
    expected = f"HTTP 200 {GREETING!r} with X-Served-By one of {', '.join(sorted(targets))}"
    bad = [
        r
        for r in responses
        if r.error or r.status != 200 or r.body != GREETING or r.served_by not in targets
    ]
    counts = Counter(r.served_by for r in responses if not r.error)
    observed = (
        f"{len(responses) - len(bad)}/{len(responses)} good"
        + (f"; first bad: {_describe(bad[0])}" if bad else "")
        + (f"; served by {dict(sorted(counts.items()))}" if counts else "")
    )
    if not bad:
        return passed(name, f"{expected} ({url})", observed)
    first = bad[0]
    if first.error:
        hint = traffic_hint(facts, az)
    elif first.status == 200 and first.body != GREETING:
        hint = (
            "the body differs from the seed's greeting byte for byte: is the JERP on the "
            f"instances this kit's version, jerp-privatelink {VERSION} (`pip show "
            "jerp-privatelink` there)?"
        )
    elif first.served_by not in targets:
        hint = (
            "the response did not come from a provider instance (X-Served-By missing or "
            "unknown): something else answers on the endpoint address"
        )
    else:
        hint = f"JERP answered HTTP {first.status}; see its access log on the instance"
    return failed(name, f"{expected} ({url})", observed, hint)


def check_greeting(probe: Probe, facts: Facts) -> list[CheckResult]:
    """``GET /user/yundream`` over every vpce name, from the consumer client, byte-exact;
    and across all requests every healthy target answered at least once."""
    urls = _greeting_urls(facts)
    batch = [url for _, url in urls for _ in range(REQUESTS_PER_NAME)]
    responses = probe.http_get(facts.client_instance_id, batch)
    results = [
        _greeting_result(
            f"greeting: GET {GREETING_PATH} over vpce {label} name",
            url,
            responses[index * REQUESTS_PER_NAME : (index + 1) * REQUESTS_PER_NAME],
            facts,
            label.removeprefix("zonal ") if label.startswith("zonal ") else None,
        )
        for index, (label, url) in enumerate(urls)
    ]

    name = "greeting: every healthy target serves"
    healthy = facts.healthy_targets()
    served = Counter(r.served_by for r in responses if r.status == 200 and not r.error)
    expected = f"each of {', '.join(sorted(healthy)) or '(no healthy target)'} serves"
    observed = f"{sum(served.values())}/{len(responses)} answered; " + (
        ", ".join(f"{k or '(no header)'}: {v}" for k, v in sorted(served.items())) or "none"
    )
    if not healthy:
        results.append(failed(name, expected, observed, traffic_hint(facts)))
    elif not healthy <= set(served):
        missing = sorted(healthy - set(served))
        results.append(
            failed(
                name,
                expected,
                observed,
                f"{', '.join(missing)} never answered although the control plane reports it "
                "healthy: cross-zone is off, so each zonal name reaches only its AZ's targets; "
                "check the zonal names and the NLB's node in that AZ",
            )
        )
    else:
        results.append(passed(name, expected, observed))
    return results


# --- private DNS: optional, set up by the service owner ---------------------------------

# The label asked under a wildcard private DNS name (``*.example.com`` -> jerp.example.com).
PRIVATE_DNS_LABEL = "jerp"


def private_dns_host(private_dns_name: str) -> str:
    """A name the private DNS name covers: itself, or one label under a wildcard's domain."""
    if private_dns_name.startswith("*."):
        return f"{PRIVATE_DNS_LABEL}.{private_dns_name[2:]}"
    return private_dns_name


def _private_dns_unverified(facts: Facts, endpoint: Endpoint) -> CheckResult:
    sid = facts.service_id
    return failed(
        "dns: private DNS name verified",
        f"{endpoint.private_dns_name} verified (private DNS is enabled on {endpoint.endpoint_id})",
        f"verification state {endpoint.private_dns_state or '(none reported)'}",
        "consumers can use a private DNS name only once it is verified: publish the TXT record "
        f"that `aws ec2 describe-vpc-endpoint-service-configurations --service-ids {sid} "
        "--query 'ServiceConfigurations[0].PrivateDnsNameConfiguration'` shows (<Name>.<domain> "
        "= <Value>) in the domain's public DNS (locally: LocalStack's POST /_jerp/public-dns), "
        f"then `aws ec2 start-vpc-endpoint-service-private-dns-verification --service-id {sid}`",
    )


def check_private_dns(probe: Probe, facts: Facts) -> list[CheckResult]:
    """With private DNS enabled on the endpoint and the service's name verified, the private
    name resolves from the consumer client to the endpoint ENIs and the greeting comes back
    over it (PL/manage-dns-names.html); not applicable when the endpoint does not use one."""
    dns_name = "dns: private DNS name -> endpoint ENI addresses (consumer VPC)"
    endpoint = facts.endpoint()
    if endpoint is None:
        return [skipped(dns_name, f"{facts.endpoint_id} is not in the control plane")]
    if not endpoint.private_dns_enabled:
        return [
            skipped(
                dns_name,
                f"not applicable: private DNS is off on {endpoint.endpoint_id} "
                "(private_dns_enabled = false)",
            )
        ]
    if not endpoint.private_dns_name:
        return [skipped(dns_name, "not applicable: the service has no private DNS name")]
    if endpoint.private_dns_state != "verified":
        return [_private_dns_unverified(facts, endpoint)]

    host = private_dns_host(endpoint.private_dns_name)
    enis = _eni_addresses(facts)
    want = {ip for _, ip in enis.values()}
    subnets = facts.subnets(facts.consumer_vpc_id)
    expected = f"{host} -> {_fmt(want)} (ENIs {', '.join(sorted(enis)) or '?'})"
    res = probe.resolve_in_vpc(host, facts.client_instance_id)
    observed = f"{_fmt(res.addresses)} from {res.where}" + (f"; {res.error}" if res.error else "")
    if not res.addresses:
        dns = failed(
            dns_name,
            expected,
            observed,
            "the verified name does not resolve in the consumer VPC: local: its resolver lacks "
            "it (`make status`, vpc_dns); AWS: the private hosted zone is missing: the consumer "
            "VPC needs enableDnsSupport and enableDnsHostnames",
        )
    elif any(not _in_subnets(a, subnets) for a in res.addresses):
        dns = failed(
            dns_name,
            expected,
            observed,
            "the name resolves outside the consumer subnets: another answer (a private hosted "
            "zone of your own for the domain, or public DNS) wins over the endpoint's",
        )
    elif set(res.addresses) != want:
        dns = failed(
            dns_name,
            expected,
            observed,
            "DNS and the endpoint's ENIs disagree: stale resolver data, or an ENI was replaced",
        )
    else:
        dns = passed(dns_name, expected, observed)
    url = f"http://{_http_host(host, facts.listener_port)}{GREETING_PATH}"
    greeting = _greeting_result(
        f"greeting: GET {GREETING_PATH} over the private DNS name",
        url,
        probe.http_get(facts.client_instance_id, [url] * REQUESTS_PER_NAME),
        facts,
    )
    return [dns, greeting]


# --- the negative cases ------------------------------------------------------------------


def _describe_connects(results: Sequence[ConnectResult]) -> str:
    return "; ".join(f"{r.address}:{r.port} {r.outcome}" for r in results) or "(nothing tried)"


def _no_connection(
    probe: Probe,
    name: str,
    from_host: str,
    targets: Sequence[tuple[str, int]],
    hint: str,
    nothing_to_try: str,
) -> CheckResult:
    """Passes when ``from_host`` opens no TCP connection to any of ``targets``."""
    if not targets:
        return skipped(name, nothing_to_try)
    expected = "no TCP connection (unreachable/timeout) to " + ", ".join(
        f"{a}:{p}" for a, p in targets
    )
    results = probe.tcp_connect(from_host, targets)
    observed = f"from {from_host}: {_describe_connects(results)}"
    if any(r.reached for r in results):
        return failed(name, expected, observed, hint)
    return passed(name, expected, observed)


def check_consumer_cannot_reach_provider(probe: Probe, facts: Facts) -> CheckResult:
    """The consumer client has no path to provider addresses (only the endpoint)."""
    targets: list[tuple[str, int]] = []
    for inst in facts.topology.instances:
        if inst.vpc_id == facts.provider_vpc_id and inst.private_ip:
            targets.append((inst.private_ip, facts.target_port))
    lb = facts.load_balancer()
    for node in lb.nodes if lb else ():
        targets.append((node.private_ip, facts.listener_port))
    return _no_connection(
        probe,
        "negative: consumer client cannot reach provider addresses",
        facts.client_instance_id,
        targets,
        "the VPCs are connected some other way (peering, transit gateway, overlapping "
        "routes): PrivateLink should be the only path; check both VPCs' route tables",
        "the control plane shows no provider addresses to try",
    )


def check_provider_cannot_reach_consumer(probe: Probe, facts: Facts) -> CheckResult:
    """PrivateLink is one way: a provider instance cannot open connections into the consumer."""
    targets = [(ip, facts.listener_port) for _, ip in sorted(_eni_addresses(facts).values())]
    client_ip = _client_ip(facts)
    if client_ip:
        targets.append((client_ip, SSH_PORT))
    return _no_connection(
        probe,
        "negative: provider cannot open connections into the consumer VPC",
        facts.provider_host(),
        targets,
        "a provider host reached the consumer VPC: PrivateLink never allows that; look for "
        "VPC peering or a transit gateway between the VPCs",
        "the control plane shows no consumer addresses to try",
    )


def check_endpoint_state(probe: Probe, facts: Facts) -> CheckResult:
    """The connection is accepted (available); anything else explains every traffic failure."""
    name = "endpoint: connection accepted (available)"
    state = facts.endpoint_state()
    expected = f"{facts.endpoint_id} available"
    observed = f"{facts.endpoint_id} {state}"
    if state == "available":
        return passed(name, expected, observed)
    return failed(name, expected, observed, traffic_hint(facts))


def check_no_traffic_unless_available(probe: Probe, facts: Facts) -> CheckResult:
    """While the connection is pending or rejected the vpce name carries no traffic."""
    name = "negative: pending/rejected endpoint carries no traffic"
    state = facts.endpoint_state()
    if state == "available":
        return skipped(name, "the endpoint is available; run again while pending or rejected")
    urls = [url for _, url in _greeting_urls(facts)]
    responses = probe.http_get(facts.client_instance_id, urls)
    expected = f"no HTTP response over {len(urls)} vpce names while {state}"
    observed = "; ".join(_describe(r) for r in responses)
    answered = [r for r in responses if not r.error]
    if answered:
        return failed(
            name,
            expected,
            observed,
            f"the endpoint is {state} yet answers: the data plane does not follow the "
            "connection state (local: `make status`; this cannot happen on AWS)",
        )
    return passed(name, expected, observed)


def check_targets_healthy(probe: Probe, facts: Facts) -> CheckResult:
    """Every registered target is healthy in DescribeTargetHealth."""
    name = "targets: all registered targets healthy"
    tg = facts.target_group()
    if tg is None:
        return failed(
            name,
            f"target group {facts.target_group_arn}",
            "not found in the control plane",
            "the stack is not (fully) deployed: `make deploy`",
        )
    states = {t.target_id: t.health for t in tg.targets}
    expected = "healthy: " + (", ".join(sorted(states)) or "(no targets registered)")
    observed = ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "(none)"
    if states and all(v == "healthy" for v in states.values()):
        return passed(name, expected, observed)
    hint = (
        "unhealthy targets get no traffic: check JERP on them (`make exec HOST=<id> CMD='curl -s "
        f"localhost:{facts.target_port}/healthz'`) and that their security group admits the NLB "
        "subnets"
    )
    if tg.proxy_protocol_v2:
        hint = (
            "the target group sends a PROXY protocol v2 header (proxy_protocol_v2.enabled), on "
            "health checks too: an application that does not read it answers neither; start "
            "JERP with JERP_PROXY_PROTOCOL=v2 (`jerp_accepts_proxy_protocol_v2 = true`) or turn "
            "`proxy_protocol_v2` off. Otherwise: " + hint
        )
    return failed(name, expected, observed, hint)


# Attribute values whose AWS behaviour the emulator declines: (resource, key, value) -> (row
# of docs/aws-behaviour.md, what AWS does that the emulator does not).
DECLINED_ATTRIBUTES: Mapping[tuple[str, str, str], tuple[str, str]] = {
    ("target group", "target_health_state.unhealthy.connection_termination.enabled", "false"): (
        "nlb-unhealthy-rst",
        "AWS keeps open flows to a target that turns unhealthy; the emulator always resets them",
    ),
    ("target group", "deregistration_delay.connection_termination.enabled", "true"): (
        "tg-connection-termination",
        "AWS closes a draining target's open flows when the delay ends; the emulator lets them "
        "run until they close or idle out (350 s)",
    ),
}


def _warning(row: str, what: str, observed: str) -> CheckResult:
    return CheckResult(
        f"declined: {row} (docs/aws-behaviour.md)",
        True,
        "a configuration the local emulator reproduces",
        f"{observed}: {what}",
        "a green local run does not prove this part; check it on AWS (`make deploy STACK=aws`)",
        warning=True,
    )


def check_declined_behaviours(probe: Probe, facts: Facts) -> list[CheckResult]:
    """Warnings (never failures) for each AWS behaviour the deployment relies on that the
    local emulator declines (docs/aws-behaviour.md, rows marked `declined`); none on AWS."""
    from harness.checks.probes import AwsProbe

    if isinstance(probe, AwsProbe):
        return []
    warnings = []
    tg = facts.target_group()
    for key, value in tg.attributes if tg else ():
        declined = DECLINED_ATTRIBUTES.get(("target group", key, value.lower()))
        if declined:
            warnings.append(_warning(declined[0], declined[1], f"target group {key}={value}"))
    lb = facts.load_balancer()
    for listener in lb.listeners if lb else ():
        if listener.protocol.upper() != "TCP":
            warnings.append(
                _warning(
                    "endpoint-tcp-only",
                    "the emulator forwards every listener as plain TCP (no TLS termination, "
                    "no UDP)",
                    f"listener {listener.port} protocol {listener.protocol}",
                )
            )
    return warnings


Check = Callable[[Probe, Facts], "CheckResult | list[CheckResult]"]

ALL_CHECKS: tuple[Check, ...] = (
    check_endpoint_state,
    check_targets_healthy,
    check_nlb_dns,
    check_endpoint_dns,
    check_greeting,
    check_private_dns,
    check_consumer_cannot_reach_provider,
    check_provider_cannot_reach_consumer,
    check_no_traffic_unless_available,
    check_declined_behaviours,
)


def evaluate(probe: Probe, facts: Facts, checks: Sequence[Check] = ALL_CHECKS) -> list[CheckResult]:
    """Run ``checks`` in order; a check that raises becomes a failed result naming the error."""
    from harness.errors import HarnessError

    results: list[CheckResult] = []
    for check in checks:
        started = time.monotonic()
        try:
            outcome = check(probe, facts)
        except HarnessError as exc:
            name = check.__name__.removeprefix("check_").replace("_", " ")
            outcome = failed(name, "the check to run", f"error: {exc}", exc.hint)
        spent = time.monotonic() - started
        batch = outcome if isinstance(outcome, list) else [outcome]
        results.extend(replace(r, duration_s=spent / len(batch)) for r in batch)
    return results


# --- entry points the CLI and `make deploy` call --------------------------------------------


def make_probe(settings: HarnessSettings, clients: AwsClients) -> Probe:
    """The probe for ``settings.stack``: emulated hosts locally, SSM + public DNS on AWS."""
    from harness.checks.probes import AwsProbe, LocalProbe, hostexec_runner

    if settings.stack == "aws":
        return AwsProbe(clients.ssm())
    return LocalProbe(hostexec_runner(settings))


def gather_facts(outputs: Outputs, clients: AwsClients) -> Facts:
    from harness.dataplane.inventory import read_topology

    return Facts.from_outputs(outputs, read_topology(clients))


def run_checks(
    settings: HarnessSettings, outputs: Outputs, clients: AwsClients
) -> list[CheckResult]:
    """Every live check against the deployed stack of ``settings.stack``."""
    return evaluate(make_probe(settings, clients), gather_facts(outputs, clients))


def transcripts_with(probe: Probe, outputs: Outputs) -> str:
    """The seed's two transcripts, as the real ``nslookup`` and ``curl`` print them.

    ``nslookup <NLB name>`` on a provider instance and ``curl <vpce name>/user/yundream`` on
    the consumer client; each preceded by a ``# command`` line like the seed.
    """
    nlb = str(outputs["nlb_dns_name"])
    vpce = _http_host(
        str(outputs["endpoint_regional_dns_name"]), _output_port(outputs, "listener_port")
    )
    provider_host = _output_list(outputs, "provider_instance_ids")[0]
    client = str(outputs["consumer_client_instance_id"])
    blocks = []
    for host, argv in (
        (provider_host, ["nslookup", nlb]),
        (client, ["curl", f"{vpce}{GREETING_PATH}"]),
    ):
        result = probe.run(host, argv, 30)
        text = result.stdout
        if result.exit_code != 0:
            text += f"{result.stderr.strip()}\n(exit {result.exit_code})"
        blocks.append(f"# {shlex.join(argv)}\n{text}")
    return "".join(block if block.endswith("\n") else block + "\n" for block in blocks)


def transcripts(settings: HarnessSettings, outputs: Outputs) -> str:
    """:func:`transcripts_with` on the stack of ``settings`` (local: the emulated hosts)."""
    from harness.controlplane.aws import AwsClients

    return transcripts_with(make_probe(settings, AwsClients.from_settings(settings)), outputs)
