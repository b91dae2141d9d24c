"""What a run left in its output directory, read through the ledger (which knows the layout)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from codeinstruct.workers.ledger import Ledger, StageStats
from codeinstruct.workers.records import Record, decode_jsonl
from codeinstruct.workers.runner import run_prefix
from codeinstruct.workers.spec import InstructionDataset
from codeinstruct.workers.store import LocalStore


class RunOutput:
    """The run under `output`: the one for `dataset`, or else the only run there."""

    def __init__(self, output: Path, dataset: InstructionDataset | None = None) -> None:
        if dataset is not None:
            prefix = run_prefix(dataset)
        else:
            runs = [p.name for p in output.iterdir() if p.is_dir()]
            assert len(runs) == 1, f"expected one run under {output}, found {runs}"
            prefix = runs[0]
        self.store = LocalStore(output)
        self.ledger = Ledger(self.store, prefix)
        self.root = output / prefix

    def records(self, stage: str) -> list[Record]:
        """The records a completed stage kept, shard by shard."""
        return list(self.ledger.read_stage(stage))

    def stats(self, stage: str) -> StageStats:
        completion = self.ledger.completion(stage)
        assert completion is not None, f"stage {stage!r} has not completed"
        return StageStats.from_json(completion["stats"])

    def counters(self, stage: str) -> Counter[str]:
        """The stage's counters, with its drops as `drop:<reason>`."""
        stats = self.stats(stage)
        return stats.counters + Counter({f"drop:{k}": v for k, v in stats.dropped.items()})

    def excluded(self, stage: str) -> list[Record]:
        keys = self.store.list(self.ledger.key("excluded", stage) + "/")
        return [r for key in keys for r in decode_jsonl(self.store.get(key))]

    def dataset(self) -> list[Record]:
        keys = self.store.list(self.ledger.key("dataset", "data-"))
        return [
            r for key in keys if key.endswith(".jsonl") for r in decode_jsonl(self.store.get(key))
        ]

    def card(self) -> dict[str, Any]:
        """The `codeinstruct` block of the dataset card's YAML front matter."""
        text = self.store.get(self.ledger.key("dataset", "README.md")).decode()
        front: dict[str, Any] = yaml.safe_load(text.split("---")[1])
        return dict(front["codeinstruct"])
