from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch.lsh import _optimal_param

from codeinstruct.workers.minhash import (
    Tokenization,
    near_duplicates,
    optimal_bands,
    shingles,
    signatures,
    tokens,
)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7, 0.85, 0.95])
@pytest.mark.parametrize("permutations", [64, 128, 250])
def test_band_choice_matches_the_reference_optimisation(
    threshold: float, permutations: int
) -> None:
    # datasketch's own optimisation (equal weights on false positives and false negatives).
    assert optimal_bands(threshold, permutations) == _optimal_param(
        threshold, permutations, 0.5, 0.5
    )


def test_signature_estimates_jaccard() -> None:
    rng = random.Random(0)
    words = [f"w{rng.randrange(10_000)}" for _ in range(400)]
    a = " ".join(words)
    b = " ".join(words[:300] + [f"x{i}" for i in range(100)])
    sa, sb = shingles(a, 5), shingles(b, 5)
    exact = len(sa & sb) / len(sa | sb)
    sigs = signatures([a, b], 250, 5)
    estimate = float(np.mean(sigs[0] == sigs[1]))
    assert abs(estimate - exact) < 0.08


def test_batched_signatures_equal_one_at_a_time() -> None:
    texts = [f"def f{i}(x):\n    return x + {i} * {i % 7}" * (i % 5 + 1) for i in range(50)]
    texts.append("")
    together = signatures(texts, 64, 3)
    alone = np.vstack([signatures([t], 64, 3) for t in texts])
    assert (together == alone).all()


def test_near_duplicates_keep_the_first_of_each_cluster() -> None:
    base = " ".join(f"token{i}" for i in range(200))
    texts = [base, "completely different text " * 20, base + " extra", base.upper()]
    assert near_duplicates(texts, 0.7, 250, 5) == [0, 1, 0, 0]


def test_reference_tokenisation_keeps_empty_tokens_between_separators() -> None:
    code = "f(x)  == y"
    assert tokens(code) == ["f", "x", "", "", "", "", "", "y"]
    assert tokens(code, "words") == ["f", "x", "y"]
    assert shingles("a, b", 2) == {b"a ", b" b"}
    assert shingles("a, b", 2, "words") == {b"a b"}
    assert shingles("", 5) == set() == shingles("", 5, "words")


def jaccard(a: str, b: str, tokenization: Tokenization) -> float:
    sa, sb = shingles(a, 5, tokenization), shingles(b, 5, tokenization)
    return len(sa & sb) / len(sa | sb)


def test_reference_tokenisation_finds_code_that_differs_in_names_only() -> None:
    # The same indented, punctuation-heavy shape with other identifiers: under the reference
    # tokenisation the empty tokens of indentation and brackets make shared shingles.
    a = (
        "def scale(matrix, factor):\n    result = []\n    for row in matrix:\n"
        "        result.append([value * factor for value in row])\n    return result\n"
    )
    b = a.replace("matrix", "grid").replace("factor", "k")
    assert jaccard(a, b, "reference") > 0.4 > 0.1 > jaccard(a, b, "words")
    assert near_duplicates([a, b], 0.3, 250, 5) == [0, 0]
    assert near_duplicates([a, b], 0.3, 250, 5, "words") == [0, 1]
