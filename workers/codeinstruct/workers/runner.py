"""Runs a method's stages in-process, shard by shard, resuming from the ledger."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping
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

from codeinstruct.workers.errors import PipelineError, UserError
from codeinstruct.workers.export import export_dataset
from codeinstruct.workers.lease import hold_lease
from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.methods import method_stages
from codeinstruct.workers.outages import Outages
from codeinstruct.workers.records import Record, encode_jsonl
from codeinstruct.workers.services import Services
from codeinstruct.workers.shard_window import window_width, windowed
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
    ) -> None:
        """`provided` services replace the ones the spec would start (e.g. a fake LLM)."""
        self.dataset = dataset
        self.provided = dict(provided or {})
        self.spec = dataset.spec
        self.store = store or open_store(self.spec.output.uri)
        self.ledger = Ledger(self.store, run_prefix(dataset))
        self.console = console or Console(stderr=True)
        self.show_progress = progress

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
            for stage in stages:
                if self.ledger.completion(stage.name) is not None:
                    report.resumed.append(stage.name)
                else:
                    self._run_stage(stage, previous, services)
                report.stages[stage.name] = self._stage_total(stage.name)
                self._print_stage(stage.name, report.stages[stage.name])
                previous = stage.name
        assert previous is not None
        if previous == final:
            report.dataset_uri, report.records = export_dataset(
                self.dataset, self.ledger, previous, report.stages
            )
        else:
            report.records = report.stages[previous].records_out
        return report

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

    def _run_stage(self, stage: Stage, previous: str | None, services: Services) -> None:
        started = time.monotonic()
        if isinstance(stage, SourceStage):
            shards = self._run_source(stage, services)
        elif previous is None:
            raise RuntimeError(f"stage {stage.name!r} needs a previous stage")
        elif stage.whole:
            shards = self._run_whole(stage, previous, services)
        else:
            shards = self._run_shards(stage, previous, services)
        total = self.ledger.stats(stage.name)
        total.seconds = time.monotonic() - started
        self.ledger.complete(stage.name, shards, total)

    def _run_source(self, stage: SourceStage, services: Services) -> int:
        ctx = StageContext(services, self.spec.seed)
        partitions = stage.partitions(ctx)
        done = self.ledger.done(stage.name)
        with self._progress(stage.name, len(partitions), "parts") as advance:
            advance(len(done))
            for index, partition in enumerate(partitions):
                if index in done:
                    continue
                ctx = StageContext(services, self.spec.seed)
                self._commit(stage.name, index, [], stage.read(partition, ctx), ctx)
                advance(1)
        return len(partitions)

    def _run_shards(self, stage: Stage, previous: str, services: Services) -> int:
        """A window of shards in progress (enough to fill the stage's capacity), each committed
        as it finishes; a shard with infrastructure failures is left uncommitted."""
        shards = self.ledger.shard_count(previous)
        markers = self.ledger.done(previous)
        done = self.ledger.done(stage.name)
        total = sum(m["records"] for m in markers.values())
        width = window_width(stage.capacity(services), self.spec.output.shard_size)
        outages = Outages(stage.name, total)
        with self._progress(stage.name, total, "records") as advance:
            advance(sum(markers[i]["records"] for i in done))

            def work(index: int) -> _ShardResult:
                records = self.ledger.read(previous, index)
                advanced = 0

                def step(n: int) -> None:
                    nonlocal advanced
                    advanced += n
                    advance(n)

                ctx = StageContext(services, self.spec.seed, advance=step)
                kept, excluded = _split(stage.run(records, ctx), ctx)
                advance(len(records) - advanced)
                return _ShardResult(index, records, kept, excluded, ctx)

            todo = (index for index in range(shards) if index not in done)
            for index, result in windowed(todo, work, width, outages.within_limit):
                if not outages.add_shard(index, result.excluded):
                    self._commit_split(stage.name, result, stage.kind is StageKind.EXECUTE)
        if outages.shards:
            raise outages.error(self.spec)
        return shards

    def _run_whole(self, stage: Stage, previous: str, services: Services) -> int:
        records = list(self.ledger.read_stage(previous))
        with self._progress(stage.name, len(records), "records") as advance:
            ctx = StageContext(services, self.spec.seed, advance=advance)
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
            self.ledger.commit(stage.name, index, chunk, stats, excluded if index == 0 else None)
        return shards

    def _commit(
        self,
        stage: str,
        index: int,
        records: list[Record],
        outputs: Iterator[StageOutput],
        ctx: StageContext,
    ) -> None:
        kept, excluded = _split(outputs, ctx)
        self._commit_split(stage, _ShardResult(index, records, kept, excluded, ctx))

    def _commit_split(self, stage: str, shard: _ShardResult, executes: bool = False) -> None:
        ctx = shard.ctx
        if executes and self.spec.output.keep_executions:
            # Every executed sample, kept or not, before the marker makes the shard count.
            executed = [
                r
                for r in [{**r, "drop_reason": None} for r in shard.kept] + shard.excluded
                if "execution" in r or "quality_run" in r
            ]
            name = f"shard-{shard.index:05d}.jsonl"
            self.store.put(self.ledger.key("executions", stage, name), encode_jsonl(executed))
        ctx.stats.records_in = ctx.stats.records_in or len(shard.records)
        ctx.stats.records_out = len(shard.kept)
        keep = shard.excluded if self.spec.output.keep_excluded else None
        self.ledger.commit(stage, shard.index, shard.kept, ctx.stats, keep)

    def _progress(self, name: str, total: int, unit: str) -> _StageProgress:
        return _StageProgress(self.console, name, total, unit, enabled=self.show_progress)

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


class _StageProgress:
    """A rich progress bar for one stage (records/s and ETA), or nothing when disabled."""

    def __init__(self, console: Console, name: str, total: int, unit: str, enabled: bool) -> None:
        self.progress: Progress | None = None
        if enabled:
            self.progress = Progress(
                TextColumn(f"[bold]{name:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(unit),
                TaskProgressColumn(),
                _RateColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
        self.task: Any = None
        self.total = total

    def __enter__(self) -> Any:
        if self.progress is None:
            return lambda n: None
        self.progress.start()
        self.task = self.progress.add_task("", total=self.total)
        progress = self.progress
        return lambda n: progress.advance(self.task, n)

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
