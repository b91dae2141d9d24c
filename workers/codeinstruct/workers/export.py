"""Writes the final dataset (sharded JSONL or Parquet) and its dataset card.

Two runs of one spec write the same bytes, the card included, except its wall-clock values:
those are confined to the front matter's `codeinstruct.timing` block and the card's last
section, `## Timing`. A counter named `*_ms` (e.g. `sandbox_ms`) is wall-clock time.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from typing import Any

import yaml

from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.llm.roles import role_usage
from codeinstruct.workers.records import Record, encode_jsonl
from codeinstruct.workers.spec import InstructionDataset, OutputFormat, run_signature


def export_dataset(
    dataset: InstructionDataset, ledger: Ledger, final_stage: str, stages: dict[str, StageStats]
) -> tuple[str, int]:
    """Write `dataset/` from the final stage's records; return (its URI, record count)."""
    spec = dataset.spec
    fmt = spec.output.format
    size = spec.output.shard_size
    total = sum(marker["records"] for marker in ledger.done(final_stage).values())
    count = max(1, math.ceil(total / size))
    names = [f"data-{i:05d}-of-{count:05d}.{fmt.value}" for i in range(count)]
    # One dataset file in memory at a time, whatever the dataset's size.
    chunk: list[Record] = []
    written = 0
    for record in ledger.read_stage(final_stage):
        chunk.append(record)
        if len(chunk) == size:
            ledger.store.put(ledger.key("dataset", names[written]), _encode(chunk, fmt))
            written, chunk = written + 1, []
    if chunk or written == 0:
        ledger.store.put(ledger.key("dataset", names[written]), _encode(chunk, fmt))
    for stale in ledger.store.list(ledger.key("dataset", "data-")):
        if stale.rsplit("/", 1)[-1] not in names:
            ledger.store.delete(stale)
    reports = _reports(ledger)
    card = dataset_card(dataset, final_stage, total, stages, reports)
    ledger.store.put(ledger.key("dataset", "README.md"), card.encode())
    return ledger.store.uri(ledger.key("dataset")), total


def _encode(records: list[Record], fmt: OutputFormat) -> bytes:
    if fmt is OutputFormat.JSONL:
        return encode_jsonl(records)
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    table = (
        pa.Table.from_pylist(records) if records else pa.table({"id": pa.array([], pa.string())})
    )
    pq.write_table(table, sink)
    return sink.getvalue()


def _reports(ledger: Ledger) -> dict[str, Any]:
    """Reports stages left under `reports/` (leakage, selection, ...), by name."""
    reports: dict[str, Any] = {}
    for key in ledger.store.list(ledger.key("reports") + "/"):
        name = key.rsplit("/", 1)[-1].removesuffix(".json")
        reports[name] = json.loads(ledger.store.get(key))
    return reports


def dataset_card(
    dataset: InstructionDataset,
    final_stage: str,
    records: int,
    stages: dict[str, StageStats],
    reports: dict[str, Any],
) -> str:
    spec = dataset.spec
    ext = spec.output.format.value
    counters: Counter[str] = Counter()
    for stats in stages.values():
        counters.update(stats.counters)
    meta = {
        "pretty_name": dataset.metadata.name,
        "tags": ["code", "instruction-tuning", "codeinstruct", spec.method.value],
        "configs": [{"config_name": "default", "data_files": f"data-*.{ext}"}],
        "codeinstruct": {
            "method": spec.method.value,
            "signature": run_signature(spec),
            "final_stage": final_stage,
            "records": records,
            "model": spec.generator.model or spec.generator.backend.value,
            "models": role_usage(spec, counters),
            "stages": {name: _reproducible(stats) for name, stats in stages.items()},
            "parameters": spec.model_dump(mode="json", by_alias=True),
            "reports": reports,
            "timing": {name: _timing(stats) for name, stats in stages.items()},
        },
    }
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False).rstrip(),
        "---",
        f"# {dataset.metadata.name}",
        "",
        f"{records} records built by codeinstruct with the **{spec.method.value}** method "
        f"(final stage: `{final_stage}`).",
        "",
        f'Load it with `datasets.load_dataset("{"json" if ext == "jsonl" else ext}", '
        f'data_files="data-*.{ext}")`.',
        "",
        "| stage | in | out | dropped (by reason) |",
        "|---|---:|---:|---|",
    ]
    for name, stats in stages.items():
        drops = ", ".join(f"{reason}: {n}" for reason, n in stats.dropped.most_common()) or "-"
        lines.append(f"| {name} | {stats.records_in} | {stats.records_out} | {drops} |")
    lines += _leakage_table(reports.get("leakage"))
    for name, report in reports.items():
        lines += ["", f"## {name}", "", "```json", json.dumps(report, indent=2), "```"]
    lines += [
        "",
        "## Timing",
        "",
        "Wall-clock time of this run (the only part of the card that "
        "differs between two runs of the spec).",
        "",
        "| stage | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {stats.seconds:.1f} |" for name, stats in stages.items()]
    return "\n".join(lines) + "\n"


def is_wall_clock(counter: str) -> bool:
    return counter.endswith("_ms")


def _reproducible(stats: StageStats) -> dict[str, Any]:
    """The stage's stats without its wall-clock values."""
    data = stats.to_json()
    del data["seconds"]
    data["counters"] = {k: v for k, v in data["counters"].items() if not is_wall_clock(k)}
    return data


def _timing(stats: StageStats) -> dict[str, Any]:
    clock = {k: v for k, v in sorted(stats.counters.items()) if is_wall_clock(k)}
    return {"seconds": round(stats.seconds, 3), **clock}


def _leakage_table(report: dict[str, Any] | None) -> list[str]:
    """TLI before and after the filter, on the fields it used and, beside it, on the instruction
    alone (the number XCoder's tables report)."""
    if not report or not report.get("benchmarks"):
        return []
    fields = ", ".join(report.get("fields", []))
    comparable = report.get("xcoder_comparable", {}).get("benchmarks", {})
    lines = [
        "",
        "| benchmark | TLI on " + fields + " (before → after) | TLI on instruction (XCoder) |",
        "|---|---|---|",
    ]
    for name, measured in report["benchmarks"].items():
        ours = f"{measured['before']['tli']:.4f} → {measured['after']['tli']:.4f}"
        xcoder = comparable.get(name, measured if fields == "instruction" else None)
        theirs = f"{xcoder['before']['tli']:.4f} → {xcoder['after']['tli']:.4f}" if xcoder else "-"
        lines.append(f"| {name} | {ours} | {theirs} |")
    return lines
