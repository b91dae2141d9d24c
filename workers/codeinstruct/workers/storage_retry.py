"""How S3 requests ride out faults: which errors are transient, the time budget, the backoff.

A request that fails with a transient fault (connection refused or reset, a body cut short, a
read that stalls past the timeout, an HTTP 5xx, `SlowDown`) is retried with jittered exponential
backoff until its time budget is spent; then the caller turns the last fault into one clear line.
Settings come from the environment, like the endpoint and the credentials:

- `CODEINSTRUCT_S3_TIMEOUT_SECONDS` (default 30): connect and read timeout of one request; a read
  with no byte for this long is a fault (minio's own default is 300 s).
- `CODEINSTRUCT_S3_RETRY_SECONDS` (default 120): how long one operation keeps retrying.
"""

from __future__ import annotations

import http.client
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from xml.etree.ElementTree import ParseError

from codeinstruct.workers.errors import UserError

T = TypeVar("T")

TRANSIENT_CODES = frozenset(
    {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "OperationAborted"}
)


class StorageFault(Exception):
    """A transient fault that outlasted its retry budget; `fault` says what the last one was."""

    def __init__(self, fault: str, attempts: int, seconds: float) -> None:
        super().__init__(fault)
        self.fault = fault
        self.attempts = attempts
        self.seconds = seconds


@dataclass(frozen=True)
class RetryPolicy:
    timeout_seconds: float = 30.0
    budget_seconds: float = 120.0
    first_delay: float = 0.1
    max_delay: float = 5.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        return cls(
            timeout_seconds=env_seconds("CODEINSTRUCT_S3_TIMEOUT_SECONDS", cls.timeout_seconds),
            budget_seconds=env_seconds("CODEINSTRUCT_S3_RETRY_SECONDS", cls.budget_seconds),
        )

    def call(self, attempt: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
        """`attempt()`, retried on transient faults; StorageFault once the budget is spent."""
        started = time.monotonic()
        delay = self.first_delay
        attempts = 0
        while True:
            attempts += 1
            try:
                return attempt()
            except Exception as error:
                fault = transient_fault(error)
                if fault is None:
                    raise
                elapsed = time.monotonic() - started
                if elapsed + delay > self.budget_seconds:
                    raise StorageFault(fault, attempts, elapsed) from None
                sleep(delay * random.uniform(0.5, 1.0))
                delay = min(self.max_delay, delay * 2)


def transient_fault(error: BaseException) -> str | None:
    """A short description of a fault worth retrying, or None for a real answer."""
    import urllib3.exceptions
    from minio.error import InvalidResponseError, S3Error, ServerError

    if isinstance(error, S3Error):
        status = getattr(error.response, "status", 0) or 0
        if error.code in TRANSIENT_CODES or status >= 500:
            return f"{error.code}: {error.message}"
        return None
    if isinstance(error, ServerError | InvalidResponseError):
        return f"{type(error).__name__}: {error}"
    if isinstance(
        error,
        urllib3.exceptions.HTTPError | http.client.HTTPException | OSError | ParseError,
    ):
        return f"{type(error).__name__}: {error}"
    return None


def env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from environment variable `name` (`default` when unset or
    empty); a UserError naming the variable otherwise."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserError(f"{name}={raw!r}: must be a positive number of seconds")
    return value
