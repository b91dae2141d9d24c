"""Long-lived helpers a run shares between stages (LLM server and client, sandbox pool, ...).

Each is started on first use and stopped when the run ends, also on errors and Ctrl-C.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, TypeVar

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.spec import Spec

T = TypeVar("T")


class Services:
    def __init__(self, spec: Spec, ledger: Ledger) -> None:
        self.spec = spec
        self.ledger = ledger
        self._started: dict[str, Any] = {}
        self._exit = ExitStack()
        self._lock = threading.RLock()  # shards of a window run in threads

    def get(self, name: str, start: Callable[[Services, ExitStack], T]) -> T:
        """The service `name`, started with `start(self, exit_stack)` on first use."""
        with self._lock:
            if name not in self._started:
                self._started[name] = start(self, self._exit)
            return self._started[name]

    def provide(self, name: str, service: object) -> None:
        """Use `service` as `name` instead of starting one (tests: a fake LLM or sandbox)."""
        self._started[name] = service

    def close(self) -> None:
        self._started.clear()
        self._exit.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
