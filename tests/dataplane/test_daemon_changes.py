"""The daemon follows the control plane through the plug-in's change notice, and falls back to
polling where there is none."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.controlplane.aws import AwsClients
from harness.controlplane.localstack import LocalStackProcess
from harness.dataplane.daemon import ChangeWatcher, pause, start_dataplane, stop_dataplane
from harness.dataplane.haproxy import ServerStatus
from harness.dataplane.health import health_moved, health_settling, health_view
from harness.dataplane.state import read_state
from harness.processes import wait_for
from harness.settings import load_settings
from tests.http_stub import JsonHandler, serving

# ------------------------------------------------------------------ the watcher, on a stand-in


class _Notice(JsonHandler):
    """Serves generations 7, then 8 (a change, named ``changes`` when set); 404 when
    ``absent``."""

    absent = False
    changes: list[str] | None = None
    served: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        self.served.append(self.path)
        if self.absent:
            self.send_error(404)
            return
        if len(self.served) == 1:
            self.answer_json({"generation": 7})
        elif self.changes is None:
            self.answer_json({"generation": 8})
        else:
            self.answer_json({"generation": 8, "changes": self.changes})


@pytest.fixture
def notice() -> Iterator[str]:
    _Notice.served = []
    with serving(_Notice) as url:
        yield url


def test_a_new_generation_wakes_the_daemon(notice: str) -> None:
    _Notice.absent = False
    wake, stop = threading.Event(), threading.Event()
    watcher = ChangeWatcher(notice, wake, stop).start()
    try:
        assert wake.wait(timeout=20), "the watcher did not wake on the new generation"
        assert watcher.follow == "change-notice"
        assert _Notice.served[0] == "/_jerp/changes"  # the first ask answers at once
        assert _Notice.served[1] == "/_jerp/changes?after=7&timeout=10"
    finally:
        stop.set()


@pytest.mark.parametrize(
    ("named", "taken"),
    [
        (["AcceptVpcEndpointConnections"], frozenset({"AcceptVpcEndpointConnections"})),
        (None, None),  # a notice that does not name its changes: read everything
    ],
)
def test_the_watcher_hands_over_what_changed_once(
    notice: str, named: list[str] | None, taken: frozenset[str] | None
) -> None:
    _Notice.absent, _Notice.changes = False, named
    wake, stop = threading.Event(), threading.Event()
    watcher = ChangeWatcher(notice, wake, stop)
    try:
        assert watcher.take() is None, "before any notice, what changed is not known"
        assert watcher.take() == frozenset(), "and once taken, nothing new has changed"
        watcher.start()
        assert wake.wait(timeout=20), "the watcher did not wake on the new generation"
        assert watcher.take() == taken
        assert watcher.take() == frozenset()
    finally:
        stop.set()
        _Notice.changes = None


def test_without_the_route_the_watcher_leaves_it_to_polling(notice: str) -> None:
    _Notice.absent = True
    wake, stop = threading.Event(), threading.Event()
    watcher = ChangeWatcher(notice, wake, stop).start()
    try:
        wait_for("the watcher to give up", lambda: not watcher._thread.is_alive(), 20)
        assert watcher.follow.startswith("polling (no change notice")
        assert not wake.is_set()
        assert len(_Notice.served) == 1
    finally:
        stop.set()


# ------------------------------------------------------------------ the daemon, on LocalStack

REGION = "eu-north-1"  # no other test creates anything here
SAFETY_NET_S = 600.0  # longer than the test: only the change notice can make it follow


def _nlb_nodes(state_dir: Any) -> list[str]:
    state = read_state(state_dir) or {}
    return sorted(k for k, h in state.get("hosts", {}).items() if h.get("kind") == "nlb-node")


@pytest.mark.root
@pytest.mark.integration
def test_the_daemon_follows_a_change_through_the_notice_not_the_poll(
    localstack: LocalStackProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = load_settings(
        STACK="local",
        LOCALSTACK_ENDPOINT=localstack.url,
        AWS_REGION=REGION,
        HARNESS_STATE_DIR=str(tmp_path_factory.mktemp("daemon-changes")),
    )
    clients = AwsClients.from_settings(settings)
    ec2, elbv2 = clients.ec2(), clients.elbv2()
    start_dataplane(settings, timeout_s=60, poll_s=SAFETY_NET_S)
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24", AvailabilityZone=f"{REGION}a")
    lb_arn = ""
    try:
        state = read_state(settings.state_dir) or {}
        assert state.get("follow") == "change-notice"
        assert _nlb_nodes(settings.state_dir) == []
        lb = elbv2.create_load_balancer(
            Name="notice-nlb",
            Subnets=[subnet["Subnet"]["SubnetId"]],
            Scheme="internal",
            Type="network",
        )["LoadBalancers"][0]
        lb_arn = lb["LoadBalancerArn"]
        wait_for(
            "the data plane to add the new NLB's node",
            lambda: len(_nlb_nodes(settings.state_dir)) == 1,
            30,
        )
        elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)
        lb_arn = ""
        wait_for(
            "the data plane to remove the deleted NLB's node",
            lambda: _nlb_nodes(settings.state_dir) == [],
            30,
        )
    finally:
        stop_dataplane(settings)
        if lb_arn:
            elbv2.delete_load_balancer(LoadBalancerArn=lb_arn)
        ec2.delete_subnet(SubnetId=subnet["Subnet"]["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)


# ------------------------------------------------------------------ health between passes


def _status(status: str, check: str, initial: bool = False) -> ServerStatus:
    return ServerStatus("nlb-1", "i-1-8080", status, check, "", initial=initial)


def test_health_is_settling_only_while_a_check_result_can_change_it() -> None:
    assert health_settling([_status("DOWN 1/2", "L7OK", initial=True)])  # first checks
    assert health_settling([_status("DOWN", "INI", initial=True)])  # none finished yet
    assert health_settling([_status("UP 1/2", "L4CON")])  # counting failures towards down
    assert not health_settling([_status("UP", "L7OK")])
    assert not health_settling([_status("DOWN", "L4CON", initial=True)])  # stays unhealthy


def test_health_moved_only_for_a_server_whose_check_changed_it() -> None:
    seen = health_view([_status("DOWN 1/2", "L7OK", initial=True)])
    assert not health_moved(seen, [_status("DOWN 1/2", "L7OK", initial=True)])
    assert health_moved(seen, [_status("UP", "L7OK")])
    # A server the reconciler added or removed is not a check's doing.
    assert not health_moved(seen, [ServerStatus("nlb-2", "i-2-8080", "UP", "L7OK", "")])
    assert not health_moved(seen, [])


def test_pause_ends_when_a_check_moved_health_instead_of_at_the_poll() -> None:
    answers = iter([False, False, True])
    started = time.monotonic()
    pause(threading.Event(), 5.0, lambda: next(answers), watch_s=0.02)
    assert time.monotonic() - started < 1.0


def test_pause_stops_asking_once_nothing_settles_and_ends_at_the_poll_or_wake() -> None:
    asked: list[float] = []

    def nothing_settling() -> bool | None:
        asked.append(time.monotonic())
        return None

    started = time.monotonic()
    pause(threading.Event(), 0.3, nothing_settling, watch_s=0.02)
    assert 0.3 <= time.monotonic() - started < 1.0
    assert len(asked) == 1
    wake = threading.Event()
    threading.Timer(0.05, wake.set).start()
    started = time.monotonic()
    pause(wake, 5.0, lambda: False, watch_s=0.02)
    assert time.monotonic() - started < 1.0
