"""XCoder selection: complexity and quality scores, then the score-ordered diversity filter.

Complexity comes from the `complexity` field (the LLM scorer); with `scoring.complexityScorer:
length`, or when no record has it, the instruction length in whitespace tokens is the proxy
(second best in the paper's ablation) and the report says so. Quality is the `quality` field
(unit tests passed); without it every record gets the same quality.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from codeinstruct.workers.embeddings import load_vectors
from codeinstruct.workers.records import Record
from codeinstruct.workers.selection import (
    combined_scores,
    diverse_greedy,
    fraction_tau,
    nearest_neighbour_similarities,
    score_order,
)
from codeinstruct.workers.spec import Scoring
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput

log = logging.getLogger(__name__)

# A τ that keeps more than this share of the candidates it examined does (almost) nothing:
# the report (so the card) and the log say so.
TAU_KEEPS_ALMOST_ALL = 0.99


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class Select(Stage):
    """Keeps up to `targetSize` records in score order, each at most τ similar to the ones
    already kept; writes `reports/selection.json`.

    Input fields: instruction, embedding_ref (and `complexity`, `quality` when present)
    Output fields: score, selection_rank
    Drop reasons: too_similar, below_target
    """

    kind = StageKind.SCORE
    name = "select"
    whole = True
    inputs = ("instruction", "embedding_ref")
    outputs = ("score", "selection_rank")

    def __init__(self, scoring: Scoring, target_size: int) -> None:
        self.scoring = scoring
        self.target_size = target_size

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        scoring = self.scoring
        complexity = [_number(r.get("complexity")) for r in records]
        if scoring.complexity_scorer == "llm" and any(c is not None for c in complexity):
            complexity_source = "llm complexity scorer (`complexity` field)"
            values = [c if c is not None else 0.0 for c in complexity]
            ctx.count("complexity_missing", sum(c is None for c in complexity))
        else:
            complexity_source = "instruction length in whitespace tokens (proxy: no LLM scorer)"
            values = [float(len(str(r.get("instruction", "")).split())) for r in records]
        quality = [_number(r.get("quality")) for r in records]
        quality_source = (
            "unit tests passed (`quality` field)"
            if any(q is not None for q in quality)
            else "none (no `quality` field: every record scores the same)"
        )
        qualities = [q if q is not None else 0.0 for q in quality]
        scores = combined_scores(values, qualities, scoring.alpha, scoring.normalization)
        order = score_order(scores, [str(r["id"]) for r in records])
        vectors = load_vectors(ctx.services.ledger.store, records) if records else None
        nearest = nearest_neighbour_similarities(vectors) if vectors is not None else np.zeros(0)
        tau = (
            fraction_tau(vectors, order, scoring.tau_quantile)
            if scoring.tau_mode == "quantile" and vectors is not None and len(nearest)
            else scoring.tau
        )
        within = float((nearest <= tau).mean()) if len(nearest) else 0.0
        accepted = (
            diverse_greedy(vectors, order, tau, self.target_size, progress=ctx.advance)
            if vectors is not None
            else []
        )
        chosen = set(accepted)
        full = len(accepted) >= self.target_size
        examined = order.index(accepted[-1]) + 1 if full and accepted else len(order)
        too_similar = examined - len(accepted)
        ctx.count("too_similar", too_similar)
        report = {
            "complexity": complexity_source,
            "quality": quality_source,
            "alpha": scoring.alpha,
            "normalization": scoring.normalization.value,
            "tau": round(tau, 6),
            "tau_mode": scoring.tau_mode,
            "nearest_within_tau": round(within, 6),
            "target_size": self.target_size,
            "candidates": len(records),
            "selected": len(accepted),
            "rejected_too_similar": too_similar,
            "embedding_model": scoring.embedding_model,
        }
        if scoring.tau_mode == "quantile":
            report["tau_quantile"] = scoring.tau_quantile
        kept_share = len(accepted) / examined if examined else 0.0
        if examined > 1 and kept_share > TAU_KEEPS_ALMOST_ALL:
            note = (
                f"tau {tau:.4f} kept {kept_share:.1%} of the {examined} candidates it examined: "
                "the diversity filter did almost nothing in this embedding space "
                f"({scoring.embedding_model}); set scoring.tauMode: quantile, or a lower "
                "scoring.tau"
            )
            log.warning("select: %s", note)
            report["tau_note"] = note
        ledger = ctx.services.ledger
        ledger.store.put(ledger.key("reports", "selection.json"), json.dumps(report).encode())
        for rank, index in enumerate(accepted):
            yield {**records[index], "score": float(scores[index]), "selection_rank": rank}
        rejected_until = set(order[:examined])
        for index, record in enumerate(records):
            if index in chosen:
                continue
            reason = "too_similar" if index in rejected_until else "below_target"
            yield Drop({**record, "score": float(scores[index])}, reason)
