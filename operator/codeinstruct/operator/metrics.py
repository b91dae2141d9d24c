"""Prometheus metrics of the operator (`codeinstruct_` prefix; no per-record labels).

What the storage ledger says (records kept and dropped, stage durations, progress, phase) is
not counted by the operator: a custom collector exports the last status each dataset reached,
so the values are the ledger's totals whatever the operator's restarts, and a deleted
dataset's series go with it. Only what the process itself does (reconcile ticks and their
errors) is a process counter, which Prometheus treats as one across restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from codeinstruct.operator.constants import Phase
from codeinstruct.operator.status import StageProgress, Status

disable_created_metrics()  # no `_created` series: they double the output for nothing here
REGISTRY = CollectorRegistry()
_DATASET = ["namespace", "name", "method"]

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


@dataclass(frozen=True)
class Snapshot:
    """The last status the operator reached for one dataset (what the collector exports)."""

    method: str
    phase: Phase
    progress_ratio: float
    remaining_seconds: int | None
    stages: tuple[StageProgress, ...]


class LedgerCollector(Collector):
    """Exports each dataset's last snapshot; the ledger's totals, never increments."""

    def __init__(self) -> None:
        self.snapshots: dict[tuple[str, str], Snapshot] = {}

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        by_phase = GaugeMetricFamily(
            "codeinstruct_datasets", "InstructionDatasets by phase.", labels=["phase"]
        )
        for phase in Phase:
            count = sum(1 for s in self.snapshots.values() if s.phase is phase)
            by_phase.add_metric([phase.value], count)
        yield by_phase
        phase_of = GaugeMetricFamily(
            "codeinstruct_dataset_phase",
            "1 for the phase each InstructionDataset is in, 0 for the others.",
            labels=[*_DATASET, "phase"],
        )
        progress = GaugeMetricFamily(
            "codeinstruct_progress_ratio", "Progress of a dataset, 0 to 1.", labels=_DATASET
        )
        remaining = GaugeMetricFamily(
            "codeinstruct_estimated_remaining_seconds",
            "Estimated seconds until a running dataset is done.",
            labels=_DATASET,
        )
        records = CounterMetricFamily(
            "codeinstruct_records",
            "Records kept by each stage (the storage ledger's total).",
            labels=[*_DATASET, "stage"],
        )
        dropped = CounterMetricFamily(
            "codeinstruct_records_dropped",
            "Records dropped by each stage (the ledger's total; reasons are in the card).",
            labels=[*_DATASET, "stage"],
        )
        seconds = GaugeMetricFamily(
            "codeinstruct_stage_duration_seconds",
            "Duration of each completed pipeline stage (from the ledger).",
            labels=[*_DATASET, "stage"],
        )
        for (namespace, name), snapshot in sorted(self.snapshots.items()):
            labels = [namespace, name, snapshot.method]
            for phase in Phase:
                phase_of.add_metric([*labels, phase.value], float(snapshot.phase is phase))
            progress.add_metric(labels, snapshot.progress_ratio)
            if snapshot.remaining_seconds is not None:
                remaining.add_metric(labels, snapshot.remaining_seconds)
            for stage in snapshot.stages:
                records.add_metric([*labels, stage.name], stage.records_out)
                dropped.add_metric([*labels, stage.name], stage.dropped)
                if stage.complete and stage.seconds is not None:
                    seconds.add_metric([*labels, stage.name], stage.seconds)
        yield from (phase_of, progress, remaining, records, dropped, seconds)


LEDGER = LedgerCollector()
REGISTRY.register(LEDGER)


def observe(namespace: str, name: str, method: str, status: Status) -> None:
    """Record one dataset's status: the next scrape exports it as it is."""
    LEDGER.snapshots[(namespace, name)] = Snapshot(
        method=method,
        phase=status.phase,
        progress_ratio=(status.progress_percentage or 0) / 100,
        remaining_seconds=status.estimated_remaining_seconds,
        stages=tuple(s.model_copy() for s in status.stages),
    )


def forget(namespace: str, name: str) -> None:
    """A deleted dataset: every series naming it goes."""
    LEDGER.snapshots.pop((namespace, name), None)
    with suppress(KeyError):  # never raised for this dataset
        RECONCILE_ERRORS.remove(namespace, name)


def serve(port: int) -> None:
    if port:
        start_http_server(port, registry=REGISTRY)
