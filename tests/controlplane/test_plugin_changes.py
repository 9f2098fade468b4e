"""The plug-in's change notice, ``GET /_jerp/changes``, against the session LocalStack: a
generation counter that grows with every EC2/ELBv2 change and is long-polled."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from harness.controlplane.localstack import LocalStackProcess

pytestmark = pytest.mark.integration


def _changes(localstack: LocalStackProcess, query: str = "") -> int:
    url = f"{localstack.url}/_jerp/changes{query}"
    with urllib.request.urlopen(url, timeout=40) as response:
        generation = json.loads(response.read())["generation"]
    assert isinstance(generation, int)
    return generation


def _vpc(ec2: Any) -> str:
    return str(ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"])


def test_a_long_poll_returns_the_new_generation_when_ec2_changes(
    localstack: LocalStackProcess, ec2: Any
) -> None:
    before = _changes(localstack)
    answer: list[int] = []
    # A long poll far longer than the test: it can only come back early through the change.
    poll = threading.Thread(
        target=lambda: answer.append(_changes(localstack, f"?after={before}&timeout=30"))
    )
    poll.start()
    vpc = _vpc(ec2)
    poll.join(timeout=40)
    ec2.delete_vpc(VpcId=vpc)
    assert answer and answer[0] > before


def test_a_long_poll_without_a_change_answers_the_same_generation_at_its_timeout(
    localstack: LocalStackProcess,
) -> None:
    current = _changes(localstack)
    assert _changes(localstack, f"?after={current}&timeout=1") == current


def test_reads_and_failed_calls_leave_the_generation_alone(
    localstack: LocalStackProcess, ec2: Any, elbv2: Any
) -> None:
    before = _changes(localstack)
    ec2.describe_vpcs()
    ec2.describe_security_groups()
    elbv2.describe_load_balancers()
    with pytest.raises(Exception, match="InvalidGroup"):
        ec2.delete_security_group(GroupId="sg-0123456789abcdef0")
    assert _changes(localstack) == before


def test_the_generation_only_grows_one_step_per_change(
    localstack: LocalStackProcess, ec2: Any
) -> None:
    seen = [_changes(localstack)]
    vpc = _vpc(ec2)
    seen.append(_changes(localstack))
    group = ec2.create_security_group(GroupName="changes", Description="changes", VpcId=vpc)
    seen.append(_changes(localstack))
    rule = [
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=rule)
    seen.append(_changes(localstack))
    ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=rule)
    seen.append(_changes(localstack))
    ec2.delete_security_group(GroupId=group["GroupId"])
    ec2.delete_vpc(VpcId=vpc)
    seen.append(_changes(localstack))
    assert seen == [seen[0] + n for n in (0, 1, 2, 3, 4, 6)]


def test_an_after_that_is_not_a_number_is_a_named_error(localstack: LocalStackProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _changes(localstack, "?after=soon")
    assert info.value.code == 400
    assert "after=<integer>" in json.loads(info.value.read())["error"]


def _answer(localstack: LocalStackProcess, query: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{localstack.url}/_jerp/changes{query}", timeout=40) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def test_a_long_poll_names_the_changes_after_the_generation_asked_about(
    localstack: LocalStackProcess, ec2: Any
) -> None:
    before = _changes(localstack)
    vpc = _vpc(ec2)
    group = ec2.create_security_group(GroupName="named", Description="named", VpcId=vpc)
    rule = [
        {"IpProtocol": "tcp", "FromPort": 81, "ToPort": 81, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    ]
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=rule)
    ec2.describe_security_groups()  # a read: not a change
    try:
        answer = _answer(localstack, f"?after={before}&timeout=1")
        assert answer["generation"] == before + 3
        assert answer["changes"] == [
            "AuthorizeSecurityGroupIngress",
            "CreateSecurityGroup",
            "CreateVpc",
        ]
        # Only what came after the generation asked about.
        since = _answer(localstack, f"?after={before + 2}&timeout=1")
        assert since["changes"] == ["AuthorizeSecurityGroupIngress"]
        # Nothing new: an empty list, not "unknown".
        assert _answer(localstack, f"?after={before + 3}&timeout=0")["changes"] == []
    finally:
        ec2.delete_security_group(GroupId=group["GroupId"])
        ec2.delete_vpc(VpcId=vpc)


def test_a_generation_this_localstack_never_had_gets_no_change_names(
    localstack: LocalStackProcess,
) -> None:
    # A reader still holding a generation of an earlier LocalStack: what changed is unknown.
    answer = _answer(localstack, f"?after={_changes(localstack) + 1000}&timeout=1")
    assert "changes" not in answer
    assert _answer(localstack, "") == {"generation": answer["generation"]}
