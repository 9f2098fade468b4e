"""The shared shell snippets and their parsers; LocalProbe over a fake runner; AwsProbe over
botocore's Stubber (real SSM request/response shapes, no network)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import boto3
import pytest
from botocore.stub import Stubber

from harness import processes
from harness.checks.checks import GREETING
from harness.checks.probes import (
    AwsProbe,
    CommandResult,
    LocalProbe,
    http_script,
    parse_dig_short,
    parse_http_output,
    parse_tcp_output,
    tcp_script,
)
from harness.errors import HarnessError, WaitTimeout

CMD = {i: f"{i:08d}-0000-4000-8000-000000000000" for i in range(1, 6)}
URL = "http://vpce-1-abc.vpce-svc-2.ap-northeast-2.vpce.amazonaws.com/user/yundream"
RESPONSE = (
    "HTTP/1.1 200 OK\r\ndate: Sat, 28 Nov 2026 22:00:00 GMT\r\n"
    "content-type: text/plain; charset=utf-8\r\nx-served-by: i-0aaa\r\n\r\n" + GREETING
)


def test_http_output_round_trips_through_the_real_shell() -> None:
    # The snippet's framing, run by a real sh with `curl` replaced by a function.
    fake_curl = (
        "curl() { case \"$*\" in *bad*) echo 'curl: (7) Failed to connect' >&2; return 7;; esac; "
        f"printf {_sh_printf(RESPONSE)}; }}\n"
    )
    urls = [URL, "http://bad/", URL]
    proc = subprocess.run(["sh", "-c", fake_curl + http_script(urls)], capture_output=True)
    results = parse_http_output(urls, proc.stdout.decode())
    assert [r.status for r in results] == [200, 0, 200]
    assert results[0].body == GREETING
    assert results[0].served_by == "i-0aaa"
    assert results[1].error == "curl exit 7: curl: (7) Failed to connect"


def _sh_printf(text: str) -> str:
    return (
        "'"
        + text.replace("\\", "\\\\")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
        .replace("%", "%%")
        .replace("'", "'\\''")
        + "'"
    )


def test_http_output_missing_for_a_url_is_an_error_not_a_crash() -> None:
    results = parse_http_output([URL, URL], RESPONSE + "\n@@jc-end 0\n")
    assert results[0].status == 200
    assert results[1].error == "no output for this request"


def test_newline_translated_responses_still_parse() -> None:
    [result] = parse_http_output([URL], RESPONSE.replace("\r\n", "\n") + "\n@@jc-end 0\n")
    assert result.status == 200 and result.body == GREETING and result.served_by == "i-0aaa"


def test_non_http_output_is_reported() -> None:
    results = parse_http_output([URL], "garbage\n@@jc-end 0\n")
    assert results[0].status == 0
    assert "not an HTTP response" in results[0].error


def test_tcp_snippet_classifies_connected_refused_and_timeout_with_real_bash() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        targets = [("127.0.0.1", listener.getsockname()[1]), ("127.0.0.1", closed_port)]
        proc = subprocess.run(
            ["bash", "-c", tcp_script(targets)], capture_output=True, text=True, timeout=30
        )
        results = parse_tcp_output(targets, proc.stdout)
    finally:
        listener.close()
    assert [r.outcome for r in results] == ["connected", "refused"]
    assert all(r.reached for r in results)


def test_tcp_output_parsing_of_timeouts_and_unreachable() -> None:
    targets = [("10.10.1.10", 8080), ("10.10.3.10", 8080), ("10.10.1.217", 80)]
    output = (
        "@@jc-tcp 10.10.1.10 8080 124 \n"
        "@@jc-tcp 10.10.3.10 8080 1 bash: connect: Network is unreachable "
        "bash: /dev/tcp/10.10.3.10/8080: Network is unreachable \n"
    )
    results = parse_tcp_output(targets, output)
    assert [r.outcome for r in results] == ["timeout", "unreachable", "error"]
    assert not any(r.reached for r in results)


def test_tcp_script_refuses_anything_but_addresses() -> None:
    with pytest.raises(ValueError):
        tcp_script([("$(reboot)", 80)])


def test_dig_short_parsing_skips_cnames_and_comments() -> None:
    assert parse_dig_short("alias.example.\n10.10.1.217\n10.10.3.73\n") == (
        "10.10.1.217",
        "10.10.3.73",
    )
    assert parse_dig_short(";; connection timed out\n") == ()


class FakeRunner:
    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        self.calls.append((host, list(argv)))
        return self.result


def test_local_probe_resolves_with_dig_on_the_named_host() -> None:
    runner = FakeRunner(CommandResult(0, "10.20.1.50\n10.20.3.60\n"))
    res = LocalProbe(runner).resolve("vpce.example", "jerp-consumer-client")
    assert res.addresses == ("10.20.1.50", "10.20.3.60")
    assert runner.calls[0][0] == "jerp-consumer-client"
    assert runner.calls[0][1][0] == "dig" and runner.calls[0][1][-1] == "vpce.example"


def test_local_probe_reports_dig_failure() -> None:
    res = LocalProbe(
        FakeRunner(CommandResult(9, ";; connection timed out; no servers could be reached\n"))
    ).resolve("x", "h")
    assert res.addresses == ()
    assert "no servers could be reached" in res.error


def test_local_probe_http_runs_one_batch_on_the_host() -> None:
    runner = FakeRunner(CommandResult(0, RESPONSE + "\n@@jc-end 0\n"))
    [result] = LocalProbe(runner).http_get("client", [URL])
    assert result.body == GREETING
    assert runner.calls[0][1][:2] == ["sh", "-c"]


# --- AwsProbe through the Stubber ----------------------------------------------------------


def ssm_client() -> object:
    return boto3.session.Session().client(
        "ssm", region_name="ap-northeast-2", aws_access_key_id="x", aws_secret_access_key="y"
    )


def test_aws_probe_runs_through_ssm_and_polls_until_done() -> None:
    ssm = ssm_client()
    stub = Stubber(ssm)
    stub.add_response(
        "send_command",
        {"Command": {"CommandId": CMD[1]}},
        {
            "InstanceIds": ["i-0client"],
            "DocumentName": "AWS-RunShellScript",
            "Comment": "jerp-privatelink live check",
            "Parameters": {"commands": ["sh -c 'echo hi'"]},
            "TimeoutSeconds": 40,
        },
    )
    stub.add_client_error("get_command_invocation", "InvocationDoesNotExist")
    stub.add_response(
        "get_command_invocation",
        {"Status": "InProgress"},
        {"CommandId": CMD[1], "InstanceId": "i-0client"},
    )
    stub.add_response(
        "get_command_invocation",
        {
            "Status": "Success",
            "ResponseCode": 0,
            "StandardOutputContent": "hi\n",
            "StandardErrorContent": "",
        },
        {"CommandId": CMD[1], "InstanceId": "i-0client"},
    )
    with stub:
        result = AwsProbe(ssm, poll_s=0.01).run("i-0client", ["sh", "-c", "echo hi"], 10)
    stub.assert_no_pending_responses()  # polled until the invocation succeeded
    assert result == CommandResult(0, "hi\n", "")


def test_aws_probe_failed_command_returns_its_exit_code() -> None:
    ssm = ssm_client()
    stub = Stubber(ssm)
    stub.add_response("send_command", {"Command": {"CommandId": CMD[2]}})
    stub.add_response(
        "get_command_invocation",
        {
            "Status": "Failed",
            "ResponseCode": 7,
            "StandardOutputContent": "",
            "StandardErrorContent": "curl: (7)",
        },
    )
    with stub:
        result = AwsProbe(ssm).run("i-1", ["curl", "x"], 5)
    assert result.exit_code == 7 and result.stderr == "curl: (7)"


class FastClock:
    """Stands in for ``time`` in :mod:`harness.processes`: every pause lasts 20 s at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 20


def test_aws_probe_gives_up_at_its_deadline_naming_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ssm = ssm_client()
    stub = Stubber(ssm)
    stub.add_response("send_command", {"Command": {"CommandId": CMD[3]}})
    for _ in range(3):  # at 0, 20 and 40 s; the deadline is 5 + 30 s
        stub.add_response("get_command_invocation", {"Status": "InProgress"})
    monkeypatch.setattr(processes, "time", FastClock())
    with stub, pytest.raises(WaitTimeout, match=f"{CMD[3]} on i-1 to finish; last: InProgress"):
        AwsProbe(ssm).run("i-1", ["true"], 5)
    stub.assert_no_pending_responses()


def test_aws_probe_undeliverable_command_explains_ssm_connectivity() -> None:
    ssm = ssm_client()
    stub = Stubber(ssm)
    stub.add_response("send_command", {"Command": {"CommandId": CMD[4]}})
    stub.add_response("get_command_invocation", {"Status": "DeliveryTimedOut"})
    with stub, pytest.raises(HarnessError, match="DeliveryTimedOut") as err:
        AwsProbe(ssm).run("i-1", ["true"], 5)
    assert "ssmmessages" in err.value.hint


def test_aws_probe_unmanaged_instance_is_explained() -> None:
    ssm = ssm_client()
    stub = Stubber(ssm)
    stub.add_client_error("send_command", "InvalidInstanceId", "Instances not in a valid state")
    with stub, pytest.raises(HarnessError, match="SSM could not send a command to i-1") as err:
        AwsProbe(ssm).run("i-1", ["true"], 5)
    assert "describe-instance-information" in err.value.hint


def test_aws_probe_resolves_on_this_machine() -> None:
    probe = AwsProbe(ssm_client(), resolver=lambda name: ("10.10.1.217", "10.10.3.73"))
    res = probe.resolve("jerp-nlb-0123.elb.ap-northeast-2.amazonaws.com", "ignored")
    assert res.addresses == ("10.10.1.217", "10.10.3.73")
    assert res.where == "this machine (public DNS)"


def test_aws_probe_resolver_error_is_an_observation() -> None:
    def nxdomain(name: str) -> tuple[str, ...]:
        raise OSError("Name or service not known")

    res = AwsProbe(ssm_client(), resolver=nxdomain).resolve("nope", "x")
    assert res.addresses == () and "Name or service not known" in res.error


def test_aws_probe_http_uses_the_same_snippet_via_ssm() -> None:
    ssm = ssm_client()
    stub = Stubber(ssm)
    stub.add_response("send_command", {"Command": {"CommandId": CMD[5]}})
    stub.add_response(
        "get_command_invocation",
        {
            "Status": "Success",
            "ResponseCode": 0,
            "StandardOutputContent": RESPONSE + "\n@@jc-end 0\n",
        },
    )
    with stub:
        [result] = AwsProbe(ssm).http_get("i-0client", [URL])
    assert result.status == 200 and result.body == GREETING and result.served_by == "i-0aaa"
