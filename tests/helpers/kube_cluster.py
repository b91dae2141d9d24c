"""An in-process Kubernetes API (kmock) that kopf can drive, as strict as a real cluster where
the operator depends on it, plus the controllers tests play.

kmock stores objects but assigns no uid/resourceVersion/generation/creationTimestamp and runs no
controllers; `stamp_metadata` adds the former. On top of it:
- RBAC: every request the operator makes is checked against the chart's ClusterRole/Roles
  (`rbac.Authorizer`), with OwnerReferencesPermissionEnforcement; a refusal is a 403.
- Controllers (`FakeCluster.play_controllers`): Deployments and Jobs create pods; Pod Security
  Admission refuses pods violating `restricted` in namespaces labelled for it (FailedCreate on
  the owner); a kubelet moves pods through real states (`FakeCluster.pod_states`), and a pod
  referring to a missing Secret is CreateContainerConfigError; the garbage collector.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import attrs
import jsonpatch
import kmock
from kmock._internal import k8s_dicts

from tests.helpers import pod_security
from tests.helpers.rbac import Authorizer

RESOURCES: dict[str, tuple[str, bool, set[str]]] = {
    "codeinstruct.dev/v1alpha1/instructiondatasets": ("InstructionDataset", True, {"status"}),
    "v1/configmaps": ("ConfigMap", True, set()),
    "v1/services": ("Service", True, set()),
    "v1/pods": ("Pod", True, {"status"}),
    "v1/events": ("Event", True, set()),
    "v1/namespaces": ("Namespace", False, set()),
    "v1/secrets": ("Secret", True, set()),
    "apps/v1/deployments": ("Deployment", True, {"status"}),
    "batch/v1/jobs": ("Job", True, {"status"}),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", True, set()),
    "node.k8s.io/v1/runtimeclasses": ("RuntimeClass", False, set()),
    "apiextensions.k8s.io/v1/customresourcedefinitions": ("CustomResourceDefinition", False, set()),
    "ray.io/v1/rayjobs": ("RayJob", True, {"status"}),
    "kopf.dev/v1/clusterkopfpeerings": ("ClusterKopfPeering", False, set()),
    "kopf.dev/v1/kopfpeerings": ("KopfPeering", True, set()),
}
VERBS = {"get", "list", "watch", "create", "patch", "delete"}
_versions = itertools.count(1)


@attrs.frozen
class ConflictingPatch(kmock.KubernetesError):
    """A JSON patch whose `test` op failed (a stale resourceVersion)."""

    status: int = 422
    reason: str = "Invalid"
    message: str = "the object has been modified"


@attrs.frozen
class Forbidden(kmock.KubernetesError):
    """What the RBAC authorizer or an admission plugin answers to a refused request."""

    status: int = 403
    reason: str = "Forbidden"
    message: str = "forbidden"


VERB_OF_ACTION = {
    "FETCH": "get",
    "LIST": "list",
    "WATCH": "watch",
    "CREATE": "create",
    "UPDATE": "patch",
    "DELETE": "delete",
}
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"
# Controller passes a RayJob stays Retrying (KubeRay deleting the failed RayCluster).
RAY_TEARDOWN_PASSES = 20


class Emulator(kmock.KubernetesEmulator):
    """kmock plus `metadata.generateName` (kopf names its Events that way), RBAC on every
    request and OwnerReferencesPermissionEnforcement when an authorizer is set."""

    authorizer: Authorizer | None = None
    # Requests served, by (HTTP method, Kubernetes action, resource plural): for benchmarks.
    requests: collections.Counter[tuple[str, str, str]]

    def authorize(self, request: Any) -> None:
        if self.authorizer is None or request.resource is None or request.action is None:
            return
        if not request.resource.plural:  # discovery (/api/v1, /apis/g/v): system:discovery
            return
        verb = VERB_OF_ACTION[request.action.name]
        if request.method is not None and request.method.name == "PUT":
            verb = "update"
        plural = request.resource.plural or ""
        if request.subresource:
            plural = f"{plural}/{request.subresource}"
        group = request.resource.group or ""
        refused = self.authorizer.check(verb, group, plural, request.namespace)
        data = getattr(request, "data", None)
        if refused is None and verb in {"create", "patch", "update"} and isinstance(data, dict):
            refused = self.authorizer.check_owner_references(data, request.namespace)
        if refused:
            raise Forbidden(message=refused)

    async def _serve_list(self, request: Any) -> Any:
        """kmock's list, with `labelSelector` applied like the API server does."""
        payload = await super()._serve_list(request)
        selector = (request.params or {}).get("labelSelector")
        if selector:
            payload["items"] = [
                item
                for item in payload["items"]
                if selector_matches(selector, (item.get("metadata") or {}).get("labels") or {})
            ]
        return payload

    async def _handle(self, request: Any) -> Any:
        if request.resource is not None and request.action is not None:
            method = request.method.name if request.method is not None else "?"
            plural = request.resource.plural or ""
            if request.subresource:
                plural = f"{plural}/{request.subresource}"
            self.requests[(method, request.action.name, plural)] += 1
        self.authorize(request)
        data = getattr(request, "data", None)
        if request.action == kmock.action.CREATE and isinstance(data, dict):
            meta = data.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:8]
        try:
            return await super()._handle(request)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        """kmock keeps every request ever served, and matches each new one by scanning them all
        (quadratic: 100 datasets took minutes per request). Nothing here reads that history
        (`requests` counts what benchmarks need), so a served request is dropped."""
        for index in range(len(self._requests) - 1, -1, -1):
            if self._requests[index] is request:
                del self._requests[index]
                return


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

    def __init__(self, emulator: Emulator, url: str) -> None:
        self.k = emulator
        self.url = url
        # The state the kubelet puts the pods of each component in (e.g. "vllm").
        self.pod_states: dict[str, str] = {}
        self._pods_by_owner: dict[str, list[dict[str, Any]]] = {}
        self._rayjob_outcomes: dict[tuple[str, str], str] = {}
        self._teardown: dict[tuple[str, str], int] = {}
        self._publishing: set[asyncio.Task[None]] = set()
        self._judged_pods: set[str] = set()  # failed/succeeded pods the Job controller counted

    @contextmanager
    def as_user(self) -> Iterator[None]:
        """Requests made meanwhile come from a cluster admin (a user), not the operator."""
        authorizer, self.k.authorizer = self.k.authorizer, None
        try:
            yield
        finally:
            self.k.authorizer = authorizer

    def enforce_rbac(self, values: dict[str, Any] | None = None) -> Authorizer:
        """From now on, every API request must be allowed by the chart's RBAC (with `values`)."""
        self.k.authorizer = Authorizer.from_chart(values)
        return self.k.authorizer

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
        key = self._key(resource, meta.get("namespace"), meta["name"])
        existed = key in self.k.objects and not self.k.objects[key].deleted
        self.k.objects[key] = body
        self._publish(resource, "MODIFIED" if existed else "ADDED", key)

    def patch(
        self, resource: str, namespace: str | None, name: str, changes: dict[str, Any]
    ) -> None:
        key = self._key(resource, namespace, name)
        self.k.objects[key].patch(changes)
        self._publish(resource, "MODIFIED", key)

    def remove(self, resource: str, namespace: str | None, name: str) -> None:
        key = self._key(resource, namespace, name)
        self.k.objects[key].delete()
        self._publish(resource, "DELETED", key)

    def _publish(self, resource: str, kind: str, key: tuple[str, str | None, str]) -> None:
        """Changes made by the controllers reach watchers like those made over the API."""
        parts = resource.split("/")
        group, version, plural = ("", *parts) if len(parts) == 2 else parts
        raw = copy.deepcopy(dict(self.k.objects[key].last.raw))
        bus = self.k._buses[kmock.resource(group, version, plural)]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no watcher can exist outside the event loop
        task = loop.create_task(bus.put({"type": kind, "object": raw}))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def events(self, reason: str | None = None) -> list[dict[str, Any]]:
        events = self.items("v1/events")
        return [e for e in events if reason is None or e.get("reason") == reason]

    async def play_forever(self, interval: float = 0.05) -> None:
        """`play_controllers` every `interval` seconds, until cancelled (run it as a task)."""
        while True:
            self.play_controllers()
            await asyncio.sleep(interval)

    def play_controllers(self) -> None:
        """One pass of the Deployment and Job controllers, the kubelet and the GC."""
        self._pods_by_owner = collections.defaultdict(list)
        for pod in self.items("v1/pods"):
            for ref in pod["metadata"].get("ownerReferences") or []:
                self._pods_by_owner[ref.get("uid")].append(pod)
        for deployment in self.items("apps/v1/deployments"):
            self._play_deployment(deployment)
        for job in self.items("batch/v1/jobs"):
            self._play_job(job)
        for rayjob in self.items("ray.io/v1/rayjobs"):
            self._play_rayjob(rayjob)
        for pod in self.items("v1/pods"):
            self._play_kubelet(pod)
        self._collect_garbage()

    # -- controllers ------------------------------------------------------------------------

    def _pods_of(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        """The owner's pods as of the start of this pass (plus those created in it)."""
        return list(self._pods_by_owner.get(owner["metadata"]["uid"], []))

    def _admit_pod(self, owner: dict[str, Any], spec: dict[str, Any]) -> str | None:
        """Pod Security Admission for a pod the owner's controller would create."""
        namespace = owner["metadata"]["namespace"]
        ns = self.get("v1/namespaces", None, namespace) or {}
        level = ((ns.get("metadata") or {}).get("labels") or {}).get(POD_SECURITY_LABEL)
        if level != "restricted":
            return None
        return pod_security.message(f"{owner['metadata']['name']}-x", spec)

    def _create_pod(self, owner: dict[str, Any], template: dict[str, Any]) -> None:
        meta = owner["metadata"]
        name = f"{meta['name']}-{uuid.uuid4().hex[:5]}"
        ref = {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "ownerReferences": [ref],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
            "status": {"phase": "Pending"},
        }
        self.put("v1/pods", pod)
        self._pods_by_owner.setdefault(meta["uid"], []).append(pod)

    def _failed_create(self, resource: str, owner: dict[str, Any], message: str) -> None:
        meta = owner["metadata"]
        condition = {
            "type": "ReplicaFailure",
            "status": "True",
            "reason": "FailedCreate",
            "message": message,
        }
        if resource == "apps/v1/deployments":
            conditions = [
                c
                for c in (owner.get("status") or {}).get("conditions") or []
                if c.get("type") != "ReplicaFailure"
            ]
            status = {"replicas": 0, "availableReplicas": 0, "conditions": [*conditions, condition]}
            if (owner.get("status") or {}).get("conditions") != status["conditions"]:
                self.patch(resource, meta["namespace"], meta["name"], {"status": status})
        self.record_event(owner, "Warning", "FailedCreate", message)

    def record_event(self, owner: dict[str, Any], kind: str, reason: str, message: str) -> None:
        meta = owner["metadata"]
        for event in self.events(reason):
            if (event.get("involvedObject") or {}).get("uid") == meta["uid"]:
                return
        self.put(
            "v1/events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{meta['name']}.{uuid.uuid4().hex[:8]}",
                    "namespace": meta["namespace"],
                },
                "involvedObject": {"kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]},
                "type": kind,
                "reason": reason,
                "message": message,
            },
        )

    def _play_deployment(self, deployment: dict[str, Any]) -> None:
        meta, spec = deployment["metadata"], deployment["spec"]
        if (deployment.get("status") or {}).get("unschedulable"):
            return
        replicas = int(spec.get("replicas", 1))
        pods = self._pods_of(deployment)
        for pod in pods[replicas:]:
            self.remove("v1/pods", meta["namespace"], pod["metadata"]["name"])
        if len(pods) < replicas:
            refused = self._admit_pod(deployment, spec["template"].get("spec") or {})
            if refused:
                self._failed_create("apps/v1/deployments", deployment, refused)
                return
            for _ in range(replicas - len(pods)):
                self._create_pod(deployment, spec["template"])
        ready = sum(1 for p in self._pods_of(deployment) if _ready(p))
        status = deployment.get("status") or {}
        if (status.get("replicas"), status.get("availableReplicas")) != (replicas, ready):
            available = {"type": "Available", "status": "True" if ready else "False"}
            self.patch(
                "apps/v1/deployments",
                meta["namespace"],
                meta["name"],
                {
                    "status": {
                        "replicas": replicas,
                        "availableReplicas": ready,
                        "conditions": [available],
                    }
                },
            )

    def _play_job(self, job: dict[str, Any]) -> None:
        """The Job controller: one pod at a time; a failed pod is judged by the Job's
        podFailurePolicy (FailJob / Ignore / Count, first matching rule), counted ones against
        backoffLimit; a succeeded pod completes the Job."""
        meta = job["metadata"]
        status = job.get("status") or {}
        if job["spec"].get("suspend") or any(
            c.get("status") == "True" for c in status.get("conditions") or []
        ):
            return
        pods = self._pods_of(job)
        failed = int(status.get("failed") or 0)
        for pod in pods:
            uid = pod["metadata"]["uid"]
            phase = (pod.get("status") or {}).get("phase")
            if uid in self._judged_pods or phase not in {"Succeeded", "Failed"}:
                continue
            self._judged_pods.add(uid)
            if phase == "Succeeded":
                self.finish_job(meta["namespace"], meta["name"])
                return
            action, message = _pod_failure_action(job, pod)
            if action == "FailJob":
                self._fail_job(job, "PodFailurePolicy", message, failed)
                return
            if action == "Count":
                failed += 1
        if failed > int(job["spec"].get("backoffLimit", 6)):
            self._fail_job(
                job, "BackoffLimitExceeded", "Job has reached the specified backoff limit", failed
            )
            return
        running = any(
            (p.get("status") or {}).get("phase") not in {"Succeeded", "Failed"} for p in pods
        )
        if not running:
            refused = self._admit_pod(job, job["spec"]["template"].get("spec") or {})
            if refused:
                self._failed_create("batch/v1/jobs", job, refused)
                return
            self._create_pod(job, job["spec"]["template"])
        update = {"active": 1, **({"failed": failed} if failed else {})}
        if {k: status.get(k) for k in update} != update:
            self.patch("batch/v1/jobs", meta["namespace"], meta["name"], {"status": update})

    def _fail_job(self, job: dict[str, Any], reason: str, message: str, failed: int) -> None:
        meta = job["metadata"]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {
            "type": "Failed",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
        }
        status = {"active": 0, "failed": max(failed, 1), "conditions": [condition]}
        self.patch("batch/v1/jobs", meta["namespace"], meta["name"], {"status": status})

    def terminate_pod(
        self, namespace: str, name: str, exit_code: int, disruption: str | None = None
    ) -> None:
        """The pod's container exits with `exit_code`; with `disruption` (e.g.
        "EvictionByEvictionAPI", "PreemptionByScheduler") the pod also carries the
        DisruptionTarget condition the kubelet/eviction API sets. A terminal pod stays so."""
        pod = self.get("v1/pods", namespace, name)
        assert pod is not None, f"no pod {namespace}/{name}"
        status = _pod_status(pod, "Failed", None)
        for container in status["containerStatuses"]:
            container["state"] = {"terminated": {"exitCode": exit_code, "reason": "Error"}}
        if disruption:
            status["conditions"].append(
                {"type": "DisruptionTarget", "status": "True", "reason": disruption}
            )
        self.patch("v1/pods", namespace, name, {"status": status})

    def pods_of(self, namespace: str, owner: str) -> list[dict[str, Any]]:
        """Pods (any phase) whose controller is the object named `owner`."""
        return [
            p
            for p in self.items("v1/pods")
            if p["metadata"]["namespace"] == namespace
            and any(r.get("name") == owner for r in p["metadata"].get("ownerReferences") or [])
        ]

    def finish_rayjob(self, namespace: str, name: str, ok: bool = True) -> None:
        """The Ray job's current attempt ends (the KubeRay controller plays the rest)."""
        self._rayjob_outcomes[(namespace, name)] = "SUCCEEDED" if ok else "FAILED"

    def _play_rayjob(self, rayjob: dict[str, Any]) -> None:
        """KubeRay's RayJob sequence (rayjob_controller.go): ValidationFailed for a spec it
        rejects; else Initializing -> Running (jobStatus RUNNING) -> Complete/SUCCEEDED, or on a
        failed attempt Retrying with jobStatus FAILED (a new RayCluster, then Initializing
        again) until backoffLimit is spent, then Failed."""
        meta, spec = rayjob["metadata"], rayjob["spec"]
        status = dict(rayjob.get("status") or {})
        state = status.get("jobDeploymentStatus")
        key = (meta["namespace"], meta["name"])
        if state in {"Complete", "Failed", "ValidationFailed"} or spec.get("suspend"):
            return
        update: dict[str, Any] = {}
        if state is None:
            problem = _rayjob_problem(spec)
            if len(meta["name"]) > RAYJOB_MAX_NAME:
                problem = (
                    "The RayJob metadata is invalid: RayJob name should be no more than "
                    f"{RAYJOB_MAX_NAME} characters"
                )
            update = (
                {
                    "jobDeploymentStatus": "ValidationFailed",
                    "reason": "ValidationFailed",
                    "message": problem,
                }
                if problem
                else {"jobDeploymentStatus": "Initializing", "failed": status.get("failed", 0)}
            )
        elif state == "Retrying":
            # KubeRay tears the RayCluster down before the next attempt: that takes a while.
            waited = self._teardown[key] = self._teardown.get(key, 0) + 1
            if waited >= RAY_TEARDOWN_PASSES:
                del self._teardown[key]
                update = {"jobDeploymentStatus": "Initializing", "jobStatus": None}
        elif state == "Initializing":
            update = {"jobDeploymentStatus": "Running", "jobStatus": "RUNNING"}
        elif state == "Running" and key in self._rayjob_outcomes:
            outcome = self._rayjob_outcomes.pop(key)
            if outcome == "SUCCEEDED":
                update = {"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}
            else:
                failed = int(status.get("failed") or 0) + 1
                retry = failed <= int(spec.get("backoffLimit") or 0)
                update = {
                    "jobDeploymentStatus": "Retrying" if retry else "Failed",
                    "jobStatus": "FAILED",
                    "failed": failed,
                    "reason": "AppFailed",
                    "message": "the Ray job failed",
                }
        if update:
            self.patch("ray.io/v1/rayjobs", meta["namespace"], meta["name"], {"status": update})

    def _play_kubelet(self, pod: dict[str, Any]) -> None:
        """Move a pod to the state its component is told to be in (default: Running, Ready)."""
        meta = pod["metadata"]
        if (pod.get("status") or {}).get("phase") in {"Succeeded", "Failed"}:
            return  # a terminated pod never runs again (its controller makes a new one)
        component = (meta.get("labels") or {}).get("app.kubernetes.io/component", "")
        state = self.pod_states.get(component, "Running")
        if state == "Running" and self._missing_secret(pod):
            state = "CreateContainerConfigError"
        status = _pod_status(pod, state, self._missing_secret(pod))
        if (pod.get("status") or {}) != status:
            self.patch("v1/pods", meta["namespace"], meta["name"], {"status": status})

    def _missing_secret(self, pod: dict[str, Any]) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for container in (pod.get("spec") or {}).get("containers") or []:
            names = [
                (ref.get("secretRef") or {}).get("name") for ref in container.get("envFrom") or []
            ]
            names += [
                ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name")
                for e in container.get("env") or []
            ]
            for name in filter(None, names):
                if self.get("v1/secrets", namespace, name) is None:
                    return str(name)
        return None

    def _collect_garbage(self) -> None:
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
        emulator.authorizer = None
        emulator.requests = collections.Counter()
        for path, (kind, namespaced, subresources) in RESOURCES.items():
            emulator.resources[path] = kmock.ResourceInfo(
                kind=kind, namespaced=namespaced, verbs=VERBS, subresources=subresources
            )
        async with emulator, kmock.Server(emulator) as server:
            yield FakeCluster(emulator, str(server.url).rstrip("/"))


async def eventually(check: Any, timeout: float = 90.0, interval: float = 0.05) -> Any:
    """Poll `check()` until it returns a truthy value (the controllers run meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


POD_STATES = {
    "Pending",
    "Unschedulable",
    "ContainerCreating",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "CrashLoopBackOff",
    "OOMKilled",
    "Running",
    "Succeeded",
    "Failed",
}


_REQUIREMENT = re.compile(
    r"\s*(?:(?P<key>[\w./-]+)\s*(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*"
    r"(?P<value>\([^)]*\)|[\w./-]*)|(?P<neg>!)?(?P<exists>[\w./-]+))\s*(?:,|$)"
)


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (equality- and set-based) against `labels`."""
    position = 0
    while position < len(selector):
        match = _REQUIREMENT.match(selector, position)
        if not match or match.end() == position:
            raise ValueError(f"invalid label selector {selector!r}")
        position = match.end()
        if match["exists"]:
            if (match["exists"] in labels) == bool(match["neg"]):
                return False
            continue
        key, op, value = match["key"], match["op"].strip(), match["value"]
        values = (
            {v.strip() for v in value.strip("()").split(",")} if op in {"in", "notin"} else {value}
        )
        present = key in labels and labels[key] in values
        if (op in {"=", "==", "in"}) != present:
            return False
    return True


# KubeRay (1.4+) validates RayJob names: its derived RayCluster and Job names must fit.
RAYJOB_MAX_NAME = 47


def _rayjob_problem(spec: dict[str, Any]) -> str | None:
    """A few of KubeRay's ValidateRayJobSpec checks."""
    if not spec.get("entrypoint") and spec.get("submissionMode", "K8sJobMode") == "K8sJobMode":
        return "The RayJob spec is invalid: entrypoint is required in K8sJobMode"
    if int(spec.get("backoffLimit") or 0) < 0:
        return "The RayJob spec is invalid: backoffLimit must be a positive integer"
    submitter = (spec.get("submitterPodTemplate") or {}).get("spec") or {}
    if submitter and submitter.get("restartPolicy") not in {None, "Never"}:
        return "The RayJob spec is invalid: submitterPodTemplate restartPolicy must be Never"
    if spec.get("shutdownAfterJobFinishes") and spec.get("clusterSelector"):
        return "The RayJob spec is invalid: shutdownAfterJobFinishes with clusterSelector"
    return None


def _pod_failure_action(job: dict[str, Any], pod: dict[str, Any]) -> tuple[str, str]:
    """What the Job's podFailurePolicy does with a failed pod (the first rule that matches;
    no rule: Count), and the Failed condition's message a FailJob rule writes."""
    rules = ((job["spec"].get("podFailurePolicy") or {}).get("rules")) or []
    status = pod.get("status") or {}
    pod_name = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    for index, rule in enumerate(rules):
        on_codes = rule.get("onExitCodes")
        if on_codes:
            for container in status.get("containerStatuses") or []:
                wanted = on_codes.get("containerName")
                if wanted and container.get("name") != wanted:
                    continue
                code = ((container.get("state") or {}).get("terminated") or {}).get("exitCode")
                if code is None or code == 0:
                    continue
                within: bool = code in (on_codes.get("values") or [])
                if within == (on_codes.get("operator") == "In"):
                    return rule["action"], (
                        f"Container {container['name']} for pod {pod_name} failed with exit "
                        f"code {code} matching {rule['action']} rule at index {index}"
                    )
        for wanted in rule.get("onPodConditions") or []:
            for condition in status.get("conditions") or []:
                if condition.get("type") == wanted.get("type") and condition.get(
                    "status"
                ) == wanted.get("status", "True"):
                    return rule["action"], (
                        f"Pod {pod_name} has condition {condition['type']} matching "
                        f"{rule['action']} rule at index {index}"
                    )
    return "Count", ""


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _pod_status(pod: dict[str, Any], state: str, missing_secret: str | None) -> dict[str, Any]:
    """The status a kubelet reports for a pod in `state`."""
    assert state in POD_STATES, state
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    if state in {"Pending", "Unschedulable"}:
        conditions = [{"type": "PodScheduled", "status": "False"}]
        if state == "Unschedulable":
            conditions[0] |= {
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            }
        return {"phase": "Pending", "conditions": conditions}
    scheduled = {"type": "PodScheduled", "status": "True"}
    not_ready = {"type": "Ready", "status": "False"}
    if state in {"Running", "Succeeded", "Failed"}:
        terminated = {"Succeeded": (0, "Completed"), "Failed": (1, "Error")}
        if state == "Running":
            container_state: dict[str, Any] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
        else:
            code, why = terminated[state]
            container_state = {"terminated": {"exitCode": code, "reason": why}}
        ready = {"type": "Ready", "status": "True" if state == "Running" else "False"}
        return {
            "phase": state,
            "conditions": [scheduled, ready],
            "containerStatuses": [
                {
                    "name": c,
                    "ready": state == "Running",
                    "restartCount": 0,
                    "state": container_state,
                }
                for c in containers
            ],
        }
    waiting = {
        "ContainerCreating": ("ContainerCreating", ""),
        "ImagePullBackOff": ("ImagePullBackOff", 'Back-off pulling image "x"'),
        "CreateContainerConfigError": (
            "CreateContainerConfigError",
            f'secret "{missing_secret}" not found',
        ),
        "CrashLoopBackOff": ("CrashLoopBackOff", "back-off 5m0s restarting failed container"),
        "OOMKilled": ("CrashLoopBackOff", "back-off 5m0s restarting failed container"),
    }[state]
    last: dict[str, Any] = {}
    restarts = 0
    if state in {"CrashLoopBackOff", "OOMKilled"}:
        restarts = 5
        why = "OOMKilled" if state == "OOMKilled" else "Error"
        last = {"terminated": {"exitCode": 137 if why == "OOMKilled" else 1, "reason": why}}
    phase = "Running" if restarts else "Pending"
    return {
        "phase": phase,
        "conditions": [scheduled, not_ready],
        "containerStatuses": [
            {
                "name": c,
                "ready": False,
                "restartCount": restarts,
                "state": {"waiting": {"reason": waiting[0], "message": waiting[1]}},
                "lastState": last,
            }
            for c in containers
        ],
    }
