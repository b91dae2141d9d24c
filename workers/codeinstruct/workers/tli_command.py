"""`codeinstruct tli`: XCoder's Test Leakage Indicator between any two JSONL files.

codeinstruct tli --train train.jsonl --test humaneval
codeinstruct tli --train train.jsonl --test mbpp.jsonl --key-test text code --top 3
codeinstruct tli --train train.jsonl --test humaneval --write-clean clean.jsonl
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import read_jsonl_file

DEFAULT_TRAIN_KEYS = ("messages", "instruction")


def row_text(row: dict[str, Any], keys: list[str], where: str) -> str:
    """XCoder's extract_texts: user turns of a `messages` list, or the named fields joined."""
    if len(keys) == 1 and keys[0] in {"messages", "message"}:
        messages = row.get(keys[0])
        if not isinstance(messages, list):
            raise UserError(f"{where}: no `{keys[0]}` list (fields: {sorted(row)}); use --key-*")
        return " ".join(
            str(m.get("content", "")) if str(m.get("role", "")).lower() == "user" else ""
            for m in messages
            if isinstance(m, dict)
        )
    missing = [k for k in keys if k not in row]
    if missing:
        raise UserError(
            f"{where}: missing field(s) {missing} (fields: {sorted(row)}); choose them with "
            "--key-train / --key-test"
        )
    return " ".join(str(row[k]) for k in keys)


def _train_keys(rows: list[dict[str, Any]], given: list[str] | None) -> list[str]:
    if given:
        return given
    for key in DEFAULT_TRAIN_KEYS:
        if rows and key in rows[0]:
            return [key]
    return [DEFAULT_TRAIN_KEYS[-1]]


def cmd_tli(args: argparse.Namespace) -> int:
    from codeinstruct.workers.benchmarks import load_benchmark
    from codeinstruct.workers.spec import Benchmark
    from codeinstruct.workers.tli import TestIndex

    train_rows = read_jsonl_file(args.train, "--train")
    keys = _train_keys(train_rows, args.key_train)
    train = [row_text(r, keys, f"{args.train}:{i + 1}") for i, r in enumerate(train_rows)]
    if args.test == "humaneval":
        items = load_benchmark(Benchmark(name="humaneval", fields=args.key_test))
        test = [item.text for item in items]
        test_ids = [item.task_id for item in items]
    else:
        test_rows = read_jsonl_file(args.test, "--test")
        test = [row_text(r, args.key_test, f"{args.test}:{i + 1}") for i, r in enumerate(test_rows)]
        test_ids = [str(r.get("task_id", r.get("id", i + 1))) for i, r in enumerate(test_rows)]
    index = TestIndex(test, args.ngram_sizes)
    leakage = index.leakage(train, args.top)
    print(f"train {len(train)} records ({'+'.join(keys)}), test {len(test)} items")
    print(f"TLI-mean@{args.top}: {leakage.tli:.6f}")
    print(f"TLI-max@{args.top}:  {leakage.tli_max:.6f}")
    order = sorted(range(len(test)), key=lambda j: -leakage.per_test[j])[: args.show]
    if order:
        print("most leaked test items:")
    for j in order:
        best = int(leakage.best_train[j])
        snippet = " ".join(train[best].split())[:80] if best >= 0 else ""
        print(f"  {test_ids[j]:<20} {leakage.per_test[j]:.4f}  train #{best + 1}: {snippet}")
    if args.write_clean:
        keep = [
            row for row, m in zip(train_rows, leakage.train_max, strict=True) if m < args.threshold
        ]
        with open(args.write_clean, "w", encoding="utf-8") as handle:
            for row in keep:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        after = index.leakage(
            [t for t, m in zip(train, leakage.train_max, strict=True) if m < args.threshold],
            args.top,
        )
        print(
            f"wrote {len(keep)} records to {args.write_clean} "
            f"(dropped {len(train) - len(keep)} with similarity >= {args.threshold}); "
            f"TLI after: {after.tli:.6f}, max {after.tli_max:.6f}"
        )
    return 0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "tli", help="measure (and remove) benchmark leakage between two JSONL files (XCoder TLI)"
    )
    parser.add_argument("--train", required=True, metavar="TRAIN.jsonl")
    parser.add_argument("--test", required=True, metavar="TEST.jsonl|humaneval")
    parser.add_argument(
        "--key-train",
        nargs="+",
        metavar="F",
        help="train field(s) joined, or `messages` (user turns); default messages or instruction",
    )
    parser.add_argument(
        "--key-test", nargs="+", default=["prompt"], metavar="F", help="test field(s) (prompt)"
    )
    parser.add_argument("--top", type=int, default=1, metavar="K", help="top-k mean (1)")
    parser.add_argument("--ngram-sizes", type=int, nargs="+", default=[4, 5], metavar="N")
    parser.add_argument("--show", type=int, default=10, metavar="N", help="most leaked shown")
    parser.add_argument("--write-clean", metavar="OUT.jsonl", help="write the filtered set")
    parser.add_argument("--threshold", type=float, default=0.05, metavar="T")
    parser.set_defaults(handler=cmd_tli)
