"""Deploy time by phase: from a stopped machine state to the first greeting, and a re-deploy
with nothing changed.

The phases are the ones ``harness.deploy`` times (preflight; LocalStack, with the wheelhouse and
``terraform init`` done while it starts; Terraform apply + output; data plane) plus the wait for
the first greeting over the regional vpce name. "The kit's own share" is everything but
Terraform's part. For the no-change
re-deploy it also times ``terraform init`` and ``terraform plan`` alone (the wrapper's plan:
``plan -out`` then ``show -json``, which loads the provider's schema once more); the re-deploy
itself plans and skips the apply when the plan has nothing to apply.
"""

from __future__ import annotations

import time
from typing import Any

GREETING_DEADLINE_S = 120.0
# Terraform's own phases. An init done while LocalStack starts is timed as
# "terraform_init (alongside localstack)" and left in the kit's share: it runs inside the
# "localstack" phase, so only what it adds to that phase's wall time is Terraform's.
TERRAFORM_PHASES = ("terraform_init", "terraform_apply")


def _kit_share(total_s: float, timings: dict[str, float]) -> float:
    return total_s - sum(timings.get(p, 0.0) for p in TERRAFORM_PHASES)


def fresh(settings: Any) -> tuple[Any, dict[str, Any]]:
    """``destroy`` (so nothing runs), then deploy and wait for the first greeting."""
    from bench.dataplane_bench import _first_greeting
    from harness.deploy import deploy, destroy

    destroy(settings)
    started = time.monotonic()
    deployment = deploy(settings)
    greeting_s = _first_greeting(settings, deployment.outputs, GREETING_DEADLINE_S)
    total = time.monotonic() - started
    timings = {**deployment.timings, "first_greeting": greeting_s}
    return deployment, {
        "to_first_greeting_s": round(total, 1),
        "kit_share_s": round(_kit_share(total, timings), 1),
        "phases_s": {k: round(v, 2) for k, v in timings.items()},
    }


def redeploy(settings: Any) -> dict[str, Any]:
    """Deploy again over the running stack (no change), then time init and plan alone."""
    from harness.deploy import _terraform, _tf_vars, deploy

    started = time.monotonic()
    deployment = deploy(settings)
    total = time.monotonic() - started
    tf = _terraform(settings)
    t0 = time.monotonic()
    tf.init()
    init_s = time.monotonic() - t0
    t0 = time.monotonic()
    planned = tf.plan(_tf_vars(settings, settings.state_dir / "wheelhouse"))
    plan_s = time.monotonic() - t0
    return {
        "total_s": round(total, 1),
        "kit_share_s": round(_kit_share(total, deployment.timings), 1),
        "phases_s": {k: round(v, 2) for k, v in deployment.timings.items()},
        "terraform_init_alone_s": round(init_s, 2),
        "terraform_plan_alone_s": round(plan_s, 2),
        "plan_has_changes": planned.has_changes,
    }


def format_report(fresh_report: dict[str, Any], again: dict[str, Any] | None) -> str:
    lines = [
        f"deploy from stopped to first greeting: {fresh_report['to_first_greeting_s']:.1f}s "
        f"(kit's own share {fresh_report['kit_share_s']:.1f}s)",
        "  " + ", ".join(f"{k} {v:.1f}s" for k, v in fresh_report["phases_s"].items()),
    ]
    if again is not None:
        lines += [
            f"no-change re-deploy: {again['total_s']:.1f}s (kit's own share "
            f"{again['kit_share_s']:.1f}s)",
            "  " + ", ".join(f"{k} {v:.1f}s" for k, v in again["phases_s"].items()),
            f"  terraform init alone {again['terraform_init_alone_s']:.1f}s, terraform plan "
            f"alone {again['terraform_plan_alone_s']:.1f}s (changes: {again['plan_has_changes']})",
        ]
    return "\n".join(lines)
