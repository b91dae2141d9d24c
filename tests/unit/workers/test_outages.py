"""Infrastructure failures are never committed as drops (issue 15, item 2): a shard with a
sandbox `infra_error` or an `llm_infra_error` is left for the next run, the run stops with a
message naming what failed, and past the limit no new shard is started."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeinstruct.workers import outages
from codeinstruct.workers.llm import InfraFailure
from codeinstruct.workers.outages import InfraOutage
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.runner import Runner, run_prefix
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.stages.concepts import ExtractConcepts
from codeinstruct.workers.stages.execute import ExecuteTests
from codeinstruct.workers.stages.seeds import MineSeeds
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeExecutor, FakeLLM


def seed_dir(root: Path, count: int) -> Path:
    """One file per function, so each is a shard of its own (`filesPerShard: 1`)."""
    root.mkdir()
    for i in range(count):
        (root / f"seed{i:03}.py").write_text(
            textwrap.dedent(f'''
            def scale{i}(values, factor):
                """Return each value of the list multiplied by the factor, number {i}."""
                return [v * factor + {i} for v in values]
            ''')
        )
    return root


class Answer(Stage):
    """Plays the response stage: the seed itself as the response, with one assert."""

    kind = StageKind.GENERATE
    name = "answer"
    outputs = ("response", "tests")

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        for record in records:
            name = str(record["seed"]).split("def ")[1].split("(")[0]
            response = f"```python\n{record['seed']}\n```"
            yield derive(record, self.name, "", response=response, tests=f"assert {name}")


def test_a_sandbox_infra_error_leaves_its_shard_for_the_next_run(tmp_path: Path) -> None:
    dataset = make_dataset(
        source={"uri": str(seed_dir(tmp_path / "src", 3)), "filesPerShard": 1},
        output={"uri": str(tmp_path / "out"), "shardSize": 1},
    )
    spec = dataset.spec
    stages = [MineSeeds(spec.source, spec.mining), Answer(), ExecuteTests(spec.sandbox)]
    broken = FakeExecutor(
        lambda program: (
            "infra_error"
            if "scale1" in program
            else "fail"
            if "NotImplementedError" in program  # the null variant: the tests can fail
            else "pass"
        )
    )
    with pytest.raises(InfraOutage, match=r"the sandbox \(isolation gvisor\).*1 shards left"):
        Runner(dataset, progress=False, provided={"sandbox": broken}).run_stages(stages)
    store = LocalStore(tmp_path / "out")
    execute = f"{run_prefix(dataset)}/stages/execute"
    assert not store.exists(f"{execute}/_complete.json")
    committed = [k for k in store.list(execute) if k.endswith(".jsonl")]
    assert len(committed) == 2, committed  # the two healthy shards, and no infra_error drop
    healthy = FakeExecutor(lambda program: "fail" if "NotImplementedError" in program else "pass")
    report = Runner(dataset, progress=False, provided={"sandbox": healthy}).run_stages(stages)
    assert report.stages["execute"].records_out == 3
    assert not report.stages["execute"].dropped
    checked = [job for job in healthy.jobs if job.variants is None]
    assert [job.program.count("scale1") > 0 for job in checked] == [True]


def test_past_the_limit_no_new_shard_is_started(tmp_path: Path) -> None:
    count = 3 * outages.MIN_LIMIT
    dataset = make_dataset(
        source={"uri": str(seed_dir(tmp_path / "src", count)), "filesPerShard": 1},
        output={"uri": str(tmp_path / "out"), "shardSize": 1},
        generator={"backend": "openai", "endpoint": "http://vllm.example:8000/v1", "model": "m"},
    )
    spec = dataset.spec
    down = FakeLLM(lambda request: InfraFailure("llm_infra_error", "connection refused", 6))
    stages = [MineSeeds(spec.source, spec.mining), ExtractConcepts(spec.generator.sampling)]
    runner = Runner(dataset, progress=False, provided={"llm": down})
    with pytest.raises(InfraOutage, match=r"past the limit.*generator.endpoint http://vllm"):
        runner.run_stages(stages)
    # One shard at a time (the fake has one slot): the stage stops at the first shard past it.
    assert len(down.requests) == outages.MIN_LIMIT + 1 < count


class JudgeAll(Stage):
    """A whole stage whose LLM failed for one record."""

    kind = StageKind.GENERATE
    name = "judge"
    whole = True

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        for record in records:
            failed = "scale0" in str(record["seed"])
            yield Drop({**record, "llm_error": "HTTP 503"}, "llm_infra_error") if failed else record


def test_a_whole_stage_with_an_infra_failure_commits_nothing(tmp_path: Path) -> None:
    dataset = make_dataset(
        source={"uri": str(seed_dir(tmp_path / "src", 3))},
        output={"uri": str(tmp_path / "out")},
        generator={"backend": "openai", "endpoint": "http://vllm.example:8000/v1", "model": "m"},
    )
    spec = dataset.spec
    with pytest.raises(InfraOutage, match=r"stage judge: 1 records.*HTTP 503"):
        Runner(dataset, progress=False).run_stages(
            [MineSeeds(spec.source, spec.mining), JudgeAll()]
        )
    assert not LocalStore(tmp_path / "out").list(f"{run_prefix(dataset)}/stages/judge")
