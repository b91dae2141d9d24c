"""Stages overlap (issue 15, item 9): a shard stage starts on the shards its upstream has
committed, e.g. execute while responses are still being written, through SelfCodeAlign's own
stages with a scripted LLM and sandbox. The output is byte for byte that of stages run one after
the other, every shard is committed exactly once, and a crash in the middle of the overlap
resumes to the same bytes; whole stages still wait for all of their input."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.runner import Runner
from codeinstruct.workers.sandbox import ExecResult, Job
from tests.conftest import make_dataset
from tests.fakes import FakeExecutor, FakeLLM, Request
from tests.helpers.runs import RunOutput
from tests.unit.workers.test_outages import seed_dir
from tests.unit.workers.test_runner import CountingStore, Crash, marker_writes

SEEDS = 6
FENCE = "```"


def answer(request: Request) -> str:
    """The model for S→C, C→I, I→R, naming the seed's function all the way through, so the
    response step knows which seed it answers."""
    query = request.text
    if query.startswith(FENCE):
        name = re.search(r"def (\w+)", query)
        return f"<concepts>concept {name.group(1) if name else '?'}, loops"
    if query.startswith("Concepts:"):
        name = re.search(r"concept (\w+)", query)
        return f"<instruction>\nWrite task_{name.group(1) if name else 'g'}() returning 1.\n"
    if query.startswith("<instruction>"):
        name = re.search(r"Write (\w+)\(\)", query)
        fn = name.group(1) if name else "g"
        return (
            f"<response>\nEasy.\n{FENCE}python\ndef {fn}():\n    return 1\n{FENCE}\n</response>\n\n"
            f"<tests>\n{FENCE}python\nassert {fn}() == 1\n{FENCE}\n"
        )
    raise AssertionError(f"unexpected prompt: {query[:80]}")


def responded(request: Request) -> str | None:
    """The function a response request is for (None for the other steps)."""
    found = re.search(r"Write (\w+)\(\)", request.text)
    return found.group(1) if request.text.startswith("<instruction>") and found else None


def spec(tmp_path: Path, out: str) -> Any:
    return make_dataset(
        targetSize=SEEDS,
        source={"uri": str(tmp_path / "src"), "filesPerShard": 1},
        output={"uri": str(tmp_path / out), "shardSize": 1},
        generator={"concurrency": 1, "sampling": {"samplesPerInstruction": 2}},
        sandbox={"workers": 1},
        mining={"dedup": {"threshold": 0.99}},  # the seeds differ only in a number
        decontamination={"benchmarks": []},
    )


class Sandbox(FakeExecutor):
    """Every program passes; `started` is set by the first job, `crash_at` raises once when the
    sandbox sees that job number (a crash in the middle of the execute stage)."""

    def __init__(self, crash_at: int | None = None) -> None:
        super().__init__(lambda program: "pass")
        self.started = threading.Event()
        self.crashed = threading.Event()
        self.crash_at = crash_at
        self.lock = threading.Lock()

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        with self.lock:
            self.started.set()
            if self.crash_at is not None and len(self.jobs) + len(jobs) > self.crash_at:
                self.crash_at = None
                self.crashed.set()
                raise Crash("sandbox")
            results = super().run(jobs)
        # A variant run (the null variant, with the function's body gone) fails its tests.
        return [
            replace(r, variants=[{**v, "verdict": "fail"} for v in r.variants or ()])
            if r.variants is not None
            else r
            for r in results
        ]


def wait(event: threading.Event, name: str, in_vain: list[str]) -> None:
    """Wait for `event` (once: at most 10 s); `name` goes in `in_vain` if it never came."""
    if not event.wait(timeout=10):
        in_vain.append(name)
        event.set()


def stage_files(out: Path) -> dict[str, bytes]:
    """Every shard file the run committed (kept and excluded records, executions), by path."""
    root = RunOutput(out).root
    return {
        str(p.relative_to(root)): p.read_bytes()
        for folder in ("stages", "excluded", "executions")
        for p in sorted((root / folder).rglob("shard-*.jsonl"))
    }


def run(tmp_path: Path, out: str, llm: FakeLLM, sandbox: Sandbox, **kw: Any) -> Any:
    dataset = spec(tmp_path, out)
    provided = {"llm": llm, "sandbox": sandbox}
    runner = Runner(dataset, progress=False, provided=provided, **kw)
    return runner.run(until="pick_response")


def test_execute_starts_on_committed_responses_before_the_responses_stage_finishes(
    tmp_path: Path,
) -> None:
    seed_dir(tmp_path / "src", SEEDS)
    sandbox = Sandbox()
    first: list[str] = []
    waited_in_vain: list[str] = []

    def script(request: Request) -> str:
        name = responded(request)
        if name is not None:
            first[:] = first or [name]
            if name != first[0]:  # a later seed's responses wait for the first seed's to run
                wait(sandbox.started, name, waited_in_vain)
        return answer(request)

    report = run(tmp_path, "out", FakeLLM(script), sandbox)
    assert report.stages["execute"].records_in == 2 * SEEDS
    assert waited_in_vain == [], "execute did not start until every response was written"
    assert report.stages["pick_response"].records_out == SEEDS, "the whole stage saw them all"


def test_overlapped_stages_give_the_bytes_of_stages_one_after_the_other(tmp_path: Path) -> None:
    seed_dir(tmp_path / "src", SEEDS)
    one_by_one = run(tmp_path, "apart", FakeLLM(answer), Sandbox(), overlap=False)
    overlapped = run(tmp_path, "together", FakeLLM(answer), Sandbox())
    apart, together = stage_files(tmp_path / "apart"), stage_files(tmp_path / "together")
    assert any(path.startswith("stages/execute/") for path in apart)
    assert together == apart
    counts = {name: stats.to_json() | {"seconds": 0} for name, stats in one_by_one.stages.items()}
    assert {
        name: stats.to_json() | {"seconds": 0} for name, stats in overlapped.stages.items()
    } == counts


def test_a_crash_in_the_middle_of_the_overlap_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    seed_dir(tmp_path / "src", SEEDS)
    run(tmp_path, "clean", FakeLLM(answer), Sandbox())
    store = CountingStore(tmp_path / "crashed")
    sandbox = Sandbox(crash_at=3)  # in the second shard of execute
    names: list[str] = []
    waited_in_vain: list[str] = []

    def script(request: Request) -> str:
        name = responded(request)
        if name is not None and name not in names:
            names.append(name)
        if name is not None and names.index(name) >= 2:  # the crash comes in the middle
            wait(sandbox.crashed, name, waited_in_vain)
        return answer(request)

    dataset = spec(tmp_path, "crashed")
    provided: dict[str, object] = {"llm": FakeLLM(script), "sandbox": sandbox}
    with pytest.raises(Crash):
        Runner(dataset, store=store, progress=False, provided=provided).run(until="pick_response")
    assert waited_in_vain == [], "execute did not start until every response was written"
    ledger = RunOutput(tmp_path / "crashed").ledger
    assert ledger.completion("execute") is None
    assert 0 < len(ledger.done("execute")) < SEEDS, "execute crashed part way through"
    again = Sandbox()
    provided = {"llm": FakeLLM(answer), "sandbox": again}
    Runner(dataset, store=store, progress=False, provided=provided).run(until="pick_response")
    assert set(marker_writes(store).values()) == {1}, "every shard committed exactly once"
    assert stage_files(tmp_path / "crashed") == stage_files(tmp_path / "clean")
    assert len(again.jobs) < 2 * SEEDS, "the resumed run executed only what was not committed"
