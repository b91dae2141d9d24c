"""Issue 11: a dataset may reference only Secrets labelled for codeinstruct."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.constants import LABEL_SECRET_ALLOWED, Phase
from codeinstruct.operator.handlers import should_tick
from codeinstruct.operator.reconcile import Observed, Plan, reconcile
from codeinstruct.operator.secret_refs import SecretRef, secret_refs
from codeinstruct.operator.settings import Settings
from codeinstruct.operator.status import Status
from codeinstruct.workers.spec import InstructionDataset
from tests.conftest import make_dataset
from tests.unit.operator.test_reconcile import NOW, ledger, ready_children

ALLOWED = {LABEL_SECRET_ALLOWED: "true"}


def secret_dataset() -> InstructionDataset:
    key = {"name": "judge-key", "key": "k"}
    return make_dataset(
        method="wavecoder",
        output={"uri": "s3://b/p", "credentialsSecret": "s3"},
        generator={
            "backend": "vllm",
            "model": "org/m",
            "apiKeySecret": {"name": "api", "key": "key"},
            "vllm": {"hfTokenSecret": {"name": "hf", "key": "token"}},
        },
        wavecoder={
            "judgeModel": {"backend": "openai", "endpoint": "http://j/v1", "apiKeySecret": key}
        },
    )


def tick(
    dataset: InstructionDataset, secrets: dict[str, Any], status: Status | None = None
) -> Plan:
    observed = Observed(children=ready_children(dataset), ledger=ledger(), now=NOW, secrets=secrets)
    return reconcile(dataset, "team-a", status or Status(), observed, Settings())


def test_every_secret_the_spec_names_with_its_field() -> None:
    assert secret_refs(secret_dataset().spec) == [
        SecretRef("spec.output.credentialsSecret", "s3"),
        SecretRef("spec.generator.apiKeySecret", "api"),
        SecretRef("spec.generator.vllm.hfTokenSecret", "hf"),
        SecretRef("spec.wavecoder.judgeModel.apiKeySecret", "judge-key"),
    ]


def test_an_unlabelled_secret_fails_the_run_naming_field_and_fix() -> None:
    dataset = secret_dataset()
    secrets = {"s3": ALLOWED, "api": ALLOWED, "hf": {"team": "x"}, "judge-key": ALLOWED}
    plan = tick(dataset, secrets)
    assert plan.status.phase is Phase.FAILED and plan.status.reason == "SecretNotAllowed"
    assert plan.apply == [], "no child (no pod) gets the Secret"
    message = plan.status.message or ""
    assert "spec.generator.vllm.hfTokenSecret names Secret 'hf'" in message
    assert "kubectl -n team-a label secret hf codeinstruct.dev/secret=true" in message
    assert "'s3'" not in message, "only the refused Secrets are named"
    wrong_value = {**secrets, "hf": {LABEL_SECRET_ALLOWED: "false"}}
    assert tick(dataset, wrong_value).status.phase is Phase.FAILED


def test_labelling_the_secret_reruns_a_run_failed_for_it() -> None:
    dataset = secret_dataset()
    refused = tick(dataset, {"s3": {}, "api": ALLOWED, "hf": ALLOWED, "judge-key": ALLOWED})
    assert should_tick({"generation": 1}, refused.status.to_patch()), "it keeps checking"
    still = tick(
        dataset, {"s3": {}, "api": ALLOWED, "hf": ALLOWED, "judge-key": ALLOWED}, refused.status
    )
    assert still.status.phase is Phase.FAILED
    allowed = dict.fromkeys(("s3", "api", "hf", "judge-key"), ALLOWED)
    plan = tick(dataset, allowed, refused.status)
    assert plan.status.phase is Phase.PENDING
    plan = tick(dataset, allowed, plan.status)
    assert any(m["kind"] == "Job" for m in plan.apply)


def test_a_missing_secret_waits_and_creates_nothing() -> None:
    dataset = secret_dataset()
    plan = tick(dataset, {"s3": ALLOWED, "api": None, "hf": ALLOWED})
    assert plan.status.phase is Phase.PENDING and plan.status.reason == "SecretMissing"
    assert plan.apply == [] and plan.delete == []
    message = plan.status.message or ""
    assert "spec.generator.apiKeySecret names Secret 'api'" in message
    assert "judge-key" in message, "a name not observed counts as missing"
    ready = {c.type: c for c in plan.status.conditions}["Ready"]
    assert ready.status == "False" and ready.reason == "SecretMissing"
