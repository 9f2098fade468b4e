"""How the live checks look at a deployment: a :class:`Probe` per target.

A probe answers three questions from a given host: what does this name resolve to, what does
``GET <url>`` return, and can this host open a TCP connection to that address. The checks in
:mod:`harness.checks.checks` only ask questions; the probe decides where the real programs run:

- :class:`LocalProbe`: ``dig``, ``curl`` and a bash ``/dev/tcp`` connect inside the emulated
  host's network namespace (through :mod:`harness.dataplane.hostexec`), over real UDP and HTTP.
- :class:`AwsProbe`: DNS from where the user runs (the public names of internal NLBs and
  endpoints resolve to their private addresses); HTTP and TCP on the EC2 instance itself
  through SSM ``AWS-RunShellScript``, so no bastion or public address is needed.

Both run the very same shell snippets (:func:`http_script`, :func:`tcp_script`) and parse
their output the same way.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from harness.errors import HarnessError, WaitTimeout
from harness.processes import wait_until

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.type_defs import GetCommandInvocationResultTypeDef

    from harness.settings import HarnessSettings

HTTP_TIMEOUT_S = 5.0
TCP_TIMEOUT_S = 3.0
_END = "@@jc-end"
_TCP = "@@jc-tcp"


@dataclass(frozen=True)
class CommandResult:
    """What a command printed and how it exited, on whichever host it ran."""

    exit_code: int
    stdout: str
    stderr: str = ""


@dataclass(frozen=True)
class Resolution:
    """The A records a name resolved to, and from where it was asked."""

    name: str
    addresses: tuple[str, ...]
    where: str
    error: str = ""


@dataclass(frozen=True)
class HttpResult:
    """One ``GET``: status 0 and ``error`` set when no response came back."""

    url: str
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    error: str = ""

    @property
    def served_by(self) -> str:
        return self.headers.get("x-served-by", "")


@dataclass(frozen=True)
class ConnectResult:
    """One TCP connect attempt: ``outcome`` is connected|refused|unreachable|timeout|error."""

    address: str
    port: int
    outcome: str
    detail: str = ""

    @property
    def reached(self) -> bool:
        """The packet reached a host: a completed handshake or an RST both prove a path."""
        return self.outcome in ("connected", "refused")


class Probe(Protocol):
    """Where the checks' questions are answered; see the module docstring."""

    @property
    def target(self) -> str:
        """``local`` or ``aws``, for reports."""
        ...

    def resolve(self, name: str, from_host: str) -> Resolution: ...

    def resolve_in_vpc(self, name: str, host: str) -> Resolution:
        """``name`` as ``host``'s own VPC resolver answers it (private DNS names)."""
        ...

    def http_get(self, host: str, urls: Sequence[str]) -> list[HttpResult]: ...

    def tcp_connect(self, host: str, targets: Sequence[tuple[str, int]]) -> list[ConnectResult]: ...

    def run(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult: ...


# --- the shell snippets both probes run, and their parsers -------------------------------


def http_script(urls: Sequence[str], timeout_s: float = HTTP_TIMEOUT_S) -> str:
    """One ``curl -i`` per URL, each followed by a marker line carrying curl's exit code."""
    lines = [
        f"curl -sS -i --max-time {timeout_s:g} {shlex.quote(url)} 2>&1; "
        f"printf '\\n{_END} %s\\n' \"$?\""
        for url in urls
    ]
    return "\n".join(lines) + "\n"


def parse_http_output(urls: Sequence[str], output: str) -> list[HttpResult]:
    """Split :func:`http_script` output back into one :class:`HttpResult` per URL."""
    chunks = re.split(rf"\n{_END} (\d+)\n", output)
    results: list[HttpResult] = []
    for index, url in enumerate(urls):
        if 2 * index + 1 >= len(chunks):
            results.append(HttpResult(url, 0, "", error="no output for this request"))
            continue
        text, code = chunks[2 * index], int(chunks[2 * index + 1])
        if code != 0:
            results.append(HttpResult(url, 0, "", error=f"curl exit {code}: {text.strip()}"))
            continue
        results.append(_parse_response(url, text))
    return results


def _parse_response(url: str, text: str) -> HttpResult:
    # Header lines end in CRLF; a transport that translated newlines leaves bare LFs.
    crlf, lf = text.find("\r\n\r\n"), text.find("\n\n")
    if crlf < 0 and lf < 0:
        return HttpResult(url, 0, "", error=f"not an HTTP response: {text[:200]!r}")
    cut, sep_len = (crlf, 4) if crlf >= 0 and (lf < 0 or crlf < lf) else (lf, 2)
    head, body = text[:cut], text[cut + sep_len :]
    lines = head.replace("\r\n", "\n").split("\n")
    status_line = lines[0].split(" ", 2)
    try:
        status = int(status_line[1])
    except (IndexError, ValueError):
        return HttpResult(url, 0, "", error=f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return HttpResult(url, status, body, headers)


def tcp_script(targets: Sequence[tuple[str, int]], timeout_s: float = TCP_TIMEOUT_S) -> str:
    """A bash ``/dev/tcp`` connect per target under ``timeout``; one marker line each."""
    lines = []
    for address, port in targets:
        ipaddress.ip_address(address)  # only addresses go into the script
        connect = shlex.quote(f"exec 3<>/dev/tcp/{address}/{int(port)}")
        lines.append(
            f"out=$(timeout {timeout_s:g} bash -c {connect} 2>&1); rc=$?; "
            f"printf '{_TCP} %s %s %s %s\\n' {address} {int(port)} \"$rc\" "
            f'"$(printf %s "$out" | tr "\\n" " ")"'
        )
    return "\n".join(lines) + "\n"


def parse_tcp_output(targets: Sequence[tuple[str, int]], output: str) -> list[ConnectResult]:
    seen: dict[tuple[str, int], tuple[int, str]] = {}
    for line in output.splitlines():
        if not line.startswith(_TCP + " "):
            continue
        parts = line.split(" ", 4)
        if len(parts) < 4:
            continue
        seen[(parts[1], int(parts[2]))] = (int(parts[3]), parts[4] if len(parts) > 4 else "")
    results = []
    for address, port in targets:
        if (address, port) not in seen:
            results.append(ConnectResult(address, port, "error", "no output for this target"))
            continue
        code, detail = seen[(address, port)]
        results.append(ConnectResult(address, port, _connect_outcome(code, detail), detail))
    return results


def _connect_outcome(code: int, detail: str) -> str:
    lowered = detail.lower()
    if code == 0:
        return "connected"
    if code == 124:
        return "timeout"
    if "refused" in lowered:
        return "refused"
    if "unreachable" in lowered or "no route" in lowered:
        return "unreachable"
    return "error"


def parse_dig_short(output: str) -> tuple[str, ...]:
    """The IPv4 addresses in ``dig +short`` output (CNAME lines are skipped)."""
    found = []
    for line in output.split():
        try:
            found.append(str(ipaddress.IPv4Address(line.strip())))
        except ValueError:
            continue
    return tuple(found)


def parse_getent_hosts(output: str) -> tuple[str, ...]:
    """The addresses in ``getent ahostsv4`` output (one line per address and socket type)."""
    found = []
    for line in output.splitlines():
        fields = line.split()
        if fields:
            try:
                found.append(str(ipaddress.IPv4Address(fields[0])))
            except ValueError:
                continue
    return tuple(dict.fromkeys(found))


class _ShellProbe:
    """HTTP, TCP and in-VPC DNS questions answered by running commands through ``run``."""

    def run(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        raise NotImplementedError

    def resolve_in_vpc(self, name: str, host: str) -> Resolution:
        # getent, not dig: it is part of glibc, so every host has it (an EC2 AMI may lack dig),
        # and it asks the host's own resolver, the only one a private hosted zone answers in.
        result = self.run(host, ["getent", "ahostsv4", name], 20)
        where = f"{host} (its VPC resolver)"
        if result.exit_code == 2:  # getent: the name is not found
            return Resolution(name, (), where, "no A records (NXDOMAIN?)")
        if result.exit_code != 0:
            error = (result.stderr or result.stdout).strip() or f"getent exit {result.exit_code}"
            return Resolution(name, (), where, error=error)
        return Resolution(name, parse_getent_hosts(result.stdout), where)

    def http_get(self, host: str, urls: Sequence[str]) -> list[HttpResult]:
        budget = HTTP_TIMEOUT_S * len(urls) + 10
        result = self.run(host, ["sh", "-c", http_script(urls)], budget)
        return parse_http_output(urls, result.stdout)

    def tcp_connect(self, host: str, targets: Sequence[tuple[str, int]]) -> list[ConnectResult]:
        budget = TCP_TIMEOUT_S * len(targets) + 10
        result = self.run(host, ["bash", "-c", tcp_script(targets)], budget)
        return parse_tcp_output(targets, result.stdout)


# --- the local emulator ------------------------------------------------------------------

HostRunner = Callable[[str, Sequence[str], float], CommandResult]


class LocalProbe(_ShellProbe):
    """Runs real programs on emulated hosts (network namespaces) through ``runner``.

    ``runner(host, argv, timeout_s)`` runs ``argv`` on the host named by instance id or Name
    tag; :func:`hostexec_runner` is the real one.
    """

    target = "local"

    def __init__(self, runner: HostRunner) -> None:
        self._runner = runner

    def run(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        return self._runner(host, argv, timeout_s)

    def resolve(self, name: str, from_host: str) -> Resolution:
        # The host's /etc/netns resolv.conf points at its VPC's resolver (base + 2).
        result = self.run(from_host, ["dig", "+short", "+time=2", "+tries=2", "A", name], 15)
        where = f"{from_host} (VPC resolver)"
        if result.exit_code != 0:
            error = (result.stderr or result.stdout).strip() or f"dig exit {result.exit_code}"
            return Resolution(name, (), where, error=error)
        addresses = parse_dig_short(result.stdout)
        return Resolution(name, addresses, where, "" if addresses else "no A records (NXDOMAIN?)")


def hostexec_runner(settings: HarnessSettings) -> HostRunner:
    """The real runner: :mod:`harness.dataplane.hostexec` resolves the host to its namespace."""
    from harness.dataplane import hostexec

    def run(host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        argv = hostexec.host_command(settings, host, argv)
        try:
            # Bytes, decoded here: text mode would turn HTTP's CRLFs into LFs.
            proc = subprocess.run(argv, capture_output=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise WaitTimeout(
                f"`{shlex.join(argv)}` on {host} ran past its {timeout_s:.0f}s deadline",
                hint="the emulated host is not answering: `make status` shows the data plane",
            ) from exc
        return CommandResult(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )

    return run


# --- a real AWS deployment ---------------------------------------------------------------

Resolver = Callable[[str], tuple[str, ...]]
_SSM_DONE = {"Success", "Failed", "TimedOut", "Cancelled", "Cancelling", "DeliveryTimedOut"}


def system_resolver(name: str) -> tuple[str, ...]:
    """This machine's resolver (what the user's own tools see)."""
    infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


class AwsProbe(_ShellProbe):
    """DNS from this machine; commands on EC2 instances through SSM send-command.

    ``ssm`` is a boto3 SSM client; ``poll_s`` is the pause between get-command-invocation
    polls (each is an API call).
    """

    target = "aws"

    def __init__(
        self, ssm: SSMClient, resolver: Resolver = system_resolver, poll_s: float = 1.0
    ) -> None:
        self._ssm = ssm
        self._resolver = resolver
        self._poll_s = poll_s

    def resolve(self, name: str, from_host: str) -> Resolution:
        where = "this machine (public DNS)"
        try:
            return Resolution(name, self._resolver(name), where)
        except OSError as exc:
            return Resolution(name, (), where, error=f"resolver: {exc}")

    def run(self, host: str, argv: Sequence[str], timeout_s: float) -> CommandResult:
        import botocore.exceptions

        command = shlex.join(argv)
        try:
            sent = self._ssm.send_command(
                InstanceIds=[host],
                DocumentName="AWS-RunShellScript",
                Comment="jerp-privatelink live check",
                Parameters={"commands": [command]},
                TimeoutSeconds=max(30, int(timeout_s) + 30),
            )
        except botocore.exceptions.ClientError as exc:
            raise HarnessError(
                f"SSM could not send a command to {host}: {exc}",
                hint="the instance must be SSM-managed (AmazonSSMManagedInstanceCore and a path "
                "to SSM: enable the consumer module's SSM endpoints); "
                f"check with `aws ssm describe-instance-information --filters Key=InstanceIds,"
                f"Values={host}`",
            ) from exc
        command_id = sent["Command"]["CommandId"]
        inv = wait_until(
            f"SSM command {command_id} on {host} to finish",
            lambda: self._invocation(command_id, host),
            lambda inv: inv is not None and inv["Status"] in _SSM_DONE,
            timeout_s + 30,  # SSM's own delivery time on top of the command's
            hint="check the SSM agent on the instance (`aws ssm list-command-invocations "
            f"--command-id {command_id} --details`)",
            poll_s=self._poll_s,
            show=lambda inv: inv["Status"] if inv else "not registered yet",
        )
        assert inv is not None  # the condition holds only for a registered invocation
        if inv["Status"] in ("DeliveryTimedOut", "Cancelled", "Cancelling"):
            raise HarnessError(
                f"SSM command on {host} ended {inv['Status']}",
                hint="the instance's SSM agent is not connected: it needs a route to the SSM "
                "endpoints (ssm, ssmmessages, ec2messages)",
            )
        return CommandResult(
            int(inv.get("ResponseCode", -1)),
            str(inv.get("StandardOutputContent", "")),
            str(inv.get("StandardErrorContent", "")),
        )

    def _invocation(self, command_id: str, host: str) -> GetCommandInvocationResultTypeDef | None:
        """The command's invocation on ``host``; None while SSM has not registered it yet."""
        import botocore.exceptions

        try:
            return self._ssm.get_command_invocation(CommandId=command_id, InstanceId=host)
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] != "InvocationDoesNotExist":
                raise
            return None
