"""Errors, and the words for failing, in one place.

Exceptions (they stop the run):
- `UserError`: a mistake the user can fix; the message names the field or file and the fix. The
  CLI prints it on one line and exits 2, never with a traceback. Subclasses: `SpecError` (a spec
  file that cannot be used), `StoreError` (storage unreachable or refused), `SandboxUnavailable`
  (the configured isolation cannot start here), `EmbeddingModelError` (no such model).
  `outages.InfraOutage`: shards left uncommitted because the LLM or the sandbox failed (a rerun
  after recovery does them).
- `PipelineError`: a method's stages do not fit together (a stage needs a field no earlier stage
  adds). A defect of the code, found before any request is sent.

Values (one record fails; the run goes on, and the failure is counted):
- `stages.base.Drop(record, reason)`: a record a stage does not keep; every reason is counted.
- `prompts.parsing.ParseFailure(reason)`: model output that could not be parsed; the stage turns
  it into a `Drop` with that reason.
- `llm.InfraFailure`: an LLM request that failed for good after its retries (`llm_infra_error`)
  or that the server refused (`llm_request_rejected`); never the record's fault.
- the verdict `infra_error` of a sandbox job: the sandbox, not the code, failed (retried first);
  never counted as `fail`.
  A shard with an `llm_infra_error` or `infra_error` drop is never committed (`outages`).

Private to their clients (retried, never seen outside): the LLM client's `_Fault` and
`_Rejected`, the sandbox's `SandboxCrashed`, the operator's `KubeError`.
"""


class UserError(Exception):
    """A mistake the user can fix; the message names the field or file and the fix."""


class PipelineError(Exception):
    """A method's stages do not fit together: a defect of the code, not of the spec."""
