"""The run lease: one runner at a time on a run prefix, so no request is paid twice.

The lease is a small object `<run>/_lease.json` naming its owner (host, pid, a random token). It
is created with a conditional write (S3 `If-None-Match: *`, local `flock`) and renewed every
third of its time to live with a compare-and-swap on its version (S3 `If-Match: <etag>`).

A second runner on the same prefix waits, printing who holds it. It takes the lease over when
the holder is dead: a process of this host that no longer exists, or a lease whose version has
not changed for a whole time to live, measured on the waiter's own clock (no clock skew between
machines matters). If the holder keeps renewing for twice the time to live, the waiter refuses
with a clear message. A holder that cannot renew for a whole time to live (storage down, process
stalled) may have been taken over: it stops, so two runners never work on the prefix together.

`CODEINSTRUCT_LEASE_SECONDS` (default 30) sets the time to live.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.storage_retry import env_seconds
from codeinstruct.workers.store import Store, StoreError

log = logging.getLogger(__name__)

DEFAULT_SECONDS = 30.0
POLL_SECONDS = 0.5


class LeaseHeld(UserError):
    """Another runner holds the run prefix."""


class LeaseLost(UserError):
    """This runner's lease was taken over (or could not be renewed): it must stop."""


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    boot: str
    pid: int
    ttl: float
    renewals: int = 0

    def to_bytes(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        try:
            raw = json.loads(data)
            return cls(
                owner=str(raw["owner"]),
                host=str(raw["host"]),
                boot=str(raw["boot"]),
                pid=int(raw["pid"]),
                ttl=float(raw["ttl"]),
                renewals=int(raw.get("renewals", 0)),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def dead_here(self) -> bool:
        """Whether the holder is a process of this machine that no longer runs."""
        return self.host == socket.gethostname() and self.boot == boot_id() and not alive(self.pid)

    def describe(self) -> str:
        return f"{self.owner} (pid {self.pid} on {self.host})"


def lease_seconds() -> float:
    return env_seconds("CODEINSTRUCT_LEASE_SECONDS", DEFAULT_SECONDS)


class Lease:
    def __init__(
        self,
        store: Store,
        key: str,
        ttl: float | None = None,
        say: Callable[[str], None] = log.warning,
    ) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl if ttl is not None else lease_seconds()
        self.say = say
        self.me = Holder(
            owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            host=socket.gethostname(),
            boot=boot_id(),
            pid=os.getpid(),
            ttl=self.ttl,
        )
        self.version: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self, wait: float | None = None) -> None:
        """Hold the lease, waiting for a live holder up to `wait` s (default: twice the TTL)."""
        give_up = time.monotonic() + (wait if wait is not None else 2 * self.ttl)
        seen: str | None = None
        seen_at = time.monotonic()
        told = False
        while True:
            self.version = self.store.create(self.key, self.me.to_bytes())
            if self.version is not None:
                break
            try:
                data, version = self.store.read_version(self.key)
            except KeyError:
                continue  # released meanwhile: try again
            holder = Holder.parse(data)
            if holder is not None and holder.owner == self.me.owner:
                self.version = version  # our create landed; its answer was lost and retried
                break
            if version != seen:
                seen, seen_at = version, time.monotonic()
            ttl = holder.ttl if holder is not None else self.ttl
            if (holder is not None and holder.dead_here()) or time.monotonic() - seen_at >= ttl:
                self.version = self.store.replace(self.key, self.me.to_bytes(), version)
                if self.version is not None:
                    who = holder.describe() if holder is not None else "an unreadable lease"
                    self.say(f"took over the run lease of {who}, which stopped")
                    break
                continue
            name = holder.describe() if holder is not None else "another runner"
            if time.monotonic() >= give_up:
                raise LeaseHeld(
                    f"{self.store.uri(self.key)}: this run is in progress in {name}; wait for "
                    "it to finish or stop it, then rerun (it resumes). The lease of a runner "
                    f"that died is taken over after {ttl:g} s"
                )
            if not told:
                self.say(f"waiting for {name}, which is running this spec on this output")
                told = True
            time.sleep(POLL_SECONDS)
        self._renewer = threading.Thread(target=self._renew, name="run-lease", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        renewed = time.monotonic()
        holder = self.me
        while not self._stop.wait(self.ttl / 3):
            assert self.version is not None
            holder = Holder(**{**holder.__dict__, "renewals": holder.renewals + 1})
            try:
                version = self.store.replace(self.key, holder.to_bytes(), self.version)
            except StoreError as error:
                if time.monotonic() - renewed < self.ttl:
                    log.warning("run lease not renewed (retrying): %s", error)
                    continue
                version, reason = None, f"could not be renewed for {self.ttl:g} s ({error})"
            else:
                reason = "was taken over by another runner"
            if version is None:
                self.lost = f"{self.store.uri(self.key)}: this runner's lease {reason}"
                # Stop the run as Ctrl-C would (a real signal also ends a blocking wait).
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
                return
            self.version, renewed = version, time.monotonic()

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.lost is not None or self.version is None:
            return
        try:
            data, version = self.store.read_version(self.key)
            holder = Holder.parse(data)
            if version == self.version and holder is not None and holder.owner == self.me.owner:
                self.store.delete(self.key)
        except (KeyError, StoreError) as error:
            log.warning("run lease not released (it expires by itself): %s", error)


@contextlib.contextmanager
def hold_lease(store: Store, key: str, say: Callable[[str], None] = log.warning) -> Iterator[Lease]:
    """Hold the run lease for the duration of the block; raise LeaseLost if it was lost."""
    lease = Lease(store, key, say=say)
    lease.acquire()
    try:
        yield lease
    except KeyboardInterrupt:
        if lease.lost is not None:
            raise LeaseLost(f"{lease.lost}; stopped so the work is not done twice") from None
        raise
    finally:
        lease.release()


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 :][:1] != b"Z"  # a zombie is dead
