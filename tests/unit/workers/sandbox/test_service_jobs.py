"""The sandbox service's reading of a request body (pure): what a `SandboxClient` sends comes
back as the same jobs, budgets of variants included; an unknown language is a 400 naming it."""

from __future__ import annotations

import pytest

from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.service import parse_jobs


def test_jobs_carry_their_language() -> None:
    jobs = parse_jobs(
        {"jobs": [{"id": "a", "program": "x"}, {"id": "b", "language": "rust", "program": "y"}]}
    )
    assert [(job.id, job.language) for job in jobs] == [("a", "python"), ("b", "rust")]


def test_unknown_language_names_the_job_and_the_supported_list() -> None:
    with pytest.raises(
        ValueError, match=r"jobs\[1\]\.language: unknown language 'php'; supported: python"
    ):
        parse_jobs({"jobs": [{"program": "x"}, {"language": "php", "program": "<?php"}]})


def test_the_jobs_a_client_sends_are_the_jobs_the_service_runs() -> None:
    jobs = [
        Job("plain", "print(1)", timeout=2.0),
        Job(
            "variants",
            "def f():\n    return 1\n",
            timeout=9.0,
            tests="assert f() == 1\n",
            variants=("def f():\n    return 2\n",),
            variant_timeout=1.5,
            variant_cpu_seconds=0.4,
        ),
    ]
    assert parse_jobs({"jobs": [job.to_dict() for job in jobs]}) == jobs


def test_variants_need_tests() -> None:
    with pytest.raises(ValueError, match="variants"):
        parse_jobs({"jobs": [{"program": "x = 1", "variants": ["x = 2"]}]})
