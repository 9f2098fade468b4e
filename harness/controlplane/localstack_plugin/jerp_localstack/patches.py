"""Changes to moto's EC2 and ELBv2 models that make LocalStack's answers AWS-shaped.

Applied once, when LocalStack loads the plug-in's providers. Each patch wraps one moto
method and says which AWS behaviour it restores.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any

from localstack.utils.patch import patch
from moto.ec2 import models as ec2_models
from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
from moto.ec2.models.vpc_service_configuration import (
    VPCServiceConfiguration,
    VPCServiceConfigurationBackend,
)
from moto.elbv2 import models as elbv2_models
from moto.elbv2.exceptions import (
    ELBClientError,
    InvalidConfigurationRequest,
    ResourceInUseError,
    ValidationError,
)

from jerp_localstack import changes, health, ids, privatelink

_applied = threading.Lock()
_done: set[str] = set()

# Re-exported for the providers: endpoint states that keep a service from being deleted.
LIVE_ENDPOINT_STATES = privatelink.LIVE_ENDPOINT_STATES

NLB_TARGET_PROTOCOLS = {"TCP", "UDP", "TCP_UDP", "TLS"}
STOPPED_DESCRIPTION = "The target is in the stopped or terminated state"


def _once(name: str) -> bool:
    with _applied:
        if name in _done:
            return False
        _done.add(name)
        return True


def _allocate_in_subnet(subnet: Any, owner: object) -> str:
    """The next free address of the subnet (its first four and last are AWS's)."""
    return str(subnet.get_available_subnet_ip(owner))


def _service_zones(service: Any) -> list[str]:
    elbv2 = elbv2_models.elbv2_backends[privatelink.owner_of(service)][
        service.ec2_backend.region_name
    ]
    zones = {
        subnet.availability_zone
        for arn in service.network_load_balancer_arns
        if (lb := elbv2.load_balancers.get(arn)) is not None
        for subnet in lb.subnets
    }
    return sorted(zones)


class _WithConfigurations:
    """A backend seen with other endpoint service configurations than its own."""

    def __init__(self, backend: Any, configurations: dict[str, Any]) -> None:
        self._backend = backend
        self.configurations = configurations

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def apply_ec2_patches() -> None:
    if not _once("ec2"):
        return

    @patch(VPCServiceConfiguration.__init__)
    def _service_init(fn: Any, self: VPCServiceConfiguration, *args: Any, **kwargs: Any) -> None:
        fn(self, *args, **kwargs)
        region = kwargs.get("region") or args[1]
        self.id = ids.service_id()
        self.service_name = f"com.amazonaws.vpce.{region}.{self.id}"
        self.endpoint_dns_name = f"{self.id}.{region}.vpce.amazonaws.com"
        self.availability_zones = sorted(set(self.availability_zones))
        self.permission_ids: dict[str, str] = {}
        name = kwargs.get("private_dns_name") if "private_dns_name" in kwargs else args[3]
        privatelink.set_private_dns_name(self, name)

    @patch(VPCServiceConfiguration.to_dict)
    def _service_detail(fn: Any, self: VPCServiceConfiguration) -> dict[str, Any]:
        """No ``PrivateDnsName: None`` and no policy support for NLB services (AWS)."""
        return privatelink.service_detail(self)

    @patch(VPCServiceConfigurationBackend.modify_vpc_endpoint_service_configuration)
    def _modify_service(fn: Any, self: Any, service_id: str, *args: Any, **kwargs: Any) -> None:
        service = self.configurations.get(service_id)
        old_name = service.private_dns_name if service is not None else None
        fn(self, service_id, *args, **kwargs)
        if service is None:
            return
        if (service.private_dns_name or None) != old_name:
            privatelink.set_private_dns_name(service, service.private_dns_name)
        # moto keeps the zones of the load balancers the service was created with.
        service.availability_zones = _service_zones(service)

    @patch(ec2_models.vpcs.VPCBackend.describe_vpc_endpoint_services)
    def _describe_services(fn: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        """Endpoint services of other accounts that allow this one are listed too (AWS)."""
        if kwargs.get("filters"):
            # moto reads a filter's values from "Value" (its old botocore shape), so the
            # service-name and tag filters failed with a KeyError on the API's "Values".
            kwargs["filters"] = [
                {**f, "Value": f.get("Values", f.get("Value", []))} for f in kwargs["filters"]
            ]
        merged = dict(self.configurations)
        for backend in privatelink.backends(self.region_name):
            if backend is self:
                continue
            for service in list(backend.configurations.values()):
                if privatelink.may_use(service, self.account_id):
                    merged[service.id] = service
        return fn(_WithConfigurations(self, merged), *args, **kwargs)

    @patch(NetworkInterfaceBackend.create_network_interface)
    def _eni_in_subnet(fn: Any, self: Any, subnet: Any, private_ip: Any, *a: Any, **kw: Any) -> Any:
        """ENI addresses come from the subnet's CIDR and never collide (moto picks at random)."""
        subnet_obj = self.get_subnet(subnet) if isinstance(subnet, str) else subnet
        address = private_ip[0] if isinstance(private_ip, list) else private_ip
        address = privatelink.chosen_address(subnet_obj.id) or address
        network = ipaddress.ip_network(subnet_obj.cidr_block)
        if (
            not address
            or ipaddress.ip_address(address) not in network
            or address in subnet_obj._subnet_ips
        ):
            address = _allocate_in_subnet(subnet_obj, "eni")
        else:
            subnet_obj.request_ip(address, "eni")
        return fn(self, subnet_obj, address, *a, **kw)

    @patch(NetworkInterfaceBackend.delete_network_interface)
    def _free_eni_address(fn: Any, self: Any, eni_id: str) -> None:
        eni = self.enis.get(eni_id)
        fn(self, eni_id)
        if eni is not None and eni.private_ip_address:
            eni.subnet._subnet_ips.pop(eni.private_ip_address, None)

    @patch(ec2_models.vpcs.VPCBackend.create_vpc_endpoint)
    def _create_endpoint(fn: Any, self: Any, **kwargs: Any) -> Any:
        # Described only once finished (see privatelink.ENDPOINT_CREATION).
        with privatelink.ENDPOINT_CREATION:
            return _create_endpoint_unseen(fn, self, **kwargs)

    def _create_endpoint_unseen(fn: Any, self: Any, **kwargs: Any) -> Any:
        # The request was checked against AWS's rules in the provider (JerpEc2Provider).
        service = privatelink.find_service(self.region_name, kwargs.get("service_name") or "")
        interface = (kwargs.get("endpoint_type") or "").lower() == "interface"
        if interface and not kwargs.get("security_group_ids"):
            # Without security groups AWS attaches the VPC's default one.
            self.get_vpc(kwargs["vpc_id"])  # InvalidVpcID.NotFound before anything else
            default = self.get_default_security_group(kwargs["vpc_id"])
            if default is not None:
                kwargs["security_group_ids"] = [default.id]
        if service is None or not interface:
            endpoint = fn(self=self, **kwargs)
            if interface and not kwargs.get("subnet_ids"):
                endpoint.dns_entries = []  # no subnets: no ENIs and no DNS names (AWS)
            return endpoint
        endpoint = fn(self=self, **kwargs)
        # AWS ids, and the endpoint (and its tags) filed under its new id.
        old_id = endpoint.id
        self.vpc_end_points.pop(old_id, None)
        endpoint.id = ids.endpoint_id()
        self.vpc_end_points[endpoint.id] = endpoint
        if old_id in self.tags:
            self.tags[endpoint.id] = self.tags.pop(old_id)
        # One ENI per subnet (addresses from the subnet: see _eni_in_subnet), described the
        # way AWS describes them.
        for eni_id in list(endpoint.network_interface_ids):
            eni = self.enis.get(eni_id)
            if eni is None:
                continue
            eni.description = f"VPC Endpoint Interface {endpoint.id}"
            eni.interface_type = "vpc_endpoint"
            if endpoint.security_group_ids:
                eni._group_set = [
                    self.get_security_group_from_id(g) for g in endpoint.security_group_ids
                ]
        zones = sorted(
            {self.get_subnet(s).availability_zone for s in kwargs.get("subnet_ids") or []}
        )
        endpoint.dns_entries = (
            ids.endpoint_dns_entries(endpoint.id, service.id, self.region_name, zones)
            if zones
            else []
        )
        if not service.private_dns_name:
            # moto defaults PrivateDnsEnabled to true; there is no name to enable.
            endpoint.private_dns_enabled = False
        if service.acceptance_required:
            endpoint.state = "pendingAcceptance"
        else:
            privatelink.settle_after(endpoint)
        return endpoint


# --------------------------------------------------------------------------- ELBv2


def _backing_services(lb_arn: str, region: str) -> list[Any]:
    return [
        service
        for backend in privatelink.backends(region)
        for service in list(backend.configurations.values())
        if lb_arn in service.network_load_balancer_arns
        or lb_arn in service.gateway_load_balancer_arns
    ]


def _draining(target_group: Any) -> dict[str, tuple[dict[str, Any], float]]:
    """Deregistered targets still in their deregistration delay: id -> (target, deadline)."""
    table: dict[str, tuple[dict[str, Any], float]] = target_group.__dict__.setdefault(
        "jerp_draining", {}
    )
    now = time.monotonic()
    for target_id in [t for t, (_, deadline) in table.items() if deadline <= now]:
        del table[target_id]
    return table


def _nlb_target_group_defaults(target_group: Any) -> None:
    """DescribeTargetGroupAttributes of an NLB target group lists what AWS lists."""
    instance_targets = target_group.target_type == "instance"
    udp = target_group.protocol in ("UDP", "TCP_UDP")
    defaults = {
        "proxy_protocol_v2.enabled": "false",
        "preserve_client_ip.enabled": "true" if instance_targets or udp else "false",
        "deregistration_delay.connection_termination.enabled": "false",
        "target_health_state.unhealthy.connection_termination.enabled": "true",
        "target_health_state.unhealthy.draining_interval_seconds": "0",
        "target_group_health.dns_failover.minimum_healthy_targets.count": "1",
        "target_group_health.dns_failover.minimum_healthy_targets.percentage": "off",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": "1",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": "off",
    }
    for key, value in defaults.items():
        target_group.attributes.setdefault(key, value)
    # ALB-only attributes an NLB target group does not have.
    for key in ("load_balancing.algorithm.type", "slow_start.duration_seconds"):
        target_group.attributes.pop(key, None)


def apply_elbv2_patches() -> None:
    if not _once("elbv2"):
        return

    backend_cls = elbv2_models.ELBv2Backend
    target_group_cls = elbv2_models.FakeTargetGroup

    @patch(backend_cls.create_load_balancer)
    def _create_lb(fn: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        subnet_ids = list(kwargs.get("subnet_ids") or (args[2] if len(args) > 2 else []))
        subnet_ids += [m["SubnetId"] for m in kwargs.get("subnet_mappings") or []]
        zones: set[str] = set()
        for subnet_id in subnet_ids:
            subnet = self.ec2_backend.get_subnet(subnet_id)
            if subnet.availability_zone in zones:
                raise InvalidConfigurationRequest(
                    "A load balancer cannot be attached to multiple subnets in the same "
                    "Availability Zone"
                )
            zones.add(subnet.availability_zone)
        lb = fn(self, *args, **kwargs)
        if lb.type != "network":
            return lb
        old_arn = lb.arn
        lb_id = ids.hex_id(16)
        prefix = old_arn.split(":loadbalancer/")[0]
        lb.arn = f"{prefix}:loadbalancer/net/{lb.name}/{lb_id}"
        lb.dns_name = ids.nlb_dns_name(lb.name, self.region_name)
        lb.state = "active"
        lb.attrs.setdefault("access_logs.s3.enabled", "false")
        lb.attrs.setdefault("dns_record.client_routing_policy", "any_availability_zone")
        lb.attrs.setdefault("zonal_shift.config.enabled", "false")
        self.load_balancers.pop(old_arn, None)
        self.load_balancers[lb.arn] = lb
        if old_arn in self.tagging_service.tags:
            self.tagging_service.tags[lb.arn] = self.tagging_service.tags.pop(old_arn)
        # One node per enabled subnet: an ENI whose address is the node's (as on AWS), the
        # subnet mapping's PrivateIPv4Address when it names one.
        requested = {
            m["SubnetId"]: m.get("PrivateIPv4Address") for m in kwargs.get("subnet_mappings") or []
        }
        lb.jerp_node_enis = [
            self.ec2_backend.create_network_interface(
                subnet,
                requested.get(subnet.id),
                description=f"ELB net/{lb.name}/{lb_id}",
                group_ids=list(lb.security_groups or []),
            ).id
            for subnet in lb.subnets
        ]
        for eni_id in lb.jerp_node_enis:
            eni = self.ec2_backend.enis[eni_id]
            eni.interface_type = "network_load_balancer"
        return lb

    @patch(backend_cls.set_subnets)
    def _set_subnets(fn: Any, self: Any, arn: str, *args: Any, **kwargs: Any) -> Any:
        """Node ENIs follow the NLB's subnets: one per subnet, added and removed with them."""
        result = fn(self, arn, *args, **kwargs)
        lb = self.load_balancers.get(arn)
        if lb is None or lb.type != "network":
            return result
        description = "ELB " + lb.arn.split(":loadbalancer/", 1)[1]
        by_subnet = {
            self.ec2_backend.enis[e].subnet.id: e
            for e in lb.jerp_node_enis
            if e in self.ec2_backend.enis
        }
        wanted = {subnet.id: subnet for subnet in lb.subnets}
        for subnet_id, eni_id in by_subnet.items():
            if subnet_id not in wanted:
                self.ec2_backend.delete_network_interface(eni_id)
        for subnet_id, subnet in wanted.items():
            if subnet_id not in by_subnet:
                eni = self.ec2_backend.create_network_interface(
                    subnet, None, description=description, group_ids=list(lb.security_groups or [])
                )
                eni.interface_type = "network_load_balancer"
                by_subnet[subnet_id] = eni.id
        lb.jerp_node_enis = [by_subnet[s] for s in wanted]
        return result

    @patch(backend_cls.delete_load_balancer)
    def _delete_lb(fn: Any, self: Any, arn: str) -> Any:
        lb = self.load_balancers.get(arn)
        if lb is not None and _backing_services(arn, self.region_name):
            raise ResourceInUseError(
                f"Load balancer '{arn}' cannot be deleted because it is currently associated "
                "with another service"
            )
        if lb is not None and lb.attrs.get("deletion_protection.enabled") == "true":
            raise ELBClientError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            )
        result = fn(self, arn)
        for eni_id in getattr(lb, "jerp_node_enis", []):
            if eni_id in self.ec2_backend.enis:
                self.ec2_backend.delete_network_interface(eni_id)
        return result

    @patch(backend_cls.delete_target_group)
    def _delete_target_group(fn: Any, self: Any, target_group_arn: str) -> Any:
        try:
            return fn(self, target_group_arn)
        except ResourceInUseError as exc:
            # AWS's wording (moto says "The target group ...").
            raise ResourceInUseError(
                f"Target group '{target_group_arn}' is currently in use by a listener or a rule"
            ) from exc

    @patch(backend_cls.modify_load_balancer_attributes)
    def _modify_lb_attributes(fn: Any, self: Any, arn: str, attrs: dict[str, Any]) -> Any:
        # AWS's wording, which the provider recognises to drop a key and retry.
        for key in attrs:
            if key not in elbv2_models.FakeLoadBalancer.VALID_ATTRS:
                raise ValidationError(f"Load balancer attribute key '{key}' is not recognized")
        return fn(self, arn, attrs)

    @patch(target_group_cls.__init__)
    def _target_group_init(fn: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        fn(self, *args, **kwargs)
        if self.protocol in NLB_TARGET_PROTOCOLS:
            _nlb_target_group_defaults(self)

    @patch(backend_cls.create_target_group)
    def _create_target_group(fn: Any, self: Any, name: str, **kwargs: Any) -> Any:
        asked = dict(kwargs)
        checked_by = kwargs.get("healthcheck_protocol") or kwargs.get("protocol")
        if (
            kwargs.get("protocol") in NLB_TARGET_PROTOCOLS
            and checked_by in ("HTTP", "HTTPS")
            and not kwargs.get("healthcheck_timeout_seconds")
        ):
            # The HTTP(S) default timeout before moto compares it with the interval: moto's
            # TCP default (10) refused intervals 6-9 that AWS accepts (its HTTP default is 6).
            kwargs["healthcheck_timeout_seconds"] = 10 if checked_by == "HTTPS" else 6
        target_group = fn(self, name, **kwargs)
        if target_group.protocol in NLB_TARGET_PROTOCOLS and target_group.health_check_protocol in (
            "HTTP",
            "HTTPS",
        ):
            # An NLB target group's other HTTP(S) health-check defaults (moto applies the TCP
            # ones; the timeout was set above).
            if not asked.get("matcher"):
                target_group.matcher = {"HttpCode": "200-399"}
            if not asked.get("healthcheck_path"):
                target_group.health_check_path = "/"
        return target_group

    @patch(target_group_cls.register)
    def _register(fn: Any, self: Any, targets: list[dict[str, Any]]) -> None:
        fn(self, targets)
        draining = _draining(self)
        for target in targets:
            draining.pop(target["Id"], None)
            health.forget_target(self.arn, target["Id"])

    @patch(target_group_cls.deregister)
    def _deregister(fn: Any, self: Any, targets: list[dict[str, Any]]) -> None:
        registered = {
            t["Id"]: dict(self.targets[t["Id"]]) for t in targets if t["Id"] in self.targets
        }
        fn(self, targets)
        delay = float(self.attributes.get("deregistration_delay.timeout_seconds", 300))
        draining = _draining(self)
        for target_id, target in registered.items():
            health.forget_target(self.arn, target_id)
            if delay > 0:
                draining[target_id] = (target, time.monotonic() + delay)
        if registered and delay > 0:
            # The end of draining is no API call: tell the change notice when it comes.
            timer = threading.Timer(delay, changes.bump, args=("TargetDrained",))
            timer.daemon = True
            timer.start()

    @patch(backend_cls.describe_target_health)
    def _describe_target_health(
        fn: Any, self: Any, target_group_arn: str, targets: list[dict[str, Any]]
    ) -> Any:
        target_group = self.target_groups.get(target_group_arn)
        if targets or target_group is None:
            return fn(self, target_group_arn, targets)
        # Without Targets AWS lists the registered targets and those still draining.
        every = list(target_group.targets.values())
        every += [target for target, _ in _draining(target_group).values()]
        return [target_group.health_for(target, self.ec2_backend) for target in every]

    @patch(target_group_cls.health_for)
    def _health_for(fn: Any, self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        registered = self.targets.get(target["Id"])
        if registered is None:
            drained = _draining(self).get(target["Id"])
            if drained is None:
                return fn(self, target, ec2_backend)
            return elbv2_models.FakeHealthStatus(
                target["Id"],
                target.get("Port") or drained[0].get("Port") or self.port,
                self.health_check_port,
                "draining",
                "Target.DeregistrationInProgress",
                "Target deregistration is in progress",
            )
        port = target.get("Port") or registered.get("Port") or self.port
        instance = (
            ec2_backend.get_instance_by_id(target["Id"]) if target["Id"].startswith("i-") else None
        )
        if instance is not None and instance.state in ("stopped", "stopping", "terminated"):
            return elbv2_models.FakeHealthStatus(
                target["Id"],
                port,
                self.health_check_port,
                "unused",
                "Target.InvalidState",
                STOPPED_DESCRIPTION,
            )
        report = health.reported(
            self.arn,
            target["Id"],
            int(port),
            int(self.healthy_threshold_count),
            int(self.unhealthy_threshold_count),
        ) or health.fold([], 1, 1)
        return elbv2_models.FakeHealthStatus(
            target["Id"],
            port,
            self.health_check_port,
            report.state,
            report.reason,
            report.description,
        )
