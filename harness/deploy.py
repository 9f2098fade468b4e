"""Deploy and destroy a stack: the one place that sequences the three planes.

``STACK=local``: LocalStack (started detached, with the PrivateLink plug-in; the wheelhouse
and ``terraform init`` run while it starts) -> Terraform apply of ``terraform/stacks/local``,
with the local data plane (namespaces, HAProxy, dnsmasq, JERP) following LocalStack from
before the apply starts -> that data plane converged to what the apply left. ``STACK=aws``:
Terraform apply of ``terraform/stacks/aws`` against the account in the environment's
credentials.

A deploy that fails or is interrupted stops what that same call started, so nothing is left
half-created; ``destroy`` stops everything, whatever started it. Both first check every
prerequisite (``harness.preflight``) and take the state directory's lock (one command at a
time); a deploy killed at any point (``kill -9``) is picked up by the next one: a recorded
LocalStack is adopted when it answers and replaced when not, a left-over Terraform is stopped
before it touches the state, and a running data-plane daemon is adopted.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.controlplane.aws import AwsClients
from harness.errors import PrerequisiteError, StackNotDeployedError
from harness.settings import REPO_ROOT, HarnessSettings
from harness.statelock import StateLock

if TYPE_CHECKING:
    from harness.controlplane.terraform import Plan, Terraform

NEXT_STEPS = """\
Next:
  make check                  live checks (DNS, greeting over the vpce name, negative cases)
  make exec HOST={client} CMD='curl -s {vpce}/user/yundream'
  make graph                  draw the deployed topology (reports/topology.svg)
  make destroy                tear everything down"""


@dataclass
class Deployment:
    """A deployed stack: Terraform outputs plus clients for its control plane."""

    stack: str
    outputs: dict[str, object]  # `terraform output -json`: JSON values by name
    clients: AwsClients
    timings: dict[str, float] = field(default_factory=dict)


def _outputs_file(settings: HarnessSettings) -> Path:
    return settings.state_dir / f"outputs-{settings.stack}.json"


def _terraform(settings: HarnessSettings) -> Terraform:
    from harness.controlplane.terraform import Terraform

    # Terraform gets the caller's environment (TF_CLI_CONFIG_FILE, AWS_* credentials, proxy
    # settings) as a whole: passing it on is the point, interpreting it is Terraform's job.
    # Its state and working data live in the state directory, so two environments (a user's
    # `make deploy` and the test suite) never share them.
    env = {**os.environ, "TF_DATA_DIR": str(settings.state_dir / f"terraform-{settings.stack}")}
    if settings.local_cloud:
        # LocalStack's URL reaches the provider as AWS_ENDPOINT_URL, not as an `endpoints`
        # block: the provider validates that block for 3-4 s on every plan and apply (the
        # stacks' `localstack_endpoint` is null, see _tf_vars). A service-specific
        # AWS_ENDPOINT_URL_<SERVICE> from the caller would win over it, so none passes.
        env = {k: v for k, v in env.items() if not k.startswith(_ENDPOINT_ENV_PREFIXES)}
        env["AWS_ENDPOINT_URL"] = settings.localstack_url
    return Terraform(
        settings.stack_dir, env=env, binary=settings.terraform_bin, state_path=_state_file(settings)
    )


_ENDPOINT_ENV_PREFIXES = ("AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


def _state_file(settings: HarnessSettings) -> Path:
    return settings.state_dir / f"terraform-{settings.stack}.tfstate"


def _tf_vars(settings: HarnessSettings, wheelhouse: Path) -> dict[str, str | None]:
    variables: dict[str, str | None] = {"wheelhouse_dir": str(wheelhouse)}
    if settings.stack == "local-cross-account":
        from harness.controlplane.aws import CROSS_ACCOUNT_IDS

        variables["service_account_id"], variables["consumer_account_id"] = CROSS_ACCOUNT_IDS
    if settings.local_cloud:
        # The endpoint travels as AWS_ENDPOINT_URL (see _terraform).
        variables["localstack_endpoint"] = None
    else:
        variables["region"] = settings.region
    return variables


def _build_wheelhouse(settings: HarnessSettings) -> Path:
    from harness.packaging.wheelhouse import build_wheelhouse

    target = settings.state_dir / "wheelhouse"
    build_wheelhouse(target)
    return target


def _require_root_for_dataplane(settings: HarnessSettings) -> None:
    if settings.local_cloud and os.geteuid() != 0:
        raise PrerequisiteError(
            "the local data plane needs root (it creates network namespaces)",
            hint="run `sudo make deploy`, or `make harness-image` and run the harness in its "
            "privileged container (README, 'Without root')",
        )


def _require_aws_credentials(clients: AwsClients) -> str:
    import botocore.exceptions

    try:
        identity = clients.sts().get_caller_identity()
    except (botocore.exceptions.NoCredentialsError, botocore.exceptions.ClientError) as exc:
        raise PrerequisiteError(
            f"no usable AWS credentials for STACK=aws ({exc})",
            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
            "(check with `aws sts get-caller-identity`), or deploy locally with STACK=local",
        ) from exc
    return str(identity["Arn"])


@contextlib.contextmanager
def _undo_on_failure(settings: HarnessSettings, started_localstack: bool) -> Iterator[None]:
    """Stop what this deploy started if it does not finish (error or Ctrl-C)."""
    try:
        yield
    except BaseException:
        if settings.local_cloud:
            from harness.dataplane.daemon import stop_dataplane

            with contextlib.suppress(Exception):
                stop_dataplane(settings)
            if started_localstack:
                _stop_localstack_and_forget_state(settings)
        raise


def _stop_localstack_and_forget_state(settings: HarnessSettings) -> None:
    from harness.controlplane import localstack

    localstack.stop_detached(settings)
    # LocalStack keeps its resources in memory: once it is gone, so is what the local
    # Terraform state describes.
    _forget_terraform_state(settings)
    _outputs_file(settings).unlink(missing_ok=True)


def _forget_terraform_state(settings: HarnessSettings) -> None:
    state = _state_file(settings)
    for path in (state, state.with_name(f"{state.name}.backup")):
        path.unlink(missing_ok=True)
    # The local backend's lock note, left when a Terraform was killed.
    state.with_name(f".{state.name}.lock.info").unlink(missing_ok=True)


def deploy(settings: HarnessSettings, variables: Mapping[str, object] | None = None) -> Deployment:
    """Deploy ``settings.stack`` and return its outputs; idempotent when run again.

    ``variables`` are Terraform variables of the stack set on top of the harness's own (the
    misconfiguration corpus deploys variable sets this way); ``make deploy`` passes none."""
    from harness import preflight

    t0 = time.monotonic()
    preflight.require(settings, "deploy")
    spent = time.monotonic() - t0
    with StateLock(settings.state_dir, "deploy"):
        deployment = _deploy(settings, dict(variables or {}))
    deployment.timings = {"preflight": spent, **deployment.timings}
    return deployment


def reapply(settings: HarnessSettings, variables: Mapping[str, object]) -> Deployment:
    """Apply the deployed stack again with ``variables`` on top of the harness's own, and
    return its new outputs (instances replaced by a changed user_data have new ids); the
    local data plane follows the control plane by itself."""
    with StateLock(settings.state_dir, "deploy"):
        outputs = _apply(settings, settings.state_dir / "wheelhouse", variables)
    return Deployment(settings.stack, outputs, AwsClients.from_settings(settings))


def _apply(
    settings: HarnessSettings,
    wheelhouse: Path,
    variables: Mapping[str, object],
    initialised: Terraform | None = None,
) -> dict[str, object]:
    """``terraform init`` (unless ``initialised`` is given: done already) and ``apply`` of the
    stack with ``variables`` on top of the harness's own; the outputs, also written to the
    outputs file."""
    tf = initialised
    if tf is None:
        tf = _terraform(settings)
        tf.init()
    everything = {**_tf_vars(settings, wheelhouse), **variables}
    if _state_file(settings).exists():
        # A re-deploy: plan (refreshing every resource, so drift is found) and apply that
        # plan only when it has something to apply; a plain `apply` would run a third
        # graph walk and start the provider once more to do nothing.
        tf.plan_and_apply(everything)
    else:
        tf.apply(everything)
    outputs: dict[str, object] = tf.output()
    _outputs_file(settings).write_text(json.dumps(outputs, indent=2, sort_keys=True))
    return outputs


def _deploy(settings: HarnessSettings, variables: Mapping[str, object]) -> Deployment:
    timings: dict[str, float] = {}
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    clients = AwsClients.from_settings(settings)
    if settings.stack == "aws":
        print(f"deploying to AWS as {_require_aws_credentials(clients)} in {settings.region}")
    _require_root_for_dataplane(settings)

    started_localstack = False
    localstack_ready: Callable[[], object] | None = None
    started = time.monotonic()
    if settings.local_cloud:
        from harness.controlplane import localstack

        localstack_ready = localstack.begin_running(settings)
        started_localstack = localstack_ready is not None and not settings.localstack_endpoint
        if started_localstack:
            # A fresh LocalStack is empty: any state file left here describes nothing.
            _forget_terraform_state(settings)

    with _undo_on_failure(settings, started_localstack):
        # While LocalStack starts (some 5-8 s): what needs no cloud. Timed apart, but inside
        # the "localstack" phase, which runs until both are done.
        alongside = " (alongside localstack)" if localstack_ready is not None else ""
        t0 = time.monotonic()
        wheelhouse = _build_wheelhouse(settings)
        timings[f"wheelhouse{alongside}"] = time.monotonic() - t0
        t0 = time.monotonic()
        tf = _terraform(settings)
        tf.init()
        timings[f"terraform_init{alongside}"] = time.monotonic() - t0
        if settings.local_cloud:
            if localstack_ready is not None:
                localstack_ready()
            timings["localstack"] = time.monotonic() - started

        with _dataplane_alongside(settings) as dataplane_ready:
            t0 = time.monotonic()
            outputs = _apply(settings, wheelhouse, variables, initialised=tf)
            timings["terraform_apply"] = time.monotonic() - t0

            t0 = time.monotonic()
            dataplane_ready()
            if settings.local_cloud:
                timings["dataplane"] = time.monotonic() - t0
    return Deployment(settings.stack, outputs, clients, timings)


@contextlib.contextmanager
def _dataplane_alongside(settings: HarnessSettings) -> Iterator[Callable[[], None]]:
    """Local clouds: the data-plane daemon runs while Terraform applies (it follows the cloud
    as resources appear, so health checks pass during the provider's fixed waits); the yielded
    call waits until it has converged on what the apply left. A failure before that stops the
    daemon through its launch handle (it may not have written its state file yet)."""
    if not settings.local_cloud:
        yield lambda: None
        return
    from harness.dataplane.daemon import abandon_dataplane, await_dataplane, launch_dataplane

    launch = launch_dataplane(settings, prefix=settings.env_prefix)

    def converged_on_the_apply() -> None:
        await_dataplane(settings, launch, fresh_after=time.time())

    try:
        yield converged_on_the_apply
    except BaseException:
        abandon_dataplane(settings, launch)
        raise


def load_deployment(settings: HarnessSettings) -> Deployment:
    """The stack ``deploy`` left behind, for check/exec/graph in a later process."""
    path = _outputs_file(settings)
    if not path.exists():
        raise StackNotDeployedError(
            f"no deployed {settings.stack} stack (no {path.relative_to(REPO_ROOT)})",
            hint=f"run `make deploy STACK={settings.stack}` first",
        )
    outputs = json.loads(path.read_text())
    return Deployment(settings.stack, outputs, AwsClients.from_settings(settings))


def plan(settings: HarnessSettings) -> Plan:
    tf = _terraform(settings)
    tf.init()
    wheelhouse = settings.state_dir / "wheelhouse"
    return tf.plan(_tf_vars(settings, wheelhouse), show=True)


def destroy(settings: HarnessSettings) -> None:
    """Tear down the stack; for local also the data plane and LocalStack. Safe to repeat."""
    with StateLock(settings.state_dir, "destroy"):
        _destroy(settings)


def _destroy(settings: HarnessSettings) -> None:
    if settings.stack == "aws":
        clients = AwsClients.from_settings(settings)
        _require_aws_credentials(clients)
        tf = _terraform(settings)
        tf.init()
        tf.destroy(_tf_vars(settings, settings.state_dir / "wheelhouse"))
        _outputs_file(settings).unlink(missing_ok=True)
        return

    from harness.controlplane import localstack
    from harness.dataplane.daemon import stop_dataplane

    stop_dataplane(settings)
    try:
        if localstack.is_running(settings) and _state_file(settings).exists():
            tf = _terraform(settings)
            tf.init()
            tf.destroy(_tf_vars(settings, settings.state_dir / "wheelhouse"))
    finally:
        # Even when Terraform fails, LocalStack goes: it holds the resources in memory only.
        _stop_localstack_and_forget_state(settings)


def run_live_checks(settings: HarnessSettings, junit_path: str) -> bool:
    from harness.checks.checks import run_checks
    from harness.checks.report import print_table, write_junit

    deployment = load_deployment(settings)
    results = run_checks(settings, deployment.outputs, deployment.clients)
    print_table(results)
    write_junit(results, Path(junit_path))
    return all(r.passed for r in results)


def seed_transcripts(settings: HarnessSettings) -> str:
    from harness.checks.checks import transcripts

    deployment = load_deployment(settings)
    return str(transcripts(settings, deployment.outputs))


def draw_graph(settings: HarnessSettings, out: str) -> str:
    from harness.checks.graph import render_graph
    from harness.dataplane.inventory import read_topology

    deployment = load_deployment(settings)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    render_graph(read_topology(deployment.clients), path)
    return str(path)


def status(settings: HarnessSettings) -> str:
    from harness.controlplane import localstack
    from harness.dataplane.daemon import dataplane_status

    lines = [f"stack: {settings.stack}"]
    lines.append(f"localstack: {localstack.describe(settings)}")
    lines.append(f"data plane: {dataplane_status(settings)}")
    out = _outputs_file(settings)
    lines.append(f"outputs: {out if out.exists() else 'not deployed'}")
    return "\n".join(lines)


def print_summary(deployment: Deployment, settings: HarnessSettings) -> None:
    outputs = deployment.outputs
    width = max((len(k) for k in outputs), default=0)
    print("\nOutputs:")
    for key in sorted(outputs):
        print(f"  {key.ljust(width)}  {json.dumps(outputs[key])}")
    if deployment.timings:
        spent = ", ".join(f"{k} {v:.1f}s" for k, v in deployment.timings.items())
        print(f"\nTime: {spent}")
    if settings.local_cloud:
        print()
        print(seed_transcripts(settings))
    print()
    print(
        NEXT_STEPS.format(
            client=outputs.get("consumer_client_instance_id", "<client>"),
            vpce=outputs.get("endpoint_regional_dns_name", "<vpce name>"),
        )
    )
