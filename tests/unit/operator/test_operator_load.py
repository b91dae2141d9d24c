"""API load per dataset: finished datasets stop ticking, status is patched only when it
changed, and the RayJob CRD lookup is cached (audit #9)."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.constants import Phase
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
