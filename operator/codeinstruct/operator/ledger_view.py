"""Reads a run's progress from the storage ledger (the only storage I/O of the operator)."""

from __future__ import annotations

from dataclasses import dataclass, field

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


def read_ledger(
    dataset: InstructionDataset, names: list[str] | None, signature: str | None = None
) -> LedgerView:
    """Counts of each stage under the run prefix of `signature` (default: the spec's own; a
    running Job pins the one it was created with). Raises StoreError (or any client error)
    when storage fails."""
    store = ledger_store(dataset.spec.output.uri)
    prefix = f"{dataset.metadata.name}-{signature or run_signature(dataset.spec)}"
    ledger = Ledger(store, prefix)
    known = list(names or [])
    for key in store.list(ledger.key("stages") + "/"):
        stage = key[len(ledger.key("stages")) + 1 :].split("/", 1)[0]
        if stage not in known:
            known.append(stage)
    stages = [_stage(ledger, name) for name in known]
    card = ledger.key("dataset", "README.md")
    return LedgerView(
        stages=stages, output_uri=store.uri(ledger.key("dataset")), exported=store.exists(card)
    )


def _stage(ledger: Ledger, name: str) -> StageProgress:
    """A complete stage costs one read (its summary); a running one reads its shard markers."""
    completion = ledger.completion(name)
    if completion is not None:
        stats = StageStats.from_json(completion.get("stats") or _EMPTY)
        shards = int(completion.get("shards", 0))
        return _progress(name, shards, stats, complete=True)
    markers = ledger.done(name)
    total = StageStats()
    for marker in markers.values():  # read once: Ledger.stats() would list them again
        total.merge(StageStats.from_json(marker["stats"]))
    return _progress(name, len(markers), total, complete=False)


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
