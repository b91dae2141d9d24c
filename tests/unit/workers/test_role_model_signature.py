"""A role's model (`scoring.complexityModel`, `scoring.unitTestModel`, `wavecoder.judgeModel`)
is optional: its speed and placement knobs stay out of the run signature like the
generator's, while its model name is in it."""

from __future__ import annotations

from codeinstruct.workers.spec import run_signature
from tests.conftest import make_dataset

JUDGE = {"backend": "openai", "endpoint": "http://a:8000/v1", "model": "judge"}


def signature(**judge: object) -> str:
    spec = make_dataset(method="wavecoder", targetSize=5, wavecoder={"judgeModel": judge}).spec
    return run_signature(spec)


def test_a_role_models_endpoint_and_concurrency_do_not_change_the_run() -> None:
    base = signature(**JUDGE)
    assert signature(**{**JUDGE, "endpoint": "http://b.svc:8000/v1"}) == base
    assert signature(**JUDGE, concurrency=3, apiKeyEnv="JUDGE_API_KEY") == base
    assert signature(**{**JUDGE, "model": "another-judge"}) != base
