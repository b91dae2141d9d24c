"""Benchmark decontamination by substring: a record that contains a benchmark's docstring or
solution, ignoring case (as SelfCodeAlign's post-generation `find_substrings.py`, which
lower-cases both sides), is dropped (reason `benchmark_<name>`)."""

from __future__ import annotations

from codeinstruct.workers.benchmarks import load_benchmark
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Decontamination
from codeinstruct.workers.stages.base import FilterStage, StageKind


class SubstringDecontam(FilterStage):
    """Drops a record whose text contains a benchmark snippet (the configured `fields`).

    Input fields: (the configured fields)
    Output fields: (none)
    Drop reasons: benchmark_<name>
    """

    kind = StageKind.PREPARE

    def __init__(
        self, name: str, fields: tuple[str, ...], decontamination: Decontamination
    ) -> None:
        self.name = name
        self.fields = fields
        self.decontamination = decontamination
        self.inputs = fields
        self._snippets: list[tuple[str, str]] | None = None

    def _load(self) -> list[tuple[str, str]]:
        if self._snippets is None:
            self._snippets = [
                (item.benchmark, snippet.lower())
                for benchmark in self.decontamination.benchmarks
                for item in load_benchmark(benchmark)
                for snippet in item.snippets
            ]
        return self._snippets

    def check(self, record: Record) -> str | None:
        if not self.decontamination.substring:
            return None
        text = "\n".join(str(record.get(f, "")) for f in self.fields).lower()
        for benchmark, snippet in self._load():
            if snippet in text:
                return f"benchmark_{benchmark}"
        return None
