"""Digit-expectation scores from the logprob formats of llama.cpp, vLLM and OpenAI."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from codeinstruct.workers.llm.logprobs import expected_digit_score, positions, top_logprobs

LN = math.log


@dataclass
class Logprob:  # the shape of vllm.sequence.Logprob
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


def test_legacy_completions_token_to_float_dicts() -> None:
    lp = {
        "tokens": ["3"],
        "token_logprobs": [LN(0.5)],
        "top_logprobs": [{"3": LN(0.5), "5": LN(0.5), "x": LN(0.1)}],
    }
    assert expected_digit_score(lp) == pytest.approx(3.0)  # "3" -> 2, "5" -> 4


def test_leading_whitespace_position_is_skipped() -> None:
    lp = {
        "tokens": [" ", "2"],
        "token_logprobs": [LN(0.9), LN(1.0)],
        "top_logprobs": [{" ": LN(0.9), "\n": LN(0.1)}, {"2": LN(0.75), "6": LN(0.25)}],
    }
    assert expected_digit_score(lp) == pytest.approx(0.75 * 1 + 0.25 * 5)


def test_spaced_digit_tokens_add_up() -> None:
    lp = {"top_logprobs": [{" 1": LN(0.25), "1": LN(0.25), "6": LN(0.5)}]}
    assert expected_digit_score(lp) == pytest.approx(0.5 * 0 + 0.5 * 5)


def test_chat_format_with_token_objects() -> None:
    lp = {
        "content": [
            {"token": "4", "logprob": LN(0.6), "bytes": None,
             "top_logprobs": [{"token": "4", "logprob": LN(0.6)}, {"token": "1", "logprob": LN(0.4)}]}
        ]
    }  # fmt: skip
    assert expected_digit_score(lp) == pytest.approx(0.6 * 3)


def test_vllm_logprob_objects_keyed_by_token_id() -> None:
    entry = {
        16: Logprob(LN(0.2), 1, "1"),
        17: Logprob(LN(0.8), 2, "2"),
        99: Logprob(LN(0.1), 3, "a"),
    }
    assert top_logprobs(entry) == pytest.approx({"1": LN(0.2), "2": LN(0.8), "a": LN(0.1)})
    assert expected_digit_score([entry]) == pytest.approx(0.8)


def test_dict_values_with_logprob_fields() -> None:
    assert expected_digit_score([{"5": {"logprob": 0.0}}]) == pytest.approx(4.0)


def test_no_digit_is_none_and_a_word_stops_the_search() -> None:
    assert expected_digit_score(None) is None
    assert expected_digit_score({"top_logprobs": []}) is None
    words = {"top_logprobs": [{"The": LN(0.9), " ": LN(0.1)}, {"3": 0.0}]}
    assert expected_digit_score(words) is None
    assert positions("not logprobs") == []


def test_nan_and_booleans_are_ignored() -> None:
    assert top_logprobs({"1": float("nan"), "2": True, "3": -1.0}) == {"3": -1.0}
