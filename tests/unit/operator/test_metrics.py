"""Operator metrics: names, labels, and values that are the ledger's totals (restart-proof)."""

from __future__ import annotations

import importlib

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from codeinstruct.operator import metrics
from codeinstruct.operator.constants import Phase
from codeinstruct.operator.status import StageProgress, Status

METHOD = "selfcodealign"


def sample(metric: str, **labels: str) -> float | None:
    value = metrics.REGISTRY.get_sample_value(metric, labels)
    return None if value is None else float(value)


def counter_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a counter or histogram (the types Prometheus treats as monotonic)."""
    text = generate_latest(metrics.REGISTRY).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        if family.type in {"counter", "histogram"}:
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def finished(records: int, dropped: int = 0, seconds: float = 42.0) -> Status:
    return Status(
        phase=Phase.SUCCEEDED,
        progress_percentage=100,
        stages=[
            StageProgress(
                name="seeds", records_out=records, dropped=dropped, complete=True, seconds=seconds
            )
        ],
    )


def test_observe_exports_the_status() -> None:
    labels = {"namespace": "m", "name": "d1", "method": METHOD, "stage": "seeds"}
    succeeded_before = sample("codeinstruct_datasets", phase="Succeeded") or 0
    generating_before = sample("codeinstruct_datasets", phase="Generating") or 0
    status = Status(
        phase=Phase.GENERATING,
        progress_percentage=40,
        estimated_remaining_seconds=300,
        stages=[StageProgress(name="seeds", records_out=100, dropped=5, complete=False)],
    )
    metrics.observe("m", "d1", METHOD, status)
    assert sample("codeinstruct_records_total", **labels) == 100
    assert sample("codeinstruct_datasets", phase="Generating") == generating_before + 1
    dataset = {"namespace": "m", "name": "d1", "method": METHOD}
    assert sample("codeinstruct_estimated_remaining_seconds", **dataset) == 300
    assert sample("codeinstruct_dataset_phase", **dataset, phase="Generating") == 1
    metrics.observe("m", "d1", METHOD, finished(150, 5))
    metrics.observe("m", "d1", METHOD, finished(150, 5))  # a repeated tick adds nothing
    assert sample("codeinstruct_records_total", **labels) == 150
    assert sample("codeinstruct_records_dropped_total", **labels) == 5
    assert sample("codeinstruct_stage_duration_seconds", **labels) == 42.0
    assert sample("codeinstruct_datasets", phase="Succeeded") == succeeded_before + 1
    assert sample("codeinstruct_datasets", phase="Generating") == generating_before
    assert sample("codeinstruct_dataset_phase", **dataset, phase="Succeeded") == 1
    assert sample("codeinstruct_dataset_phase", **dataset, phase="Generating") == 0
    assert sample("codeinstruct_progress_ratio", **dataset) == 1.0
    metrics.forget("m", "d1")
    assert sample("codeinstruct_datasets", phase="Succeeded") == succeeded_before


def test_forget_removes_every_series_of_the_dataset() -> None:
    metrics.observe("m", "gone", METHOD, finished(7, 1))
    metrics.RECONCILE_ERRORS.labels("m", "gone").inc()
    assert 'name="gone"' in generate_latest(metrics.REGISTRY).decode()
    metrics.forget("m", "gone")
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'name="gone"' not in text, [line for line in text.splitlines() if "gone" in line]


def test_a_new_run_exports_its_own_ledger_totals() -> None:
    """A rerun under a new signature starts a new ledger: 10 records, not the old run's 150."""
    labels = {"namespace": "m", "name": "rerun", "method": METHOD, "stage": "seeds"}
    metrics.observe("m", "rerun", METHOD, finished(150))
    metrics.observe("m", "rerun", METHOD, finished(10))
    assert sample("codeinstruct_records_total", **labels) == 10
    metrics.forget("m", "rerun")


def test_an_operator_restart_leaves_every_counter_where_it_was() -> None:
    """A restarted operator (a fresh module: what a new process has) sees the datasets again,
    one tick at a time: no counter sample of a dataset that Prometheus scrapes meanwhile may go
    down. (Process-lifetime series such as the reconcile-duration histogram do restart at zero;
    Prometheus reads that as a counter reset.)"""
    datasets = [("m", "r1", 100, 42.0), ("m", "r2", 30, 7.0)]
    names = {name for _, name, *_ in datasets}
    for namespace, name, records, seconds in datasets:
        metrics.observe(namespace, name, METHOD, finished(records, 2, seconds))
    before = {k: v for k, v in counter_samples().items() if dict(k[1]).get("name") in names}
    importlib.reload(metrics)
    for namespace, name, records, seconds in reversed(datasets):
        metrics.observe(namespace, name, METHOD, finished(records, 2, seconds))
        scraped = counter_samples()
        lower = {k: (v, scraped[k]) for k, v in before.items() if k in scraped and scraped[k] < v}
        assert not lower, f"counters went down after the restart: {lower}"
    after = counter_samples()
    ledger = {k: v for k, v in before.items() if k[0].startswith("codeinstruct_records")}
    assert ledger and all(after[k] == v for k, v in ledger.items())
    for namespace, name, *_ in datasets:
        metrics.forget(namespace, name)


def test_names_follow_conventions() -> None:
    metrics.observe("m", "named", METHOD, finished(1))
    text = generate_latest(metrics.REGISTRY).decode()
    metrics.forget("m", "named")
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert all(n.startswith("codeinstruct_") for n in names)
    labels = {
        part.split("=")[0]
        for line in text.splitlines()
        if "{" in line
        for part in line.split("{", 1)[1].split("}")[0].split(",")
        if part
    }
    assert labels <= {"namespace", "name", "method", "stage", "phase", "le"}
    counters = [n for n in names if "_records" in n or "errors" in n]
    assert counters and all(f"# TYPE {n} counter" in text for n in counters)
