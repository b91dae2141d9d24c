"""API load per dataset: finished datasets stop ticking, status is patched only when it
changed, and the RayJob CRD and labelled Secret lookups are cached (audit #9)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import codeinstruct.operator.kube as kube_module
from codeinstruct.operator.constants import LABEL_SECRET_ALLOWED, Phase
from codeinstruct.operator.handlers import should_tick
from codeinstruct.operator.kube import Kube
from codeinstruct.operator.status import Status


def test_finished_datasets_do_not_tick_until_their_spec_changes() -> None:
    done = {"phase": "Succeeded", "observedGeneration": 3}
    assert not should_tick({"generation": 3}, done)
    assert should_tick({"generation": 4}, done), "an edit reruns it"
    assert should_tick({"generation": 3}, {"phase": "Generating", "observedGeneration": 3})
    assert should_tick({"generation": 1}, {})


def test_status_patch_holds_only_what_changed() -> None:
    before = Status(phase=Phase.GENERATING, progress="1/3", target=10)
    after = before.model_copy(update={"progress": "2/3"})
    assert after.changes(before.to_patch()) == {"progress": "2/3"}
    assert before.changes(before.to_patch()) == {}


class CountingApi:
    """Answers every GET with a RayJob CRD and counts requests."""

    def __init__(self) -> None:
        self.calls = 0

    def param_serialize(self, method: str, path: str, **_: Any) -> tuple[Any, ...]:
        return None, path, {}, None, None

    def call_api(self, method: str, url: str, *_: Any, **__: Any) -> Any:
        self.calls += 1

        class Response:
            status = 200

            def read(self) -> bytes:
                return b'{"metadata": {"name": "rayjobs.ray.io"}, "spec": {"versions": [{"name": "v1", "served": true}]}}'

        return Response()


def test_rayjob_crd_lookup_is_cached() -> None:
    api = CountingApi()
    kube = Kube(api)
    assert all(kube.rayjob_available() for _ in range(5))
    assert api.calls == 1


class SecretApi(CountingApi):
    """Answers every GET with a Secret carrying `labels`, and counts requests."""

    def __init__(self, labels: dict[str, str]) -> None:
        super().__init__()
        self.labels = labels

    def call_api(self, method: str, url: str, *_: Any, **__: Any) -> Any:
        self.calls += 1
        body = json.dumps({"metadata": {"name": "s3", "labels": self.labels}}).encode()

        class Response:
            status = 200

            def read(self) -> bytes:
                return body

        return Response()


def test_a_labelled_secret_is_read_once_per_cache_period_not_per_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every dataset of a namespace names the same few Secrets, and each tick checks them:
    100 datasets at a 10 s interval made 20 GETs/s of Secrets (target: 1 request/s in all)."""
    clock = [1000.0]
    monkeypatch.setattr(kube_module.time, "monotonic", lambda: clock[0])
    api = SecretApi({LABEL_SECRET_ALLOWED: "true"})
    kube = Kube(api)
    assert all(kube.secret_labels("data", "s3") == api.labels for _ in range(5))
    assert api.calls == 1
    clock[0] += kube_module.SECRET_CACHE_SECONDS + 1
    kube.secret_labels("data", "s3")
    assert api.calls == 2, "a label removed later is seen once the cache period ends"


def test_a_refused_secret_is_read_again_at_every_tick() -> None:
    """Labelling it lets the dataset run at the next tick, not a cache period later."""
    api = SecretApi({"team": "x"})
    kube = Kube(api)
    for _ in range(3):
        kube.secret_labels("data", "s3")
    assert api.calls == 3
    api.labels = {LABEL_SECRET_ALLOWED: "true"}
    assert kube.secret_labels("data", "s3") == api.labels
