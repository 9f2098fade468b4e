"""The harness CLI: usage errors and HarnessErrors reach the user as messages, not tracebacks."""

from __future__ import annotations

import pytest

from harness.cli import build_parser, main


def test_help_lists_every_make_verb(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for verb in ("deploy", "destroy", "plan", "check", "exec", "graph", "lint"):
        assert verb in out


def test_bad_setting_exits_2_with_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STACK", "azure")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert "STACK" in err
    assert "fix:" in err


def test_exec_without_command_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STACK", raising=False)
    assert main(["exec", "jerp-consumer-client", "--"]) == 2
    assert "no command given" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["launch"])
    assert info.value.code == 2
