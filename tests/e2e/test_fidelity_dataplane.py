"""AWS data-plane behaviours on the deployed local stack (the session deployment; no redeploy).

Cheap observations only (a few seconds in all): the variants themselves run on hand-made
topologies in tests/dataplane/test_fidelity_dataplane_root.py.
"""

from __future__ import annotations

import pytest

from harness.checks.checks import check_declined_behaviours, gather_facts
from harness.checks.probes import LocalProbe, hostexec_runner
from harness.deploy import Deployment
from harness.settings import HarnessSettings

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def test_the_client_security_group_egress_rules_are_enforced(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    """The client's group sends only to the endpoint port and 443 in its VPC (Terraform drops
    AWS's default allow-all egress): a connect elsewhere fails at the sender, at once."""
    outputs = deployment.outputs
    eni = gather_facts(outputs, deployment.clients).endpoint()
    assert eni is not None and eni.interfaces
    probe = LocalProbe(hostexec_runner(e2e_settings))
    client = str(outputs["consumer_client_instance_id"])
    address = eni.interfaces[0].private_ip
    result = probe.run(client, ["bash", "-c", f"exec 3<>/dev/tcp/{address}/22"], 15)
    # Dropped by the client's own output chain: EPERM, not a timeout at the ENI's ingress.
    assert result.exit_code != 0
    assert "Operation not permitted" in result.stderr, result


def test_the_deployed_stack_relies_on_no_declined_behaviour(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    facts = gather_facts(deployment.outputs, deployment.clients)
    assert check_declined_behaviours(LocalProbe(hostexec_runner(e2e_settings)), facts) == []
    # The attributes these decisions read come from the real control plane.
    lb, tg = facts.load_balancer(), facts.target_group()
    assert lb is not None and lb.enforce_sg_on_privatelink  # AWS's default: on
    assert tg is not None
    assert dict(tg.attributes).get("proxy_protocol_v2.enabled", "false") == "false"


def test_every_hop_of_the_running_data_plane_idles_out_after_350_s(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    configs = list(e2e_settings.state_dir.glob("run-*/haproxy.cfg"))
    assert len(configs) == 1, configs
    text = configs[0].read_text()
    assert "timeout client 350s" in text and "timeout server 350s" in text
    assert "on-marked-down shutdown-sessions" in text
