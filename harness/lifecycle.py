"""The shape of everything the harness starts: started by ``start()``, stopped by ``stop()``,
and as a context manager stopped on every way out (success, failure, Ctrl-C)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Self


class Lifecycle(ABC):
    """``with Thing(...) as thing:`` starts it and always stops it; cleanup is structural."""

    @abstractmethod
    def start(self) -> object:
        """Start, waiting until ready; return self."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and release everything; safe to call twice."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def log_tail(path: Path, lines: int) -> str:
    """The last ``lines`` of a started process's log, for an error that explains a crash."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
