"""A job to run and the result of running it (the sandbox's public data types)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Verdict = Literal["pass", "fail", "timeout", "error", "infra_error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "timeout", "error", "infra_error")


@dataclass(frozen=True)
class Job:
    """`program` alone runs as a script. With `tests`, `program` is the solution and the job is
    checked: the supervisor counts the tests' checks (`checks.py`) and judges from them."""

    id: str
    program: str
    timeout: float | None = None
    """CPU seconds the program may use (the wall clock caps it at a multiple, see
    `languages.wall_cap`); compilation has its own larger limits."""
    memory_mib: int | None = None
    language: str = "python"
    tests: str | None = None
    variants: tuple[str, ...] | None = None
    """With `tests`: other solutions to run the tests against instead of `program`, in turn in
    one process (a null variant and mutants); `ExecResult.variants` holds one verdict each."""
    variant_timeout: float | None = None
    """Seconds each variant may take (a slower one is a timeout and the next one starts)."""
    variant_cpu_seconds: float | None = None
    """CPU seconds each variant may use (a variant that spins is stopped before its wall
    budget runs out, however loaded the machine; a timeout as well)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.variants is not None:
            data["variants"] = list(self.variants)
        return data


@dataclass(frozen=True)
class ExecResult:
    id: str
    verdict: Verdict
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration: float
    tests_passed: int | None
    tests_failed: int | None
    checks: dict[str, Any] | None = None
    """Checked jobs: what the supervisor counted (executed, failed, called, ended, ...)."""
    reason: str | None = None
    """Why a checked job is not a pass, beyond its verdict (e.g. `no_checks`)."""
    variants: list[dict[str, Any]] | None = None
    """Jobs with variants: `{"verdict", "reason"}` per variant, in order; a variant that never
    started (an earlier one used up the time or ended the process) is `infra_error`."""
    language: str = "python"
    signal: int | None = None
    """The signal that ended the program (its exit_code is then None)."""
    cpu_seconds: float | None = None
    """CPU time of the run (after compilation), measured on the host for sandboxes; the time
    limit (`timeout`) is on this, `duration` is the wall time of the whole job."""
    sandbox_seconds: float | None = None
    """The sandbox's time on this job: `duration`, its files written before it, and the fork of
    the process it ran in (made ahead, while the job was on its way; under gVisor it costs
    more than a short job's run). None when no sandbox answered."""

    def sandbox_time(self) -> float:
        """What the sandbox spent on this job: `sandbox_seconds`, else (no sandbox said) its
        `duration`."""
        return self.duration if self.sandbox_seconds is None else self.sandbox_seconds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecResult:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]
