"""Pure parts of the LLM client: response parsing, retry delays, merging samples, cache codec."""

from __future__ import annotations

import json
import random
import time
from email.utils import formatdate

import pytest

from codeinstruct.workers.llm.cache import CompletionCache, decode, encode
from codeinstruct.workers.llm.client import (
    Completion,
    InfraFailure,
    RetryPolicy,
    _Fault,
    merge,
    parse_response,
    parse_retry_after,
)
from codeinstruct.workers.store import LocalStore


def body(**data: object) -> bytes:
    return json.dumps(data).encode()


def test_parse_chat_and_completion_responses() -> None:
    chat = body(
        choices=[
            {"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
            {"index": 0, "message": {"content": "a"}, "logprobs": {"content": []}},
        ],
        usage={"prompt_tokens": 7, "completion_tokens": 3},
    )
    result = parse_response("chat", chat)
    assert result.texts == ["a", "b"]
    assert result.finish_reasons == [None, "length"]
    assert result.logprobs == [{"content": []}, None]
    assert (result.prompt_tokens, result.completion_tokens) == (7, 3)
    assert parse_response("completions", body(choices=[{"text": "x"}])).texts == ["x"]
    assert parse_response("chat", body(choices=[{"message": {"content": None}}])).texts == [""]


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'{"choices": [{"text": "x"', "invalid_json"),
        (b"", "invalid_json"),
        (b"[]", "invalid_json"),
        (body(choices=[]), "empty_choices"),
        (body(error="x"), "empty_choices"),
        (body(choices=[{"text": 3}]), "invalid_json"),
    ],
)
def test_bad_bodies_are_retryable_faults(data: bytes, kind: str) -> None:
    with pytest.raises(_Fault) as fault:
        parse_response("completions", data)
    assert fault.value.kind == kind


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert 8 <= (parse_retry_after(formatdate(time.time() + 10, usegmt=True)) or 0) <= 10.5


def test_backoff_grows_has_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(backoff_seconds=1.0, max_backoff_seconds=8.0)
    rng = random.Random(1)
    delays = [[policy.delay(a, None, rng) for _ in range(200)] for a in range(6)]
    assert all(0 <= d <= min(8.0, 2**a) for a, ds in enumerate(delays) for d in ds)
    assert max(delays[3]) > 4 * max(delays[0]) / 2  # exponential ceiling
    assert len({round(d, 6) for d in delays[2]}) > 100  # jitter
    assert policy.delay(0, 5.0, rng) >= 5.0
    assert policy.delay(0, 10_000.0, rng) == policy.max_retry_after_seconds


def test_merge_sums_usage_and_one_failure_fails_all() -> None:
    a = Completion(["x"], [None], ["stop"], 3, 1, faults={"http_500": 1})
    b = Completion(["y"], [None], ["stop"], 3, 2, cached=True)
    merged = merge([a, b])
    assert isinstance(merged, Completion)
    assert merged.texts == ["x", "y"] and merged.completion_tokens == 3 and not merged.cached
    failed = merge([a, InfraFailure("llm_infra_error", "down", 6, {"timeout": 6})])
    assert isinstance(failed, InfraFailure)
    assert dict(failed.faults) == {"http_500": 1, "timeout": 6}


def test_cache_key_covers_model_body_and_sample(tmp_path: object) -> None:
    cache = CompletionCache(LocalStore(str(tmp_path)), "run/cache/llm")
    key = cache.key("m", "chat", {"messages": [{"role": "user", "content": "hi"}], "seed": 1})
    assert key.startswith("run/cache/llm/") and key.endswith(".json")
    assert key == cache.key(
        "m", "chat", {"seed": 1, "messages": [{"content": "hi", "role": "user"}]}
    )
    assert key != cache.key(
        "m2", "chat", {"messages": [{"role": "user", "content": "hi"}], "seed": 1}
    )
    assert key != cache.key(
        "m", "chat", {"messages": [{"role": "user", "content": "hi"}], "seed": 2}
    )
    assert key != cache.key(
        "m", "chat", {"messages": [{"role": "user", "content": "hi"}], "seed": 1}, 1
    )


def test_cache_codec_round_trip_and_corrupt_objects() -> None:
    completion = Completion(["t"], [{"top_logprobs": [{"1": -0.1}]}], ["stop"], 5, 1)
    back = decode(encode(completion))
    assert back is not None and back.cached
    assert (back.texts, back.logprobs, back.prompt_tokens) == (["t"], completion.logprobs, 5)
    assert decode(b"{not json") is None
    assert decode(b'{"no": "texts"}') is None
