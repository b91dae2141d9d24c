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
from codeinstruct.workers.stages.seeds import stdlib_root
from tests.conftest import CLI

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


def dataset_files(output: Path) -> dict[str, bytes]:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return {p.name: p.read_bytes() for p in sorted((run_dir / "dataset").iterdir())}


def records(output: Path) -> list[dict[str, object]]:
    files = dataset_files(output)
    return [
        json.loads(line)
        for name, data in files.items()
        if name.endswith(".jsonl")
        for line in data.splitlines()
    ]


def card_counts(files: dict[str, bytes]) -> dict[str, object]:
    """Per-stage counts from the dataset card (timings differ between runs by nature)."""
    front = yaml.safe_load(files["README.md"].decode().split("---")[1])
    stages = front["codeinstruct"]["stages"]
    return {name: {k: v for k, v in s.items() if k != "seconds"} for name, s in stages.items()}


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
    card = (next((tmp_path / "out").iterdir()) / "dataset" / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    stats = front["codeinstruct"]["stages"]
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
    resumed, reference_files = dataset_files(tmp_path / "out"), dataset_files(tmp_path / "ref")
    data = [name for name in reference_files if name.startswith("data-")]
    assert data and {n: resumed[n] for n in data} == {n: reference_files[n] for n in data}
    assert card_counts(resumed) == card_counts(reference_files)
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
    while not list((tmp_path / "out").glob("*/stages/seeds/_done/*.json")):
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stderr and "Traceback" not in stderr
    kept = len(list((tmp_path / "out").glob("*/stages/seeds/_done/*.json")))
    result = run(spec)
    assert result.returncode == 0, result.stderr
    assert kept > 0 and records(tmp_path / "out")


def test_parquet_output_loads_with_datasets(source_tree: Path, tmp_path: Path) -> None:
    import datasets

    spec_path = write_spec(
        tmp_path / "spec.yaml", str(source_tree / "lib" / "urllib"), tmp_path / "out"
    )
    spec = yaml.safe_load(spec_path.read_text())
    spec["spec"]["output"]["format"] = "parquet"
    spec_path.write_text(yaml.safe_dump(spec))
    assert run(spec_path).returncode == 0
    (run_dir,) = list((tmp_path / "out").iterdir())
    files = sorted(str(p) for p in (run_dir / "dataset").glob("data-*.parquet"))
    loaded = datasets.load_dataset("parquet", data_files=files, split="train")
    assert loaded.num_rows > 0 and "seed" in loaded.column_names
    jsonl = write_spec(tmp_path / "j.yaml", str(source_tree / "lib" / "urllib"), tmp_path / "j")
    assert run(jsonl).returncode == 0
    (run_dir,) = list((tmp_path / "j").iterdir())
    files = sorted(str(p) for p in (run_dir / "dataset").glob("data-*.jsonl"))
    as_json = datasets.load_dataset("json", data_files=files, split="train")
    assert as_json.num_rows == loaded.num_rows


def test_output_to_s3(s3_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for problem in humaneval_problems()[:3]:
        (source / "he.py").write_text(problem["prompt"] + problem["canonical_solution"])
    shutil.copy(stdlib_root() / "textwrap.py", source / "textwrap.py")
    spec = write_spec(tmp_path / "spec.yaml", str(source), "s3://ci-output/runs")
    result = run(spec, env=s3_env)
    assert result.returncode == 0, result.stderr
    from codeinstruct.workers.store import open_store

    keys = open_store("s3://ci-output/runs").list("")
    assert any(k.endswith("dataset/README.md") for k in keys)
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
