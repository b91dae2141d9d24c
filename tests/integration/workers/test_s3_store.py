"""The S3 store against a real S3-compatible server (moto), and when none is reachable."""

from __future__ import annotations

import pytest

from codeinstruct.workers.store import StoreError, open_store
from tests.helpers.servers import free_port
from tests.helpers.stores import exercise


def test_s3_store(s3_env: dict[str, str]) -> None:
    store = open_store("s3://codeinstruct-test/some/prefix")
    exercise(store)
    assert store.uri("k") == "s3://codeinstruct-test/some/prefix/k"


def test_unreachable_s3_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A port nothing listens on (port 9, the discard service, may be open on some hosts).
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StoreError, match="storage unreachable"):
        open_store("s3://bucket/x")
