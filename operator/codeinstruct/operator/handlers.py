"""kopf handlers: thin. Observe (kube + ledger) -> reconcile (pure) -> apply -> status patch."""

from __future__ import annotations

import random
import time
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
    PLURAL,
    VERSION,
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


def observe(
    dataset: InstructionDataset, namespace: str, generation: int, terminal: bool
) -> Observed:
    kube = client()
    observed = Observed(children={}, generation=generation)
    observed.rayjob_available = kube.rayjob_available()
    target = Target(dataset, namespace, SETTINGS)
    names = [stage.name for stage in target.stages] if target.stages else None
    wanted = desired_children(target, observed.rayjob_available)
    for manifest in wanted.values():
        found = kube.get(
            manifest["apiVersion"], manifest["kind"], namespace, manifest["metadata"]["name"]
        )
        if found is not None:
            observed.children[key(manifest)] = found
    if terminal:
        return observed
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


def apply(plan: Plan, body: kopf.Body, namespace: str) -> None:
    kube = client()
    owner = {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": dict(body.metadata),
    }
    for manifest in plan.apply:
        kube.ensure(manifest, owner)
    for api_version, kind, name in plan.delete:
        kube.delete(api_version, kind, namespace, name)
    for event in plan.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)


def should_tick(meta: dict[str, Any], status: dict[str, Any]) -> bool:
    """Finished datasets cost no API calls until their spec changes (a new generation)."""
    if status.get("phase") not in {"Succeeded", "Failed"}:
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
    id="reconcile",
    when=_ticking,
)
def tick(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, namespace: str | None, **_: Any
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
        observed = observe(dataset, namespace, generation, terminal)
        plan = reconcile(dataset, namespace, current, observed, SETTINGS)
        apply(plan, body, namespace)
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
