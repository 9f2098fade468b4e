"""The misconfiguration corpus: what AWS does with a wrong (or a surprising but valid) setup,
one case per row, and the outcome the local cloud must give for it.

Three kinds of change, each run by its own parametrized test:

- ``plan``: a Terraform variable set for the kit that AWS would refuse at apply; the kit's own
  validation must stop ``terraform plan`` with a message naming the fix, before AWS is asked
  (``tests/fidelity/test_plan_corpus.py``), or plan cleanly where AWS allows it.
- ``control``: a control-plane call against the session LocalStack (boto3, accounts by access
  key) that must fail with AWS's error code, or succeed where AWS allows it
  (``tests/fidelity/test_control_plane_corpus.py``; the calls live in
  ``tests/fidelity/control.py`` under the case's name).
- ``live``: a change to the deployed e2e stack after which a named live check must fail with a
  hint naming the cause, and pass again once the change is undone
  (``tests/e2e/test_fidelity_corpus_live.py``; the changes live in ``tests/fidelity/live.py``).
- ``deploy``: a Terraform variable set applied to a local stack of its own (LocalStack and the
  data plane): a named live check must fail with a hint naming the cause, or every check pass
  where AWS allows it (``tests/e2e/test_fidelity_corpus_variables.py``; what a case adds to
  the variables, such as stopping an instance, lives in ``tests/fidelity/deployed.py``).

Every case names a row of ``docs/aws-behaviour.md`` (``row``) and the AWS page behind it
(``doc``, in that catalogue's abbreviations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["plan", "control", "live", "deploy"]


@dataclass(frozen=True)
class Outcome:
    """What AWS does: allow it, or fail with ``code`` (and a message containing ``message``);
    for live cases, the check named ``check`` fails with a hint containing ``hint``."""

    allowed: bool
    code: str = ""
    message: str = ""
    check: str = ""
    hint: str = ""


def allowed() -> Outcome:
    return Outcome(allowed=True)


def api_error(code: str, message: str = "") -> Outcome:
    return Outcome(allowed=False, code=code, message=message)


def plan_error(message: str, aws_code: str) -> Outcome:
    """The kit refuses the values at plan; ``aws_code`` is what AWS would answer at apply
    (empty where AWS documents no code: the kit stops a setup that would fail later)."""
    return Outcome(allowed=False, code=aws_code, message=message)


def check_fails(check: str, hint: str) -> Outcome:
    return Outcome(allowed=False, check=check, hint=hint)


@dataclass(frozen=True)
class Case:
    name: str  # unique; pytest id
    row: str  # docs/aws-behaviour.md id
    kind: Kind
    change: str  # what is done, in words
    outcome: Outcome
    doc: str  # AWS reference
    variables: dict[str, object] = field(default_factory=dict)  # plan/deploy cases: the var set


# Plan cases start from this variable set (two AZs on both sides, as the seed).
BASE_VARIABLES: dict[str, object] = {
    "ami_id": "ami-0123456789abcdef0",
    "wheelhouse_dir": "../../tests/wheels",
    "provider_subnets": [
        {"availability_zone": "ap-northeast-2a", "cidr_block": "10.10.1.0/24"},
        {"availability_zone": "ap-northeast-2c", "cidr_block": "10.10.3.0/24"},
    ],
    "consumer_subnets": [
        {"availability_zone": "ap-northeast-2a", "cidr_block": "10.20.1.0/24"},
        {"availability_zone": "ap-northeast-2c", "cidr_block": "10.20.3.0/24"},
    ],
}

ONE_AZ_PER_ENDPOINT = "at most one per availability zone"

CASES: tuple[Case, ...] = (
    # --- Terraform variable sets: the kit stops what AWS would refuse, lets through the rest
    Case(
        "plan-endpoint-two-subnets-in-one-az",
        "vpce-duplicate-az-subnets",
        "plan",
        "consumer_subnets lists two subnets in ap-northeast-2a",
        plan_error(ONE_AZ_PER_ENDPOINT, "DuplicateSubnetsInSameZone"),
        "PL/create-interface-endpoint.html (Considerations)",
        variables={
            "consumer_subnets": [
                {"availability_zone": "ap-northeast-2a", "cidr_block": "10.20.1.0/24"},
                {"availability_zone": "ap-northeast-2a", "cidr_block": "10.20.3.0/24"},
            ]
        },
    ),
    Case(
        "plan-nlb-two-subnets-in-one-az",
        "nlb-one-subnet-per-az",
        "plan",
        "provider_subnets (the NLB's subnets) lists two subnets in ap-northeast-2a",
        plan_error(ONE_AZ_PER_ENDPOINT, "InvalidConfigurationRequest"),
        "NLB/network-load-balancers.html#availability-zones",
        variables={
            "provider_subnets": [
                {"availability_zone": "ap-northeast-2a", "cidr_block": "10.10.1.0/24"},
                {"availability_zone": "ap-northeast-2a", "cidr_block": "10.10.3.0/24"},
            ]
        },
    ),
    Case(
        "plan-principal-bare-account-id",
        "svc-principals-format",
        "plan",
        'allowed_principals = ["222222222222"] (an account id, not an ARN)',
        plan_error("must be IAM ARNs", ""),
        "EC2API/API_ModifyVpcEndpointServicePermissions.html",
        variables={"allowed_principals": ["222222222222"]},
    ),
    Case(
        "plan-principal-wildcard-allowed",
        "svc-principals-format",
        "plan",
        'allowed_principals = ["*"] (everyone may connect)',
        allowed(),
        "EC2API/API_ModifyVpcEndpointServicePermissions.html; EC2API/API_AllowedPrincipal.html",
        variables={"allowed_principals": ["*"]},
    ),
    Case(
        "plan-accepter-without-acceptance",
        "vpce-states",
        "plan",
        "acceptance_required = false with accept_connection = true",
        plan_error("accept_connection = true needs acceptance_required = true", ""),
        "PL/accept-reject-endpoint-requests.html; EC2API/API_VpcEndpoint.html (State)",
        variables={"acceptance_required": False, "accept_connection": True},
    ),
    Case(
        "plan-acceptance-not-required-allowed",
        "vpce-states",
        "plan",
        "acceptance_required = false, accept_connection = false (available at once)",
        allowed(),
        "EC2API/API_CreateVpcEndpointServiceConfiguration.html (AcceptanceRequired)",
        variables={"acceptance_required": False, "accept_connection": False},
    ),
    Case(
        "plan-cross-zone-on-allowed",
        "nlb-cross-zone-default-off",
        "plan",
        "enable_cross_zone_load_balancing = true",
        allowed(),
        "NLB/edit-load-balancer-attributes.html#load-balancer-cross-zone",
        variables={"enable_cross_zone_load_balancing": True},
    ),
    Case(
        "plan-endpoint-in-a-subset-of-the-service-azs-allowed",
        "vpce-az-not-supported",
        "plan",
        "the service in ap-northeast-2a and 2c, the endpoint only in 2a",
        allowed(),
        "PL/create-interface-endpoint.html (Considerations)",
        variables={
            "consumer_subnets": [
                {"availability_zone": "ap-northeast-2a", "cidr_block": "10.20.1.0/24"}
            ]
        },
    ),
    # The target group's and the NLB's settings: AWS's limits at plan, what AWS allows planned.
    Case(
        "plan-health-check-interval-15-allowed",
        "tg-hc-defaults-tcp",
        "plan",
        "health_check.interval = 15 (NLBs took only 10 or 30 until November 2022; now 5-300)",
        allowed(),
        "ELBAPI/API_CreateTargetGroup.html (HealthCheckIntervalSeconds)",
        variables={"health_check": {"interval": 15}},
    ),
    Case(
        "plan-health-check-interval-below-5",
        "tg-hc-defaults-tcp",
        "plan",
        "health_check.interval = 4",
        plan_error("from 5 to 300", "ValidationError"),
        "ELBAPI/API_CreateTargetGroup.html (HealthCheckIntervalSeconds: 5-300)",
        variables={"health_check": {"interval": 4}},
    ),
    Case(
        "plan-health-check-interval-under-the-default-timeout",
        "tg-hc-defaults-http",
        "plan",
        "health_check = { interval = 5, timeout = 6 } (6 s is AWS's HTTP default timeout)",
        plan_error("at most health_check.interval", "ValidationError"),
        "ELBAPI/API_CreateTargetGroup.html (HealthCheckTimeoutSeconds); "
        "found by the deploy corpus: LocalStack refused it as AWS does",
        variables={"health_check": {"interval": 5, "timeout": 6}},
    ),
    Case(
        "plan-health-check-interval-5-with-a-shorter-timeout-allowed",
        "tg-hc-defaults-http",
        "plan",
        "health_check = { interval = 5, timeout = 4 }",
        allowed(),
        "ELBAPI/API_CreateTargetGroup.html (HealthCheckIntervalSeconds, HealthCheckTimeoutSeconds)",
        variables={"health_check": {"interval": 5, "timeout": 4}},
    ),
    Case(
        "plan-health-check-threshold-above-10",
        "th-healthy-threshold",
        "plan",
        "health_check.healthy_threshold = 11",
        plan_error("from 2 to 10", "ValidationError"),
        "ELBAPI/API_CreateTargetGroup.html (HealthyThresholdCount: 2-10)",
        variables={"health_check": {"healthy_threshold": 11}},
    ),
    Case(
        "plan-deregistration-delay-above-3600",
        "th-draining",
        "plan",
        "deregistration_delay = 3601",
        plan_error("from 0 to 3600", ""),
        "NLB/edit-target-group-attributes.html#deregistration-delay (0-3600 seconds)",
        variables={"deregistration_delay": 3601},
    ),
    Case(
        "plan-deregistration-delay-zero-allowed",
        "th-draining",
        "plan",
        "deregistration_delay = 0 (targets leave at once)",
        allowed(),
        "NLB/edit-target-group-attributes.html#deregistration-delay",
        variables={"deregistration_delay": 0},
    ),
    Case(
        "plan-target-group-cross-zone-not-an-aws-value",
        "tg-cross-zone-attr",
        "plan",
        'target_group_cross_zone = "enabled" (AWS takes "true", "false" and '
        '"use_load_balancer_configuration")',
        plan_error('must be "true", "false" or "use_load_balancer_configuration"', ""),
        "NLB/target-group-cross-zone.html",
        variables={"target_group_cross_zone": "enabled"},
    ),
    Case(
        "plan-target-group-cross-zone-false-under-an-nlb-with-it-on-allowed",
        "tg-cross-zone-attr",
        "plan",
        'enable_cross_zone_load_balancing = true, target_group_cross_zone = "false"',
        allowed(),
        "NLB/target-group-cross-zone.html (the target group's setting wins)",
        variables={"enable_cross_zone_load_balancing": True, "target_group_cross_zone": "false"},
    ),
    Case(
        "plan-enforcement-off-on-an-nlb-without-security-groups",
        "nlb-sg-only-at-create",
        "plan",
        'enforce_sg_inbound_rules_on_private_link_traffic = "off" without NLB security groups',
        plan_error("needs NLB security groups", "InvalidConfigurationRequest"),
        "NLB/load-balancer-security-groups.html#security-group-considerations; "
        "ELBAPI/API_SetSecurityGroups.html",
        variables={"enforce_sg_inbound_rules_on_private_link_traffic": "off"},
    ),
    Case(
        "plan-enforcement-not-on-or-off",
        "nlb-enforce-privatelink-attr",
        "plan",
        'enforce_sg_inbound_rules_on_private_link_traffic = "false"',
        plan_error('must be "on" or "off"', "ValidationError"),
        "ELBAPI/API_SetSecurityGroups.html (valid values on | off)",
        variables={
            "nlb_security_group_ingress_cidrs": ["10.20.0.0/16"],
            "enforce_sg_inbound_rules_on_private_link_traffic": "false",
        },
    ),
    Case(
        "plan-enforcement-off-with-nlb-security-groups-allowed",
        "nlb-sg-privatelink-enforce-off",
        "plan",
        'an NLB security group admitting only the provider VPC, enforcement "off"',
        allowed(),
        "NLB/load-balancer-security-groups.html#security-group-considerations",
        variables={
            "nlb_security_group_ingress_cidrs": ["10.10.0.0/16"],
            "enforce_sg_inbound_rules_on_private_link_traffic": "off",
        },
    ),
    Case(
        "plan-jerp-reading-a-proxy-header-never-sent",
        "tg-proxy-protocol-v2",
        "plan",
        "jerp_accepts_proxy_protocol_v2 = true with proxy_protocol_v2 = false",
        plan_error("needs proxy_protocol_v2 = true", ""),
        "NLB/edit-target-group-attributes.html#proxy-protocol",
        variables={"jerp_accepts_proxy_protocol_v2": True},
    ),
    Case(
        "plan-proxy-protocol-v2-allowed",
        "tg-proxy-protocol-v2",
        "plan",
        "proxy_protocol_v2 = true (JERP started to read the header)",
        allowed(),
        "NLB/edit-target-group-attributes.html#proxy-protocol",
        variables={"proxy_protocol_v2": True},
    ),
    # --- control-plane calls: AWS's error codes, and what AWS allows -----------------------
    Case(
        "endpoint-to-an-unknown-service-name",
        "vpce-unknown-service",
        "control",
        "CreateVpcEndpoint to com.amazonaws.vpce.<region>.vpce-svc-<17 hex> that does not exist",
        api_error("InvalidServiceName", "does not exist"),
        "EC2API/API_CreateVpcEndpoint.html#API_CreateVpcEndpoint_Errors",
    ),
    Case(
        "endpoint-with-two-subnets-in-one-az",
        "vpce-duplicate-az-subnets",
        "control",
        "CreateVpcEndpoint with two consumer subnets in the same AZ",
        api_error("DuplicateSubnetsInSameZone", "Found another VPC endpoint subnet"),
        "PL/create-interface-endpoint.html (Considerations)",
    ),
    Case(
        "endpoint-in-an-az-the-service-lacks",
        "vpce-az-not-supported",
        "control",
        "CreateVpcEndpoint with a subnet in ap-northeast-2b; the service is in 2a and 2c",
        api_error("InvalidParameter", "does not support the availability zone"),
        "PL/create-interface-endpoint.html (Considerations)",
    ),
    Case(
        "endpoint-in-a-subset-of-the-service-azs",
        "vpce-az-not-supported",
        "control",
        "CreateVpcEndpoint with one subnet in 2a only (the service is in 2a and 2c)",
        allowed(),
        "PL/create-interface-endpoint.html (Considerations)",
    ),
    Case(
        "endpoint-private-dns-on-a-service-without-a-name",
        "vpce-private-dns-no-name",
        "control",
        "CreateVpcEndpoint with PrivateDnsEnabled to a service without a private DNS name",
        api_error("InvalidParameter", "does not provide a private DNS name"),
        "EC2API/API_CreateVpcEndpoint.html (PrivateDnsEnabled); PL/manage-dns-names.html",
    ),
    Case(
        "endpoint-from-an-account-not-allowed",
        "svc-principals-visibility",
        "control",
        "account C (not an allowed principal) creates an endpoint to A's service",
        api_error("InvalidServiceName", "does not exist"),
        "PL/configure-endpoint-service.html (Manage permissions)",
    ),
    Case(
        "endpoint-from-any-account-with-wildcard-principal",
        "svc-principals-format",
        "control",
        'A adds the principal "*"; account C creates an endpoint (owner C)',
        allowed(),
        "EC2API/API_ModifyVpcEndpointServicePermissions.html",
    ),
    Case(
        "cross-account-endpoint-accepted-by-the-service-owner",
        "acct-cross-account-flow",
        "control",
        "account B creates the endpoint (pendingAcceptance, owner B); A accepts; B sees available",
        allowed(),
        "PL/configure-endpoint-service.html; PL/accept-reject-endpoint-requests.html",
    ),
    Case(
        "endpoint-available-at-once-without-acceptance",
        "vpce-states",
        "control",
        "the service stops requiring acceptance; B's new endpoint becomes available unaccepted",
        allowed(),
        "EC2API/API_VpcEndpoint.html (State); PL/accept-reject-endpoint-requests.html",
    ),
    Case(
        "reject-an-available-connection",
        "vpce-reject-available",
        "control",
        "A rejects B's accepted (available) connection; it becomes rejected",
        allowed(),
        "PL/accept-reject-endpoint-requests.html",
    ),
    Case(
        "removing-a-principal-keeps-its-connection",
        "svc-principal-removal-keeps-connections",
        "control",
        "A removes B's principal after accepting B's endpoint; the endpoint stays available",
        allowed(),
        "PL/configure-endpoint-service.html (Manage permissions)",
    ),
    Case(
        "delete-a-service-with-a-pending-endpoint",
        "svc-delete-with-endpoints",
        "control",
        "DeleteVpcEndpointServiceConfigurations while B's endpoint is pendingAcceptance",
        api_error("ExistingVpcEndpointConnections"),
        "PL/delete-endpoint-service.html; EC2API/API_DeleteVpcEndpointServiceConfigurations.html",
    ),
    Case(
        "describe-an-unknown-service-id",
        "svc-describe-unknown-id",
        "control",
        "DescribeVpcEndpointServiceConfigurations with a vpce-svc id that does not exist",
        api_error("InvalidVpcEndpointServiceId.NotFound", "does not exist"),
        "EC2API/API_DescribeVpcEndpointServiceConfigurations.html",
    ),
    Case(
        "delete-the-nlb-behind-a-service",
        "nlb-delete-backing-service",
        "control",
        "DeleteLoadBalancer on the NLB an endpoint service uses",
        api_error("ResourceInUse", "currently associated with another service"),
        "ELBAPI/API_DeleteLoadBalancer.html#API_DeleteLoadBalancer_Errors",
    ),
    Case(
        "nlb-with-two-subnets-in-one-az",
        "nlb-one-subnet-per-az",
        "control",
        "CreateLoadBalancer (network) with two subnets in the same AZ",
        api_error("InvalidConfigurationRequest", "multiple subnets in the same Availability Zone"),
        "NLB/network-load-balancers.html#availability-zones",
    ),
    Case(
        "delete-an-nlb-with-deletion-protection",
        "nlb-deletion-protection",
        "control",
        "deletion_protection.enabled = true, then DeleteLoadBalancer",
        api_error("OperationNotPermitted", "deletion protection is enabled"),
        "NLB/edit-load-balancer-attributes.html#deletion-protection",
    ),
    Case(
        "security-groups-on-an-nlb-created-without",
        "nlb-sg-only-at-create",
        "control",
        "SetSecurityGroups on an NLB created without security groups",
        api_error("InvalidConfigurationRequest", "created without any security groups"),
        "NLB/load-balancer-security-groups.html#security-group-considerations",
    ),
    Case(
        "nlb-cross-zone-on",
        "nlb-cross-zone-default-off",
        "control",
        "a new NLB reads cross-zone false; setting it true is accepted and reads back true",
        allowed(),
        "NLB/edit-load-balancer-attributes.html#load-balancer-cross-zone",
    ),
    Case(
        "delete-a-target-group-a-listener-uses",
        "tg-delete-in-use",
        "control",
        "DeleteTargetGroup while the listener forwards to it",
        api_error("ResourceInUse", "currently in use by a listener"),
        "ELBAPI/API_DeleteTargetGroup.html#API_DeleteTargetGroup_Errors",
    ),
    # --- live checks on the deployed stack: the failing check's hint names the cause --------
    Case(
        "endpoint-security-group-without-ingress",
        "sg-endpoint-inbound",
        "live",
        "revoke the endpoint security group's ingress rule for the listener port",
        check_fails(
            "greeting: GET /user/yundream over vpce regional name",
            "the endpoint's security groups",
        ),
        "PL/create-interface-endpoint.html (Considerations)",
    ),
    Case(
        "target-security-group-without-ingress",
        "sg-target-allows-nlb",
        "live",
        "revoke every ingress rule of the JERP instances' security group (health checks fail)",
        check_fails(
            "targets: all registered targets healthy", "security group admits the NLB subnets"
        ),
        "NLB/target-group-register-targets.html#target-security-groups",
    ),
)


# Deploy cases start from the corpus stack's base (tests/fidelity/deployed.py: an NLB security
# group admitting the consumer VPC, quick health checks) and set these variables on top.
THE_CONSUMER_NOT_ADMITTED = {"nlb_security_group_ingress_cidrs": ["10.10.0.0/16"]}

DEPLOY_CASES: tuple[Case, ...] = (
    Case(
        "deploy-nlb-security-group-drops-a-consumer-it-does-not-admit",
        "nlb-sg-privatelink-enforce-on",
        "deploy",
        "the NLB security group admits only the provider VPC; enforcement on (AWS's default)",
        check_fails(
            "greeting: GET /user/yundream over vpce regional name",
            "enforce_security_group_inbound_rules_on_private_link_traffic",
        ),
        "NLB/load-balancer-security-groups.html#security-group-considerations",
        variables={
            **THE_CONSUMER_NOT_ADMITTED,
            "enforce_sg_inbound_rules_on_private_link_traffic": "on",
        },
    ),
    Case(
        "deploy-enforcement-off-lets-privatelink-traffic-pass-the-nlb-security-group",
        "nlb-sg-privatelink-enforce-off",
        "deploy",
        "the NLB security group admits only the provider VPC; enforcement off",
        allowed(),
        "NLB/load-balancer-security-groups.html#security-group-considerations",
        variables={
            **THE_CONSUMER_NOT_ADMITTED,
            "enforce_sg_inbound_rules_on_private_link_traffic": "off",
        },
    ),
    Case(
        "deploy-proxy-protocol-v2-read-by-jerp-names-the-endpoint",
        "tg-proxy-protocol-vpce-tlv",
        "deploy",
        "proxy_protocol_v2 = true (JERP started with JERP_PROXY_PROTOCOL=v2); JERP answers "
        "X-Vpce-Id with the endpoint id",
        allowed(),
        "NLB/edit-target-group-attributes.html#proxy-protocol (VPC endpoint ID)",
        variables={"proxy_protocol_v2": True},
    ),
    Case(
        "deploy-proxy-protocol-v2-to-an-application-not-reading-it",
        "tg-proxy-protocol-health-checks",
        "deploy",
        "proxy_protocol_v2 = true, jerp_accepts_proxy_protocol_v2 = false: the header reaches "
        "JERP on health checks too",
        check_fails("targets: all registered targets healthy", "proxy_protocol_v2"),
        "NLB/edit-target-group-attributes.html#proxy-protocol (Health check connections)",
        variables={"proxy_protocol_v2": True, "jerp_accepts_proxy_protocol_v2": False},
    ),
    Case(
        "deploy-target-group-cross-zone-off-an-az-without-a-healthy-target-serves-nothing",
        "tg-cross-zone-attr",
        "deploy",
        'NLB cross-zone on, target_group_cross_zone = "false", the instance in 2c stopped: '
        "the zonal name of 2c reaches no target",
        check_fails(
            "greeting: GET /user/yundream over vpce zonal ap-northeast-2c name", "cross-zone"
        ),
        "NLB/target-group-cross-zone.html; "
        "NLB/network-load-balancers.html#cross-zone-load-balancing",
        variables={"enable_cross_zone_load_balancing": True, "target_group_cross_zone": "false"},
    ),
    Case(
        "deploy-target-group-cross-zone-on-serves-every-az-from-one",
        "tg-cross-zone-attr",
        "deploy",
        'NLB cross-zone off, target_group_cross_zone = "true", the instance in 2c stopped: '
        "the zonal name of 2c is served from 2a",
        allowed(),
        "NLB/target-group-cross-zone.html (the target group's setting wins)",
        variables={"target_group_cross_zone": "true"},
    ),
)

CASES = CASES + DEPLOY_CASES


def by_kind(kind: Kind) -> list[Case]:
    return [case for case in CASES if case.kind == kind]
