"""Operator metrics: names, labels, and counters that grow by the ledger's deltas."""

from __future__ import annotations

from prometheus_client import generate_latest

from codeinstruct.operator import metrics
from codeinstruct.operator.constants import Phase
from codeinstruct.operator.status import StageProgress, Status


def sample(metric: str, **labels: str) -> float | None:
    value = metrics.REGISTRY.get_sample_value(metric, labels)
    return None if value is None else float(value)


def test_observe_folds_status_into_metrics() -> None:
    labels = {"namespace": "m", "name": "d1", "method": "selfcodealign", "stage": "seeds"}
    # The registry is process-wide (other tests may have observed this method and stage).
    durations = ("codeinstruct_stage_duration_seconds_count",)
    durations_before = sample(*durations, method="selfcodealign", stage="seeds") or 0
    succeeded_before = sample("codeinstruct_datasets", phase="Succeeded") or 0
    generating_before = sample("codeinstruct_datasets", phase="Generating") or 0
    status = Status(
        phase=Phase.GENERATING,
        progress_percentage=40,
        stages=[StageProgress(name="seeds", records_out=100, dropped=5, complete=False)],
    )
    metrics.observe("m", "d1", "selfcodealign", status)
    assert sample("codeinstruct_records_total", **labels) == 100
    status.stages[0] = StageProgress(
        name="seeds", records_out=150, dropped=5, complete=True, seconds=42.0
    )
    status.phase = Phase.SUCCEEDED
    metrics.observe("m", "d1", "selfcodealign", status)
    metrics.observe("m", "d1", "selfcodealign", status)  # a repeated tick adds nothing
    assert sample("codeinstruct_records_total", **labels) == 150
    assert sample("codeinstruct_records_dropped_total", **labels) == 5
    assert sample(*durations, method="selfcodealign", stage="seeds") == durations_before + 1
    assert sample("codeinstruct_datasets", phase="Succeeded") == succeeded_before + 1
    assert sample("codeinstruct_datasets", phase="Generating") == generating_before
    assert (
        sample("codeinstruct_progress_ratio", namespace="m", name="d1", method="selfcodealign")
        == 0.4
    )
    metrics.forget("m", "d1")
    assert sample("codeinstruct_datasets", phase="Succeeded") == succeeded_before


def test_names_follow_conventions() -> None:
    text = generate_latest(metrics.REGISTRY).decode()
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
