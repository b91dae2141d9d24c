"""The reliability audit's bad-input probes (findings F3, F7-F10, F17, F19), run through the
runner: every bad file, name or row is a counted drop with a reason that says what was wrong,
never a traceback or a hang."""

from __future__ import annotations

import ast
import gzip
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.runner import Runner
from codeinstruct.workers.spec import Mining
from codeinstruct.workers.stages import seeds as seeds_module
from tests.helpers.runs import RunOutput
from tests.helpers.specs import make_dataset

GOOD = 'def area(radius):\n    """Return the area of a circle of this radius."""\n    return 3 * radius\n'
ROW = {"instruction": "Write a function that adds.", "response": "def add(a, b): return a + b"}
POOL_SCORING = {"complexityScorer": "length", "qualityScorer": "none"}


def run_until(tmp_path: Path, stage: str, **spec: Any) -> RunOutput:
    dataset = make_dataset(output={"uri": str(tmp_path / "out"), "shardSize": 4}, **spec)
    Runner(dataset, progress=False).run(until=stage)
    return RunOutput(tmp_path / "out", dataset)


def seeds_of(tmp_path: Path, uri: str, **source: Any) -> RunOutput:
    return run_until(tmp_path, "seeds", source={"uri": uri, **source})


def pool_of(tmp_path: Path, uri: str) -> RunOutput:
    return run_until(
        tmp_path, "pool", method="xcoder", source={"uri": uri, "format": "jsonl"},
        scoring=POOL_SCORING,
    )  # fmt: skip


def drops(run: RunOutput, stage: str) -> Counter[str]:
    return run.stats(stage).dropped


def test_non_utf8_file_and_folder_names_are_counted_drops_naming_the_file(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "good.py").write_text(GOOD)
    root = os.fsencode(source)
    with open(root + b"/bad_\xff_name.py", "w") as handle:
        handle.write(GOOD.replace("area", "other"))
    os.mkdir(root + b"/dir_\xfe")
    with open(root + b"/dir_\xfe/inner.py", "w") as handle:
        handle.write(GOOD.replace("area", "third"))
    run = seeds_of(tmp_path, str(source))
    assert [r["entry_point"] for r in run.records("seeds")] == ["area"]
    assert drops(run, "seeds") == Counter(non_utf8_name=2)
    names = sorted(r["meta"]["source"] for r in run.excluded("seeds"))
    assert names == [f"{source}/bad_\\xff_name.py", f"{source}/dir_\\xfe/inner.py"]


def test_lone_surrogates_in_jsonl_rows_are_counted_drops(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        json.dumps(ROW) + "\n" + '{"instruction": "bad \\ud800 text", "response": "r"}\n'
    )
    run = pool_of(tmp_path / "pool", str(pool))
    assert len(run.records("pool")) == 1
    assert drops(run, "pool") == Counter(invalid_unicode=1)
    rows = tmp_path / "seeds.jsonl"
    rows.write_text(
        json.dumps({"content": GOOD, "path": "ok.py"})
        + "\n"
        + json.dumps({"content": GOOD.replace("area", "b"), "path": "bad\udcffname.py"})
        + "\n"
    )
    run = seeds_of(tmp_path / "seeds", str(rows), format="jsonl")
    assert [r["entry_point"] for r in run.records("seeds")] == ["area"]
    assert drops(run, "seeds") == Counter(invalid_unicode=1)


def test_non_finite_numbers_in_a_pool_are_counted_drops_and_never_written(
    tmp_path: Path,
) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        json.dumps({**ROW, "complexity": 3})
        + "\n"
        + json.dumps({**ROW, "response": "x", "complexity": float("nan")})
        + "\n"
        + json.dumps({**ROW, "response": "y", "quality": float("inf")})
        + "\n"
        + '{"instruction": "i", "response": "z", "extra": -Infinity}\n'
    )
    run = pool_of(tmp_path, str(pool))
    assert [r["complexity"] for r in run.records("pool")] == [3.0]
    assert drops(run, "pool") == Counter(non_finite_number=3)
    for path in run.root.rglob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            json.loads(line, parse_constant=_not_json)


def _not_json(name: str) -> None:
    pytest.fail(f"{name} written: not standard JSON")


def test_wrong_typed_scores_and_duplicate_rows_in_a_pool_are_counted_drops(
    tmp_path: Path,
) -> None:
    pool = tmp_path / "pool.jsonl"
    rows = [
        ROW,
        ROW,  # an exact duplicate
        {**ROW, "response": "r2", "quality": "high"},
        {**ROW, "response": "r3", "complexity": True},
        {**ROW, "response": "r4", "complexity": 2.5},
    ]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = pool_of(tmp_path, str(pool))
    records = run.records("pool")
    assert [r["response"] for r in records] == [ROW["response"], "r4"]
    assert len({r["id"] for r in records}) == len(records)
    assert drops(run, "pool") == Counter(duplicate_row=1, score_not_a_number=2)


def test_a_row_repeated_in_another_pool_file_is_a_counted_duplicate_not_a_second_id(
    tmp_path: Path,
) -> None:
    source = tmp_path / "pool"
    source.mkdir()
    (source / "a.jsonl").write_text(json.dumps(ROW) + "\n")
    (source / "b.jsonl").write_text(json.dumps({**ROW, "response": "r2"}) + "\n" + json.dumps(ROW))
    run = run_until(
        tmp_path, "leakage", method="xcoder", source={"uri": str(source), "format": "jsonl"},
        scoring=POOL_SCORING, decontamination={"benchmarks": []},
    )  # fmt: skip
    records = run.records("leakage")
    assert sorted(r["response"] for r in records) == sorted([ROW["response"], "r2"])
    assert len({r["id"] for r in records}) == len(records)
    stages = [p.name for p in (run.root / "stages").iterdir()]
    dropped = sum((drops(run, stage) for stage in stages), Counter[str]())
    assert dropped["duplicate_row"] == 1
    kept = next(r for r in records if r["response"] == ROW["response"])
    assert kept["meta"]["source"].endswith("a.jsonl"), "the first file's row is the one kept"


def test_deep_json_and_truncated_gzip_are_counted_drops(tmp_path: Path) -> None:
    source = tmp_path / "pool"
    source.mkdir()
    (source / "a.jsonl").write_text(json.dumps(ROW) + "\n" + "[" * 200_000 + "\n")
    whole = gzip.compress((json.dumps({**ROW, "response": "gz"}) + "\n").encode() * 50)
    (source / "b.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    run = pool_of(tmp_path, str(source))
    assert len(run.records("pool")) == 1
    assert drops(run, "pool") == Counter(too_deeply_nested=1, bad_gzip=1)
    rows = tmp_path / "seeds.jsonl"
    rows.write_text(json.dumps({"content": GOOD}) + "\n" + '{"content": ' + "[" * 200_000 + "\n")
    run = seeds_of(tmp_path / "seeds", str(rows), format="jsonl")
    assert len(run.records("seeds")) == 1
    assert drops(run, "seeds") == Counter(too_deeply_nested=1)


def test_jsonl_seed_rows_say_what_was_wrong(tmp_path: Path) -> None:
    rows = tmp_path / "seeds.jsonl"
    rows.write_text(
        "\n".join(
            [
                json.dumps({"content": GOOD}),
                "{broken",
                json.dumps({"content": 123}),
                json.dumps({"path": "x.py"}),
                "[1, 2]",
            ]
        )
        + "\n"
    )
    run = seeds_of(tmp_path, str(rows), format="jsonl")
    assert len(run.records("seeds")) == 1
    assert drops(run, "seeds") == Counter(
        bad_json=1, content_not_text=1, missing_content=1, not_an_object=1
    )


def test_a_folder_of_jsonl_files_is_a_jsonl_seed_source(tmp_path: Path) -> None:
    source = tmp_path / "rows"
    (source / "sub").mkdir(parents=True)
    (source / "a.jsonl").write_text(json.dumps({"content": GOOD}) + "\n")
    (source / "sub" / "b.jsonl").write_text(
        json.dumps({"content": GOOD.replace("area", "b")}) + "\n"
    )
    run = seeds_of(tmp_path, str(source), format="jsonl")
    assert sorted(r["entry_point"] for r in run.records("seeds")) == ["area", "b"]


@pytest.mark.timeout(60)
def test_fifos_and_devices_in_a_source_are_skipped_and_counted(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "good.py").write_text(GOOD)
    os.mkfifo(source / "pipe.py")
    os.symlink("/dev/zero", source / "zero.py")
    run = seeds_of(tmp_path, str(source), maxFileBytes=100_000_000)
    assert [r["entry_point"] for r in run.records("seeds")] == ["area"]
    assert drops(run, "seeds") == Counter(not_a_regular_file=2)


@pytest.mark.timeout(60)
def test_a_recursive_glob_over_symlink_loops_ends(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text(GOOD)
    (tree / "top.py").write_text(GOOD.replace("area", "top"))
    os.symlink("..", tree / "pkg" / "up1")
    os.symlink("..", tree / "pkg" / "up2")
    run = seeds_of(tmp_path, f"{tree}/**/*.py")
    assert sorted(r["meta"]["source"] for r in run.records("seeds")) == [
        f"{tree}/pkg/mod.py",
        f"{tree}/top.py",
    ]


class _CountingBody(list[ast.stmt]):
    """A module body that counts the statements handed out by iterating over it."""

    visits = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for item in super().__iter__():
            _CountingBody.visits += 1
            yield item


def _body_visits(functions: int, monkeypatch: pytest.MonkeyPatch) -> int:
    parse = ast.parse

    def counting_parse(text: str) -> ast.Module:
        tree = parse(text)
        tree.body = _CountingBody(tree.body)
        return tree

    monkeypatch.setattr(seeds_module.ast, "parse", counting_parse)
    text = "import math\nimport os\n\n" + "".join(
        f'def f{i}(x):\n    """Return x scaled by math.pi, number {i}."""\n    return math.pi * x\n\n'
        for i in range(functions)
    )
    _CountingBody.visits = 0
    assert len(seeds_module.extract_seeds(text, Mining())) == functions
    monkeypatch.undo()
    return _CountingBody.visits


def test_seed_mining_work_is_linear_in_the_functions_of_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small, large = _body_visits(200, monkeypatch), _body_visits(2000, monkeypatch)
    assert large <= 12 * small, f"10x the functions cost {large / small:.0f}x the body visits"
