"""Listing and reading sources: one JSONL reader with per-line problems, Parquet and gzip rows,
folder walks that skip environments and caches."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import BadLine, iter_jsonl, read_jsonl_file
from codeinstruct.workers.sources import BadRow, iter_rows, list_files


def test_jsonl_lines_are_values_or_bad_lines_with_their_numbers() -> None:
    data = b'{"a": 1}\n\nnot json\n[1, 2]\n\xff\xfe\n{"b": "\xe2\x80\xa8"}\n'
    rows = list(iter_jsonl(data))
    assert [n for n, _ in rows] == [1, 3, 4, 5, 6]
    assert rows[0][1] == {"a": 1} and rows[2][1] == [1, 2]
    assert isinstance(rows[1][1], BadLine) and isinstance(rows[3][1], BadLine)
    assert rows[4][1] == {"b": "\u2028"}, "a JSON string may hold U+2028: one line, not two"


def test_read_jsonl_file_names_the_line_of_the_first_problem(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    path.write_bytes(b'{"prompt": "x"}\n\n{"prompt": \n')
    with pytest.raises(UserError, match=r"--test: .*bench.jsonl:3: not valid JSON"):
        read_jsonl_file(path, "--test")
    path.write_bytes(b'{"prompt": "x"}\n"just a string"\n')
    with pytest.raises(UserError, match=r"bench.jsonl:2: expected a JSON object"):
        read_jsonl_file(path)


def test_rows_of_gzip_jsonl_and_broken_parquet() -> None:
    data = gzip.compress(b'{"instruction": "i"}\n{broken\n')
    rows = list(iter_rows("pool.jsonl.gz", data, parquet=False))
    assert rows == [(1, {"instruction": "i"}), (2, BadRow("bad_json"))]
    pytest.importorskip("pyarrow")
    assert list(iter_rows("pool.parquet", b"not parquet", parquet=True)) == [
        (0, BadRow("bad_parquet"))
    ]


def test_folder_listing_keeps_suffixes_and_skips_environments(tmp_path: Path) -> None:
    for name in ("b.jsonl", "a/c.jsonl.gz", "a/d.txt", ".venv/e.jsonl", "a/__pycache__/f.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    files = list_files(str(tmp_path), (".jsonl", ".jsonl.gz"))
    assert files == [str(tmp_path / "a" / "c.jsonl.gz"), str(tmp_path / "b.jsonl")]
    assert list_files(str(tmp_path), (".jsonl",), max_files=1) == [str(tmp_path / "b.jsonl")]
    with pytest.raises(UserError, match=r"source.uri: .* does not exist"):
        list_files(str(tmp_path / "missing"), (".py",))
