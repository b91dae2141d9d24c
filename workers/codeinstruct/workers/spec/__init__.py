"""The InstructionDataset spec: the models (`models`), the run signature (`signature`) and the
reading of spec files (`loading`). The names are re-exported here."""

from codeinstruct.workers.spec.loading import SpecError, describe_error, load_spec, parse_spec
from codeinstruct.workers.spec.models import (
    API_VERSION,
    KIND,
    NOT_SEMANTIC,
    Benchmark,
    Decontamination,
    Dedup,
    Generator,
    GeneratorApi,
    GeneratorBackend,
    InstructionDataset,
    Isolation,
    Metadata,
    Method,
    Mining,
    Model,
    Normalization,
    NotSemantic,
    Output,
    OutputFormat,
    Sampling,
    Sandbox,
    Scoring,
    ScoringEngine,
    SecretKeyRef,
    Source,
    SourceFormat,
    Spec,
    TaskType,
    VllmDeployment,
    WaveCoder,
)
from codeinstruct.workers.spec.signature import PIPELINE_VERSION, prompts_digest, run_signature

__all__ = [
    "API_VERSION", "KIND", "NOT_SEMANTIC", "PIPELINE_VERSION", "Benchmark", "Decontamination",
    "Dedup", "Generator", "GeneratorApi", "GeneratorBackend", "InstructionDataset", "Isolation", "Metadata",
    "Method", "Mining", "Model", "Normalization", "NotSemantic", "Output", "OutputFormat",
    "Sampling", "Sandbox", "Scoring", "ScoringEngine", "SecretKeyRef", "Source", "SourceFormat",
    "Spec", "SpecError", "TaskType", "VllmDeployment", "WaveCoder", "describe_error", "load_spec",
    "parse_spec", "prompts_digest", "run_signature",
]  # fmt: skip
