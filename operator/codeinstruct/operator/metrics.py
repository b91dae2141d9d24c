"""Prometheus metrics of the operator (`codeinstruct_` prefix; no per-record labels)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from codeinstruct.operator.constants import Phase
from codeinstruct.operator.status import Status

disable_created_metrics()  # no `_created` series: they double the output for nothing here
REGISTRY = CollectorRegistry()
_DATASET = ["namespace", "name", "method"]

DATASETS = Gauge(
    "codeinstruct_datasets", "InstructionDatasets by phase.", ["phase"], registry=REGISTRY
)
RECORDS = Counter(
    "codeinstruct_records_total",
    "Records kept by each stage (from the storage ledger).",
    [*_DATASET, "stage"],
    registry=REGISTRY,
)
DROPPED = Counter(
    "codeinstruct_records_dropped_total",
    "Records dropped by each stage (reasons are in the dataset card).",
    [*_DATASET, "stage"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "codeinstruct_reconcile_errors_total",
    "Reconcile ticks that raised.",
    ["namespace", "name"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "codeinstruct_reconcile_duration_seconds",
    "Time of one reconcile tick.",
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STAGE_SECONDS = Histogram(
    "codeinstruct_stage_duration_seconds",
    "Duration of completed pipeline stages.",
    ["method", "stage"],
    registry=REGISTRY,
    buckets=(1, 10, 60, 300, 900, 1800, 3600, 7200, 21600, 86400),
)
PROGRESS = Gauge(
    "codeinstruct_progress_ratio", "Progress of a dataset, 0 to 1.", _DATASET, registry=REGISTRY
)

_phases: dict[tuple[str, str], str] = {}
_seen: dict[tuple[str, str, str], tuple[int, int, bool]] = {}


def observe(namespace: str, name: str, method: str, status: Status) -> None:
    """Fold one dataset's status into the metrics (counters grow by the ledger's deltas)."""
    _phases[(namespace, name)] = status.phase.value
    _publish_phases()
    PROGRESS.labels(namespace, name, method).set((status.progress_percentage or 0) / 100)
    for stage in status.stages:
        seen_out, seen_dropped, seen_complete = _seen.get(
            (namespace, name, stage.name), (0, 0, False)
        )
        labels = (namespace, name, method, stage.name)
        if stage.records_out > seen_out:
            RECORDS.labels(*labels).inc(stage.records_out - seen_out)
        if stage.dropped > seen_dropped:
            DROPPED.labels(*labels).inc(stage.dropped - seen_dropped)
        if stage.complete and not seen_complete and stage.seconds is not None:
            STAGE_SECONDS.labels(method, stage.name).observe(stage.seconds)
        _seen[(namespace, name, stage.name)] = (
            max(stage.records_out, seen_out),
            max(stage.dropped, seen_dropped),
            stage.complete or seen_complete,
        )


def forget(namespace: str, name: str) -> None:
    _phases.pop((namespace, name), None)
    _publish_phases()


def _publish_phases() -> None:
    for phase in Phase:
        DATASETS.labels(phase.value).set(sum(1 for p in _phases.values() if p == phase.value))


def serve(port: int) -> None:
    if port:
        start_http_server(port, registry=REGISTRY)
