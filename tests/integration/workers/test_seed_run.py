"""`codeinstruct run` of seed mining, end to end: the standard library, injected HumanEval
solutions, kill -9 at several points and resume, S3 output."""

from __future__ import annotations

import ast
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.sources import stdlib_root
from tests.helpers.paths import CLI
from tests.helpers.servers import wait_for

pytestmark = pytest.mark.slow


def write_spec(path: Path, source: str, output: Path | str, **source_extra: object) -> Path:
    spec = {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "seeds"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 1000,
            "source": {"uri": source, **source_extra},
            "output": {"uri": str(output), "shardSize": 500},
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def run(
    spec: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", str(spec), "--until", "seed_dedup", "--no-progress", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


# `--until seed_dedup` stops before the method's last stage: the seeds are that stage's shards
# (no dataset/ is exported), and each stage's totals are in its ledger marker.
def stage_files(output: Path, stage: str = "seed_dedup") -> dict[str, bytes]:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return {p.name: p.read_bytes() for p in sorted((run_dir / "stages" / stage).glob("shard-*"))}


def records(output: Path) -> list[dict[str, object]]:
    return [json.loads(line) for data in stage_files(output).values() for line in data.splitlines()]


def stage_counts(output: Path) -> dict[str, object]:
    """Per-stage counts from the ledger (timings differ between runs by nature)."""
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    counts = {}
    for marker in sorted(run_dir.glob("stages/*/_complete.json")):
        stats = json.loads(marker.read_text())["stats"]
        counts[marker.parent.name] = {k: v for k, v in stats.items() if k != "seconds"}
    return counts


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standard library plus every HumanEval problem as a file, and some broken files."""
    root = tmp_path_factory.mktemp("source")
    shutil.copytree(
        stdlib_root(),
        root / "lib",
        ignore=shutil.ignore_patterns(
            "site-packages", "__pycache__", "test", "tests", "idlelib", "lib2to3"
        ),
        symlinks=True,
    )
    for problem in humaneval_problems():
        name = problem["task_id"].replace("/", "_")
        (root / f"{name}.py").write_text(problem["prompt"] + problem["canonical_solution"])
    (root / "binary.py").write_bytes(b"\x00\x01\x02" * 100)
    (root / "latin1.py").write_bytes(
        b'def f(x):\n    """caf\xe9 au lait, with milk"""\n    return x\n'
    )
    (root / "broken.py").write_text("def f(:\n    return")
    (root / "empty.py").write_text("")
    (root / "huge.py").write_text("x = 1\n" * 400_000)
    return root


def test_stdlib_seed_mining_end_to_end(source_tree: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", str(source_tree), tmp_path / "out")
    result = run(spec)
    assert result.returncode == 0, result.stderr
    seeds = records(tmp_path / "out")
    # About 1,000 stdlib seeds pass the extraction; two thirds read module names they do not
    # define (`undefined_name`) and the reference's MinHash setting removes more: ~300 remain.
    assert len(seeds) > 250
    for seed in seeds:
        tree = ast.parse(str(seed["seed"]))
        function = next(
            n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        )
        assert ast.get_docstring(function)
        assert any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(function))
    # Every injected HumanEval problem is gone; the seed_decontam stage says why.
    leaked = {p["entry_point"] for p in humaneval_problems()} & {
        s["entry_point"] for s in seeds if "HumanEval_" in str(s["meta"]["source"])
    }  # type: ignore[index]
    assert not leaked
    stats = stage_counts(tmp_path / "out")
    assert stats["seed_decontam"]["dropped"]["benchmark_humaneval"] > 100
    for reason in ("binary_file", "not_utf8", "syntax_error", "empty_file", "file_too_large"):
        assert stats["seeds"]["dropped"][reason] >= 1, reason
    assert stats["seed_dedup"]["records_out"] == len(seeds)
    assert stats["seed_names"]["dropped"]["undefined_name"] > 500
    assert "seed_dedup: in" in result.stderr


def test_kill_9_at_several_points_then_resume_is_byte_identical(
    source_tree: Path, tmp_path: Path
) -> None:
    reference = write_spec(
        tmp_path / "ref.yaml", str(source_tree), tmp_path / "ref", filesPerShard=8
    )
    assert run(reference).returncode == 0
    spec = write_spec(tmp_path / "spec.yaml", str(source_tree), tmp_path / "out", filesPerShard=8)
    markers = tmp_path / "out"
    for kill_after in (3, 25, 60):
        process = subprocess.Popen(
            [*CLI, "run", str(spec), "--until", "seed_dedup", "--no-progress"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if len(list(markers.glob("*/stages/seeds/_done/*.json"))) >= kill_after:
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if kill_after == 3:
            assert not list(markers.glob("*/stages/seeds/_complete.json")), "killed mid-stage"
    assert len(list(markers.glob("*/stages/seeds/_done/*.json"))) > 0
    result = run(spec)
    assert result.returncode == 0, result.stderr
    resumed, reference_files = stage_files(tmp_path / "out"), stage_files(tmp_path / "ref")
    assert reference_files and resumed == reference_files
    assert stage_counts(tmp_path / "out") == stage_counts(tmp_path / "ref")
    ids = [r["id"] for r in records(tmp_path / "out")]
    assert len(ids) == len(set(ids)), "no duplicated records"


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(source_tree: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "spec.yaml", str(source_tree), tmp_path / "out", filesPerShard=4)
    process = subprocess.Popen(
        [*CLI, "run", str(spec), "--until", "seed_dedup", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: bool(list((tmp_path / "out").glob("*/stages/seeds/_done/*.json"))),
        process,
        "a committed seeds shard",
    )
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    kept = len(list((tmp_path / "out").glob("*/stages/seeds/_done/*.json")))
    result = run(spec)
    assert result.returncode == 0, result.stderr
    assert kept > 0 and records(tmp_path / "out")


def test_parquet_output_loads_with_datasets(source_tree: Path, tmp_path: Path) -> None:
    """The mined seeds exported as the dataset (what a run's last stage gets), in each format."""
    import datasets

    from codeinstruct.workers.export import export_dataset
    from codeinstruct.workers.ledger import Ledger, StageStats
    from codeinstruct.workers.runner import run_prefix
    from codeinstruct.workers.spec import load_spec
    from codeinstruct.workers.store import LocalStore

    loaded = {}
    for fmt in ("parquet", "jsonl"):
        spec_path = write_spec(
            tmp_path / f"{fmt}.yaml", str(source_tree / "lib" / "urllib"), tmp_path / fmt
        )
        spec = yaml.safe_load(spec_path.read_text())
        spec["spec"]["output"]["format"] = fmt
        spec_path.write_text(yaml.safe_dump(spec))
        assert run(spec_path).returncode == 0
        dataset = load_spec(spec_path)
        ledger = Ledger(LocalStore(tmp_path / fmt), run_prefix(dataset))
        export_dataset(dataset, ledger, "seed_dedup", {"seed_dedup": StageStats()})
        (run_dir,) = list((tmp_path / fmt).iterdir())
        files = sorted(str(p) for p in (run_dir / "dataset").glob(f"data-*.{fmt}"))
        loaded[fmt] = datasets.load_dataset(
            "json" if fmt == "jsonl" else fmt, data_files=files, split="train"
        )
    assert loaded["parquet"].num_rows > 0 and "seed" in loaded["parquet"].column_names
    assert loaded["jsonl"].num_rows == loaded["parquet"].num_rows


def test_output_to_s3(s3_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for index, problem in enumerate(humaneval_problems()[:3]):
        (source / f"he{index}.py").write_text(problem["prompt"] + problem["canonical_solution"])
    shutil.copy(stdlib_root() / "textwrap.py", source / "textwrap.py")
    spec = write_spec(tmp_path / "spec.yaml", str(source), "s3://ci-output/runs")
    result = run(spec, env=s3_env)
    assert result.returncode == 0, result.stderr
    from codeinstruct.workers.store import open_store

    keys = open_store("s3://ci-output/runs").list("")
    assert any(k.endswith("stages/seed_dedup/_complete.json") for k in keys)
    assert any("/stages/seeds/_done/" in k for k in keys)


def test_sources_jsonl_and_s3(s3_env: dict[str, str], tmp_path: Path) -> None:
    from codeinstruct.workers.store import open_store

    code = (stdlib_root() / "textwrap.py").read_text()
    rows = [{"content": code, "path": "textwrap.py"}, {"no_content": 1}, {"content": "def f(:"}]
    jsonl = tmp_path / "code.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    bucket = open_store("s3://ci-source/code")
    bucket.put("textwrap.py", code.encode())
    bucket.put("rows/code.jsonl", jsonl.read_bytes())
    found = {}
    for name, uri, fmt in [
        ("jsonl", str(jsonl), "jsonl"),
        ("s3py", "s3://ci-source/code", "python"),
        ("s3jsonl", "s3://ci-source/code", "jsonl"),
    ]:
        spec = write_spec(tmp_path / f"{name}.yaml", uri, tmp_path / name, format=fmt)
        result = run(spec, env=s3_env)
        assert result.returncode == 0, result.stderr
        found[name] = {str(r["entry_point"]) for r in records(tmp_path / name)}
    assert "dedent" in found["jsonl"] or "indent" in found["jsonl"]
    assert found["jsonl"] == found["s3py"] == found["s3jsonl"]
