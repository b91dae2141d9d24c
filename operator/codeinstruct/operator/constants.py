"""Names shared by the CRD, the builders and the reconciler: group, kind, labels, conditions.

Every label and annotation key lives here and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum

GROUP = "codeinstruct.dev"
VERSION = "v1alpha1"
KIND = "InstructionDataset"
PLURAL = "instructiondatasets"
SINGULAR = "instructiondataset"
SHORT_NAMES = ["ids"]
API_VERSION = f"{GROUP}/{VERSION}"
CRD_NAME = f"{PLURAL}.{GROUP}"

FINALIZER = f"{GROUP}/finalizer"

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_DATASET = f"{GROUP}/dataset"
LABEL_SERVER = f"{GROUP}/server"  # which of a dataset's vLLM servers (one per distinct model)
ANNOTATION_SIGNATURE = f"{GROUP}/signature"  # on Jobs: the run signature they were created for
ANNOTATION_SPEC_HASH = f"{GROUP}/spec-hash"
ANNOTATION_SUSPENDED = f"{GROUP}/suspended"
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
# On a Secret: "true" lets datasets of its namespace reference it (secret_refs.py).
LABEL_SECRET_ALLOWED = f"{GROUP}/secret"
APP_NAME = "codeinstruct"
MANAGER = "codeinstruct-operator"

RAYJOB_CRD = "rayjobs.ray.io"
GPU_RESOURCE = "nvidia.com/gpu"
VLLM_PORT = 8000
SANDBOX_PORT = 8080
DRIVER_METRICS_PORT = 9090  # the runner's LLM metrics (`codeinstruct run --metrics-port`)
SPEC_FILE = "spec.yaml"
SPEC_MOUNT = "/etc/codeinstruct"
RUN_AS_USER = 65532  # every child pod runs as this non-root UID


class Component(StrEnum):
    """Children of an InstructionDataset; the value is the name suffix and the component label."""

    VLLM = "vllm"
    SANDBOX = "sandbox"
    DRIVER = "driver"
    SCORING = "scoring"
    SPEC = "spec"


class Phase(StrEnum):
    PENDING = "Pending"
    GENERATING = "Generating"
    EXECUTING = "Executing"
    SCORING = "Scoring"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"

    def is_terminal(self) -> bool:
        return self in {Phase.SUCCEEDED, Phase.FAILED}


class ConditionType(StrEnum):
    READY = "Ready"
    GENERATOR_READY = "GeneratorReady"
    SANDBOX_READY = "SandboxReady"
    STORAGE_READY = "StorageReady"
    WORKLOAD_HEALTHY = "WorkloadHealthy"
    COMPLETE = "Complete"
    FAILED = "Failed"


class Reason(StrEnum):
    """PascalCase reasons shared by conditions and Events."""

    CREATED = "ChildrenCreated"
    DEPLOYING = "Deploying"
    AVAILABLE = "Available"
    EXTERNAL_ENDPOINT = "ExternalEndpoint"
    NOT_NEEDED = "NotNeeded"
    UNSCHEDULABLE = "Unschedulable"
    RUNTIME_CLASS_MISSING = "RuntimeClassMissing"
    RUNTIME_CLASS_NOT_GVISOR = "RuntimeClassNotGVisor"
    RUNNING = "Running"
    INCOMPLETE_RUN = "IncompleteRun"
    SPEC_CHANGED = "SpecChanged"
    RERUN = "Rerun"
    STORAGE_REACHABLE = "StorageReachable"
    STORAGE_UNREACHABLE = "StorageUnreachable"
    WAITING = "WaitingForDependencies"
    ALL_READY = "AllReady"
    PHASE_CHANGED = "PhaseChanged"
    DRIVER_FAILED = "DriverJobFailed"
    SCORING_FAILED = "ScoringJobFailed"
    INVALID_SPEC = "InvalidSpec"
    SECRET_NOT_ALLOWED = "SecretNotAllowed"
    SECRET_MISSING = "SecretMissing"
    SUSPENDED = "Suspended"
    RESUMED = "Resumed"
    SUCCEEDED = "Succeeded"
