"""Verification of (solution, tests) samples: the tests ran, and they can fail.

- `samples`: a record's solution and tests (response + tests fields, or a whole program), or the
  reason it cannot be checked;
- `mutants`: the null variant and seeded mutants of a solution (pure AST rewrites);
- `batches`: run a batch of jobs in the sandbox and count the verdicts (shared with XCoder's
  quality stage);
- `verify`: the whole check of a batch of samples (checked run, then the null variant and the
  mutants of each passing sample in one more batch), used by SelfCodeAlign's execute stage and
  by `codeinstruct verify`.

The check counting itself runs inside the sandbox: `codeinstruct.workers.sandbox.checks`.
"""
