from __future__ import annotations

import random

import numpy as np
import pytest

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.tli import TestIndex
from tests.oracles import gram_set, naive_leakage, naive_similarities, padded_ngrams


def random_texts(rng: random.Random, count: int, longest: int) -> list[str]:
    words = ["a", "b", "c", "d", "<start>", "x y"]
    return [
        " ".join(rng.choice(words) for _ in range(rng.randint(0, longest))) for _ in range(count)
    ]


def test_padding_is_nltk_style() -> None:
    assert padded_ngrams("a b", 3) == [
        ("<start>", "<start>", "a"),
        ("<start>", "a", "b"),
        ("a", "b", "<end>"),
        ("b", "<end>", "<end>"),
    ]
    assert padded_ngrams("", 2) == [("<start>", "<end>")]
    assert len(gram_set("a b c", (4, 5))) == (3 + 3) + (3 + 4)


@pytest.mark.parametrize("sizes", [(4, 5), (1,), (2, 6), (3,), (5, 4, 4)])
def test_index_equals_set_intersections(sizes: tuple[int, ...]) -> None:
    rng = random.Random(sum(sizes))
    test = random_texts(rng, 25, 12)
    train = random_texts(rng, 150, 16)
    got = TestIndex(test, sizes).similarities(train)
    assert np.array_equal(got, naive_similarities(train, test, sizes))


@pytest.mark.parametrize("top", [1, 2, 5])
def test_leakage_equals_the_definition_across_chunks(top: int) -> None:
    rng = random.Random(top)
    test = random_texts(rng, 20, 10)
    train = random_texts(rng, 120, 12)
    leakage = TestIndex(test).leakage(train, top=top, chunk=17)
    tli, tli_max, train_max = naive_leakage(train, test, top=top)
    assert leakage.tli == pytest.approx(tli, abs=1e-12)
    assert leakage.tli_max == pytest.approx(tli_max, abs=1e-12)
    assert np.array_equal(leakage.train_max, train_max)
    sims = naive_similarities(train, test)
    assert np.array_equal(sims[leakage.best_train, np.arange(len(test))], sims.max(axis=0))


def test_empty_train_and_empty_test() -> None:
    assert TestIndex(["a b c d"]).leakage([]).tli == 0.0
    empty = TestIndex([]).leakage(["a b c d e"])
    assert empty.tli == 0.0 and empty.train_max.tolist() == [0.0]


def test_humaneval_against_the_textbook_definition() -> None:
    problems = humaneval_problems()
    prompts = [p["prompt"] for p in problems]
    full = [p["prompt"] + p["canonical_solution"] for p in problems]
    index = TestIndex(prompts)
    itself = index.leakage(prompts)
    assert itself.tli == 1.0 and itself.tli_max == 1.0
    solved = index.leakage(full)
    tli, tli_max, train_max = naive_leakage(full, prompts)
    assert abs(solved.tli - tli) < 1e-9
    assert abs(solved.tli_max - tli_max) < 1e-9
    assert np.abs(solved.train_max - train_max).max() < 1e-12
    assert solved.tli < 1.0, "the padding effect: <end> grams of a prompt miss in prompt+solution"


def test_texts_holding_the_internal_separator() -> None:
    separator = "\x00codeinstruct-tli-separator\x00"
    test = ["a b c d e", "x y z"]
    train = [f"a b {separator} c d e", "", "x y z", "  "]
    assert np.array_equal(TestIndex(test).similarities(train), naive_similarities(train, test))
