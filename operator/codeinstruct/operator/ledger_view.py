"""Reads a run's progress from the storage ledger (the only storage I/O of the operator)."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from codeinstruct.operator.status import StageProgress
from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.spec import InstructionDataset, run_signature
from codeinstruct.workers.store import S3Store, Store, StoreError, open_store


class ReadOnlyS3Store(S3Store):
    """The operator's view of a bucket: it reads ledgers, it never creates buckets."""

    def _ensure_bucket(self) -> None:
        try:
            exists = self.client.bucket_exists(self.bucket)
        except Exception as error:  # connection refused, DNS, TLS: all mean unreachable
            raise StoreError(
                f"s3://{self.bucket}: storage unreachable ({type(error).__name__}: {error}); "
                "check S3_ENDPOINT_URL and the credentials"
            ) from None
        if not exists:
            raise StoreError(
                f"s3://{self.bucket}: the bucket does not exist; create it (the operator only "
                "reads it) or fix spec.output.uri"
            )


def ledger_store(uri: str) -> Store:
    """A read-only store for s3:// URIs (local paths only in tests and local runs)."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if bucket:
            return ReadOnlyS3Store(bucket, prefix)
    return open_store(uri)


@dataclass
class LedgerView:
    """Per-stage counts (in stage order) and the dataset URI once it is exported."""

    stages: list[StageProgress] = field(default_factory=list)
    output_uri: str = ""
    exported: bool = False


class LedgerReader:
    """Reads runs' progress across ticks: per tick one recursive LIST of the run prefix, and a
    GET only for completion and shard markers not read before (they are written once; a key
    gone from the listing is forgotten). One store per bucket (its existence checked once)."""

    def __init__(self, max_runs: int = 1024) -> None:
        self.max_runs = max_runs
        self._stores: dict[str, Store] = {}
        self._read: OrderedDict[tuple[str, str], dict[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()  # handlers run in threads

    def store(self, uri: str) -> Store:
        where = f"{uri} {os.environ.get('S3_ENDPOINT_URL', '')}"  # tests move the endpoint
        with self._lock:
            if where not in self._stores:
                self._stores[where] = ledger_store(uri)
            return self._stores[where]

    def _cache(self, uri: str, prefix: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            cache = self._read.pop((uri, prefix), None) or {}
            self._read[(uri, prefix)] = cache
            while len(self._read) > self.max_runs:
                self._read.popitem(last=False)
            return cache

    def read(
        self, dataset: InstructionDataset, names: list[str] | None, signature: str | None = None
    ) -> LedgerView:
        uri = dataset.spec.output.uri
        store = self.store(uri)
        prefix = f"{dataset.metadata.name}-{signature or run_signature(dataset.spec)}"
        ledger = Ledger(store, prefix)
        keys = set(store.list(prefix + "/"))
        cache = self._cache(uri, prefix)
        for gone in [k for k in cache if k not in keys]:
            del cache[gone]

        def document(key: str) -> dict[str, Any]:
            if key not in cache:
                cache[key] = json.loads(store.get(key))
            return cache[key]

        stages_root = ledger.key("stages") + "/"
        known = list(names or [])
        for key in sorted(keys):
            if key.startswith(stages_root):
                stage = key[len(stages_root) :].split("/", 1)[0]
                if stage not in known:
                    known.append(stage)
        stages = []
        for name in known:
            completion = ledger.key("stages", name, "_complete.json")
            if completion in keys:
                summary = document(completion)
                stats = StageStats.from_json(summary.get("stats") or _EMPTY)
                stages.append(_progress(name, int(summary.get("shards", 0)), stats, True))
                continue
            done = ledger.key("stages", name, "_done") + "/"
            total = StageStats()
            markers = sorted(k for k in keys if k.startswith(done))
            for key in markers:
                total.merge(StageStats.from_json(document(key)["stats"]))
            stages.append(_progress(name, len(markers), total, False))
        card = ledger.key("dataset", "README.md")
        return LedgerView(
            stages=stages, output_uri=store.uri(ledger.key("dataset")), exported=card in keys
        )


_READER = LedgerReader()


def read_ledger(
    dataset: InstructionDataset, names: list[str] | None, signature: str | None = None
) -> LedgerView:
    """Counts of each stage under the run prefix of `signature` (default: the spec's own; a
    running Job pins the one it was created with). Raises StoreError (or any client error)
    when storage fails."""
    return _READER.read(dataset, names, signature)


_EMPTY = {"records_in": 0, "records_out": 0}


def _progress(name: str, shards: int, stats: StageStats, complete: bool) -> StageProgress:
    return StageProgress(
        name=name,
        shards=shards,
        records_in=stats.records_in,
        records_out=stats.records_out,
        dropped=sum(stats.dropped.values()),
        complete=complete,
        seconds=stats.seconds if complete else None,
    )
