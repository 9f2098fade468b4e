"""The plug-in's LocalStack service providers: ELBv2 (new) and EC2 (extended)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localstack.aws.api import CommonServiceException, RequestContext, handler
from localstack.aws.spec import load_service
from localstack.services.ec2.provider import Ec2Provider
from localstack.services.moto import MotoFallbackDispatcher, call_moto
from localstack.services.plugins import Service, aws_provider
from moto.ec2.models import ec2_backends
from moto.ec2.models.vpcs import VPCBackend
from moto.elbv2.models import elbv2_backends

from jerp_localstack import ids, privatelink, public_dns
from jerp_localstack.patches import apply_ec2_patches, apply_elbv2_patches

ENFORCE_PRIVATELINK = "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"

# --------------------------------------------------------------------------- ELBv2


class Elbv2Provider:
    """ELBv2 from LocalStack's moto backend; every operation goes there (see patches)."""

    service = "elbv2"


def _elbv2_backend(context: RequestContext) -> Any:
    return elbv2_backends[context.account_id][context.region]


def set_security_groups(context: RequestContext, request: dict[str, Any]) -> Any:
    """SetSecurityGroups with AWS's NLB rules and the PrivateLink enforcement setting.

    AWS reports ``EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic`` (default ``on``) only
    once a SetSecurityGroups call has set it; the data plane reads it from
    DescribeLoadBalancers.
    """
    lb = _elbv2_backend(context).load_balancers.get(request.get("LoadBalancerArn"))
    if lb is not None and lb.type == "network":
        if not lb.security_groups:
            raise CommonServiceException(
                "InvalidConfigurationRequest",
                "You cannot set security groups on a Network Load Balancer which was created "
                "without any security groups.",
            )
        if not request.get("SecurityGroups"):
            raise CommonServiceException(
                "InvalidConfigurationRequest",
                "You cannot remove all security groups from a Network Load Balancer which was "
                "created with security groups.",
            )
    response = call_moto(context)
    if lb is not None and lb.type == "network":
        enforce = request.get(ENFORCE_PRIVATELINK)
        if enforce:
            if enforce not in ("on", "off"):
                raise CommonServiceException(
                    "ValidationError", f"{ENFORCE_PRIVATELINK} must be 'on' or 'off'"
                )
            lb.enforce_security_group_inbound_rules_on_private_link_traffic = enforce
        current = getattr(lb, "enforce_security_group_inbound_rules_on_private_link_traffic", None)
        response[ENFORCE_PRIVATELINK] = current or "on"
    return response


def _moto_table() -> dict[str, Any]:
    def forward(context: RequestContext, request: Any) -> Any:
        return call_moto(context)

    table: dict[str, Callable[[RequestContext, Any], Any]] = {
        name: forward for name in load_service("elbv2").operation_names
    }
    table["SetSecurityGroups"] = set_security_groups
    return table


@aws_provider(api="elbv2", name="default")
def elbv2() -> Service:
    from localstack.aws.skeleton import Skeleton

    apply_elbv2_patches()
    service = Service("elbv2", skeleton=Skeleton(load_service("elbv2"), _moto_table()))
    service._provider = Elbv2Provider()
    return service


# --------------------------------------------------------------------------- EC2


def _backend(context: RequestContext) -> Any:
    return ec2_backends[context.account_id][context.region]


def _filters(request: dict[str, Any]) -> dict[str, set[str]]:
    return {f["Name"]: set(f.get("Values", [])) for f in request.get("Filters") or []}


def _unknown_service_id(service_id: str) -> CommonServiceException:
    return CommonServiceException(
        "InvalidVpcEndpointServiceId.NotFound",
        f"The VpcEndpointService Id '{service_id}' does not exist",
    )


def _unknown_service_name(name: str) -> CommonServiceException:
    return CommonServiceException(
        "InvalidServiceName", f"The Vpc Endpoint Service '{name}' does not exist"
    )


def _aws_service_names(context: RequestContext) -> set[str]:
    services = VPCBackend._collect_default_endpoint_services(context.account_id, context.region)
    # LocalStack answers execute-api as well (its DescribeVpcEndpointServices adds it).
    return {s["ServiceName"] for s in services} | {f"com.amazonaws.{context.region}.execute-api"}


def _matches(service: Any, wanted: dict[str, set[str]]) -> bool:
    tags = {t["key"]: t["value"] for t in service.get_tags()}
    for name, values in wanted.items():
        if name == "service-id":
            ok = service.id in values
        elif name == "service-name":
            ok = service.service_name in values
        elif name == "service-state":
            ok = service.service_state in values
        elif name == "service-type":
            ok = service.service_type in values
        elif name == "supported-ip-address-types":
            ok = "ipv4" in values
        elif name == "tag-key":
            ok = bool(values & set(tags))
        elif name.startswith("tag:"):
            ok = tags.get(name[4:]) in values
        else:
            raise CommonServiceException("InvalidParameterValue", f"The filter '{name}' is invalid")
        if not ok:
            return False
    return True


def _check_private_dns_vpc(context: RequestContext, request: dict[str, Any]) -> None:
    """Private DNS on an interface endpoint needs the VPC's DNS support and DNS hostnames."""
    if not request.get("PrivateDnsEnabled") or request.get("VpcEndpointType") != "Interface":
        return
    vpc = _backend(context).get_vpc(request.get("VpcId"))

    def on(value: Any) -> bool:
        return value is True or str(value).lower() == "true"

    if not (on(vpc.enable_dns_support) and on(vpc.enable_dns_hostnames)):
        raise CommonServiceException(
            "InvalidParameter",
            "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC "
            f"attributes set to true for {vpc.id}",
        )


class JerpEc2Provider(Ec2Provider):
    """LocalStack's EC2 provider plus the PrivateLink control plane, across accounts."""

    def on_after_init(self) -> None:
        super().on_after_init()
        # After LocalStack's own moto patches, so ours wrap theirs (endpoint DNS names).
        apply_ec2_patches()

    def _service(self, context: RequestContext, service_id: str) -> Any:
        config = _backend(context).configurations.get(service_id)
        if config is None:
            raise _unknown_service_id(service_id)
        return config

    # ----------------------------------------------------------------- consumer side

    @handler("CreateVpcEndpoint", expand=False)
    def create_vpc_endpoint(self, context: RequestContext, request: dict[str, Any]) -> Any:
        """Refuse what AWS refuses before anything is created (see docs/aws-behaviour.md)."""
        name = request.get("ServiceName") or ""
        service = privatelink.find_service(context.region, name)
        if service is None:
            if name not in _aws_service_names(context):
                raise _unknown_service_name(name)
            _check_private_dns_vpc(context, request)
            return call_moto(context)
        if not privatelink.may_use(service, context.account_id):
            # To a principal it does not allow, a service does not exist.
            raise _unknown_service_name(name)
        if (request.get("VpcEndpointType") or "Gateway") != "Interface":
            return call_moto(context)
        backend = _backend(context)
        subnet_ids = list(request.get("SubnetIds") or [])
        subnet_ids += [
            c["SubnetId"]
            for c in request.get("SubnetConfigurations") or []
            if c.get("SubnetId") and c["SubnetId"] not in subnet_ids
        ]
        seen_zones: set[str] = set()
        for subnet_id in subnet_ids:
            zone = backend.get_subnet(subnet_id).availability_zone
            if zone in seen_zones:
                raise CommonServiceException(
                    "DuplicateSubnetsInSameZone",
                    f"Found another VPC endpoint subnet in the availability zone of {subnet_id}. "
                    "VPC endpoint subnets should be in different availability zones supported "
                    "by the VPC endpoint service.",
                )
            seen_zones.add(zone)
            if zone not in service.availability_zones:
                raise CommonServiceException(
                    "InvalidParameter",
                    f"The VPC endpoint service {name} does not support the availability zone "
                    f"of the subnet: {subnet_id}.",
                )
        if not privatelink.is_full_access_policy(request.get("PolicyDocument")):
            raise CommonServiceException(
                "InvalidParameter",
                f"The VPC endpoint service {name} does not support VPC endpoint policies.",
            )
        if request.get("PrivateDnsEnabled") and not service.private_dns_name:
            raise CommonServiceException(
                "InvalidParameter",
                f"Private DNS can't be enabled because the service {name} does not provide a "
                "private DNS name.",
            )
        _check_private_dns_vpc(context, request)
        # SubnetConfigurations pick the addresses of the ENIs in SubnetIds (moto ignores them).
        chosen = {
            c["SubnetId"]: c["Ipv4"]
            for c in request.get("SubnetConfigurations") or []
            if c.get("SubnetId") and c.get("Ipv4")
        }
        with privatelink.chosen_addresses(chosen):
            return call_moto(context)

    @handler("DescribeVpcEndpoints", expand=False)
    def describe_vpc_endpoints(self, context: RequestContext, request: dict[str, Any]) -> Any:
        """The private DNS name joins ``DnsEntries`` while it is enabled and verified."""
        with privatelink.ENDPOINT_CREATION:  # no endpoint half-created
            result = super().describe_vpc_endpoints(context, request)
        endpoints = _backend(context).vpc_end_points
        for described in result.get("VpcEndpoints") or []:
            endpoint = endpoints.get(described.get("VpcEndpointId"))
            entry = privatelink.private_dns_entry(endpoint) if endpoint is not None else None
            if entry is not None:
                described["DnsEntries"] = [*(described.get("DnsEntries") or []), entry]
        return result

    # ----------------------------------------------------------------- service configuration

    @handler("DeleteVpcEndpoints", expand=False)
    def delete_vpc_endpoints(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        backend = _backend(context)
        wanted = list(request.get("VpcEndpointIds") or [])
        known = [e for e in wanted if e in backend.vpc_end_points]
        backend.delete_vpc_endpoints(vpce_ids=known)
        return {
            "Unsuccessful": [
                {
                    "Error": {
                        "Code": "InvalidVpcEndpoint.NotFound",
                        "Message": f"The VpcEndpoint Id '{e}' does not exist",
                    },
                    "ResourceId": e,
                }
                for e in wanted
                if e not in known
            ]
        }

    @handler("CreateVpcEndpointServiceConfiguration", expand=False)
    def create_vpc_endpoint_service_configuration(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        if request.get("NetworkLoadBalancerArns") and request.get("GatewayLoadBalancerArns"):
            raise CommonServiceException(
                "InvalidParameter",
                "An endpoint service takes either NetworkLoadBalancerArns or "
                "GatewayLoadBalancerArns, not both.",
            )
        response = call_moto(context)
        service = self._service(context, response["ServiceConfiguration"]["ServiceId"])
        result: dict[str, Any] = {
            "ServiceConfiguration": privatelink.service_configuration(service)
        }
        if request.get("ClientToken"):
            result["ClientToken"] = request["ClientToken"]
        return result

    @handler("DescribeVpcEndpointServiceConfigurations", expand=False)
    def describe_vpc_endpoint_service_configurations(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        backend = _backend(context)
        wanted_ids = list(request.get("ServiceIds") or [])
        for service_id in wanted_ids:
            if service_id not in backend.configurations:
                raise _unknown_service_id(service_id)
        services = (
            [backend.configurations[s] for s in wanted_ids]
            if wanted_ids
            else list(backend.configurations.values())
        )
        wanted = _filters(request)
        return {
            "ServiceConfigurations": [
                privatelink.service_configuration(s) for s in services if _matches(s, wanted)
            ]
        }

    @handler("ModifyVpcEndpointServiceConfiguration", expand=False)
    def modify_vpc_endpoint_service_configuration(
        self, context: RequestContext, request: dict[str, Any]
    ) -> Any:
        service = self._service(context, request["ServiceId"])
        response = call_moto(context)
        if request.get("RemovePrivateDnsName"):
            privatelink.set_private_dns_name(service, None)
        return response

    @handler("StartVpcEndpointServicePrivateDnsVerification", expand=False)
    def start_vpc_endpoint_service_private_dns_verification(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        """Look the TXT record up in the local public DNS (see :mod:`.public_dns`)."""
        service = self._service(context, request["ServiceId"])
        verification = privatelink.dns_verification(service)
        if not service.private_dns_name or verification is None:
            raise CommonServiceException(
                "InvalidParameter",
                f"The service {service.id} does not have a private DNS name to verify.",
            )
        domain = service.private_dns_name.removeprefix("*.")
        published = public_dns.txt_values(f"{verification['Name']}.{domain}")
        verification["State"] = (
            privatelink.VERIFIED if verification["Value"] in published else privatelink.FAILED
        )
        return {"ReturnValue": True}

    # ----------------------------------------------------------------- connections

    def _endpoint_connections(self, service: Any) -> list[Any]:
        return [ep for ep in privatelink.connections(service) if ep.state != "deleted"]

    @handler("DescribeVpcEndpointConnections", expand=False)
    def describe_vpc_endpoint_connections(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        wanted = _filters(request)
        result = []
        for service in list(_backend(context).configurations.values()):
            if "service-id" in wanted and service.id not in wanted["service-id"]:
                continue
            for ep in self._endpoint_connections(service):
                owner = ep.ec2_backend.account_id
                if "vpc-endpoint-owner" in wanted and owner not in wanted["vpc-endpoint-owner"]:
                    continue
                if "vpc-endpoint-state" in wanted and ep.state not in wanted["vpc-endpoint-state"]:
                    continue
                result.append(
                    {
                        "ServiceId": service.id,
                        "VpcEndpointId": ep.id,
                        "VpcEndpointOwner": owner,
                        "VpcEndpointState": ep.state,
                        "CreationTimestamp": ep.creation_timestamp,
                        "DnsEntries": [
                            {"DnsName": d["dns_name"], "HostedZoneId": d["hosted_zone_id"]}
                            for d in ep.dns_entries or []
                        ],
                        "NetworkLoadBalancerArns": list(service.network_load_balancer_arns),
                        "IpAddressType": "ipv4",
                        "VpcEndpointConnectionId": f"vpce-con-{ep.id[5:]}",
                    }
                )
        return {"VpcEndpointConnections": result}

    def _transition(
        self,
        context: RequestContext,
        request: dict[str, Any],
        allowed: set[str],
        move: Callable[[Any], None],
        target: str,
    ) -> dict[str, Any]:
        service = self._service(context, request["ServiceId"])
        endpoints = {ep.id: ep for ep in self._endpoint_connections(service)}
        unsuccessful = []
        for endpoint_id in request.get("VpcEndpointIds") or []:
            ep = endpoints.get(endpoint_id)
            if ep is None:
                error = {
                    "Code": "InvalidVpcEndpointId.NotFound",
                    "Message": f"The Vpc Endpoint Id '{endpoint_id}' does not exist",
                }
            elif ep.state not in allowed:
                error = {
                    "Code": "InvalidState",
                    "Message": f"Endpoint {endpoint_id} is in state {ep.state}; "
                    f"only {' or '.join(sorted(allowed))} endpoints can become {target}",
                }
            else:
                move(ep)
                continue
            unsuccessful.append({"Error": error, "ResourceId": endpoint_id})
        return {"Unsuccessful": unsuccessful}

    @handler("AcceptVpcEndpointConnections", expand=False)
    def accept_vpc_endpoint_connections(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        # pendingAcceptance -> pending -> available, as on AWS.
        return self._transition(
            context, request, {"pendingAcceptance"}, privatelink.settle_after, "available"
        )

    @handler("RejectVpcEndpointConnections", expand=False)
    def reject_vpc_endpoint_connections(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        def reject(ep: Any) -> None:
            ep.state = "rejected"

        return self._transition(
            context, request, {"pendingAcceptance", "pending", "available"}, reject, "rejected"
        )

    # ----------------------------------------------------------------- permissions

    @handler("ModifyVpcEndpointServicePermissions", expand=False)
    def modify_vpc_endpoint_service_permissions(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        service = self._service(context, request["ServiceId"])
        added = []
        for principal in request.get("AddAllowedPrincipals") or []:
            if principal not in service.principals:
                service.principals.append(principal)
            perm = service.permission_ids.setdefault(principal, ids.permission_id())
            added.append(
                {
                    "PrincipalType": privatelink.principal_type(principal),
                    "Principal": principal,
                    "ServicePermissionId": perm,
                    "ServiceId": service.id,
                }
            )
        # Removing a principal leaves its existing connections as they are (AWS).
        for principal in request.get("RemoveAllowedPrincipals") or []:
            if principal in service.principals:
                service.principals.remove(principal)
            service.permission_ids.pop(principal, None)
        response: dict[str, Any] = {"ReturnValue": True}
        if added:
            response["AddedPrincipals"] = added
        return response

    @handler("DescribeVpcEndpointServicePermissions", expand=False)
    def describe_vpc_endpoint_service_permissions(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        service = self._service(context, request["ServiceId"])
        wanted = _filters(request)
        allowed = []
        for principal in service.principals:
            if "principal" in wanted and principal not in wanted["principal"]:
                continue
            allowed.append(
                {
                    "PrincipalType": privatelink.principal_type(principal),
                    "Principal": principal,
                    "ServicePermissionId": service.permission_ids.setdefault(
                        principal, ids.permission_id()
                    ),
                    "ServiceId": service.id,
                }
            )
        return {"AllowedPrincipals": allowed}

    @handler("DeleteVpcEndpointServiceConfigurations", expand=False)
    def delete_vpc_endpoint_service_configurations(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        backend = _backend(context)
        unsuccessful = []
        for service_id in request.get("ServiceIds") or []:
            service = backend.configurations.get(service_id)
            if service is None:
                unsuccessful.append(
                    {
                        "Error": {
                            "Code": "InvalidVpcEndpointService.NotFound",
                            "Message": f"The VpcEndpointService Id '{service_id}' does not exist",
                        },
                        "ResourceId": service_id,
                    }
                )
                continue
            live = [
                ep.id
                for ep in privatelink.connections(service)
                if ep.state in privatelink.LIVE_ENDPOINT_STATES
            ]
            if live:
                unsuccessful.append(
                    {
                        "Error": {
                            "Code": "ExistingVpcEndpointConnections",
                            "Message": f"Service has existing active VPC Endpoint connections: "
                            f"{', '.join(live)}",
                        },
                        "ResourceId": service_id,
                    }
                )
                continue
            backend.configurations.pop(service_id, None)
        return {"Unsuccessful": unsuccessful}


@aws_provider(api="ec2", name="jerp")
def ec2_jerp() -> Service:
    return Service.for_provider(JerpEc2Provider(), dispatch_table_factory=MotoFallbackDispatcher)


__all__ = ["ec2_jerp", "elbv2"]
