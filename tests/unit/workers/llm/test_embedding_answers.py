"""Reading `/v1/embeddings` answers: by index, one dimension, per-token answers by their last
token; and the spec asks for an endpoint with the `openai` backend."""

from __future__ import annotations

import pytest

from codeinstruct.workers.llm.embedding_client import _Retryable, vectors_of
from codeinstruct.workers.spec import SpecError
from tests.conftest import make_dataset


def test_rows_follow_the_index_and_token_vectors_give_the_last_token() -> None:
    payload = {
        "data": [
            {"index": 1, "embedding": [[0.0, 1.0], [3.0, 4.0]]},
            {"index": 0, "embedding": [1.0, 2.0]},
        ]
    }
    assert vectors_of(payload, 2) == [[1.0, 2.0], [3.0, 4.0]]


@pytest.mark.parametrize(
    "data",
    [
        [{"index": 0, "embedding": [1.0]}],  # one missing
        [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}],  # repeated
        [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [2.0, 3.0]}],  # dims
        [{"index": 0, "embedding": []}, {"index": 1, "embedding": [2.0]}],
    ],
)
def test_malformed_answers_are_retried(data: list[dict[str, object]]) -> None:
    with pytest.raises(_Retryable):
        vectors_of({"data": data}, 2)


def test_the_openai_backend_needs_an_endpoint() -> None:
    with pytest.raises(SpecError, match="embeddingEndpoint is required"):
        make_dataset(method="xcoder", targetSize=2, scoring={"embeddingBackend": "openai"})
