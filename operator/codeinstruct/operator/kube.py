"""The only module that talks to the Kubernetes API (through the `kubernetes` client's REST layer).

Creates tolerate 409 (someone, e.g. an earlier operator, created it first), every child gets a
controller ownerReference to its InstructionDataset (adopted if it exists without one), and a
child is patched only when the content hash of its desired manifest changes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from codeinstruct.operator.builders.meta import content_hash, owner_reference
from codeinstruct.operator.constants import ANNOTATION_SPEC_HASH, LABEL_DATASET, RAYJOB_CRD
from codeinstruct.operator.settings import Settings

PLURALS = {
    "ConfigMap": "configmaps",
    "Service": "services",
    "Pod": "pods",
    "Deployment": "deployments",
    "Job": "jobs",
    "NetworkPolicy": "networkpolicies",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "RayJob": "rayjobs",
    "RuntimeClass": "runtimeclasses",
    "CustomResourceDefinition": "customresourcedefinitions",
}
# Fields a running Job or RayJob accepts changes to; the rest of their spec is immutable.
JOB_MUTABLE = ("suspend",)


class KubeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"{status}: {message}")


def resource_path(
    api_version: str, kind: str, namespace: str | None, name: str | None = None
) -> str:
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespace else ""
    tail = f"/{name}" if name else ""
    return f"{base}{scope}/{PLURALS[kind]}{tail}"


class Kube:
    def __init__(self, api_client: Any) -> None:
        self.api = api_client

    @classmethod
    def connect(cls, settings: Settings) -> Kube:
        from kubernetes import client, config

        if settings.api_server:
            configuration = client.Configuration()
            configuration.host = settings.api_server
            return cls(client.ApiClient(configuration))
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return cls(client.ApiClient())

    def _call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        _, url, headers, body, _ = self.api.param_serialize(
            method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
        )
        response = self.api.call_api(method, url, headers, body, _request_timeout=30)
        data = response.read() if hasattr(response, "read") else response.data
        if not 200 <= int(response.status) < 300:
            raise KubeError(int(response.status), (data or b"").decode(errors="replace")[:500])
        return json.loads(data) if data else None

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        try:
            found = self._call("GET", resource_path(api_version, kind, namespace, name))
        except KubeError as error:
            if error.status == 404:
                return None
            raise
        if not found or (found.get("metadata") or {}).get("deletionTimestamp"):
            return None
        return dict(found)

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = manifest["metadata"]
        path = resource_path(manifest["apiVersion"], manifest["kind"], meta.get("namespace"))
        try:
            created = self._call("POST", path, manifest)
        except KubeError as error:
            if error.status != 409:
                raise
            created = None
        found = self.get(
            manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]
        )
        return found or created or manifest

    def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, body: dict[str, Any]
    ) -> None:
        path = resource_path(api_version, kind, namespace, name)
        self._call("PATCH", path, body, "application/merge-patch+json")

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        path = resource_path(api_version, kind, namespace, name)
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        try:
            self._call("DELETE", path, body)
        except KubeError as error:
            if error.status != 404:
                raise

    def ensure(self, manifest: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
        """Create the child, or adopt it and patch it when its desired content changed."""
        desired = copy.deepcopy(manifest)
        meta = desired["metadata"]
        digest = content_hash(manifest)
        meta.setdefault("annotations", {})[ANNOTATION_SPEC_HASH] = digest
        meta["ownerReferences"] = [owner_reference(owner)]
        existing = self.get(desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"])
        if existing is None:
            return self.create(desired)
        current = existing.get("metadata") or {}
        owners = current.get("ownerReferences") or []
        owned = any(ref.get("uid") == owner["metadata"]["uid"] for ref in owners)
        same = (current.get("annotations") or {}).get(ANNOTATION_SPEC_HASH) == digest
        if owned and same:
            return existing
        patch: dict[str, Any] = {
            "metadata": {
                "labels": meta["labels"],
                "annotations": {ANNOTATION_SPEC_HASH: digest},
                "ownerReferences": meta["ownerReferences"],
            }
        }
        if desired["kind"] in {"Job", "RayJob"}:
            spec = desired["spec"]
            patch["spec"] = {field: spec[field] for field in JOB_MUTABLE if field in spec}
        else:
            patch.update({k: v for k, v in desired.items() if k in {"spec", "data"}})
        self.patch(desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"], patch)
        return (
            self.get(desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"])
            or existing
        )

    def pods(self, namespace: str, dataset: str) -> list[dict[str, Any]]:
        """Pods of a dataset (filtered here as well: not every API server applies selectors)."""
        path = resource_path("v1", "Pod", namespace) + f"?labelSelector={LABEL_DATASET}%3D{dataset}"
        items = (self._call("GET", path) or {}).get("items") or []
        return [
            p
            for p in items
            if (p.get("metadata") or {}).get("labels", {}).get(LABEL_DATASET) == dataset
        ]

    def runtime_class_exists(self, name: str) -> bool:
        return self.get("node.k8s.io/v1", "RuntimeClass", None, name) is not None

    def rayjob_available(self) -> bool:
        crd = self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, RAYJOB_CRD)
        return crd is not None
