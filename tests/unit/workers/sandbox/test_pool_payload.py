"""What the pool sends a supervisor for a job: checked Python jobs come compiled, for a
supervisor whose interpreter runs this bytecode only."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from codeinstruct.workers.sandbox import Job, checks
from codeinstruct.workers.sandbox.warm_pool import Pool


def payload(job: Job, bytecode: str) -> dict[str, Any]:
    pool = SimpleNamespace(timeout=5.0, memory_mib=512)
    box = SimpleNamespace(hello={"ready": True, "bytecode": bytecode})
    return Pool._payload(pool, job, box)  # type: ignore[arg-type]


def test_checked_python_jobs_come_compiled_for_the_same_bytecode_only() -> None:
    checked = Job("c", "def f():\n    return 1\n", tests="assert f() == 1\n")
    shipped = payload(checked, checks.BYTECODE)["precompiled"]
    loaded = checks.Precompiled.loads(shipped["token"], shipped["code"])
    assert loaded is not None and len(loaded.solutions) == 1
    assert "precompiled" not in payload(checked, "0d0d0a0a")  # another interpreter
    assert "precompiled" not in payload(Job("p", "print(1)\n"), checks.BYTECODE)
    node = Job("n", "function f() {}", language="javascript", tests="f()")
    assert "precompiled" not in payload(node, checks.BYTECODE)
    broken = Job("b", "def f(:\n", tests="assert f() == 1\n")
    assert "precompiled" not in payload(broken, checks.BYTECODE)  # the job says why


def test_a_variants_job_brings_one_code_per_variant_and_a_token_of_its_own() -> None:
    variants = ("def f():\n    raise RuntimeError\n", "def f():\n    return 2\n")
    job = Job("v", "def f():\n    return 1\n", tests="assert f() == 1\n", variants=variants)
    first, second = payload(job, checks.BYTECODE), payload(job, checks.BYTECODE)
    loaded = checks.Precompiled.loads(first["precompiled"]["token"], first["precompiled"]["code"])
    assert loaded is not None and len(loaded.solutions) == 2
    assert first["precompiled"]["token"] != second["precompiled"]["token"]
