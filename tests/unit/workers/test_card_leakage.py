"""The dataset card puts the filter's TLI beside the XCoder-comparable one (instruction only)."""

from __future__ import annotations

from codeinstruct.workers.export import dataset_card
from tests.helpers.specs import make_dataset


def summary(before: float, after: float) -> dict[str, dict[str, float]]:
    return {"before": {"tli": before}, "after": {"tli": after}}


def test_card_shows_both_tlis_per_benchmark() -> None:
    report = {
        "fields": ["instruction", "response"],
        "benchmarks": {"humaneval": summary(0.0213, 0.0101)},
        "xcoder_comparable": {
            "fields": ["instruction"],
            "benchmarks": {"humaneval": summary(0.0018, 0.0012)},
        },
    }
    card = dataset_card(make_dataset(), "target_size", 3, {}, {"leakage": report})
    assert "| benchmark | TLI on instruction, response (before → after) |" in card
    assert "| humaneval | 0.0213 → 0.0101 | 0.0018 → 0.0012 |" in card


def test_an_instruction_only_filter_is_its_own_comparable_number() -> None:
    report = {"fields": ["instruction"], "benchmarks": {"humaneval": summary(0.05, 0.04)}}
    card = dataset_card(make_dataset(method="xcoder"), "select", 3, {}, {"leakage": report})
    assert "| humaneval | 0.0500 → 0.0400 | 0.0500 → 0.0400 |" in card
