"""The run lease on both stores: conditional create, renewal, refusal, takeover, loss."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeinstruct.workers.lease import Holder, Lease, LeaseHeld, LeaseLost, boot_id, hold_lease
from codeinstruct.workers.store import LocalStore, S3Store, Store

KEY = "run/_lease.json"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield LocalStore(tmp_path)
    else:
        request.getfixturevalue("s3_env")
        yield S3Store(f"lease-{time.monotonic_ns()}", "p")


def test_conditional_writes(store: Store) -> None:
    first = store.create("k", b"one")
    assert first is not None
    assert store.create("k", b"two") is None
    data, version = store.read_version("k")
    assert (data, version) == (b"one", first)
    second = store.replace("k", b"three", version)
    assert second is not None and second != first
    assert store.replace("k", b"four", first) is None  # a stale version loses
    assert store.get("k") == b"three"


def test_a_live_holder_makes_the_second_runner_refuse(store: Store) -> None:
    holder = Lease(store, KEY, ttl=0.3)
    holder.acquire()
    try:
        with pytest.raises(LeaseHeld, match=r"_lease.json: this run is in progress in .*pid"):
            Lease(store, KEY, ttl=0.3).acquire(wait=1.0)  # the holder renews meanwhile
    finally:
        holder.release()
    with pytest.raises(KeyError):
        store.get(KEY)  # released
    Lease(store, KEY, ttl=0.3).acquire(wait=0)


def test_a_dead_process_of_this_host_is_taken_over_at_once(store: Store) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = Holder("old", socket.gethostname(), boot_id(), pid, ttl=3600)
    store.put(KEY, stale.to_bytes())
    said: list[str] = []
    lease = Lease(store, KEY, ttl=5, say=said.append)
    lease.acquire(wait=0)
    lease.release()
    assert said and "took over" in said[0]


def test_a_silent_holder_elsewhere_is_taken_over_after_its_ttl(store: Store) -> None:
    store.put(KEY, Holder("remote", "other-host", "other-boot", 1, ttl=0.5).to_bytes())
    started = time.monotonic()
    lease = Lease(store, KEY, ttl=5)
    lease.acquire(wait=10)
    assert time.monotonic() - started >= 0.5  # not before a whole ttl without renewal
    assert json.loads(store.get(KEY))["owner"] == lease.me.owner
    lease.release()


def test_a_lost_lease_stops_the_run_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEINSTRUCT_LEASE_SECONDS", "0.3")
    store = LocalStore(tmp_path)
    with pytest.raises(LeaseLost, match="taken over by another runner"), hold_lease(store, KEY):
        store.put(KEY, Holder("thief", "h", "b", 1, ttl=30).to_bytes())
        time.sleep(30)  # interrupted by the renewer
    assert json.loads(store.get(KEY))["owner"] == "thief"  # not released: not ours


def test_a_bad_lease_seconds_is_a_user_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from codeinstruct.workers.errors import UserError
    from codeinstruct.workers.lease import DEFAULT_SECONDS, lease_seconds

    monkeypatch.setenv("CODEINSTRUCT_LEASE_SECONDS", "")
    assert lease_seconds() == DEFAULT_SECONDS
    for bad in ("soon", "0", "-2"):
        monkeypatch.setenv("CODEINSTRUCT_LEASE_SECONDS", bad)
        with pytest.raises(UserError, match=r"CODEINSTRUCT_LEASE_SECONDS=.*positive number"):
            lease_seconds()
