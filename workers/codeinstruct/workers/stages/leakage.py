"""Benchmark leakage filter (every method's last stage): XCoder's TLI, before and after.

For each configured benchmark, a record whose n-gram similarity to any benchmark item reaches
`decontamination.threshold` is dropped (reason `leakage_<benchmark>`). TLI and TLI-max before
and after, with the most leaked benchmark items, go to `reports/leakage.json` (and so to the
dataset card). The fields measured are the method's (or `decontamination.fields`); when they are
not the instruction alone, the report also gives the XCoder-comparable TLI, measured on
`instruction` only (XCoder's Table 2/8 measure user turns), under `xcoder_comparable`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from codeinstruct.workers.benchmarks import load_benchmark
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Decontamination
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.stages.embed import record_text
from codeinstruct.workers.tli import Leakage, TestIndex

MOST_LEAKED = 5
COMPARABLE_FIELDS = ("instruction",)


class LeakageFilter(Stage):
    """Drops records whose n-gram leakage (TLI) into a benchmark reaches the threshold, and
    writes `reports/leakage.json`.

    Input fields: (the configured fields)
    Output fields: (none)
    Drop reasons: leakage_<benchmark>
    """

    kind = StageKind.SCORE
    whole = True

    def __init__(
        self, fields: tuple[str, ...], decontamination: Decontamination, name: str = "leakage"
    ) -> None:
        self.name = name
        self.fields = fields
        self.decontamination = decontamination
        self.inputs = fields

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        decontam = self.decontamination
        texts = [record_text(r, self.fields) for r in records]
        reasons: list[str | None] = [None] * len(records)
        report: dict[str, Any] = {
            "definition": "XCoder TLI: whitespace tokens, padded n-grams, |common|/|test grams|",
            "fields": list(self.fields),
            "ngram_sizes": list(decontam.ngram_sizes),
            "top_k": decontam.top_k,
            "threshold": decontam.threshold,
            "benchmarks": {},
        }
        measured: list[tuple[str, TestIndex, list[str]]] = []
        for benchmark in decontam.benchmarks:
            items = load_benchmark(benchmark)
            index = TestIndex([item.text for item in items], decontam.ngram_sizes)
            before = index.leakage(texts, decontam.top_k)
            leaked = before.train_max >= decontam.threshold
            for position in np.flatnonzero(leaked):
                if reasons[position] is None:
                    reasons[position] = f"leakage_{benchmark.name}"
            ids = [item.task_id for item in items]
            report["benchmarks"][benchmark.name] = {
                "items": len(items),
                "before": _summary(before, ids, records),
                "leaked_records": int(leaked.sum()),
            }
            measured.append((benchmark.name, index, ids))
        kept = [i for i, reason in enumerate(reasons) if reason is None]
        kept_texts = [texts[i] for i in kept]
        kept_records = [records[i] for i in kept]
        for name, index, ids in measured:
            after = index.leakage(kept_texts, decontam.top_k)
            report["benchmarks"][name]["after"] = _summary(after, ids, kept_records)
        if self.fields != COMPARABLE_FIELDS and any("instruction" in r for r in records):
            report["xcoder_comparable"] = _comparable(measured, records, kept, decontam.top_k)
        report["dropped"] = len(records) - len(kept)
        ledger = ctx.services.ledger
        ledger.store.put(
            ledger.key("reports", "leakage.json"), json.dumps(report, indent=2).encode()
        )
        for record, reason in zip(records, reasons, strict=True):
            ctx.advance(1)
            yield record if reason is None else Drop(record, reason)


def _comparable(
    measured: list[tuple[str, TestIndex, list[str]]],
    records: list[Record],
    kept: list[int],
    top_k: int,
) -> dict[str, Any]:
    """TLI on the instruction alone, before and after the filter (which used other fields)."""
    texts = [record_text(r, COMPARABLE_FIELDS) for r in records]
    kept_records = [records[i] for i in kept]
    comparable: dict[str, Any] = {"fields": list(COMPARABLE_FIELDS), "benchmarks": {}}
    for name, index, ids in measured:
        before = index.leakage(texts, top_k)
        after = index.leakage([texts[i] for i in kept], top_k)
        comparable["benchmarks"][name] = {
            "before": _summary(before, ids, records),
            "after": _summary(after, ids, kept_records),
        }
    return comparable


def _summary(leakage: Leakage, ids: list[str], records: list[Record]) -> dict[str, Any]:
    order = np.argsort(-leakage.per_test, kind="stable")[:MOST_LEAKED]
    return {
        "tli": round(leakage.tli, 6),
        "tli_max": round(leakage.tli_max, 6),
        "most_leaked": [
            {
                "task_id": ids[i],
                "similarity": round(float(leakage.per_test[i]), 6),
                "record": records[int(leakage.best_train[i])]["id"]
                if leakage.best_train[i] >= 0
                else None,
            }
            for i in order
            if leakage.per_test[i] > 0
        ],
    }
