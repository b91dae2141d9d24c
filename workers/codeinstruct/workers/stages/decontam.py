"""Benchmark decontamination by substring: a record that contains a benchmark's docstring or
solution, ignoring case (as SelfCodeAlign's post-generation `find_substrings.py`, which
lower-cases both sides), is dropped (reason `benchmark_<name>`)."""

from __future__ import annotations

from codeinstruct.workers.benchmarks import load_benchmark
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.base import FilterStage, StageContext, StageKind


class SubstringDecontam(FilterStage):
    kind = StageKind.PREPARE

    def __init__(self, name: str, fields: tuple[str, ...]) -> None:
        self.name = name  # type: ignore[misc]
        self.fields = fields
        self._snippets: list[tuple[str, str]] | None = None

    def _load(self, ctx: StageContext) -> list[tuple[str, str]]:
        if self._snippets is None:
            self._snippets = [
                (item.benchmark, snippet.lower())
                for benchmark in ctx.spec.decontamination.benchmarks
                for item in load_benchmark(benchmark)
                for snippet in item.snippets
            ]
        return self._snippets

    def check(self, record: Record, ctx: StageContext) -> str | None:
        if not ctx.spec.decontamination.substring:
            return None
        text = "\n".join(str(record.get(f, "")) for f in self.fields).lower()
        for benchmark, snippet in self._load(ctx):
            if snippet in text:
                return f"benchmark_{benchmark}"
        return None
