"""The Terraform wrapper against a fake ``terraform`` script: argv, var-files, parsing, errors."""

from __future__ import annotations

import fcntl
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness.controlplane.terraform import RUNNING, Terraform, _clear_stale_lock_info, plugin_tmpdir
from harness.errors import PrerequisiteError, TerraformError
from harness.processes import ProcessId, wait_for
from tests.leftovers import with_mark

# The fake records each call (argv, and the var-file's content when one is passed) and answers
# `show -json` and `output -json` with canned documents; FAKE_FAIL makes one subcommand fail,
# FAKE_PLAN_EXIT sets the exit code of `plan` (-detailed-exitcode: 2 means changes).
FAKE = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
record = {"argv": args, "env_marker": os.environ.get("MARKER")}
for a in args:
    if a.startswith("-var-file="):
        with open(a.split("=", 1)[1]) as f:
            record["vars"] = json.load(f)
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(record) + "\n")
if args and args[0] == os.environ.get("FAKE_FAIL"):
    sys.stderr.write("Error: Invalid value for variable\n")
    sys.exit(1)
if args[:1] == ["plan"]:
    sys.exit(int(os.environ.get("FAKE_PLAN_EXIT", "0")))
if args[:2] == ["show", "-json"]:
    print(os.environ["FAKE_PLAN"])
elif args[:2] == ["output", "-json"]:
    print(json.dumps({
        "endpoint_id": {"value": "vpce-0123", "type": "string"},
        "endpoint_eni_ids": {"value": ["eni-1", "eni-2"], "type": ["list", "string"]},
    }))
"""


def _plan_doc(*actions: list[str]) -> str:
    return json.dumps(
        {
            "resource_changes": [
                {"address": f"aws_thing.t{i}", "change": {"actions": a}}
                for i, a in enumerate(actions)
            ]
        }
    )


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    binary = tmp_path / "terraform"
    binary.write_text(FAKE)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": "/usr/bin:/bin",
        "MARKER": "passed-through",
        "FAKE_LOG": str(tmp_path / "calls.jsonl"),
        "FAKE_PLAN": _plan_doc(["no-op"]),
    }
    return binary, with_mark(env)


def _calls(env: dict[str, str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in Path(env["FAKE_LOG"]).read_text().splitlines()]


def test_apply_passes_variables_as_json_var_file_and_env_explicitly(
    fake: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = fake
    tf = Terraform(tmp_path, env=env, binary=str(binary))
    variables = {"wheelhouse_dir": '/tmp/it\'s "quoted" $HOME', "accept_connection": False}
    tf.apply(variables)
    (call,) = _calls(env)
    argv = call["argv"]
    assert isinstance(argv, list)
    assert argv[0] == "apply"
    assert {"-input=false", "-no-color", "-auto-approve"} <= set(argv)
    assert call["vars"] == variables
    assert call["env_marker"] == "passed-through"
    # The generated var-file does not outlive the command.
    var_file = next(a for a in argv if a.startswith("-var-file=")).split("=", 1)[1]
    assert not Path(var_file).exists()


def test_plan_reports_changes_from_show_json(
    fake: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = fake
    env["FAKE_PLAN"] = _plan_doc(["no-op"], ["create"], ["read"], ["delete", "create"])
    plan = Terraform(tmp_path, env=env, binary=str(binary)).plan({"x": 1})
    assert plan.has_changes
    assert plan.changes == (("create", "aws_thing.t1"), ("delete,create", "aws_thing.t3"))
    argv = [c["argv"] for c in _calls(env)]
    assert argv[0][0] == "plan" and "-input=false" in argv[0]  # type: ignore[index,operator]
    assert argv[1][:2] == ["show", "-json"]  # type: ignore[index]


def test_plan_without_changes(fake: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    binary, env = fake
    plan = Terraform(tmp_path, env=env, binary=str(binary)).plan({})
    assert not plan.has_changes
    assert plan.summary() == "No changes."


def test_plan_and_apply_applies_the_saved_plan_only_when_it_has_something_to_apply(
    fake: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = fake
    tf = Terraform(tmp_path, env=env, binary=str(binary))
    assert tf.plan_and_apply({"x": 1}) is False  # exit 0: nothing to apply
    (plan,) = (c["argv"] for c in _calls(env))
    assert plan[0] == "plan" and "-detailed-exitcode" in plan  # type: ignore[index,operator]
    # The plan refreshes and locks the state like an apply would.
    assert not {"-refresh=false", "-lock=false"} & set(plan)  # type: ignore[arg-type]
    tf.env["FAKE_PLAN_EXIT"] = "2"  # the wrapper keeps its own copy of the environment
    assert tf.plan_and_apply({"x": 1}) is True
    plan, apply = (c["argv"] for c in _calls(env)[1:])
    saved = next(a for a in plan if a.startswith("-out=")).split("=", 1)[1]  # type: ignore[attr-defined]
    assert apply[0] == "apply" and apply[-1] == saved  # type: ignore[index]
    assert not Path(saved).exists(), "the saved plan outlived the call"
    tf.env["FAKE_PLAN_EXIT"] = "1"
    with pytest.raises(TerraformError):
        tf.plan_and_apply({"x": 1})


def test_init_runs_again_only_when_something_it_reads_changed(
    fake: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = fake
    workdir, module = tmp_path / "stack", tmp_path / "module"
    workdir.mkdir()
    module.mkdir()
    (workdir / "main.tf").write_text('module "m" {\n  source = "../module"\n}\n')
    (module / "main.tf").write_text("# v1\n")
    data = tmp_path / "data"
    (data / "modules").mkdir(parents=True)
    (data / "modules" / "modules.json").write_text(
        json.dumps({"Modules": [{"Key": "", "Dir": "."}, {"Key": "m", "Dir": "../module"}]})
    )
    tf = Terraform(workdir, env={**env, "TF_DATA_DIR": str(data)}, binary=str(binary))

    def inits() -> int:
        return sum(c["argv"][0] == "init" for c in _calls(env))  # type: ignore[index]

    tf.init()
    tf.init()
    assert inits() == 1, "init ran again with nothing changed"
    (module / "main.tf").write_text("# v2\n")  # a module the stack calls
    tf.init()
    assert inits() == 2
    (workdir / ".terraform.lock.hcl").write_text("# another provider version\n")
    tf.init()
    tf.init()
    assert inits() == 3
    tf.env["FAKE_FAIL"] = "init"  # the wrapper keeps its own copy of the environment
    (workdir / "main.tf").write_text("# edited\n")
    with pytest.raises(TerraformError):
        tf.init()
    del tf.env["FAKE_FAIL"]
    tf.init()  # a failed init leaves no stamp: the next one runs
    assert inits() == 5


def test_output_returns_values_only(fake: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    binary, env = fake
    state = tmp_path / "s.tfstate"
    outputs = Terraform(tmp_path, env=env, binary=str(binary), state_path=state).output()
    assert outputs == {"endpoint_id": "vpce-0123", "endpoint_eni_ids": ["eni-1", "eni-2"]}
    (call,) = _calls(env)
    assert call["argv"] == ["output", "-json"]


def test_state_is_placed_by_the_backend_config_not_the_deprecated_state_flag(
    fake: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = fake
    state = tmp_path / "state" / "terraform-local.tfstate"
    state.parent.mkdir()
    tf = Terraform(tmp_path, env=env, binary=str(binary), state_path=state)
    tf.init()
    tf.apply({})
    tf.destroy({})
    init, apply, destroy = (c["argv"] for c in _calls(env))
    assert init[:1] == ["init"] and f"-backend-config=path={state}" in init  # type: ignore[index,operator]
    assert "-reconfigure" in init  # type: ignore[operator]
    for argv in (init, apply, destroy):
        assert not [a for a in argv if a.startswith("-state")]  # type: ignore[attr-defined]
    # Var-files and Terraform's own temporary files stay in the state directory.
    var_file = next(a for a in apply if a.startswith("-var-file="))  # type: ignore[attr-defined]
    assert Path(var_file.split("=", 1)[1]).parent == state.parent
    assert tf.env["TMPDIR"] == str(plugin_tmpdir(state.parent))
    assert not Path(tf.env["TMPDIR"]).exists(), "Terraform's TMPDIR outlived the command"
    assert not (state.parent / RUNNING).exists(), "the running record outlived the command"


def test_terraform_tmpdir_leaves_room_for_a_provider_socket(tmp_path: Path) -> None:
    short = Path("/srv/jerp/.harness/terraform")
    assert plugin_tmpdir(short) == short / "tmp"
    deep = tmp_path / ("d" * 60) / "terraform"
    moved = plugin_tmpdir(deep)
    # go-plugin's socket is "<TMPDIR>/plugin<up to 10 digits>", at most 107 bytes.
    assert moved.parent == Path("/tmp") and len(f"{moved}/plugin4294967295") <= 107
    assert plugin_tmpdir(deep) == moved, "a later run must find the same directory"


def test_failure_raises_terraform_error_with_stderr(
    fake: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = fake
    env["FAKE_FAIL"] = "destroy"
    with pytest.raises(TerraformError) as info:
        Terraform(tmp_path, env=env, binary=str(binary)).destroy({})
    assert "Invalid value for variable" in str(info.value)
    assert "destroy" in str(info.value)


def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError) as info:
        Terraform(tmp_path, env={}, binary=str(tmp_path / "no-terraform-here"))
    assert "install Terraform" in info.value.hint


SLOW = "#!/bin/sh\nexec sleep 300\n"


def _slow_terraform(tmp_path: Path) -> Path:
    binary = tmp_path / "terraform"
    binary.write_text(SLOW)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def test_terraform_left_running_by_a_killed_harness_is_stopped_before_the_next_command(
    fake: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    binary, env = fake
    state = tmp_path / "state" / "terraform-local.tfstate"
    state.parent.mkdir()
    orphan = subprocess.Popen(["sleep", "300"], start_new_session=True)
    ident = ProcessId.of(orphan.pid)
    assert ident is not None
    (state.parent / RUNNING).write_text(json.dumps(ident.record()))
    Terraform(tmp_path, env=env, binary=str(binary), state_path=state).output()
    assert not ident.alive(), "the left-over Terraform still runs"
    orphan.wait(timeout=5)
    assert not (state.parent / RUNNING).exists()


def test_terraform_dies_with_a_harness_killed_by_sigkill(tmp_path: Path) -> None:
    binary = _slow_terraform(tmp_path)
    state = tmp_path / "state" / "terraform-local.tfstate"
    state.parent.mkdir()
    harness = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from harness.controlplane.terraform import Terraform; "
            f"Terraform(Path({str(tmp_path)!r}), env={with_mark({'PATH': '/usr/bin:/bin'})!r}, "
            f"binary={str(binary)!r}, state_path=Path({str(state)!r})).apply({{}})",
        ]
    )
    record = state.parent / RUNNING
    wait_for("the wrapper to record its Terraform", record.exists, 20)
    terraform = ProcessId.from_record(json.loads(record.read_text()))
    assert terraform is not None and terraform.alive()
    harness.kill()
    harness.wait(timeout=5)
    wait_for("Terraform to die with its harness", lambda: not terraform.alive(), 20)
    # What the killed harness left (its Terraform's TMPDIR) goes with the next run's first step.
    tf = Terraform(tmp_path, env={}, binary=str(binary), state_path=state)
    left = tf.tmp
    assert left is not None and left.exists()
    tf.stop_leftover()
    assert not left.exists() and not record.exists()


def test_stale_lock_info_is_removed_only_when_no_process_holds_the_state(tmp_path: Path) -> None:
    state = tmp_path / "terraform.tfstate"
    state.write_text("{}")
    info = tmp_path / ".terraform.tfstate.lock.info"
    info.write_text('{"ID": "x"}')
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'r+b'); "
            "fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(300)",
            str(state),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        _clear_stale_lock_info(state)
        assert info.exists(), "removed the lock note of a live Terraform"
    finally:
        holder.kill()
        holder.wait(timeout=5)
    _clear_stale_lock_info(state)
    assert not info.exists()
    with state.open("r+b") as handle:  # and the state is left unlocked
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
