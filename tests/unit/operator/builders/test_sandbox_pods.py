"""The sandbox Deployment: one job at a time per pod (its jobs share the pod's UID and files
under gVisor), `sandbox.workers` pods per replica, and every writable directory named for the
supervisor to wipe between jobs."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders import sandbox
from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.settings import Settings
from codeinstruct.workers.cli import build_parser
from codeinstruct.workers.sandbox.bundle import POD_WIPE
from tests.conftest import make_dataset


def deployment(**spec: Any) -> dict[str, Any]:
    return sandbox.deployment(Target(make_dataset(**spec), "data", Settings()))


def test_each_sandbox_pod_runs_one_job_at_a_time_and_workers_become_pods() -> None:
    made = deployment(sandbox={"workers": 3, "replicas": 2, "memory_mib": 2048})
    assert made["spec"]["replicas"] == 6  # the parallelism asked for, one job per pod
    container = made["spec"]["template"]["spec"]["containers"][0]
    parsed = build_parser().parse_args([*container["command"][1:], *container["args"]])
    assert parsed.workers == 1
    assert parsed.isolation == "none"
    # Sized for one job and the server, not for `workers` of them.
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "2560Mi"}
    assert container["resources"]["limits"]["memory"] == "2560Mi"


def test_every_writable_directory_of_the_pod_is_wiped_between_jobs() -> None:
    made = deployment()
    pod = made["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {item["name"]: item["value"] for item in container["env"]}
    wiped = set(env[POD_WIPE].split(":"))
    mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
    # Each writable mount (the root is read-only) plus the runtime's /dev/shm.
    assert mounted | {"/dev/shm"} <= wiped
    assert env["HOME"] in wiped
