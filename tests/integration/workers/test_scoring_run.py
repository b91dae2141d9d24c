"""Scoring and selection end to end with real embeddings (all-MiniLM-L6-v2, offline):
XCoder selection from pool files (JSONL, Parquet), the leakage filter with TLI before/after,
WaveCoder's coreset from standard-library seeds, the same on Ray, and `codeinstruct tli`."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.coreset import kcenter_greedy_ray
from codeinstruct.workers.embeddings import LocalEmbedder, decode_npy
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.sources import stdlib_root
from codeinstruct.workers.spec import load_spec
from codeinstruct.workers.store import LocalStore
from tests.helpers.paths import CLI
from tests.helpers.runs import RunOutput
from tests.helpers.specs import make_dataset, write_spec
from tests.oracles import naive_leakage, textbook_kcenter

pytestmark = [pytest.mark.slow, pytest.mark.embed]

TOPICS = [
    "sum the squares of a list of integers",
    "reverse the words of a sentence",
    "return the n-th Fibonacci number",
    "invert a dictionary",
    "count the lines of a text file",
    "binary search in a sorted list",
    "character frequencies of a string",
    "transpose a matrix given as lists",
    "check whether a number is prime",
    "merge overlapping intervals",
    "flatten a nested list",
    "parse a CSV line with quotes",
]


def pool_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(36):
        topic = TOPICS[i % len(TOPICS)]
        instruction = f"Write a Python function number {i} to {topic}." + " Be careful." * (i % 5)
        response = f"```python\ndef f{i}(x):\n    return x  # {topic}\n```"
        if i % 3 == 0:
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": instruction},
                        {"role": "assistant", "content": response},
                    ],
                    "quality": i % 4,
                }
            )
        else:
            rows.append({"instruction": instruction, "response": response, "quality": i % 4})
    for problem in humaneval_problems()[:4]:  # long instructions: the length proxy ranks them high
        rows.append(
            {
                "instruction": "Complete this function:\n" + problem["prompt"],
                "response": problem["canonical_solution"],
                "quality": 3,
            }
        )
    rows.append({"instruction": "", "response": "empty instruction"})
    return rows


def write_pool(path: Path) -> Path:
    lines = [json.dumps(r) for r in pool_rows()] + ["{broken json"]
    path.write_text("\n".join(lines) + "\n")
    return path


def xcoder_spec(path: Path, pool: Path, output: Path, **scoring: Any) -> Path:
    return write_spec(
        path,
        "pool",
        method="xcoder",
        targetSize=15,
        source={"uri": str(pool), "format": pool.suffix.lstrip(".")},
        scoring={"complexityScorer": "length", "qualityScorer": "none", "tau": 0.95, **scoring},
        output={"uri": str(output)},
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_xcoder_run_selects_from_a_pool_and_reports_leakage(tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "pool.jsonl")
    spec = xcoder_spec(tmp_path / "spec.yaml", pool, tmp_path / "out")
    done = subprocess.run(
        [*CLI, "run", str(spec), "--no-progress"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    run = RunOutput(tmp_path / "out")
    root = run.root
    data = run.dataset()
    selected = run.records("select")
    assert len(selected) == 15
    # The four HumanEval prompts (the longest instructions, which the length proxy would rank
    # first) leave the pool before selection, so the target is still filled from clean samples.
    leaked = run.excluded("leakage")
    assert len(leaked) == 4
    assert {r["drop_reason"] for r in leaked} == {"leakage_humaneval"}
    assert all("Complete this function" in r["instruction"] for r in leaked)
    assert len(data) == 15 and not any("Complete this function" in r["instruction"] for r in data)
    chats = [r for r in data if "messages" in r]  # the pool's chat rows come out as chats
    assert chats and all(r["messages"][-1]["content"] == r["response"] for r in chats)
    # Selection order is the score order.
    scores = [r["score"] for r in selected]
    assert scores == sorted(scores, reverse=True)
    pool_drops = run.excluded("pool")
    assert sorted(r["drop_reason"] for r in pool_drops) == ["bad_json", "missing_instruction"]
    report = json.loads((root / "reports" / "leakage.json").read_text())["benchmarks"]["humaneval"]
    assert report["before"]["tli_max"] > 0.5 > report["after"]["tli_max"]
    assert report["after"]["tli"] < report["before"]["tli"]
    assert report["leaked_records"] == 4
    selection = json.loads((root / "reports" / "selection.json").read_text())
    assert "instruction length" in selection["complexity"]
    card = (root / "dataset" / "README.md").read_text()
    assert "## leakage" in card and "instruction length" in card


def humaneval_pool(path: Path) -> Path:
    rows = [
        {"instruction": p["prompt"], "response": p["canonical_solution"], "quality": 1}
        for p in humaneval_problems()
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def humaneval_selection(tmp_path: Path, **scoring: Any) -> dict[str, Any]:
    pool = humaneval_pool(tmp_path / "pool.jsonl")
    spec = xcoder_spec(tmp_path / "spec.yaml", pool, tmp_path / "out", **scoring)
    document = yaml.safe_load(spec.read_text())
    document["spec"]["targetSize"] = 164
    document["spec"]["decontamination"] = {"benchmarks": [], "substring": False}
    spec.write_text(yaml.safe_dump(document))
    Runner(load_spec(spec), progress=False).run()
    report = json.loads(
        (RunOutput(tmp_path / "out").root / "reports" / "selection.json").read_text()
    )
    assert report["candidates"] == 164
    return dict(report)


@pytest.mark.parametrize("quantile", [0.3, 0.7])
def test_quantile_tau_on_humaneval_sized_data(tmp_path: Path, quantile: float) -> None:
    """164 HumanEval problems in MiniLM space: the quantile mode selects the requested fraction
    of the pool (targetSize is the whole pool), and the report says which τ it was."""
    report = humaneval_selection(tmp_path, tau=0.945, tauMode="quantile", tauQuantile=quantile)
    assert report["tau_mode"] == "quantile" and report["tau_quantile"] == quantile
    assert report["selected"] == math.ceil(quantile * 164)
    # Fewer than that fraction of the pool have their nearest neighbour within the τ it took.
    assert report["nearest_within_tau"] < quantile
    assert report["tau"] < 0.945 and "tau_note" not in report


def test_absolute_tau_that_keeps_almost_all_is_noted(tmp_path: Path) -> None:
    """The paper's τ = 0.945 (set for LLaMA3-8B) keeps all but one HumanEval problem with
    MiniLM: the report (and so the card) says the diversity step did almost nothing."""
    report = humaneval_selection(tmp_path, tau=0.945)
    assert report["selected"] / report["candidates"] > 0.99
    assert "tauMode: quantile" in report["tau_note"]


def test_parquet_pool_and_ray_engine_select_the_same(tmp_path: Path, ray_session: Any) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = write_pool(tmp_path / "pool.jsonl")
    rows = [r for r in pool_rows()]
    for row in rows:
        row.setdefault("instruction", None)
        row.setdefault("response", None)
        row.setdefault("messages", None)
    parquet = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)

    def selected(pool: Path, engine: str) -> list[str]:
        output = tmp_path / f"out-{pool.suffix}-{engine}"
        spec = yaml.safe_load(xcoder_spec(tmp_path / "s.yaml", pool, output).read_text())["spec"]
        spec["scoring"]["engine"] = engine
        dataset = make_dataset(**spec)
        Runner(dataset, progress=False).run(until="select")
        return [r["id"] for r in RunOutput(output, dataset).records("select")]

    local = selected(jsonl, "local")
    assert len(local) == 15
    assert selected(parquet, "local") == local
    assert selected(jsonl, "ray") == local


def test_wavecoder_coreset_from_stdlib_seeds(tmp_path: Path) -> None:
    output = tmp_path / "out"
    source = tmp_path / "stdlib"
    source.mkdir()
    # Three more modules than before: most of these five files' seeds use module names they do
    # not define (`undefined_name`), which leaves 13 of them; with these, 46.
    files = ("statistics.py", "difflib.py", "textwrap.py", "heapq.py", "calendar.py")
    for name in (*files, "inspect.py", "functools.py", "enum.py"):
        (source / name).write_bytes((stdlib_root() / name).read_bytes())
    path = write_spec(
        tmp_path / "spec.yaml",
        "wave",
        method="wavecoder",
        targetSize=20,
        source={"uri": str(source), "format": "python"},
        wavecoder={"coresetSize": 20},
        output={"uri": str(output)},
    )
    done = subprocess.run(
        [*CLI, "run", str(path), "--until", "coreset", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    run = RunOutput(output)
    seeds = run.records("embed")
    coreset = run.records("coreset")
    assert len(seeds) > 40 and len(coreset) == 20
    store = LocalStore(output)
    vectors = np.stack(
        [decode_npy(store.get(r["embedding_ref"]["key"]))[r["embedding_ref"]["row"]] for r in seeds]
    )
    assert vectors.shape[1] == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    ids = [r["id"] for r in seeds]
    first = ids.index(coreset[0]["id"])
    expected = [ids[i] for i in textbook_kcenter(vectors, 20, first)]
    assert [r["id"] for r in coreset] == expected
    assert expected != ids[:20]  # not the reference implementation's first-N bug


def test_ray_kcenter_and_embeddings_equal_local(ray_session: Any) -> None:
    problems = humaneval_problems()
    texts = [p["prompt"] for p in problems]
    local = LocalEmbedder("all-MiniLM-L6-v2")
    vectors = local.encode(texts)
    from codeinstruct.workers.embeddings import RayEmbedder

    remote = RayEmbedder(ray_session, "all-MiniLM-L6-v2", 64, workers=2)
    try:
        assert np.allclose(remote.encode(texts), vectors, atol=1e-5)
    finally:
        remote.close()
    assert kcenter_greedy_ray(ray_session, vectors, 60, 11, workers=3) == textbook_kcenter(
        vectors, 60, 11
    )


def test_unknown_embedding_model_is_a_user_error(tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "pool.jsonl")
    spec = xcoder_spec(tmp_path / "spec.yaml", pool, tmp_path / "out", embeddingModel="/no/model")
    done = subprocess.run(
        [*CLI, "run", str(spec), "--no-progress"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "scoring.embeddingModel" in message and "Traceback" not in message


def test_tli_command(tmp_path: Path) -> None:
    problems = humaneval_problems()
    train = tmp_path / "train.jsonl"
    rows = [{"instruction": p["prompt"] + p["canonical_solution"]} for p in problems]
    rows.append({"instruction": "a recipe for pasta with tomatoes and fresh basil leaves"})
    train.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    clean = tmp_path / "clean.jsonl"
    done = subprocess.run(
        [*CLI, "tli", "--train", str(train), "--test", "humaneval", "--write-clean", str(clean)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # HumanEval's own prompts as the test side, from the textbook definition of TLI.
    tli, _, _ = naive_leakage([r["instruction"] for r in rows], [p["prompt"] for p in problems])
    assert 0.5 < tli < 1.0
    assert f"TLI-mean@1: {tli:.6f}" in done.stdout
    assert "HumanEval/" in done.stdout
    assert read_jsonl(clean) == rows[-1:]
    bad = subprocess.run(
        [*CLI, "tli", "--train", str(train), "--test", "humaneval", "--key-train", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "missing field(s) ['nope']" in " ".join(bad.stderr.split())
