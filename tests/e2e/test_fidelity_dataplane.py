"""AWS data-plane behaviours on the deployed local stack (the session deployment; no redeploy).

Cheap observations only (a few seconds in all): the variants themselves run on hand-made
topologies in tests/dataplane/test_fidelity_dataplane_root.py.
"""

from __future__ import annotations

import subprocess

import pytest

from harness.checks.checks import check_declined_behaviours, gather_facts
from harness.checks.probes import LocalProbe, hostexec_runner
from harness.dataplane.state import read_state
from harness.deploy import Deployment
from harness.settings import HarnessSettings

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def test_the_client_security_group_egress_rules_are_enforced(
    e2e_settings: HarnessSettings, deployment: Deployment
) -> None:
    """The client's group sends only TCP to the endpoint port and 443 in its VPC (Terraform
    drops AWS's default allow-all egress): anything else is dropped at the sender.

    UDP shows where the packet died: a datagram dropped by the sender's own output chain fails
    ``sendmsg`` with EPERM at once, while one that leaves is "sent" whatever happens at the
    ENI (a TCP SYN dropped on output is only retried, so it cannot tell the two apart)."""
    outputs = deployment.outputs
    eni = gather_facts(outputs, deployment.clients).endpoint()
    assert eni is not None and eni.interfaces
    probe = LocalProbe(hostexec_runner(e2e_settings))
    client = str(outputs["consumer_client_instance_id"])
    address = eni.interfaces[0].private_ip
    send = f"exec 3<>/dev/udp/{address}/5000 && echo probe >&3"
    result = probe.run(client, ["bash", "-c", send], 15)
    assert result.exit_code != 0, result
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
    # The node listeners (HAProxy) ...
    assert "timeout client 350s" in text and "timeout server 350s" in text
    assert "on-marked-down shutdown-sessions" in text
    # ... and the kernel forwarder's hops, the endpoint ENI's and the node's.
    state = read_state(e2e_settings.state_dir)
    assert state is not None
    links = state["forwarder"]["links"]
    assert links, state["forwarder"]
    for namespace in {ns for link in links for ns in (link["eni"], link["node"])}:
        table = subprocess.run(
            ["ip", "netns", "exec", namespace, "nft", "list", "table", "ip", "jerp_fwd"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "policy = { established : 350 }" in table, (namespace, table)
