"""kopf handlers: thin. Observe (kube + ledger) -> reconcile (pure) -> apply -> status patch."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from codeinstruct.operator import kube as kube_api
from codeinstruct.operator import metrics
from codeinstruct.operator.builders.desired import desired_children
from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.constants import (
    ANNOTATION_SIGNATURE,
    FINALIZER,
    GROUP,
    LABEL_DATASET,
    LABEL_MANAGED_BY,
    MANAGER,
    PLURAL,
    VERSION,
    Reason,
)
from codeinstruct.operator.ledger_view import read_ledger
from codeinstruct.operator.reconcile import (
    Observed,
    Plan,
    invalid_spec,
    key,
    needs_rerun,
    reconcile,
)
from codeinstruct.operator.secret_refs import secret_refs
from codeinstruct.operator.settings import Settings
from codeinstruct.operator.status import Status
from codeinstruct.workers.spec import InstructionDataset, SpecError, parse_spec, run_signature

SETTINGS = Settings.from_env()
_clients: dict[str, kube_api.Kube] = {}


def client() -> kube_api.Kube:
    if "kube" not in _clients:
        _clients["kube"] = kube_api.Kube.connect(SETTINGS)
    return _clients["kube"]


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.level = 30  # only warnings of kopf itself become Events
    settings.watching.server_timeout = 300
    metrics.serve(SETTINGS.metrics_port)


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    if SETTINGS.api_server:
        return kopf.ConnectionInfo(server=SETTINGS.api_server)
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


def _dataset(body: kopf.Body) -> InstructionDataset:
    document = {k: v for k, v in dict(body).items() if k in {"apiVersion", "kind", "spec"}}
    document["metadata"] = {"name": body.metadata.name, "namespace": body.metadata.namespace}
    return parse_spec(document, f"{body.metadata.namespace}/{body.metadata.name}")


# Kinds of children watched into kopf indexes (no GET per tick); RayJobs are read only while
# scoring runs, since their CRD may not be served.
INDEXED = {"ConfigMap", "Service", "NetworkPolicy", "Deployment", "Job"}
_OWNED = {LABEL_MANAGED_BY: MANAGER}


def _child(body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> Any:
    return {(namespace, f"{body['kind']}/{name}"): dict(body)}


def _pod(body: kopf.Body, namespace: str | None, labels: Any, **_: Any) -> Any:
    return {(namespace, labels.get(LABEL_DATASET)): dict(body)}


owned_configmaps = kopf.index("", "v1", "configmaps", labels=_OWNED, id="owned_configmaps")(_child)
owned_services = kopf.index("", "v1", "services", labels=_OWNED, id="owned_services")(_child)
owned_policies = kopf.index(
    "networking.k8s.io", "v1", "networkpolicies", labels=_OWNED, id="owned_policies"
)(_child)
owned_deployments = kopf.index("apps", "v1", "deployments", labels=_OWNED, id="owned_deployments")(
    _child
)
owned_jobs = kopf.index("batch", "v1", "jobs", labels=_OWNED, id="owned_jobs")(_child)
owned_pods = kopf.index("", "v1", "pods", labels=_OWNED, id="owned_pods")(_pod)
INDEXES = (
    "owned_configmaps",
    "owned_services",
    "owned_policies",
    "owned_deployments",
    "owned_jobs",
)


@dataclass
class Cache:
    """The watched children of one namespace ("Kind/name" -> object) and the dataset's pods."""

    children: dict[str, dict[str, Any]]
    pods: list[dict[str, Any]]

    @classmethod
    def from_indexes(cls, namespace: str, dataset: str, indexes: dict[str, Any]) -> Cache | None:
        if not all(name in indexes for name in (*INDEXES, "owned_pods")):
            return None
        children: dict[str, dict[str, Any]] = {}
        for name in INDEXES:
            for (ns, child), store in indexes[name].items():
                if ns == namespace:
                    children[child] = next(iter(store))
        pods = list(indexes["owned_pods"].get((namespace, dataset), []))
        return cls(children, pods)


def observe(
    dataset: InstructionDataset,
    namespace: str,
    generation: int,
    terminal: bool,
    cache: Cache | None = None,
) -> Observed:
    """Children from the watch cache where there is one (else one GET each), the ledger from
    storage, RayJob and RuntimeClass availability from the client's caches."""
    kube = client()
    observed = Observed(children={}, generation=generation)
    observed.rayjob_available = kube.rayjob_available()
    target = Target(dataset, namespace, SETTINGS)
    names = [stage.name for stage in target.stages] if target.stages else None
    wanted = desired_children(target, observed.rayjob_available)
    driver_key = key(wanted["driver"])
    for manifest in wanted.values():
        if cache is not None and manifest["kind"] in INDEXED:
            found = cache.children.get(key(manifest))
            if found and (found.get("metadata") or {}).get("deletionTimestamp"):
                found = None
        elif (
            manifest["kind"] == "RayJob" and cache is not None and driver_key not in cache.children
        ):
            found = None  # no driver yet: no scoring child either
        else:
            found = kube.get(
                manifest["apiVersion"], manifest["kind"], namespace, manifest["metadata"]["name"]
            )
        if found is not None:
            observed.children[key(manifest)] = found
    for ref in secret_refs(dataset.spec):  # labels only: a refused Secret reaches no pod
        if ref.name not in observed.secrets:
            observed.secrets[ref.name] = kube.secret_labels(namespace, ref.name)
    if terminal:
        return observed
    if cache is not None:
        observed.pods = cache.pods
    else:
        observed.pods = kube.pods(namespace, dataset.metadata.name)
    handler = kube.runtime_class_handler(SETTINGS.runtime_class)
    observed.runtime_class_exists = handler is not None
    observed.runtime_class_handler = handler
    driver = observed.children.get(key(wanted["driver"]))
    pinned = ((driver or {}).get("metadata") or {}).get("annotations", {}).get(ANNOTATION_SIGNATURE)
    try:
        observed.ledger = read_ledger(dataset, names, pinned)
    except Exception as error:  # unreachable storage is a condition, not a crash
        observed.storage_error = f"{dataset.spec.output.uri}: {type(error).__name__}: {error}"
    return observed


def apply(plan: Plan, body: kopf.Body, namespace: str, observed: Observed | None = None) -> None:
    kube = client()
    owner = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": dict(body.metadata),
    }
    seen = observed.children if observed is not None else None
    for manifest in plan.apply:
        kube.ensure(
            manifest, owner, None if seen is None else seen.get(key(manifest)), seen is not None
        )
    for api_version, kind, name in plan.delete:
        kube.delete(api_version, kind, namespace, name)
    for event in plan.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


def should_tick(meta: dict[str, Any], status: dict[str, Any]) -> bool:
    """Finished datasets cost no API calls until their spec changes (a new generation); one
    failed for an unlabelled Secret keeps checking it, to run once it is labelled."""
    if status.get("phase") not in {"Succeeded", "Failed"}:
        return True
    if status.get("reason") == Reason.SECRET_NOT_ALLOWED.value:
        return True
    return int(meta.get("generation") or 1) > int(status.get("observedGeneration") or 0)


def _ticking(body: kopf.Body, **_: Any) -> bool:
    return should_tick(dict(body.metadata), dict(body.get("status") or {}))


@kopf.timer(
    GROUP,
    VERSION,
    PLURAL,
    interval=SETTINGS.interval,
    initial_delay=lambda **_: random.uniform(0, SETTINGS.interval),  # jittered start
    backoff=SETTINGS.interval,  # a tick that raised is retried at the interval (kopf: 60 s)
    id="reconcile",
    when=_ticking,
)
def tick(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, namespace: str | None, **kwargs: Any
) -> None:
    started = time.monotonic()
    namespace = namespace or "default"
    name = body.metadata.name
    try:
        current = Status.model_validate(dict(status))
        try:
            dataset = _dataset(body)
        except SpecError as error:
            generation = int(body.metadata.get("generation") or 1)
            plan = invalid_spec(current, str(error), generation, datetime.now(UTC))
            apply(plan, body, namespace)
            patch.status.update(plan.status.changes(dict(status)))
            return
        generation = int(body.metadata.get("generation") or 1)
        signature = run_signature(dataset.spec)
        terminal = current.phase.is_terminal() and not needs_rerun(current, generation, signature)
        cache = Cache.from_indexes(namespace, name, kwargs)
        observed = observe(dataset, namespace, generation, terminal, cache)
        plan = reconcile(dataset, namespace, current, observed, SETTINGS)
        apply(plan, body, namespace, observed if cache is not None else None)
        patch.status.update(plan.status.changes(dict(status)))
        metrics.observe(namespace, name, dataset.spec.method.value, plan.status)
    except kube_api.KubeError as error:
        metrics.RECONCILE_ERRORS.labels(namespace, name).inc()
        raise kopf.TemporaryError(f"Kubernetes API: {error}", delay=SETTINGS.interval) from error
    except Exception:
        metrics.RECONCILE_ERRORS.labels(namespace, name).inc()
        raise
    finally:
        metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)


@kopf.on.delete(GROUP, VERSION, PLURAL, id="forget", optional=True)
def forget(body: kopf.Body, namespace: str | None, **_: Any) -> None:
    """Children go with their ownerReferences (garbage collection); the data stays in storage."""
    metrics.forget(namespace or "default", body.metadata.name)
