"""The plug-in's LocalStack service providers: ELBv2 (new) and EC2 (extended)."""

from __future__ import annotations

from typing import Any

from localstack.aws.api import CommonServiceException, RequestContext, handler
from localstack.aws.spec import load_service
from localstack.services.ec2.provider import Ec2Provider
from localstack.services.moto import MotoFallbackDispatcher, call_moto
from localstack.services.plugins import Service, aws_provider
from moto.ec2.models import ec2_backends

from jerp_localstack import ids
from jerp_localstack.patches import (
    LIVE_ENDPOINT_STATES,
    apply_ec2_patches,
    apply_elbv2_patches,
)


class Elbv2Provider:
    """ELBv2 from LocalStack's moto backend; every operation goes there (see patches)."""

    service = "elbv2"


def _moto_table() -> dict[str, Any]:
    def forward(context: RequestContext, request: Any) -> Any:
        return call_moto(context)

    return {name: forward for name in load_service("elbv2").operation_names}


@aws_provider(api="elbv2", name="default")
def elbv2() -> Service:
    from localstack.aws.skeleton import Skeleton

    apply_elbv2_patches()
    service = Service("elbv2", skeleton=Skeleton(load_service("elbv2"), _moto_table()))
    service._provider = Elbv2Provider()
    return service


def _backend(context: RequestContext) -> Any:
    return ec2_backends[context.account_id][context.region]


def _filters(request: dict[str, Any]) -> dict[str, set[str]]:
    return {f["Name"]: set(f.get("Values", [])) for f in request.get("Filters") or []}


def _principal_type(principal: str) -> str:
    if principal == "*":
        return "All"
    if ":root" in principal:
        return "Account"
    if ":role/" in principal:
        return "Role"
    if ":user/" in principal:
        return "User"
    return "Account"


class JerpEc2Provider(Ec2Provider):
    """LocalStack's EC2 provider plus the PrivateLink connection lifecycle."""

    def on_after_init(self) -> None:
        super().on_after_init()
        # After LocalStack's own moto patches, so ours wrap theirs (endpoint DNS names).
        apply_ec2_patches()

    def _service(self, context: RequestContext, service_id: str) -> Any:
        config = _backend(context).configurations.get(service_id)
        if config is None:
            raise CommonServiceException(
                "InvalidVpcEndpointServiceId.NotFound",
                f"The Vpc Endpoint Service Id '{service_id}' does not exist",
            )
        return config

    def _connections(self, context: RequestContext, service: Any) -> list[Any]:
        return [
            ep
            for ep in _backend(context).vpc_end_points.values()
            if ep.service_name == service.service_name
        ]

    @handler("DescribeVpcEndpointConnections", expand=False)
    def describe_vpc_endpoint_connections(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        backend = _backend(context)
        wanted = _filters(request)
        result = []
        for service in backend.configurations.values():
            if "service-id" in wanted and service.id not in wanted["service-id"]:
                continue
            for ep in self._connections(context, service):
                if ep.state == "deleted":
                    continue
                if "vpc-endpoint-id" in wanted and ep.id not in wanted["vpc-endpoint-id"]:
                    continue
                if "vpc-endpoint-state" in wanted and ep.state not in wanted["vpc-endpoint-state"]:
                    continue
                result.append(
                    {
                        "ServiceId": service.id,
                        "VpcEndpointId": ep.id,
                        "VpcEndpointOwner": backend.account_id,
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
        self, context: RequestContext, request: dict[str, Any], target: str, allowed: set[str]
    ) -> dict[str, Any]:
        service = self._service(context, request["ServiceId"])
        endpoints = {ep.id: ep for ep in self._connections(context, service)}
        unsuccessful = []
        for endpoint_id in request.get("VpcEndpointIds") or []:
            ep = endpoints.get(endpoint_id)
            if ep is None or ep.state == "deleted":
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
                ep.state = target
                continue
            unsuccessful.append({"Error": error, "ResourceId": endpoint_id})
        return {"Unsuccessful": unsuccessful}

    @handler("AcceptVpcEndpointConnections", expand=False)
    def accept_vpc_endpoint_connections(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        return self._transition(context, request, "available", {"pendingAcceptance"})

    @handler("RejectVpcEndpointConnections", expand=False)
    def reject_vpc_endpoint_connections(
        self, context: RequestContext, request: dict[str, Any]
    ) -> dict[str, Any]:
        return self._transition(context, request, "rejected", {"pendingAcceptance", "available"})

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
                    "PrincipalType": _principal_type(principal),
                    "Principal": principal,
                    "ServicePermissionId": perm,
                    "ServiceId": service.id,
                }
            )
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
                    "PrincipalType": _principal_type(principal),
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
                for ep in self._connections(context, service)
                if ep.state in LIVE_ENDPOINT_STATES
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
