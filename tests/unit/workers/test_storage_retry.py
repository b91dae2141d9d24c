"""Which S3 errors are retried, and the retry loop's time budget."""

from __future__ import annotations

import http.client
import time

import pytest
import urllib3.exceptions
from minio.error import S3Error, ServerError

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.storage_retry import RetryPolicy, StorageFault, transient_fault


class _Response:
    status = 503


def s3_error(code: str) -> S3Error:
    return S3Error(_Response(), code, "m", "/k", "r", "h")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(3 bytes read)"),
        urllib3.exceptions.ReadTimeoutError(None, "/k", "Read timed out."),  # type: ignore[arg-type]
        ConnectionResetError(104, "reset"),
        http.client.IncompleteRead(b"ab", 2),
        ServerError("server failed with HTTP status code 502", 502),
        s3_error("SlowDown"),
    ],
)
def test_transient_faults_are_retried(error: Exception) -> None:
    assert transient_fault(error)


def test_real_answers_are_not_retried() -> None:
    response = type("R", (), {"status": 403})()
    assert transient_fault(S3Error(response, "AccessDenied", "m", "/", "r", "h")) is None  # type: ignore[arg-type]
    assert transient_fault(KeyError("k")) is None


def test_a_fault_is_retried_until_the_budget_is_spent() -> None:
    slept: list[float] = []
    calls = 0

    def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionResetError("reset")

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    policy = RetryPolicy(budget_seconds=0.05, first_delay=0.01, max_delay=0.02)
    with pytest.raises(StorageFault, match="reset") as raised:
        policy.call(failing, sleep=sleep)
    assert raised.value.attempts == calls >= 2
    assert max(slept) <= 0.02


def test_a_fault_that_passes_is_invisible() -> None:
    answers = iter([ConnectionResetError("reset"), None])

    def flaky() -> str:
        error = next(answers)
        if error is not None:
            raise error
        return "data"

    assert RetryPolicy(first_delay=0.001).call(flaky, sleep=lambda s: None) == "data"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_bad_settings_are_one_clear_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEINSTRUCT_S3_RETRY_SECONDS", value)
    with pytest.raises(UserError, match="CODEINSTRUCT_S3_RETRY_SECONDS"):
        RetryPolicy.from_env()


def test_an_invalid_bucket_name_is_one_clear_error(s3_env: dict[str, str]) -> None:
    from codeinstruct.workers.store import S3Store, StoreError

    with pytest.raises(StoreError, match="s3://m: invalid bucket name m"):
        S3Store("m")
