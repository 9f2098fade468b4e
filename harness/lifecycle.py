"""The shape of everything the harness starts: started by ``start()``, stopped by ``stop()``,
and as a context manager stopped on every way out (success, failure, Ctrl-C)."""

from __future__ import annotations

from abc import ABC, abstractmethod
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
