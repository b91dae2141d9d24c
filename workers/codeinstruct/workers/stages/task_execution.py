"""WaveCoder's judge measured against execution (`wavecoder.executionCheck: report | filter`).

Every generated task the judge saw, accepted or not, whose answer can be executed is checked
in the sandbox (`task_checks`); `reports/judge.json` (and so the card) gives the judge's
agreement with execution: counts, TPR and TNR, overall and per task type. The judge's rejects
are dropped here (`judge_rejected`); with `filter`, so are accepted tasks that failed their
check (`execution_failed`). A sandbox failure leaves a task unchecked, never failed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.sandbox import ExecResult, Job, sandbox_for
from codeinstruct.workers.spec import TaskType
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.task_checks import (
    Check,
    CheckVerdict,
    agreement,
    first_function,
    generated_inputs,
    harness,
    harness_results,
    python_code,
    repair_verdict,
    target_language,
    translated_program,
)
from codeinstruct.workers.verification.batches import run_batch


@dataclass(frozen=True)
class Plan:
    """The jobs that check one record, by role (`solution`; or `seed`, `buggy`, `fixed`), and
    the token its harnesses mark their result lines with."""

    jobs: dict[str, Job]
    token: str = ""


class CheckTasks(Stage):
    """Runs each task's execution check and reports the judge's agreement with it.

    Input fields: task_type, seed, information, solution, judge (and target_language)
    Output fields: execution_check
    Drop reasons: judge_rejected, execution_failed (filter)
    """

    kind = StageKind.EXECUTE
    name = "task_execution"
    whole = True  # the agreement is over all tasks
    inputs = ("task_type", "seed", "information", "solution", "judge")
    outputs = ("execution_check",)

    def __init__(self, mode: Literal["report", "filter"]) -> None:
        self.mode = mode

    def capacity(self, services: Any) -> int:
        return max(1, int(services.spec.sandbox.workers))

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        plans = {str(r["id"]): self.plan(r, ctx) for r in records}
        jobs = [
            job for plan in plans.values() if isinstance(plan, Plan) for job in plan.jobs.values()
        ]
        results = run_batch(sandbox_for(ctx.services), jobs, ctx.count) if jobs else {}
        pairs: dict[str, list[tuple[bool, CheckVerdict]]] = defaultdict(list)
        for record in records:
            plan = plans[str(record["id"])]
            check = plan if isinstance(plan, Check) else self.verdict(record, plan, results)
            accepted = (record.get("judge") or {}).get("verdict") == "yes"
            task_type = str(record["task_type"])
            pairs[task_type].append((accepted, check.verdict))
            ctx.count(f"execution_{check.verdict}")
            ctx.advance(1)
            out = {**record, "execution_check": check.to_json()}
            if not accepted:
                yield Drop(out, "judge_rejected")
            elif self.mode == "filter" and check.verdict == "fail":
                yield Drop(out, "execution_failed")
            else:
                yield out
        everything = [pair for found in pairs.values() for pair in found]
        report = {
            "mode": self.mode,
            "ground_truth": "execution in the sandbox (see docs/methods.md)",
            **agreement(everything),
            "by_task_type": {t: agreement(p) for t, p in sorted(pairs.items())},
        }
        ledger = ctx.services.ledger
        ledger.store.put(ledger.key("reports", "judge.json"), json.dumps(report).encode())

    def plan(self, record: Record, ctx: StageContext) -> Plan | Check:
        """The jobs that check a record, or why it cannot be checked."""
        task_type = str(record["task_type"])
        solution = python_code(str(record["solution"]))
        language = str(record.get("language") or "python").lower()
        same_language = (TaskType.GENERATION.value, TaskType.REPAIR.value)
        if task_type in same_language and language != "python":
            return Check("unchecked", f"{task_type} is checked in Python only, not {language}")
        if task_type == TaskType.TRANSLATION.value:
            named = str(record.get("target_language") or "")
            target = target_language(named)
            if target is None:
                return Check("unchecked", f"the sandbox does not run {named or 'the target'}")
            program, why = translated_program(str(record["solution"]), target)
            if program is None:
                no_code = why.startswith("the solution has no")
                return Check("fail" if no_code else "unchecked", why)
            return Plan({"solution": Job(f"{record['id']}:solution", program, language=target)})
        if task_type == TaskType.GENERATION.value:
            if not solution.strip():
                return Check("fail", "the solution has no Python code")
            return Plan({"solution": Job(f"{record['id']}:solution", solution)})
        if task_type != TaskType.REPAIR.value:
            return Check("unchecked", f"{task_type} has nothing to execute")
        seed = str(record["seed"])
        function = first_function(seed)
        if function is None:
            return Check("unchecked", "the seed defines no function to compare")
        name, arity = function
        inputs = generated_inputs(max(arity, 0), ctx.rng(str(record["id"]), self.name))
        token = "@@" + content_id(str(ctx.seed), str(record["id"]), "check") + "@@"
        codes = {
            "seed": seed,
            "buggy": python_code(str(record.get("information") or "")),
            "fixed": solution,
        }
        jobs = {
            role: Job(f"{record['id']}:{role}", harness(code, name, inputs, token))
            for role, code in codes.items()
        }
        return Plan(jobs, token)

    def verdict(self, record: Record, plan: Plan, results: dict[str, ExecResult]) -> Check:
        if "solution" in plan.jobs:
            result = results[plan.jobs["solution"].id]
            if result.verdict == "infra_error":
                return Check("unchecked", "the sandbox failed")
            if result.verdict == "pass":
                return Check("pass", "the solution runs")
            return Check("fail", f"the solution's run ended in {result.verdict}")
        found = {role: results[job.id] for role, job in plan.jobs.items()}
        if any(r.verdict == "infra_error" for r in found.values()):
            return Check("unchecked", "the sandbox failed")
        parsed = {role: harness_results(r.stdout, plan.token) for role, r in found.items()}
        return repair_verdict(parsed["seed"], parsed["buggy"], parsed["fixed"])
