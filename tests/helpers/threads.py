"""A thread whose exception is not lost: `join()` re-raises it in the test."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Worker(threading.Thread):
    """Run `target(*args)` in a thread; `join()` re-raises whatever it raised."""

    def __init__(self, target: Callable[..., Any], *args: Any) -> None:
        super().__init__(daemon=True)
        self._call = target
        self._args = args
        self.error: BaseException | None = None
        self.result: Any = None

    def run(self) -> None:
        try:
            self.result = self._call(*self._args)
        except BaseException as error:
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.is_alive():
            raise AssertionError(f"the helper thread {self._call.__name__} did not finish")
        if self.error is not None:
            raise self.error
