"""Runs a method's stages in-process, shard by shard, resuming from the ledger; consecutive shard
stages overlap (each starts on the shards its upstream has committed)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from codeinstruct.workers.collector import pace_for_throughput
from codeinstruct.workers.errors import PipelineError, UserError
from codeinstruct.workers.export import export_dataset
from codeinstruct.workers.lease import hold_lease
from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.methods import method_stages
from codeinstruct.workers.outages import Outages
from codeinstruct.workers.records import Record, encode_jsonl
from codeinstruct.workers.services import Services
from codeinstruct.workers.shard_window import Feed, window_width, windowed
from codeinstruct.workers.spec import InstructionDataset, run_signature
from codeinstruct.workers.stages.base import (
    Drop,
    SourceStage,
    Stage,
    StageContext,
    StageKind,
    StageOutput,
    missing_inputs,
)
from codeinstruct.workers.store import Store, open_store


@dataclass
class RunReport:
    """What a run did; `dataset_uri` is empty when it stopped before the method's last stage."""

    prefix: str
    dataset_uri: str
    records: int
    stages: dict[str, StageStats] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)


def run_prefix(dataset: InstructionDataset) -> str:
    return f"{dataset.metadata.name}-{run_signature(dataset.spec)}"


class Runner:
    def __init__(
        self,
        dataset: InstructionDataset,
        store: Store | None = None,
        console: Console | None = None,
        progress: bool = True,
        provided: Mapping[str, object] | None = None,
        overlap: bool = True,
    ) -> None:
        """`provided` services replace the ones the spec would start (e.g. a fake LLM);
        `overlap=False` runs each stage only after the one before it completed."""
        self.dataset = dataset
        self.provided = dict(provided or {})
        self.spec = dataset.spec
        self.store = store or open_store(self.spec.output.uri)
        self.ledger = Ledger(self.store, run_prefix(dataset))
        self.console = console or Console(stderr=True)
        self.show_progress = progress
        self.overlap = overlap

    def run(self, until: str | None = None) -> RunReport:
        return self.run_stages(method_stages(self.spec), until)

    def run_stages(self, stages: list[Stage], until: str | None = None) -> RunReport:
        """Run `stages` (up to `until`) holding the run lease, so no other runner pays too; the
        dataset is exported only after the last one."""
        problems = missing_inputs(stages)
        if problems:
            raise PipelineError("; ".join(problems))
        names = [stage.name for stage in stages]
        if until is not None and until not in names:
            raise UserError(f"--until {until!r}: no such stage; stages are {names}")
        say = lambda line: self.console.print(line, style="yellow", markup=False)  # noqa: E731
        pace_for_throughput()
        with hold_lease(self.store, self.ledger.key("_lease.json"), say):
            return self._run(stages, until)

    def _run(self, stages: list[Stage], until: str | None) -> RunReport:
        names = [stage.name for stage in stages]
        final = names[-1]
        if until is not None:
            stages = stages[: names.index(until) + 1]
        self._write_run_info()
        report = RunReport(self.ledger.prefix, "", 0)
        with Services(self.spec, self.ledger) as services:
            for name, service in self.provided.items():
                services.provide(name, service)
            previous: str | None = None
            complete = {s.name for s in stages if self.ledger.completion(s.name) is not None}
            for chain in self._chains(stages, complete):
                if chain[0].name in complete:
                    report.resumed.append(chain[0].name)
                else:
                    self._run_chain(chain, previous, services)
                for stage in chain:
                    report.stages[stage.name] = self._stage_total(stage.name)
                    self._print_stage(stage.name, report.stages[stage.name])
                previous = chain[-1].name
        assert previous is not None
        if previous == final:
            report.dataset_uri, report.records = export_dataset(
                self.dataset, self.ledger, previous, report.stages
            )
        else:
            report.records = report.stages[previous].records_out
        return report

    def _chains(self, stages: list[Stage], complete: set[str]) -> list[list[Stage]]:
        """The stages in groups that run at once: a run of stages not yet complete, each a
        source or shard stage, overlaps (each shard stage starts on the shards its upstream has
        committed); a whole stage, or one already `complete`, is a group of its own."""
        chains: list[list[Stage]] = []
        for stage in stages:
            joins = (
                self.overlap
                and chains
                and not stage.whole
                and not isinstance(stage, SourceStage)
                and not chains[-1][-1].whole
                and chains[-1][-1].name not in complete
                and stage.name not in complete
            )
            if joins:
                chains[-1].append(stage)
            else:
                chains.append([stage])
        return chains

    def _run_chain(self, chain: list[Stage], previous: str | None, services: Services) -> None:
        """Run the stages of `chain` at once, one thread each (the head in this thread when it
        runs alone). Every commit passes the gate: once this thread is interrupted (Ctrl-C,
        SIGTERM) the gate closes and nothing more is committed. The first failure in stage
        order is raised after every stage has stopped; a stage whose upstream stopped short
        stops without completing."""
        gate = _Gate()
        upstream = _Flow.committed(self.ledger, previous) if previous is not None else None
        flows: list[tuple[Stage, _Flow | None, _Flow]] = []
        for stage in chain:
            flow = _Flow.resumed(self.ledger, stage.name)
            if upstream is not None:
                upstream.follow(set(flow.records))
            flows.append((stage, upstream, flow))
            upstream = flow
        with _Bars(self.console, self.show_progress) as bars:
            if len(chain) == 1:
                stage, upstream, flow = flows[0]
                self._run_stage(stage, upstream, flow, services, bars, gate)
                return
            errors: dict[int, BaseException] = {}

            def run(position: int) -> None:
                stage, upstream, flow = flows[position]
                try:
                    self._run_stage(stage, upstream, flow, services, bars, gate)
                except BaseException as error:  # raised in this thread, below
                    errors[position] = error
                finally:
                    flow.feed.close()

            threads = [
                threading.Thread(target=run, args=(i,), name=stage.name, daemon=True)
                for i, stage in enumerate(chain)
            ]
            try:
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            except BaseException:
                gate.close()
                raise
        if errors:
            raise errors[min(errors)]

    def _run_stage(
        self,
        stage: Stage,
        upstream: _Flow | None,
        flow: _Flow,
        services: Services,
        bars: _Bars,
        gate: _Gate,
    ) -> None:
        started = time.monotonic()
        shards: int | None
        if isinstance(stage, SourceStage):
            shards = self._run_source(stage, services, bars, flow, gate)
        elif upstream is None:
            raise RuntimeError(f"stage {stage.name!r} needs a previous stage")
        elif stage.whole:
            shards = self._run_whole(stage, upstream.stage, services, bars, gate)
        else:
            shards = self._run_shards(stage, upstream, services, bars, flow, gate)
        if shards is None:
            return  # the upstream stopped short: this stage is not complete either
        total = self.ledger.stats(stage.name)
        total.seconds = time.monotonic() - started
        with gate:
            self.ledger.complete(stage.name, shards, total)
            flow.finish()

    def _write_run_info(self) -> None:
        key = self.ledger.key("run.json")
        if not self.store.exists(key):
            info = {
                "signature": run_signature(self.spec),
                "spec": self.dataset.model_dump(mode="json", by_alias=True, exclude={"status"}),
            }
            self.store.put(key, json.dumps(info, indent=2, sort_keys=True).encode())

    def _stage_total(self, name: str) -> StageStats:
        completion = self.ledger.completion(name)
        assert completion is not None
        return StageStats.from_json(completion["stats"])

    def _run_source(
        self, stage: SourceStage, services: Services, bars: _Bars, flow: _Flow, gate: _Gate
    ) -> int:
        ctx = StageContext(services, self.spec.seed)
        partitions = stage.partitions(ctx)
        flow.expected_in = lambda: len(partitions)
        done = self.ledger.done(stage.name)
        bar = bars.add(stage.name, len(partitions), "parts")
        bar.advance(len(done))
        for index, partition in enumerate(partitions):
            if index in done:
                continue
            ctx = StageContext(services, self.spec.seed)
            kept, excluded = _split(stage.read(partition, ctx), ctx)
            self._commit_split(stage.name, _ShardResult(index, [], kept, excluded, ctx), gate, flow)
            bar.advance(1)
        return len(partitions)

    def _run_shards(
        self,
        stage: Stage,
        upstream: _Flow,
        services: Services,
        bars: _Bars,
        flow: _Flow,
        gate: _Gate,
    ) -> int | None:
        """A window of shards in progress (enough to fill the stage's capacity), each committed
        as it finishes; a shard with infrastructure failures is left uncommitted. The shards
        come from the upstream as it commits them (all at once when it is complete); the total
        is the upstream's records, estimated until it completes."""
        previous = upstream.stage
        flow.expected_in = upstream.expected_out
        width = window_width(stage.capacity(services), self.spec.output.shard_size)
        outages = Outages(stage.name, upstream.expected_out())
        bar = bars.add(stage.name, upstream.expected_out(), "records")

        def estimate() -> None:
            outages.records = upstream.expected_out()
            bar.total(outages.records)

        upstream.listeners.append(estimate)
        bar.advance(sum(upstream.records[i] for i in flow.records))
        committed = set(flow.records)

        def work(index: int) -> _ShardResult:
            records = self.ledger.read(previous, index)
            advanced = 0

            def step(n: int) -> None:
                nonlocal advanced
                advanced += n
                bar.advance(n)

            ctx = StageContext(services, self.spec.seed, advance=step)
            kept, excluded = _split(stage.run(records, ctx), ctx)
            bar.advance(len(records) - advanced)
            return _ShardResult(index, records, kept, excluded, ctx)

        executes = stage.kind is StageKind.EXECUTE
        keep_going = lambda: outages.within_limit() and not gate.closed  # noqa: E731
        for index, result in windowed(upstream.feed, work, width, keep_going):
            if not outages.add_shard(index, result.excluded):
                self._commit_split(stage.name, result, gate, flow, executes)
                committed.add(index)
        if outages.shards:
            raise outages.error(self.spec)
        if gate.closed:
            raise _Stopped(stage.name)
        if not upstream.complete:
            return None
        shards = self.ledger.shard_count(previous)
        if len(committed) < shards:  # not reached: every upstream shard was fed and committed
            raise RuntimeError(f"stage {stage.name!r}: {shards - len(committed)} shards not done")
        return shards

    def _run_whole(
        self, stage: Stage, previous: str, services: Services, bars: _Bars, gate: _Gate
    ) -> int:
        records = list(self.ledger.read_stage(previous))
        bar = bars.add(stage.name, len(records), "records")
        ctx = StageContext(services, self.spec.seed, advance=bar.advance)
        kept, excluded = _split(stage.run(records, ctx), ctx)
        outages = Outages(stage.name, len(records))
        if outages.add_shard(0, excluded):
            raise outages.error(self.spec)  # a whole stage is committed all or nothing
        ctx.stats.records_in = len(records)
        size = self.spec.output.shard_size
        shards = max(1, math.ceil(len(kept) / size))
        done = self.ledger.done(stage.name)
        for index in range(shards):
            if index in done:
                continue
            chunk = kept[index * size : (index + 1) * size]
            # The whole stage's counts live on shard 0, so the ledger's sum stays exact.
            stats = ctx.stats if index == 0 else StageStats()
            stats.records_out = len(chunk)
            with gate:
                self.ledger.commit(
                    stage.name, index, chunk, stats, excluded if index == 0 else None
                )
        return shards

    def _commit_split(
        self,
        stage: str,
        shard: _ShardResult,
        gate: _Gate,
        flow: _Flow,
        executes: bool = False,
    ) -> None:
        ctx = shard.ctx
        executed: list[Record] | None = None
        if executes and self.spec.output.keep_executions:
            # Every executed sample, kept or not, before the marker makes the shard count.
            executed = [
                r
                for r in [{**r, "drop_reason": None} for r in shard.kept] + shard.excluded
                if "execution" in r or "quality_run" in r
            ]
        ctx.stats.records_in = ctx.stats.records_in or len(shard.records)
        ctx.stats.records_out = len(shard.kept)
        keep = shard.excluded if self.spec.output.keep_excluded else None
        with gate:
            if executed is not None:
                name = f"shard-{shard.index:05d}.jsonl"
                self.store.put(self.ledger.key("executions", stage, name), encode_jsonl(executed))
            self.ledger.commit(stage, shard.index, shard.kept, ctx.stats, keep)
            flow.publish(shard.index, ctx.stats.records_in or 1, len(shard.kept))

    def _print_stage(self, name: str, stats: StageStats) -> None:
        drops = ", ".join(f"{reason} {n}" for reason, n in stats.dropped.most_common())
        self.console.print(
            f"[bold]{name}[/]: in {stats.records_in}, out {stats.records_out}"
            + (f", dropped {sum(stats.dropped.values())} ({drops})" if drops else "")
            + f" [dim]{stats.seconds:.1f}s[/]"
        )


@dataclass
class _ShardResult:
    """A shard's outputs before they are committed."""

    index: int
    records: list[Record]
    kept: list[Record]
    excluded: list[Record]
    ctx: StageContext


def _split(outputs: Iterator[StageOutput], ctx: StageContext) -> tuple[list[Record], list[Record]]:
    kept: list[Record] = []
    excluded: list[Record] = []
    for output in outputs:
        if isinstance(output, Drop):
            ctx.stats.dropped[output.reason] += 1
            excluded.append({**output.record, "drop_reason": output.reason})
        else:
            kept.append(output)
    return kept, excluded


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed else "  -/s", style="cyan")


class _Stopped(Exception):
    """A stage stopped because the run was interrupted (its gate closed)."""


class _Gate:
    """Every commit of a chain's stages passes here, one at a time; `close()` waits for the
    commit in progress, then no other is made (the run was interrupted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        with self._lock:
            self.closed = True

    def __enter__(self) -> None:
        self._lock.acquire()
        if self.closed:
            self._lock.release()
            raise _Stopped("the run was interrupted")

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


@dataclass
class _Flow:
    """A stage's committed shards, as it commits them, for the stage after it: its `feed`
    (shard indices, those in `skip` left out: the next stage did them already) and its records
    kept, by shard. `expected_out` is its total, estimated from the shards so far until the
    stage is complete."""

    stage: str
    feed: Feed[int] = field(default_factory=Feed)
    records: dict[int, int] = field(default_factory=dict)
    records_in: dict[int, int] = field(default_factory=dict)
    skip: set[int] = field(default_factory=set)
    complete: bool = False
    expected_in: Callable[[], int] = lambda: 0
    listeners: list[Callable[[], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def committed(cls, ledger: Ledger, stage: str) -> _Flow:
        """The flow of a stage that is complete: every shard at hand."""
        flow = cls.resumed(ledger, stage)
        flow.complete = True
        return flow

    @classmethod
    def resumed(cls, ledger: Ledger, stage: str) -> _Flow:
        """The flow of a stage with the shards it committed before (none for a fresh one)."""
        flow = cls(stage)
        for index, marker in ledger.done(stage).items():
            flow.records[index] = int(marker["records"])
            flow.records_in[index] = int(marker["stats"].get("records_in") or 1)
        return flow

    def follow(self, done: set[int]) -> None:
        """Feed the next stage, which did the shards `done` already, with the shards committed
        so far (and those to come)."""
        self.skip = done
        for index in sorted(self.records):
            if index not in done:
                self.feed.put(index)
        if self.complete:
            self.feed.close()

    def publish(self, index: int, records_in: int, records_out: int) -> None:
        with self.lock:
            self.records[index], self.records_in[index] = records_out, records_in
        if index not in self.skip:
            self.feed.put(index)
        for listener in list(self.listeners):
            listener()

    def finish(self) -> None:
        """The stage is complete: its totals are exact from now on."""
        self.complete = True
        for listener in list(self.listeners):
            listener()

    def expected_out(self) -> int:
        with self.lock:
            out, seen = sum(self.records.values()), sum(self.records_in.values())
        if self.complete:
            return out
        rest = max(0, self.expected_in() - seen)
        return out + round(rest * (out / seen if seen else 1.0))


class _Bars:
    """Rich progress bars, one per stage of a chain (records/s and ETA), or nothing."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.progress: Progress | None = None
        if enabled:
            self.progress = Progress(
                TextColumn("{task.fields[stage]:<14}", style="bold"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TaskProgressColumn(),
                _RateColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )

    def add(self, name: str, total: int, unit: str) -> _Bar:
        if self.progress is None:
            return _Bar(None, None)
        return _Bar(self.progress, self.progress.add_task("", total=total, stage=name, unit=unit))

    def __enter__(self) -> _Bars:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


@dataclass
class _Bar:
    progress: Progress | None
    task: Any

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def total(self, n: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, total=n)
