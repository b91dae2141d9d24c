"""WaveCoder generation: per seed, a task type (seeded), a generator shown one good and one bad
example from the pools, then a checklist judge. Accepted outputs join the good pool, rejected
ones the bad pool (bounded, deduplicated), so later rounds see better examples.

The stage sees all seeds (`whole`): seeds go in rounds of `wavecoder.roundSize`, run
concurrently, and the pools are updated after each round in seed order, so the same seeds and
the same completions (cached) give the same dataset.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

from codeinstruct.workers.llm import InfraFailure, LLMClient, llm_for
from codeinstruct.workers.llm.client import current_stage
from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.wavecoder import format as prompts
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.spec import GeneratorApi, Sampling, TaskType, WaveCoder
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.stages.llm_stage import (
    complete_answer,
    failure_drop,
    first_text,
    is_cut,
    request_seed,
    sampling_params,
    send,
)

JUDGE_MAX_TOKENS = 256


class ExamplePool:
    """At most `size` examples, deduplicated by content; the oldest leaves first. The task
    file's own example is always kept as the first one."""

    def __init__(self, initial: prompts.TaskExample, size: int) -> None:
        self.initial = initial
        self.size = size
        self._added: OrderedDict[str, prompts.TaskExample] = OrderedDict()

    def add(self, example: prompts.TaskExample) -> bool:
        key = example.key()
        if key == self.initial.key() or key in self._added:
            return False
        self._added[key] = example
        while len(self._added) > max(0, self.size - 1):
            self._added.popitem(last=False)
        return True

    def examples(self) -> list[prompts.TaskExample]:
        return [self.initial, *self._added.values()]

    def __len__(self) -> int:
        return 1 + len(self._added)


@dataclass
class _Outcome:
    output: StageOutput
    task_type: str
    example: prompts.TaskExample | None = None
    accepted: bool = False


class GenerateTasks(Stage):
    """Per seed: a task type, a generated example, then the checklist judge's verdict.

    Input fields: seed
    Output fields: task_type, task_name, instruction, information, solution, target_language,
    judge
    Drop reasons: generation_unparsable, empty_instruction, empty_solution, multiple_examples,
    too_many_noinput, instruction_sentences, information_too_long, judge_unparsable,
    judge_rejected, truncated, llm_infra_error, llm_request_rejected

    Acceptance: the judge's overall answer is yes and none of its checklist answers is no (the
    reference accepts on the overall answer alone, `"no" not in overall_answer`).
    """

    kind = StageKind.GENERATE
    name = "wavecoder_tasks"
    whole = True
    inputs = ("seed",)
    outputs = (
        "task_type", "task_name", "instruction", "information", "solution", "target_language",
        "judge",
    )  # fmt: skip

    def __init__(
        self,
        settings: WaveCoder,
        sampling: Sampling,
        api: GeneratorApi = "chat",
        judge: tuple[Sampling, GeneratorApi] | None = None,
        keep_rejected: bool = False,
    ) -> None:
        """`judge`: the judge model's sampling and api (`wavecoder.judgeModel`); default: the
        generator's. `keep_rejected`: pass the judge's rejects on (their `judge.verdict` is
        `no`) for the execution check, which drops them."""
        self.keep_rejected = keep_rejected
        self.settings = settings
        self.sampling = sampling
        self.api = api
        self.judge_sampling, self.judge_api = judge or (sampling, api)

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        settings = self.settings
        task_types = [TaskType(t).value for t in settings.task_types]
        good = {
            t: ExamplePool(prompts.task_definition(t).good, settings.example_pool_size)
            for t in task_types
        }
        bad = {
            t: ExamplePool(prompts.task_definition(t).bad, settings.example_pool_size)
            for t in task_types
        }
        client, judge = llm_for(ctx.services), llm_for(ctx.services, "judge")
        size = settings.round_size
        for start in range(0, len(records), size):
            batch = records[start : start + size]
            outcomes = client.run(self._round(batch, ctx, (client, judge), task_types, good, bad))
            for outcome in outcomes:
                ctx.count(f"task_{outcome.task_type}")
                if outcome.example is not None:
                    pool = good if outcome.accepted else bad
                    if pool[outcome.task_type].add(outcome.example):
                        ctx.count("pool_good_added" if outcome.accepted else "pool_bad_added")
                yield outcome.output
        for task_type in task_types:
            ctx.count(f"pool_good_{task_type}_final", len(good[task_type]))

    async def _round(
        self,
        batch: list[Record],
        ctx: StageContext,
        clients: tuple[LLMClient, LLMClient],
        task_types: list[str],
        good: dict[str, ExamplePool],
        bad: dict[str, ExamplePool],
    ) -> list[_Outcome]:
        """One round in the generator client's event loop; a judge with a model of its own
        opens (and closes) its session in the same loop."""
        current_stage.set(self.name)
        snapshot = {t: (good[t].examples(), bad[t].examples()) for t in task_types}

        async def one(record: Record) -> _Outcome:
            outcome = await self._generate(record, ctx, clients, task_types, snapshot)
            ctx.advance(1)
            return outcome

        try:
            return list(await asyncio.gather(*(one(r) for r in batch)))
        finally:
            if clients[1] is not clients[0]:
                await clients[1].aclose()

    async def _generate(
        self,
        record: Record,
        ctx: StageContext,
        clients: tuple[LLMClient, LLMClient],
        task_types: list[str],
        pools: dict[str, tuple[list[prompts.TaskExample], list[prompts.TaskExample]]],
    ) -> _Outcome:
        client, judge_client = clients
        rng = ctx.rng(record["id"], self.name)
        task_type = rng.choice(task_types)
        task = prompts.task_definition(task_type)
        goods, bads = pools[task_type]
        good, bad = rng.choice(goods), rng.choice(bads)
        language = str(record.get("language") or "Python")
        # A translation goes into another language than the seed's own.
        targets = [
            t for t in self.settings.translation_targets if t.lower() != language.lower()
        ] or list(self.settings.translation_targets)
        target = rng.choice(targets) if task_type == TaskType.TRANSLATION.value else None
        messages = prompts.format_generator(task, record["seed"], good, bad, target, language)
        result = await complete_answer(
            lambda p: send(client, messages, self.api, **p),
            sampling_params(
                self.sampling, seed=request_seed(ctx, self.sampling, record["id"], self.name)
            ),
            self.sampling,
            ctx,
        )
        if isinstance(result, InfraFailure):
            return _Outcome(failure_drop(record, result), task_type)
        text = first_text(result)
        if is_cut(result):
            return _Outcome(Drop({**record, "llm_output": text}, "truncated"), task_type)
        generated = prompts.parse_generated(text)
        if isinstance(generated, ParseFailure):
            return _Outcome(Drop({**record, "llm_output": text}, generated.reason), task_type)
        # An example joining a pool is shown later with the code it was made from.
        generated = dataclasses.replace(generated, input=str(record["seed"]))
        fields = {
            "task_type": task_type,
            "task_name": generated.task_name,
            "instruction": generated.instruction,
            "information": generated.information,
            "solution": generated.solution,
        }
        if target:
            fields["target_language"] = target
        judge = prompts.format_judge(task, generated, str(record["seed"]))
        judged = await complete_answer(
            lambda p: send(judge_client, judge, self.judge_api, **p),
            sampling_params(
                self.judge_sampling,
                temperature=0.0,
                max_tokens=JUDGE_MAX_TOKENS,
                seed=request_seed(ctx, self.judge_sampling, record["id"], self.name, "judge"),
            ),
            self.judge_sampling,
            ctx,
            "judge",
        )
        if isinstance(judged, InfraFailure):
            return _Outcome(failure_drop({**record, **fields}, judged), task_type)
        if is_cut(judged):
            dropped = {**record, **fields, "judge_output": first_text(judged)}
            return _Outcome(Drop(dropped, "truncated"), task_type)
        judgement = prompts.parse_judgement(first_text(judged))
        if isinstance(judgement, ParseFailure):
            dropped = {**record, **fields, "judge_output": first_text(judged)}
            return _Outcome(Drop(dropped, judgement.reason), task_type)
        verdict = {
            "verdict": "yes" if judgement.accepted else "no",
            "overall": "yes" if judgement.verdict else "no",
            "answers": ["yes" if a else "no" for a in judgement.answers],
        }
        child = derive(record, self.name, "", **fields, judge=verdict)
        if judgement.accepted:
            return _Outcome(child, task_type, generated, accepted=True)
        reasons = [r for r, ok in zip(judgement.reasons, judgement.answers, strict=False) if not ok]
        rejected = dataclasses.replace(
            generated, analysis="; ".join(reasons) or "The reviewer rejected it."
        )
        output: StageOutput = child if self.keep_rejected else Drop(child, "judge_rejected")
        return _Outcome(output, task_type, rejected)
