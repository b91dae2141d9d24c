"""XCoder: select from an instruction pool by complexity, quality (unit tests executed) and
diversity; measure and remove benchmark leakage (TLI)."""

from __future__ import annotations

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.base import Stage


def stages(spec: Spec) -> list[Stage]:
    raise UserError("spec.method: xcoder selection is not available in this build yet")
