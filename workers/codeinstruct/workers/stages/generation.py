"""What every LLM stage shares: concurrent requests per shard, token and fault accounting,
per-request seeds, and the drop of a record whose request failed for good."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from codeinstruct.workers.llm import Completion, InfraFailure, LLMClient, Result, llm_for
from codeinstruct.workers.llm.client import current_stage
from codeinstruct.workers.prompts.parsing import Failure
from codeinstruct.workers.records import Record
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Drop, Output, StageContext

Work = Callable[[Record, LLMClient], Awaitable[list[Output]]]
T = TypeVar("T")


def run_concurrently(
    stage: str, records: list[Record], ctx: StageContext, work: Work
) -> Iterator[Output]:
    """Run `work` for every record at once (the client bounds what is in flight); outputs come
    in input order, and progress advances as each record finishes."""
    client = llm_for(ctx.services)

    async def main() -> list[list[Output]]:
        current_stage.set(stage)

        async def one(record: Record) -> list[Output]:
            outputs = await work(record, client)
            ctx.advance(1)
            return outputs

        return await asyncio.gather(*(one(record) for record in records))

    for outputs in client.run(main()):
        yield from outputs


def account(ctx: StageContext, result: Result) -> None:
    """Count tokens paid for, cache hits, retried faults by kind, and failures."""
    for kind, n in result.faults.items():
        ctx.count(f"llm_fault_{kind}", n)
    if isinstance(result, InfraFailure):
        ctx.count("llm_failed_requests")
        return
    if result.cached:
        ctx.count("llm_cache_hits")
        return
    ctx.count("llm_requests")
    ctx.count("prompt_tokens", result.prompt_tokens)
    ctx.count("completion_tokens", result.completion_tokens)


def failure_drop(record: Record, result: InfraFailure) -> Drop:
    return Drop({**record, "llm_error": result.detail[:500]}, result.reason)


def request_seed(ctx: StageContext, *parts: str) -> int:
    """A per-request sampling seed from the spec seed (or sampling.seed) and the record."""
    seed = ctx.spec.generator.sampling.seed
    base = str(ctx.spec.seed if seed is None else seed)
    return ctx.rng(base, *parts).randrange(2**31)


def sampling(spec: Spec, **override: Any) -> dict[str, Any]:
    """OpenAI sampling parameters from spec.generator.sampling, with stage overrides."""
    params = spec.generator.sampling
    return {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_tokens,
        **override,
    }


def first_text(result: Completion) -> str:
    return result.texts[0] if result.texts else ""


async def ask(
    ctx: StageContext,
    client: LLMClient,
    record: Record,
    messages: list[dict[str, str]],
    parse: Callable[[str], T | Failure],
    **params: Any,
) -> T | Drop:
    """One chat request for `record`, accounted, then parsed: the parsed value, or a Drop
    (the request failed for good, or the output did not parse; the output is kept with it)."""
    result = await client.chat(messages, **params)
    account(ctx, result)
    if isinstance(result, InfraFailure):
        return failure_drop(record, result)
    text = first_text(result)
    parsed = parse(text)
    if isinstance(parsed, Failure):
        return Drop({**record, "llm_output": text}, parsed.reason)
    return parsed
