"""Texts longer than the embedding model's window (all-MiniLM-L6-v2: 256 word pieces), real
model: XCoder's instruction and response are embedded apart and averaged, so a long
instruction does not push the response out of the window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from codeinstruct.workers.embeddings import load_vectors
from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.methods.xcoder import stages
from codeinstruct.workers.records import Record
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import StageContext
from codeinstruct.workers.stages.embed import Embed
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset

pytestmark = pytest.mark.slow

LONG = " ".join(f"Step {i}: read the value, check its range, and store it." for i in range(60))


def cosines(tmp_path: Path, records: list[Record]) -> float:
    spec = make_dataset(method="xcoder").spec
    (embed,) = [s for s in stages(spec) if isinstance(s, Embed)]
    with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:
        out = list(embed.run(records, StageContext(services, seed=spec.seed)))
        vectors = load_vectors(services.ledger.store, out)  # type: ignore[arg-type]
    a, b = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return float(a @ b)


def test_a_long_instruction_does_not_hide_the_response(tmp_path: Path) -> None:
    records: list[Record] = [
        {"id": "a", "instruction": LONG, "response": "def parse_csv(text):\n    return text"},
        {"id": "b", "instruction": LONG, "response": "SELECT name FROM users WHERE age > 30;"},
    ]
    # Joined, both texts are cut inside the shared instruction: cosine 1. Apart and averaged,
    # the different responses count.
    assert cosines(tmp_path, records) < 0.95
