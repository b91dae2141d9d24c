"""An in-process Kubernetes API (kmock) that kopf can drive, plus the controllers tests play.

kmock stores objects but assigns no uid/resourceVersion/generation/creationTimestamp and runs no
controllers; `stamp_metadata` adds the former, `FakeCluster` plays the kubelet, the Deployment
and Job controllers and the garbage collector by patching objects directly.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import attrs
import jsonpatch
import kmock
from kmock._internal import k8s_dicts

RESOURCES: dict[str, tuple[str, bool, set[str]]] = {
    "codeinstruct.dev/v1alpha1/instructiondatasets": ("InstructionDataset", True, {"status"}),
    "v1/configmaps": ("ConfigMap", True, set()),
    "v1/services": ("Service", True, set()),
    "v1/pods": ("Pod", True, {"status"}),
    "v1/events": ("Event", True, set()),
    "v1/namespaces": ("Namespace", False, set()),
    "apps/v1/deployments": ("Deployment", True, {"status"}),
    "batch/v1/jobs": ("Job", True, {"status"}),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", True, set()),
    "node.k8s.io/v1/runtimeclasses": ("RuntimeClass", False, set()),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", False, set()),
    "ray.io/v1/rayjobs": ("RayJob", True, {"status"}),
}
VERBS = {"get", "list", "watch", "create", "patch", "delete"}
_versions = itertools.count(1)


@attrs.frozen
class ConflictingPatch(kmock.KubernetesError):
    """A JSON patch whose `test` op failed (a stale resourceVersion)."""

    status: int = 422
    reason: str = "Invalid"
    message: str = "the object has been modified"


class Emulator(kmock.KubernetesEmulator):
    """kmock plus `metadata.generateName` (kopf names its Events that way)."""

    async def _handle(self, request: Any) -> Any:
        data = getattr(request, "data", None)
        if request.action == kmock.action.CREATE and isinstance(data, dict):
            meta = data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:8]
        return await super()._handle(request)


def _stamp(obj: k8s_dicts.Object, previous_spec: Any = None, created: bool = False) -> None:
    if obj.deleted:
        return
    raw = obj.last.raw
    meta = raw.setdefault("metadata", {})
    meta.setdefault("uid", str(uuid.uuid4()))
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta.setdefault("creationTimestamp", now)
    if created or "generation" not in meta:
        meta["generation"] = 1
    elif raw.get("spec") != previous_spec:
        meta["generation"] = int(meta["generation"]) + 1
    meta["resourceVersion"] = str(next(_versions))


@contextmanager
def stamp_metadata() -> Iterator[None]:
    """Make kmock assign uid, creationTimestamp, generation and resourceVersion like a server."""
    original_init, original_create = k8s_dicts.Object.__init__, k8s_dicts.Object.create
    original_patch = k8s_dicts.Object.patch

    def init(self: k8s_dicts.Object, history: Any = (), /) -> None:
        original_init(self, history)
        _stamp(self, created=True)

    def create(self: k8s_dicts.Object, changes: Any = None, /, **kwargs: Any) -> None:
        original_create(self, changes, **kwargs)
        _stamp(self, created=True)

    def patch(self: k8s_dicts.Object, changes: Any = None, /, **kwargs: Any) -> None:
        before = None if self.deleted else self.last.raw.get("spec")
        before = copy.deepcopy(before)
        try:
            original_patch(self, changes, **kwargs)
        except jsonpatch.JsonPatchTestFailed as error:  # a real server answers 422, not 500
            raise ConflictingPatch(message=str(error)) from None
        _stamp(self, previous_spec=before)

    k8s_dicts.Object.__init__ = init  # type: ignore[method-assign]
    k8s_dicts.Object.create = create  # type: ignore[method-assign]
    k8s_dicts.Object.patch = patch  # type: ignore[method-assign]
    try:
        yield
    finally:
        k8s_dicts.Object.__init__ = original_init  # type: ignore[method-assign]
        k8s_dicts.Object.create = original_create  # type: ignore[method-assign]
        k8s_dicts.Object.patch = original_patch  # type: ignore[method-assign]


class FakeCluster:
    """Typed access to the emulator's objects and the controllers a test plays."""

    def __init__(self, emulator: kmock.KubernetesEmulator, url: str) -> None:
        self.k = emulator
        self.url = url

    def _key(self, resource: str, namespace: str | None, name: str) -> tuple[str, str | None, str]:
        return (resource, namespace, name)

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = self._key(resource, namespace, name)
        try:
            obj = self.k.objects[key]
        except KeyError:
            return None
        return None if obj.deleted else dict(obj.last.raw)

    def items(self, resource: str) -> list[dict[str, Any]]:
        found = []
        for (res, _, _), obj in list(self.k.objects.items()):
            path = f"{res.group + '/' if res.group else ''}{res.version}/{res.plural}"
            if path == resource and not obj.deleted:
                found.append(dict(obj.last.raw))
        return found

    def put(self, resource: str, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        self.k.objects[self._key(resource, meta.get("namespace"), meta["name"])] = body

    def patch(
        self, resource: str, namespace: str | None, name: str, changes: dict[str, Any]
    ) -> None:
        self.k.objects[self._key(resource, namespace, name)].patch(changes)

    def remove(self, resource: str, namespace: str | None, name: str) -> None:
        self.k.objects[self._key(resource, namespace, name)].delete()

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        events = self.items("v1/events")
        return [e for e in events if reason is None or e.get("reason") == reason]

    def play_controllers(self) -> None:
        """One pass of the Deployment controller + kubelet and of the garbage collector."""
        for deployment in self.items("apps/v1/deployments"):
            meta = deployment["metadata"]
            replicas = int(deployment["spec"].get("replicas", 1))
            if (deployment.get("status") or {}).get("unschedulable"):
                continue
            available = int((deployment.get("status") or {}).get("availableReplicas", -1))
            if available != replicas:
                self.patch(
                    "apps/v1/deployments",
                    meta["namespace"],
                    meta["name"],
                    {"status": {"replicas": replicas, "availableReplicas": replicas}},
                )
        uids = {
            (o.get("metadata") or {}).get("uid")
            for resource in RESOURCES
            for o in self.items(resource)
        }
        for resource in RESOURCES:
            for obj in self.items(resource):
                meta = obj["metadata"]
                owners = meta.get("ownerReferences") or []
                if owners and not any(ref["uid"] in uids for ref in owners):
                    self.remove(resource, meta.get("namespace"), meta["name"])

    def finish_job(self, namespace: str, name: str, ok: bool = True, message: str = "") -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if ok:
            condition = {"type": "Complete", "status": "True", "lastTransitionTime": now}
            status: dict[str, Any] = {"succeeded": 1, "conditions": [condition]}
        else:
            condition = {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": message,
                "lastTransitionTime": now,
            }
            status = {"failed": 3, "conditions": [condition]}
        self.patch("batch/v1/jobs", namespace, name, {"status": status})


@asynccontextmanager
async def emulated_cluster() -> AsyncIterator[FakeCluster]:
    with stamp_metadata():
        emulator = Emulator()
        for path, (kind, namespaced, subresources) in RESOURCES.items():
            emulator.resources[path] = kmock.ResourceInfo(
                kind=kind, namespaced=namespaced, verbs=VERBS, subresources=subresources
            )
        async with emulator, kmock.Server(emulator) as server:
            yield FakeCluster(emulator, str(server.url).rstrip("/"))


async def eventually(check: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll `check()` until it returns a truthy value (the controllers run meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")
