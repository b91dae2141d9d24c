"""The HTTP service reads the same job format; an unknown language is a 400 naming it."""

from __future__ import annotations

import pytest

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
