from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.spec import Source
from codeinstruct.workers.stages.instruction_pool import pool_files, pool_record

SOURCE = Source(uri="x", format="jsonl")


def test_instruction_response_fields() -> None:
    record, reason = pool_record({"instruction": "Do x", "response": "ok", "quality": 3}, SOURCE)
    assert reason is None and record is not None
    assert record["instruction"] == "Do x" and record["response"] == "ok"
    assert record["quality"] == 3.0


def test_chat_messages_user_turns_joined() -> None:
    row = {
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "a1"},
            {"role": "User", "content": "second"},
            {"role": "assistant", "content": "a2"},
        ]
    }
    record, _ = pool_record(row, SOURCE)
    assert record is not None
    assert record["instruction"] == "first\n\nsecond" and record["response"] == "a2"


def test_a_multi_turn_row_keeps_its_conversation() -> None:
    turns = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "a2"},
    ]
    record, _ = pool_record({"messages": turns}, SOURCE)
    assert record is not None and record["messages"] == turns, "every answer, not only the last"
    other, _ = pool_record(
        {"messages": [*turns[:2], {**turns[2], "content": "b1"}, *turns[3:]]}, SOURCE
    )
    assert other is not None and other["id"] != record["id"], "a different conversation"
    flat, _ = pool_record({"instruction": "Do x", "response": "ok"}, SOURCE)
    assert flat is not None and "messages" not in flat


def test_configured_field_names() -> None:
    source = Source(uri="x", format="jsonl", instructionField="q", responseField="a")
    record, _ = pool_record({"q": "question", "a": "answer"}, source)
    assert record is not None and record["instruction"] == "question"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ([1, 2], "not_an_object"),
        ({"response": "r"}, "missing_instruction"),
        ({"instruction": "  ", "response": "r"}, "missing_instruction"),
        ({"instruction": "i"}, "missing_response"),
        ({"instruction": "i", "response": 5}, "missing_response"),
        ({"messages": "hello"}, "bad_messages"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "missing_instruction"),
    ],
)
def test_bad_rows_have_reasons(row: object, reason: str) -> None:
    assert pool_record(row, SOURCE) == (None, reason)


def test_pool_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"instruction": "i", "response": "r"}))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl").write_text("")
    (tmp_path / "c.parquet").write_bytes(b"")
    assert pool_files(Source(uri=str(tmp_path), format="jsonl")) == [
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "sub" / "b.jsonl"),
    ]
    assert pool_files(Source(uri=str(tmp_path / "*.parquet"), format="parquet")) == [
        str(tmp_path / "c.parquet")
    ]
    with pytest.raises(UserError, match="does not exist"):
        pool_files(Source(uri=str(tmp_path / "nope"), format="jsonl"))
    with pytest.raises(UserError, match="jsonl"):
        pool_files(Source(uri=str(tmp_path), format="python"))
