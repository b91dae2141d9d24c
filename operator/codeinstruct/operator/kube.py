"""The only module that talks to the Kubernetes API (through the `kubernetes` client's REST layer).

Creates tolerate 409 (someone, e.g. an earlier operator, created it first), every child gets a
controller ownerReference to its InstructionDataset (adopted if it exists without one), and a
child is patched only when the content hash of its desired manifest changes.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

from codeinstruct.operator.builders.meta import content_hash, owner_reference
from codeinstruct.operator.constants import (
    ANNOTATION_SPEC_HASH,
    LABEL_DATASET,
    MANAGER,
    RAYJOB_CRD,
)
from codeinstruct.operator.rate_limit import TokenBucket
from codeinstruct.operator.secret_refs import allowed
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
    "Secret": "secrets",
    "CustomResourceDefinition": "customresourcedefinitions",
}
# Fields a running Job or RayJob accepts changes to; the rest of their spec is immutable.
JOB_MUTABLE = ("suspend",)
# Seconds the answer "is KubeRay's RayJob v1 served" is reused (the CRD is ~450 KB).
CRD_CACHE_SECONDS = 300.0
# Seconds a Secret found labelled for codeinstruct is trusted without a GET: every dataset of a
# namespace names the same few Secrets, and each tick checks them. Removing the label takes
# effect within this period; a refused or missing Secret is read again at every tick.
SECRET_CACHE_SECONDS = 60.0


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
    def __init__(self, api_client: Any, limiter: TokenBucket | None = None) -> None:
        self.api = api_client
        self.limiter = limiter  # client-side QPS/burst (kopf's own watches and patches aside)
        self._rayjob: tuple[float, bool] | None = None
        self._runtime_classes: dict[str, tuple[float, str | None]] = {}
        self._allowed_secrets: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._refreshing = threading.Lock()  # handlers run in threads: one refresh at a time

    @classmethod
    def connect(cls, settings: Settings) -> Kube:
        from kubernetes import client, config

        limiter = TokenBucket(settings.api_qps, settings.api_burst)
        if settings.api_server:
            configuration = client.Configuration()
            configuration.host = settings.api_server
            return cls(client.ApiClient(configuration), limiter)
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        return cls(client.ApiClient(), limiter)

    def _call(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Any:
        if self.limiter is not None:
            self.limiter.acquire()
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
        if created:  # the server answers a create with the object it stored
            return dict(created)
        found = self.get(
            manifest["apiVersion"], manifest["kind"], meta.get("namespace"), meta["name"]
        )
        return found or manifest

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

    def ensure(
        self,
        manifest: dict[str, Any],
        owner: dict[str, Any],
        existing: dict[str, Any] | None = None,
        observed: bool = False,
    ) -> dict[str, Any]:
        """Create the child, or adopt it and patch it when its desired content changed.

        With `observed`, `existing` is what the watch cache holds (None: absent) and no GET is
        made; otherwise the child is read first."""
        desired = copy.deepcopy(manifest)
        meta = desired["metadata"]
        digest = content_hash(manifest)
        meta.setdefault("annotations", {})[ANNOTATION_SPEC_HASH] = digest
        meta["ownerReferences"] = [owner_reference(owner)]
        if not observed:
            existing = self.get(
                desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"]
            )
        if existing is None:
            return self.create(desired)
        current = existing.get("metadata") or {}
        owners = current.get("ownerReferences") or []
        owned = any(ref.get("uid") == owner["metadata"]["uid"] for ref in owners)
        foreign = [
            r for r in owners if r.get("controller") and r.get("uid") != owner["metadata"]["uid"]
        ]
        if foreign:
            ref = foreign[0]
            raise KubeError(
                409,
                f"{desired['kind']} {meta['namespace']}/{meta['name']} is controlled by another "
                f"controller ({ref.get('kind')} {ref.get('name')!r}); rename or delete it",
            )
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
            self.patch(
                desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"], patch
            )
        else:
            self.apply(desired)
        return existing

    def apply(self, manifest: dict[str, Any]) -> None:
        """Server-side apply as the operator's field manager: fields it no longer sets go,
        fields others manage stay."""
        meta = manifest["metadata"]
        path = resource_path(
            manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]
        )
        query = f"?fieldManager={MANAGER}&force=true"
        self._call("PATCH", path + query, json.dumps(manifest), "application/apply-patch+yaml")

    def secret_labels(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's labels (None: it does not exist). Its data is dropped here, unread.
        Labels that allow it are reused for SECRET_CACHE_SECONDS."""
        with self._refreshing:
            now = time.monotonic()
            cached = self._allowed_secrets.get((namespace, name))
            if cached is not None and now - cached[0] <= SECRET_CACHE_SECONDS:
                return dict(cached[1])
            found = self.get("v1", "Secret", namespace, name)
            if found is None:
                self._allowed_secrets.pop((namespace, name), None)
                return None
            labels = dict((found.get("metadata") or {}).get("labels") or {})
            if allowed(labels):
                self._allowed_secrets[(namespace, name)] = (now, labels)
            else:
                self._allowed_secrets.pop((namespace, name), None)
            return labels

    def pods(self, namespace: str, dataset: str) -> list[dict[str, Any]]:
        """Pods of a dataset (a label selector; used when no watch cache is available)."""
        path = resource_path("v1", "Pod", namespace) + f"?labelSelector={LABEL_DATASET}%3D{dataset}"
        return list((self._call("GET", path) or {}).get("items") or [])

    def runtime_class_handler(self, name: str) -> str | None:
        """The handler of a RuntimeClass (None: it does not exist); cached like the CRD."""
        with self._refreshing:
            return self._runtime_class_handler(name)

    def _runtime_class_handler(self, name: str) -> str | None:
        now = time.monotonic()
        cached = self._runtime_classes.get(name)
        if cached is None or now - cached[0] > CRD_CACHE_SECONDS:
            found = self.get("node.k8s.io/v1", "RuntimeClass", None, name)
            handler = None if found is None else str(found.get("handler") or "")
            cached = self._runtime_classes[name] = (now, handler)
        return cached[1]

    def rayjob_available(self) -> bool:
        """Whether KubeRay serves RayJob `v1`; cached for CRD_CACHE_SECONDS."""
        with self._refreshing:
            return self._rayjob_served()

    def _rayjob_served(self) -> bool:
        now = time.monotonic()
        if self._rayjob is None or now - self._rayjob[0] > CRD_CACHE_SECONDS:
            crd = self.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, RAYJOB_CRD)
            versions = ((crd or {}).get("spec") or {}).get("versions") or []
            served = any(v.get("name") == "v1" and v.get("served") for v in versions)
            self._rayjob = (now, served)
        return self._rayjob[1]
