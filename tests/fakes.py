"""In-process stand-ins for the LLM client and the sandbox executor, for stage logic tests.

Put them behind the run's `Services` seam: `services.provide("llm", FakeLLM(script))` and
`services.provide("sandbox", FakeExecutor(verdicts))`. No sockets, threads or wall-clock
timeouts: a test of a stage's logic cannot flake on a loaded machine. They are at least as
strict as the real thing where it matters: every request and job is recorded (with the exact
parameters), a script that meets a prompt it does not expect raises and fails the test, and a
reply can be cut by the token limit, malformed, or a failure after all retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from codeinstruct.workers.llm import Completion, InfraFailure, LLMResult
from codeinstruct.workers.sandbox import ExecResult, Job, Verdict

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """One request a stage sent: the chat messages or the completion prompt, and its params."""

    kind: Literal["chat", "completions"]
    prompt: str | list[dict[str, str]]
    params: dict[str, Any]

    @property
    def text(self) -> str:
        """The last user turn of a chat, or the whole completion prompt."""
        if isinstance(self.prompt, str):
            return self.prompt
        return self.prompt[-1]["content"]


@dataclass(frozen=True)
class Reply:
    """A scripted answer; `finish_reason="length"` is an answer cut by `max_tokens`."""

    text: str
    finish_reason: str = "stop"
    logprobs: Any = None


def truncated(text: str) -> Reply:
    return Reply(text, finish_reason="length")


def failing(reason: str = "llm_infra_error") -> InfraFailure:
    return InfraFailure(reason, "scripted failure after all retries", attempts=6)


Answer = str | Reply | InfraFailure
Script = Callable[[Request], Answer]


class FakeLLM:
    """Answers each request with `script(request)`; `n` samples call the script `n` times."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []

    def run(self, coroutine: Awaitable[T]) -> T:
        async def main() -> T:
            return await coroutine

        return asyncio.run(main())

    async def chat(self, messages: Sequence[Mapping[str, str]], **params: Any) -> LLMResult:
        return self._answer(Request("chat", [dict(m) for m in messages], params))

    async def complete(self, prompt: str, **params: Any) -> LLMResult:
        return self._answer(Request("completions", prompt, params))

    def _answer(self, request: Request) -> LLMResult:
        params = {k: v for k, v in request.params.items() if v is not None}
        request = Request(request.kind, request.prompt, params)
        self.requests.append(request)
        replies: list[Reply] = []
        for _ in range(int(params.get("n", 1))):
            answer = self.script(request)
            if isinstance(answer, InfraFailure):
                return answer
            replies.append(Reply(answer) if isinstance(answer, str) else answer)
        return Completion(
            texts=[r.text for r in replies],
            logprobs=[r.logprobs for r in replies],
            finish_reasons=[r.finish_reason for r in replies],
            prompt_tokens=len(str(request.prompt).split()),
            completion_tokens=sum(len(r.text.split()) for r in replies),
        )


@dataclass
class FakeExecutor:
    """Gives each job the verdict `verdict(program)` and records every job it was sent; a job
    with variants (the null variant, mutants) gets `verdict(code)` for each, as the supervisor
    reports them."""

    verdict: Callable[[str], Verdict]
    jobs: list[Job] = field(default_factory=list)

    def run(self, jobs: Sequence[Job]) -> list[ExecResult]:
        self.jobs.extend(jobs)
        results = []
        for job in jobs:
            verdict = self.verdict(job.program)
            results.append(
                ExecResult(
                    id=job.id,
                    verdict=verdict,
                    exit_code=0 if verdict == "pass" else None if verdict == "infra_error" else 1,
                    stdout="",
                    stderr="" if verdict == "pass" else f"scripted {verdict}",
                    stdout_truncated=False,
                    stderr_truncated=False,
                    duration=0.01,
                    tests_passed=None,
                    tests_failed=None,
                    variants=None
                    if job.variants is None
                    else [{"verdict": self.verdict(code), "reason": None} for code in job.variants],
                )
            )
        return results
