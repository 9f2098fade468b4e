"""The one exception hierarchy of the harness.

Every error says what happened and what to do about it: ``str(err)`` is the message,
``err.hint`` the fix. The CLI prints both and exits non-zero; nothing else catches them.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: a problem the user can act on."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\n  fix: {self.hint}" if self.hint else text


class SettingsError(HarnessError):
    """A harness setting (environment variable or CLI flag) is invalid."""


class PrerequisiteError(HarnessError):
    """A program or package the harness needs is missing (terraform, haproxy, root, ...)."""


class LocalStackError(HarnessError):
    """LocalStack would not start, or stopped answering."""


class TerraformError(HarnessError):
    """A Terraform command failed; the message carries its stderr."""


class DataPlaneError(HarnessError):
    """The local data plane could not be brought to the deployed state."""


class StackNotDeployedError(HarnessError):
    """A command needs a deployed stack and there is none."""


class WaitTimeout(HarnessError):
    """A named wait ran past its deadline."""


class StateDirBusy(HarnessError):
    """Another live harness command holds the state directory's lock."""
