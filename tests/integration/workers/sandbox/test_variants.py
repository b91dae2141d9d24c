"""Jobs with variants (the null variant and mutants of verification) under gVisor: each variant
is stopped by its own budget, and what one variant does never ends the others."""

from __future__ import annotations

import pytest

from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.verification.mutants import null_variant
from tests.verification_cases import CROSS_RUN, WRONG

pytestmark = pytest.mark.gvisor

SOLUTION = "def f():\n    return 1\n"
TESTS = "assert f() == 1\n"
SPINS = "def f():\n    x = 0\n    while True:\n        x += 1\n"
# Its error spins when printed (`traceback` reads `__notes__` unguarded): the variant's time
# runs out while its traceback is being printed.
SPINS_WHEN_PRINTED = (
    "class Slow(Exception):\n"
    "    @property\n"
    "    def __notes__(self):\n"
    "        while True:\n"
    "            pass\n\n"
    "def f():\n"
    "    raise Slow()\n"
)


def run(job: Job) -> list[str]:
    with Pool("gvisor", workers=1, timeout=120) as pool:
        [result] = pool.run([job])
    assert result.variants is not None
    return [v["verdict"] for v in result.variants]


def test_a_spinning_variant_is_stopped_by_its_cpu_budget_and_the_next_one_runs() -> None:
    # The wall budget (60 s per variant) would outlast the job's own timeout (90 s) for the
    # two: only the CPU budget lets the second variant run at all.
    job = Job(
        "v",
        SOLUTION,
        timeout=90,
        tests=TESTS,
        variants=(SPINS, SOLUTION),
        variant_timeout=60,
        variant_cpu_seconds=0.5,
    )
    assert run(job) == ["timeout", "pass"]


def test_a_variant_whose_error_spins_when_printed_does_not_end_the_others() -> None:
    job = Job(
        "v",
        SOLUTION,
        timeout=20,
        tests=TESTS,
        variants=(SPINS_WHEN_PRINTED, SOLUTION, "def f():\n    return 2\n"),
        variant_timeout=2,
    )
    assert run(job) == ["error", "pass", "fail"]


def test_runs_in_one_process_tell_the_first_from_the_next() -> None:
    # Why verification never runs a sample's original in the process of its variants: a test
    # that leaves a marker in the interpreter accepts anything on the first run and asserts
    # for real on the next, so a wrong solution would pass and its null variant fail.
    [tests] = [t for name, _, t, _ in CROSS_RUN if name == "marker_in_builtins"]
    variants = (WRONG, null_variant(WRONG))
    first, then = run(
        Job("v", WRONG, timeout=20, tests=tests, variants=variants, variant_timeout=2)
    )
    assert first == "pass" and then != "pass"
