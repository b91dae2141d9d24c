"""S3 faults between the runner and a real S3 server (moto), injected by a proxy: truncated
bodies, connection resets, 5xx answers and stalls are retried; a resume lists the ledger instead
of reading every marker; a cache read failure is a miss; a persistent outage is one clear line."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from codeinstruct.workers.llm.cache import CompletionCache
from codeinstruct.workers.store import S3Store
from tests.conftest import CLI
from tests.helpers.s3_fault_proxy import S3FaultProxy

pytestmark = pytest.mark.slow

MIXED = {"http_500": 0.03, "http_503": 0.03, "reset": 0.03, "truncate": 0.05, "stall": 0.02}
# A short read timeout and retry budget, so stalls and outages take seconds, not minutes.
FAST = {"CODEINSTRUCT_S3_TIMEOUT_SECONDS": "1", "CODEINSTRUCT_S3_RETRY_SECONDS": "30"}


@pytest.fixture
def proxy(s3_server: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(s3_server, stall_seconds=3) as running:
        yield running


def through(proxy: S3FaultProxy, s3_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**s3_env, **FAST, "S3_ENDPOINT_URL": proxy.url, **extra}


def source(root: Path, files: int = 24) -> Path:
    root.mkdir()
    for i in range(files):
        (root / f"mod{i}.py").write_text(
            "\n".join(
                f'def f{i}_{j}(values, limit={j}):\n    """Keep values below {j} in mod {i}."""\n'
                f"    return [v for v in values if v < limit + {i * j}]\n"
                for j in range(3)
            )
        )
    return root


def spec_file(tmp_path: Path, src: Path, bucket: str) -> Path:
    spec = {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "s3-chaos"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 1000,
            "source": {"uri": str(src), "filesPerShard": 2},
            "mining": {"dedup": {"threshold": 0.9}},
            "output": {"uri": f"s3://{bucket}/runs", "shardSize": 8},
        },
    }
    path = tmp_path / f"{bucket}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(
    spec: Path, env: dict[str, str], until: str = "seed_dedup"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", str(spec), "--until", until, "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def data_objects(env: dict[str, str], bucket: str) -> dict[str, bytes]:
    """Every data object of a run (shards, excluded, dataset), without the run-specific ones."""
    store = _direct(env, bucket)
    keys = [
        k
        for k in store.list("")
        if k.endswith(".jsonl")
        or k.endswith(".parquet")
        or ("/dataset/" in k and "README" not in k)
    ]
    return {k.split("/", 1)[1]: store.get(k) for k in keys}


def _direct(env: dict[str, str], bucket: str) -> S3Store:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return S3Store(bucket, "runs")


def test_a_run_through_s3_faults_gives_the_same_data_as_a_clean_run(
    tmp_path: Path, proxy: S3FaultProxy, s3_env: dict[str, str]
) -> None:
    src = source(tmp_path / "src")
    clean = run(spec_file(tmp_path, src, "clean"), {**s3_env, **FAST})
    assert clean.returncode == 0, clean.stderr
    proxy.rates = MIXED
    faulty = run(spec_file(tmp_path, src, "faulty"), through(proxy, s3_env))
    assert faulty.returncode == 0, faulty.stderr[-3000:]
    assert "Traceback" not in faulty.stderr
    # Every kind of fault was met, and the data is what a clean run wrote.
    assert set(proxy.injected) == set(MIXED), proxy.injected
    expected = data_objects(s3_env, "clean")
    assert len(expected) > 20
    assert data_objects(s3_env, "faulty") == expected


def test_a_resume_lists_the_ledger_instead_of_reading_each_marker(
    tmp_path: Path, proxy: S3FaultProxy, s3_env: dict[str, str]
) -> None:
    src = source(tmp_path / "src")
    spec = spec_file(tmp_path, src, "resume")
    env = through(proxy, s3_env)
    first = run(spec, env, until="seeds")
    assert first.returncode == 0, first.stderr
    markers = sum(1 for (m, k) in proxy.keys if m == "PUT" and "/stages/seeds/_done/" in k)
    assert markers == 12  # 24 files, 2 per shard
    proxy.reset_counts()
    second = run(spec, env, until="seed_decontam")
    assert second.returncode == 0, second.stderr
    marker_reads = {k: n for (m, k), n in proxy.keys.items() if m == "GET" and "/_done/" in k}
    # The completed stage is known from one object; the new stage's markers were written here.
    assert marker_reads == {}
    ledger_reads = {
        k: n for (m, k), n in proxy.keys.items() if m == "GET" and k.endswith("_complete.json")
    }
    # One read of the completed stage's summary, and one (a miss) of each stage about to run
    # (seed_names, seed_decontam): never a stage's summary twice.
    stages = {key.split("/")[-2]: n for key, n in ledger_reads.items()}
    assert stages == {"seeds": 1, "seed_names": 1, "seed_decontam": 1}, ledger_reads


def test_a_cache_read_failure_is_a_cache_miss(
    proxy: S3FaultProxy, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in through(proxy, s3_env, CODEINSTRUCT_S3_RETRY_SECONDS="1").items():
        monkeypatch.setenv(name, value)
    cache = CompletionCache(S3Store("cache", "runs"), "cache/llm")
    proxy.outage = True
    key = cache.key("m", "chat", {"messages": []})
    assert asyncio.run(cache.get(key)) is None


def test_a_persistent_outage_is_one_clear_line(
    tmp_path: Path, proxy: S3FaultProxy, s3_env: dict[str, str]
) -> None:
    spec = spec_file(tmp_path, source(tmp_path / "src"), "outage")
    proxy.rates, proxy.methods, proxy.after = {"http_503": 1.0}, {"PUT"}, 10
    result = run(spec, through(proxy, s3_env, CODEINSTRUCT_S3_RETRY_SECONDS="2"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "s3://outage/runs/" in errors[0] and "SlowDown" in errors[0]
