"""kube.py against a recording API client: server-side apply with a field manager, no
adoption of objects another controller owns (audit #13)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codeinstruct.operator.kube import Kube, KubeError

OWNER = {
    "apiVersion": "codeinstruct.dev/v1alpha1",
    "kind": "InstructionDataset",
    "metadata": {"name": "d", "uid": "mine"},
}


class RecordingApi:
    def __init__(self, existing: dict[str, Any] | None) -> None:
        self.existing = existing
        self.calls: list[tuple[str, str, str, Any]] = []

    def param_serialize(self, method: str, path: str, **kwargs: Any) -> tuple[Any, ...]:
        return None, path, kwargs["header_params"], kwargs.get("body"), None

    def call_api(self, method: str, url: str, headers: Any, body: Any, **_: Any) -> Any:
        self.calls.append((method, url, headers.get("Content-Type", ""), body))
        found = self.existing

        class Response:
            status = 200 if method != "GET" or found is not None else 404

            def read(self) -> bytes:
                return json.dumps(found or {}).encode()

        return Response()


def deployment(**meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d-vllm", "namespace": "ns", "labels": {"a": "b"}, **meta},
        "spec": {"replicas": 1},
    }


def test_changed_children_are_server_side_applied_with_a_field_manager() -> None:
    live = deployment(ownerReferences=[{"uid": "mine", "controller": True}])
    api = RecordingApi(live)
    Kube(api).ensure(deployment(), OWNER)
    method, url, content_type, body = api.calls[-1]
    assert method == "PATCH" and content_type == "application/apply-patch+yaml"
    assert "fieldManager=codeinstruct-operator" in url and "force=true" in url
    applied = json.loads(body) if isinstance(body, str) else body
    assert applied["spec"] == {"replicas": 1} and applied["kind"] == "Deployment"


def test_an_object_another_controller_owns_is_not_adopted() -> None:
    foreign = deployment(ownerReferences=[{"uid": "theirs", "controller": True, "kind": "X"}])
    api = RecordingApi(foreign)
    with pytest.raises(KubeError) as refused:
        Kube(api).ensure(deployment(), OWNER)
    assert refused.value.status == 409 and "another controller" in str(refused.value)
    assert [c[0] for c in api.calls] == ["GET"]
