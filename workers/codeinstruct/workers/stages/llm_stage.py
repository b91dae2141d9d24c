"""The LLM stage: a stage declares its fields, shots, token budget and stop sequences, and
writes `format` (record -> prompt) and `parse` (text -> value or `ParseFailure`); `run` is
here, once. It sends one request per record, all at once (the client bounds what is in flight),
accounts tokens, cache hits and faults, seeds each request from the spec seed and the record,
and drops a record whose request failed for good (`llm_infra_error`, whose shard the runner then
leaves uncommitted; `llm_request_rejected`) or whose answer did not parse (the parser's reason, with the answer kept as `llm_output`).
An answer cut by the token limit (`finish_reason: length`) is asked again once with twice the
tokens (at most `sampling.truncationMaxTokens`); still cut, it is dropped as `truncated`.
"""

from __future__ import annotations

import asyncio
import random
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from codeinstruct.workers.llm import Completion, InfraFailure, LLMClient, LLMResult, llm_for
from codeinstruct.workers.llm.client import current_stage
from codeinstruct.workers.llm.roles import Role
from codeinstruct.workers.prompts.completion import EXAMPLE_STOP, as_completion
from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.records import Record, derive
from codeinstruct.workers.spec import GeneratorApi, Sampling
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services

T = TypeVar("T")
Prompt = list[dict[str, str]] | str


def account(ctx: StageContext, result: LLMResult, role: Role = "generator") -> None:
    """Count tokens paid for, cache hits, retried faults by kind, and failures; requests and
    tokens also by role (`<role>_requests`, `<role>_prompt_tokens`, ...), for the card."""
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
    ctx.count(f"{role}_requests")
    ctx.count(f"{role}_prompt_tokens", result.prompt_tokens)
    ctx.count(f"{role}_completion_tokens", result.completion_tokens)


def failure_drop(record: Record, result: InfraFailure) -> Drop:
    return Drop({**record, "llm_error": result.detail[:500]}, result.reason)


def request_seed(ctx: StageContext, sampling: Sampling, *parts: str) -> int:
    """A per-request sampling seed from the spec seed (or sampling.seed) and the record."""
    base = str(ctx.seed if sampling.seed is None else sampling.seed)
    return ctx.rng(base, *parts).randrange(2**31)


def sampling_params(sampling: Sampling, **override: Any) -> dict[str, Any]:
    """OpenAI sampling parameters from spec.generator.sampling, with stage overrides."""
    return {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        **override,
    }


async def send(client: LLMClient, prompt: Prompt, api: GeneratorApi, **params: Any) -> LLMResult:
    """Chat messages to /chat/completions; a text, or messages under `api: completion`, to
    /completions (laid out as numbered examples, stopping before the next one)."""
    if api == "completion" and not isinstance(prompt, str):
        prompt = as_completion(prompt)
        params["stop"] = [*params.get("stop", []), EXAMPLE_STOP]
    if isinstance(prompt, str):
        return await client.complete(prompt, **params)
    return await client.chat(prompt, **params)


def first_text(result: Completion) -> str:
    return result.texts[0] if result.texts else ""


def is_cut(result: Completion, index: int = 0) -> bool:
    """Whether answer `index` stopped at the token limit (`finish_reason: length`)."""
    reasons = result.finish_reasons
    return index < len(reasons) and reasons[index] == "length"


Ask = Callable[[dict[str, Any]], Awaitable[LLMResult]]


async def retry_longer(
    ask: Ask,
    params: dict[str, Any],
    sampling: Sampling,
    ctx: StageContext,
    role: Role = "generator",
) -> LLMResult | None:
    """The request again with twice the tokens, at most `sampling.truncationMaxTokens`; None
    when that is no more than it already had."""
    longer = min(sampling.truncation_max_tokens, 2 * int(params["max_tokens"]))
    if longer <= int(params["max_tokens"]):
        return None
    ctx.count("llm_truncation_retries")
    result = await ask({**params, "max_tokens": longer})
    account(ctx, result, role)
    return result


async def complete_answer(
    ask: Ask,
    params: dict[str, Any],
    sampling: Sampling,
    ctx: StageContext,
    role: Role = "generator",
) -> LLMResult:
    """One request, accounted; an answer cut by the token limit is asked once more with more
    tokens. The caller drops an answer that is still cut (`is_cut`) as `truncated`."""
    result = await ask(params)
    account(ctx, result, role)
    if isinstance(result, InfraFailure) or not is_cut(result):
        return result
    ctx.count("llm_truncated")
    retried = await retry_longer(ask, params, sampling, ctx, role)
    return result if retried is None or isinstance(retried, InfraFailure) else retried


class LLMStage(Stage, Generic[T]):
    """A stage that asks the LLM once per record and adds what it parsed from the answer."""

    kind = StageKind.GENERATE
    # Whose model answers (`llm.roles`); the method passes that model's sampling and api.
    role: ClassVar[Role] = "generator"
    shots: int = 0  # few-shot examples drawn per record from `examples()` (or as constructed)
    max_tokens: ClassVar[int | None] = None  # a ceiling under sampling.maxTokens
    stop: ClassVar[tuple[str, ...]] = ()
    temperature: ClassVar[float | None] = None  # e.g. 0.0 for a stage that must be greedy
    # An answer cut by the token limit is retried once with more tokens, then dropped as
    # `truncated`; never parsed as if it were complete. Off only for a stage that reads the
    # first tokens' logprobs and asks for no more.
    complete_answers: ClassVar[bool] = True
    truncated_reason: ClassVar[str] = "truncated"  # the drop reason of an answer still cut

    def __init__(
        self, sampling: Sampling, api: GeneratorApi = "chat", shots: int | None = None
    ) -> None:
        self.sampling = sampling
        self.api = api
        if shots is not None:
            self.shots = shots

    # What a concrete stage writes -----------------------------------------------------------

    @abstractmethod
    def format(self, record: Record, shots: list[Any]) -> Prompt:
        """The prompt for a record (chat messages, or a text for `api = "completion"`)."""

    @abstractmethod
    def parse(self, text: str) -> T | ParseFailure:
        """The value the stage adds, or why the answer is unusable."""

    def examples(self) -> Sequence[Any]:
        """The pool the stage's few-shot examples are drawn from."""
        return ()

    def draw(self, record: Record, rng: random.Random) -> dict[str, Any]:
        """Fields sampled per record before the shots (e.g. a task category), kept on output."""
        return {}

    def emit(self, record: Record, parsed: T) -> Record:
        """The output record: a child of the input with the parsed value as `outputs[0]`."""
        return derive(record, self.name, "", **{self.outputs[0]: parsed})

    # The base ------------------------------------------------------------------------------

    def capacity(self, services: Services) -> int:
        """The client's requests in flight (started here, once, before any shard runs)."""
        return max(1, int(getattr(llm_for(services), "concurrency", 1)))

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        """Every record's request at once; outputs come in input order, and progress advances
        as each record finishes."""
        client = llm_for(ctx.services, self.role)

        async def main() -> list[list[StageOutput]]:
            current_stage.set(self.name)

            async def one(record: Record) -> list[StageOutput]:
                outputs = await self.handle(record, client, ctx)
                ctx.advance(1)
                return outputs

            return await asyncio.gather(*(one(record) for record in records))

        for outputs in client.run(main()):
            yield from outputs

    async def handle(
        self, record: Record, client: LLMClient, ctx: StageContext
    ) -> list[StageOutput]:
        """The outputs for one record: one request, accounted, then parsed."""
        drawn, shots = self.prepare(record, ctx)
        prompt = self.format({**record, **drawn}, shots)
        params = self.params(record, ctx)
        if self.complete_answers:
            result = await complete_answer(
                lambda p: self.ask(client, prompt, **p), params, self.sampling, ctx, self.role
            )
        else:
            result = await self.ask(client, prompt, **params)
            account(ctx, result, self.role)
        if isinstance(result, InfraFailure):
            return [failure_drop(record, result)]
        if self.complete_answers and is_cut(result):
            return [Drop({**record, "llm_output": first_text(result)}, self.truncated_reason)]
        parsed = self.parse_completion(result)
        if isinstance(parsed, ParseFailure):
            return [self.parse_drop(record, result, parsed)]
        return [self.emit({**record, **drawn}, parsed)]

    def prepare(self, record: Record, ctx: StageContext) -> tuple[dict[str, Any], list[Any]]:
        """The drawn fields and the shots of a record, from its own seeded generator."""
        rng = ctx.rng(record["id"], self.name)
        drawn = self.draw(record, rng)
        pool = self.examples()
        shots = rng.sample(pool, min(self.shots, len(pool))) if self.shots else []
        return drawn, shots

    def params(self, record: Record, ctx: StageContext, *parts: str) -> dict[str, Any]:
        """OpenAI parameters: the spec's sampling under the stage's budget, stop and seed."""
        override: dict[str, Any] = {}
        if self.max_tokens is not None:
            override["max_tokens"] = min(self.max_tokens, self.sampling.max_tokens)
        if self.temperature is not None:
            override["temperature"] = self.temperature
        if self.stop:
            override["stop"] = list(self.stop)
        override["seed"] = request_seed(ctx, self.sampling, record["id"], self.name, *parts)
        return sampling_params(self.sampling, **override)

    async def ask(self, client: LLMClient, prompt: Prompt, **params: Any) -> LLMResult:
        return await send(client, prompt, self.api, **params)

    def parse_completion(self, result: Completion) -> T | ParseFailure:
        return self.parse(first_text(result))

    def parse_drop(self, record: Record, result: Completion, failure: ParseFailure) -> Drop:
        return Drop({**record, "llm_output": first_text(result)}, failure.reason)
