"""Stage contexts for calling a stage directly, without the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import StageContext
from codeinstruct.workers.store import LocalStore
from tests.helpers.specs import make_dataset


def stage_services(tmp_path: Path, **spec: Any) -> Services:
    """Services for a spec with keyword fields `spec`, storing under `tmp_path/out`."""
    dataset = make_dataset(**spec)
    return Services(dataset.spec, Ledger(LocalStore(tmp_path / "out"), "run"))


def stage_context(services: Services) -> StageContext:
    """A fresh context (its own stats) over shared services."""
    return StageContext(services, services.spec.seed)
