"""Next-token log-probabilities in the formats servers return, and scores computed from them.

Formats handled (per generated position):
- legacy completions (OpenAI, vLLM, llama.cpp): `{"tokens": [...], "top_logprobs": [{tok: lp}]}`;
- chat: `{"content": [{"token", "logprob", "top_logprobs": [{"token", "logprob"}]}]}`;
- vLLM's Python objects (Ray batch path): `{token_id: Logprob(logprob, decoded_token)}`;
- dicts whose values are bare floats, `{"logprob": ...}` dicts, or objects with `.logprob`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

DIGITS = "123456"


def positions(logprobs: Any) -> list[dict[str, float]]:
    """One {token text: logprob} map per generated position (empty when none were returned)."""
    if logprobs is None:
        return []
    if isinstance(logprobs, Mapping):
        if isinstance(logprobs.get("content"), list):
            return [_chat_position(entry) for entry in logprobs["content"]]
        top = logprobs.get("top_logprobs")
        if isinstance(top, list):
            tokens = logprobs.get("tokens") or []
            chosen = logprobs.get("token_logprobs") or []
            found = []
            for i, entry in enumerate(top):
                position = top_logprobs(entry)
                if i < len(tokens) and i < len(chosen) and _number(chosen[i]) is not None:
                    position.setdefault(str(tokens[i]), float(chosen[i]))
                found.append(position)
            return found
        return [top_logprobs(logprobs)]
    if isinstance(logprobs, Sequence) and not isinstance(logprobs, str):
        return [top_logprobs(entry) for entry in logprobs]
    return []


def top_logprobs(entry: Any) -> dict[str, float]:
    """A {token text: logprob} map from one position's alternatives, whatever their shape."""
    found: dict[str, float] = {}
    if entry is None:
        return found
    if isinstance(entry, Mapping):
        items: list[tuple[Any, Any]] = list(entry.items())
        for key, value in items:
            token = _token_text(value, key)
            logprob = _logprob(value)
            if token is not None and logprob is not None:
                found[token] = max(logprob, found.get(token, -math.inf))
        return found
    if isinstance(entry, Sequence) and not isinstance(entry, str):
        for value in entry:
            token = _token_text(value, None)
            logprob = _logprob(value)
            if token is not None and logprob is not None:
                found[token] = max(logprob, found.get(token, -math.inf))
    return found


def expected_digit_score(logprobs: Any, digits: str = DIGITS) -> float | None:
    """Expected score over the digit tokens at the first position that offers any.

    Digit `digits[i]` weighs `i` (XCoder: "1".."6" -> 0..5); the probabilities of tokens that
    are the same digit with surrounding spaces add up; whitespace-only positions are skipped.
    None when no position offers a digit.
    """
    for position in positions(logprobs):
        mass = [0.0] * len(digits)
        for token, logprob in position.items():
            text = token.strip()
            if len(text) == 1 and text in digits:
                mass[digits.index(text)] += math.exp(logprob)
        total = sum(mass)
        if total > 0:
            return sum(i * p for i, p in enumerate(mass)) / total
        likeliest = max(position, key=position.__getitem__, default="")
        if likeliest.strip():
            return None
    return None


def released_digit_score(logprobs: Any, digits: str = DIGITS) -> float | None:
    """XCoder's released scorer: the expected score over the digits at the first generated
    token, or None (its 2.0 fallback) unless that token offers every one of them."""
    first = next(iter(positions(logprobs)), None)
    if first is None:
        return None
    mass = [0.0] * len(digits)
    seen: set[str] = set()
    for token, logprob in first.items():
        text = token.strip()
        if len(text) == 1 and text in digits:
            seen.add(text)
            mass[digits.index(text)] += math.exp(logprob)
    if len(seen) < len(digits):
        return None
    return sum(i * p for i, p in enumerate(mass)) / sum(mass)


def _chat_position(entry: Any) -> dict[str, float]:
    position = top_logprobs(_field(entry, "top_logprobs") or [])
    token = _token_text(entry, None)
    logprob = _logprob(entry)
    if token is not None and logprob is not None:
        position.setdefault(token, logprob)
    return position


def _field(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _token_text(value: Any, key: Any) -> str | None:
    for name in ("decoded_token", "token"):
        text = _field(value, name)
        if isinstance(text, str):
            return text
    return key if isinstance(key, str) else None


def _logprob(value: Any) -> float | None:
    number = _number(value)
    if number is not None:
        return number
    return _number(_field(value, "logprob"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number
