"""The runner's resume, seen through its public behaviour: `Runner(...).run()`, the ledger and
the store. Small fake stages stand in for a method: a source over partitions, a per-shard stage
and a whole stage; a crash is an exception raised once in the middle of a shard (or in the
middle of a whole stage's commits). A rerun redoes only what was not committed, every shard is
committed exactly once, and the dataset equals that of a run that never crashed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers import runner as runner_module
from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import Record
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.stages.base import (
    Drop,
    SourceStage,
    Stage,
    StageContext,
    StageKind,
    StageOutput,
)
from codeinstruct.workers.store import LocalStore
from tests.helpers.runs import RunOutput
from tests.helpers.specs import make_dataset

PARTITIONS = 4
PER_PARTITION = 5
SHARD_SIZE = 3  # the whole stage's output spans several shards
VALUES = [p * 10 + j for p in range(PARTITIONS) for j in range(PER_PARTITION)]
KEPT = [v for v in VALUES if v % 7 and v % 5]  # the source drops 7s, the square stage 5s
RANK_SHARDS = -(-(len(KEPT) - 1) // SHARD_SIZE)  # rank drops one, then cuts into shards


class Crash(Exception):
    """The stand-in for a process dying in the middle of a stage."""


class Crashes:
    """Where the next run crashes: each armed point raises once, then is spent."""

    def __init__(self, *points: str) -> None:
        self.armed = set(points)

    def hit(self, point: str) -> None:
        if point in self.armed:
            self.armed.discard(point)
            raise Crash(point)


class Source(SourceStage):
    name = "source"
    kind = StageKind.PREPARE

    def __init__(self, crashes: Crashes, calls: Counter[str]) -> None:
        self.crashes, self.calls = crashes, calls

    def partitions(self, ctx: StageContext) -> list[Any]:
        return list(range(PARTITIONS))

    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        self.calls[f"source:{partition}"] += 1
        for j in range(PER_PARTITION):
            if j == 2:  # mid-partition: some records were already yielded
                self.crashes.hit(f"source:{partition}")
            record = {"id": f"p{partition}-{j}", "value": partition * 10 + j}
            yield Drop(record, "odd_value") if record["value"] % 7 == 0 else record


class Square(Stage):
    name = "square"
    kind = StageKind.GENERATE

    def __init__(self, crashes: Crashes, calls: Counter[str]) -> None:
        self.crashes, self.calls = crashes, calls

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        shard = records[0]["id"].split("-")[0]  # one source partition per shard
        self.calls[f"square:{shard}"] += 1
        for index, record in enumerate(records):
            if index == 1:
                self.crashes.hit(f"square:{shard}")
            ctx.count("squared")
            if record["value"] % 5 == 0:
                yield Drop(record, "multiple_of_five")
            else:
                yield {**record, "square": record["value"] ** 2}


class Rank(Stage):
    name = "rank"
    kind = StageKind.SCORE
    whole = True

    def __init__(self, crashes: Crashes, calls: Counter[str]) -> None:
        self.crashes, self.calls = crashes, calls

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        self.calls["rank"] += 1
        ordered = sorted(records, key=lambda r: -r["square"])
        for rank, record in enumerate(ordered):
            yield Drop(record, "last") if rank == len(ordered) - 1 else {**record, "rank": rank}


class CountingStore(LocalStore):
    """A local store that counts writes by key, and can fail one chosen write once."""

    def __init__(self, root: Path, fail_once: str | None = None) -> None:
        super().__init__(root)
        self.puts: Counter[str] = Counter()
        self.fail_once = fail_once

    def put(self, key: str, data: bytes) -> None:
        if self.fail_once is not None and key.endswith(self.fail_once):
            self.fail_once = None
            raise Crash(key)
        super().put(key, data)
        self.puts[key] += 1


class Method:
    """The fake method: its stages share the crash points and count their calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.crashes = Crashes()
        self.calls: Counter[str] = Counter()
        stages = [cls(self.crashes, self.calls) for cls in (Source, Square, Rank)]
        monkeypatch.setattr(runner_module, "method_stages", lambda spec: stages)

    def run(self, out: Path, store: LocalStore, until: str | None = None) -> Any:
        dataset = make_dataset(output={"uri": str(out), "shardSize": SHARD_SIZE})
        return Runner(dataset, store=store, progress=False).run(until=until)


def marker_writes(store: CountingStore) -> Counter[tuple[str, str]]:
    """How often each shard's completion marker was written, by (stage, shard file)."""
    return Counter(
        {
            (key.split("/")[-3], key.split("/")[-1]): n
            for key, n in store.puts.items()
            if "/_done/" in key
        }
    )


def clean_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Record], Any]:
    method = Method(monkeypatch)
    out = tmp_path / "clean"
    report = method.run(out, CountingStore(out))
    return RunOutput(out).dataset(), report


def test_a_clean_run_commits_each_shard_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    method = Method(monkeypatch)
    store = CountingStore(tmp_path)
    report = method.run(tmp_path, store)
    writes = marker_writes(store)
    assert set(writes.values()) == {1}
    assert RANK_SHARDS > 2
    assert Counter(stage for stage, _ in writes) == {
        "source": PARTITIONS,
        "square": PARTITIONS,
        "rank": RANK_SHARDS,
    }
    output = RunOutput(tmp_path)
    records = output.dataset()
    assert [r["value"] for r in records] == sorted(KEPT, reverse=True)[:-1]  # rank drops the last
    assert report.records == len(records)
    fives = sum(1 for v in VALUES if v % 7 and v % 5 == 0)
    assert output.stats("square").dropped == {"multiple_of_five": fives}
    assert output.stats("rank").records_in == len(KEPT)


def test_a_crash_in_the_middle_of_a_shard_stage_redoes_only_that_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, _ = clean_run(tmp_path, monkeypatch)
    method = Method(monkeypatch)
    out = tmp_path / "crashed"
    store = CountingStore(out)
    method.crashes.armed = {"square:p2"}
    with pytest.raises(Crash):
        method.run(out, store)
    ledger = RunOutput(out).ledger
    assert sorted(ledger.done("square")) == [0, 1], "shards before the crash are committed"
    assert ledger.completion("square") is None and ledger.completion("source") is not None
    method.run(out, store)
    assert method.calls == {
        **{f"source:{p}": 1 for p in range(PARTITIONS)},
        "square:p0": 1,
        "square:p1": 1,
        "square:p2": 2,  # the crashed shard, once more
        "square:p3": 1,
        "rank": 1,
    }
    assert set(marker_writes(store).values()) == {1}, "every shard committed exactly once"
    assert RunOutput(out).dataset() == expected


def test_a_crash_in_the_middle_of_the_source_resumes_at_that_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, _ = clean_run(tmp_path, monkeypatch)
    method = Method(monkeypatch)
    out = tmp_path / "crashed"
    store = CountingStore(out)
    method.crashes.armed = {"source:1"}
    with pytest.raises(Crash):
        method.run(out, store)
    assert sorted(RunOutput(out).ledger.done("source")) == [0]
    method.run(out, store)
    assert method.calls["source:0"] == 1 and method.calls["source:1"] == 2
    assert method.calls["source:3"] == 1
    assert set(marker_writes(store).values()) == {1}
    assert RunOutput(out).dataset() == expected


def test_a_whole_stage_committed_in_part_commits_only_its_missing_shards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected, clean_report = clean_run(tmp_path, monkeypatch)
    method = Method(monkeypatch)
    out = tmp_path / "crashed"
    store = CountingStore(out, fail_once="stages/rank/_done/00002.json")
    with pytest.raises(Crash):
        method.run(out, store)
    ledger = RunOutput(out).ledger
    assert sorted(ledger.done("rank")) == [0, 1] and ledger.completion("rank") is None
    report = method.run(out, store)
    assert method.calls["rank"] == 2, "a whole stage runs whole again"
    writes = marker_writes(store)
    assert set(writes.values()) == {1}, "the shards committed before the crash are not rewritten"
    assert sum(1 for stage, _ in writes if stage == "rank") == RANK_SHARDS
    assert RunOutput(out).dataset() == expected
    assert report.stages["rank"].to_json() | {"seconds": 0} == clean_report.stages[
        "rank"
    ].to_json() | {"seconds": 0}, "the whole stage's totals are counted once"


def test_a_completed_run_is_resumed_without_running_any_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    method = Method(monkeypatch)
    store = CountingStore(tmp_path)
    method.run(tmp_path, store)
    calls = Counter(method.calls)
    report = method.run(tmp_path, store)
    assert method.calls == calls
    assert report.resumed == ["source", "square", "rank"]
    assert set(marker_writes(store).values()) == {1}


def test_until_an_unknown_stage_is_a_user_error_naming_the_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    method = Method(monkeypatch)
    store = CountingStore(tmp_path)
    with pytest.raises(UserError, match=r"--until 'nope'.*source.*square.*rank"):
        method.run(tmp_path, store, until="nope")
    assert not method.calls and not store.puts, "nothing ran, nothing was written"
