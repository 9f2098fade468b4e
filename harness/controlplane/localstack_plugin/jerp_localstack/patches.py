"""Changes to moto's EC2 and ELBv2 models that make LocalStack's answers AWS-shaped.

Applied once, when LocalStack loads the plug-in's providers. Each patch wraps one moto
method and says which AWS behaviour it restores.
"""

from __future__ import annotations

import ipaddress
import threading
from typing import Any

from localstack.utils.patch import patch
from moto.ec2 import models as ec2_models
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
from moto.ec2.models.vpc_service_configuration import VPCServiceConfiguration
from moto.elbv2 import models as elbv2_models

from jerp_localstack import ids
from jerp_localstack.health import reported

_applied = threading.Lock()
_done: set[str] = set()

# Endpoint states in which an endpoint still holds on to its service.
LIVE_ENDPOINT_STATES = {"pendingAcceptance", "pending", "available"}


def _once(name: str) -> bool:
    with _applied:
        if name in _done:
            return False
        _done.add(name)
        return True


def _allocate_in_subnet(subnet: Any, owner: object) -> str:
    """The next free address of the subnet (its first four and last are AWS's)."""
    return str(subnet.get_available_subnet_ip(owner))


def service_for(backend: Any, service_name: str) -> VPCServiceConfiguration | None:
    for config in backend.configurations.values():
        if config.service_name == service_name:
            return config
    return None


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

    @patch(NetworkInterfaceBackend.create_network_interface)
    def _eni_in_subnet(fn: Any, self: Any, subnet: Any, private_ip: Any, *a: Any, **kw: Any) -> Any:
        """ENI addresses come from the subnet's CIDR and never collide (moto picks at random)."""
        subnet_obj = self.get_subnet(subnet) if isinstance(subnet, str) else subnet
        address = private_ip[0] if isinstance(private_ip, list) else private_ip
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
        service = service_for(self, kwargs.get("service_name") or "")
        interface = (kwargs.get("endpoint_type") or "").lower() == "interface"
        if service is None or not interface:
            return fn(self=self, **kwargs)
        for subnet_id in kwargs.get("subnet_ids") or []:
            subnet = self.get_subnet(subnet_id)
            if subnet.availability_zone not in service.availability_zones:
                raise EC2ClientError(
                    "InvalidParameter",
                    f"The VPC endpoint service {service.service_name} does not support the "
                    f"availability zone of the subnet: {subnet_id}.",
                )
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
        endpoint.dns_entries = ids.endpoint_dns_entries(
            endpoint.id, service.id, self.region_name, zones
        )
        endpoint.state = "pendingAcceptance" if service.acceptance_required else "available"
        return endpoint


def apply_elbv2_patches() -> None:
    if not _once("elbv2"):
        return

    backend_cls = elbv2_models.ELBv2Backend

    @patch(backend_cls.create_load_balancer)
    def _create_lb(fn: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        lb = fn(self, *args, **kwargs)
        if lb.type != "network":
            return lb
        old_arn = lb.arn
        lb_id = ids.hex_id(16)
        prefix = old_arn.split(":loadbalancer/")[0]
        lb.arn = f"{prefix}:loadbalancer/net/{lb.name}/{lb_id}"
        lb.dns_name = ids.nlb_dns_name(lb.name, self.region_name)
        lb.state = "active"
        self.load_balancers.pop(old_arn, None)
        self.load_balancers[lb.arn] = lb
        if old_arn in self.tagging_service.tags:
            self.tagging_service.tags[lb.arn] = self.tagging_service.tags.pop(old_arn)
        # One node per enabled subnet: an ENI whose address is the node's (as on AWS).
        lb.jerp_node_enis = [
            self.ec2_backend.create_network_interface(
                subnet,
                None,
                description=f"ELB net/{lb.name}/{lb_id}",
                group_ids=list(lb.security_groups or []),
            ).id
            for subnet in lb.subnets
        ]
        for eni_id in lb.jerp_node_enis:
            eni = self.ec2_backend.enis[eni_id]
            eni.interface_type = "network_load_balancer"
        return lb

    @patch(backend_cls.delete_load_balancer)
    def _delete_lb(fn: Any, self: Any, arn: str) -> Any:
        lb = self.load_balancers.get(arn)
        result = fn(self, arn)
        for eni_id in getattr(lb, "jerp_node_enis", []):
            if eni_id in self.ec2_backend.enis:
                self.ec2_backend.delete_network_interface(eni_id)
        return result

    @patch(elbv2_models.FakeTargetGroup.health_for)
    def _health_for(fn: Any, self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        registered = self.targets.get(target["Id"])
        if registered is None:
            return fn(self, target, ec2_backend)
        port = target.get("Port") or registered.get("Port") or self.port
        report = reported(self.arn, target["Id"], int(port))
        if report is None:
            return elbv2_models.FakeHealthStatus(
                target["Id"],
                port,
                self.health_check_port,
                "initial",
                "Elb.RegistrationInProgress",
                "Target registration is in progress",
            )
        return elbv2_models.FakeHealthStatus(
            target["Id"],
            port,
            self.health_check_port,
            report.state,
            report.reason,
            report.description,
        )
