"""SelfCodeAlign seed mining: top-level Python functions with a docstring and a valued return,
or for `source.language` another language, its documented functions
(`codeinstruct.workers.documented_functions`).

Bad input never stops a run: every unreadable, binary, oversized or unparsable file, every file
whose name is not UTF-8 and every bad JSONL row is a counted drop whose reason says what was
wrong. The extraction (`extract_seeds`, `decode_source`) is pure, works on source text and is
linear in the file's size: the module's imports are indexed once, not scanned per function.
The stage reads the files through `sources`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from codeinstruct.workers.documented_functions import SUFFIXES, Candidate, extract_documented
from codeinstruct.workers.records import BadLine, Record, content_id, is_text, iter_jsonl, printable
from codeinstruct.workers.sources import BadRow, is_s3, list_files, read_local
from codeinstruct.workers.spec import Mining, Source, SourceFormat
from codeinstruct.workers.spec.models import SourceLanguage
from codeinstruct.workers.stages.base import Drop, SourceStage, StageContext, StageKind, StageOutput
from codeinstruct.workers.store import open_store

__all__ = ["Candidate", "MineSeeds", "decode_source", "extract_seeds"]


def extract_seeds(
    text: str, mining: Mining, language: str = SourceLanguage.PYTHON
) -> list[Candidate]:
    """Top-level functions whose body starts with a docstring (another language: its documented
    functions); raises SyntaxError/ValueError for Python that does not parse."""
    if language != SourceLanguage.PYTHON:
        return extract_documented(text, language, mining)
    tree = ast.parse(text)
    lines = text.splitlines()
    bindings = _import_bindings(tree)
    imports = _ImportIndex(tree)
    banned = {b.lower() for b in mining.banned_imports}
    words = (
        re.compile(
            r"\b(" + "|".join(re.escape(w) for w in mining.banned_words) + r")\b", re.IGNORECASE
        )
        if mining.banned_words
        else None
    )
    found: list[Candidate] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        docstring = ast.get_docstring(node, clean=False)
        if docstring is None or node.end_lineno is None:
            continue
        code = "\n".join(lines[node.lineno - 1 : node.end_lineno]) + "\n"
        used = _names_used(node)
        needed = imports.needed(used)
        modules = {bindings[name] for name in used if name in bindings} | _local_imports(node)
        reason: str | None = None
        if node.end_lineno - node.lineno + 1 > mining.max_lines:
            reason = "too_long"
        elif len(docstring.strip()) < mining.min_docstring_chars:
            reason = "short_docstring"
        elif not _has_valued_return(node):
            reason = "no_return"
        elif not _has_arguments(node.args):
            reason = "no_arguments"
        elif any(m.split(".")[0].lower() in banned for m in modules):
            reason = "banned_import"
        elif words is not None and words.search(code):
            reason = "todo_marker"
        found.append(Candidate(node.name, code, needed, docstring, node.lineno, reason))
    return found


def _import_bindings(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound by imports, mapped to the module they come from."""
    bindings: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bindings[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                bindings[alias.asname or alias.name] = node.module
    return bindings


class _ImportIndex:
    """The module's import statements, indexed once by the names they bind."""

    def __init__(self, tree: ast.Module) -> None:
        self.statements: list[str] = []
        self.binders: dict[str, list[int]] = {}
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                index = len(self.statements)
                self.statements.append(ast.unparse(node))
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    self.binders.setdefault(bound, []).append(index)

    def needed(self, used: set[str]) -> str:
        """The import statements (in module order) binding a name in `used`."""
        wanted = sorted({i for name in used for i in self.binders.get(name, ())})
        return "\n".join(self.statements[i] for i in wanted)


def _local_imports(node: ast.AST) -> set[str]:
    modules: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Import):
            modules.update(alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.module:
            modules.add(child.module)
    return modules


def _names_used(node: ast.AST) -> set[str]:
    return {child.id for child in ast.walk(node) if isinstance(child, ast.Name)}


def _has_valued_return(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A `return <value>` (not None) in the function itself, not in nested functions."""
    stack: list[ast.AST] = list(function.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            if node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None
            ):
                return True
        elif not isinstance(
            node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
        ):
            stack.extend(ast.iter_child_nodes(node))
    return False


def _has_arguments(args: ast.arguments) -> bool:
    return bool(args.posonlyargs or args.args or args.kwonlyargs or args.vararg or args.kwarg)


def decode_source(data: bytes, max_bytes: int) -> tuple[str | None, str | None]:
    """(text, None) or (None, drop reason) for the raw bytes of a file."""
    if len(data) > max_bytes:
        return None, "file_too_large"
    if not data.strip():
        return None, "empty_file"
    if b"\x00" in data:
        return None, "binary_file"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "not_utf8"


class MineSeeds(SourceStage):
    """Reads source files of `source.language` (or JSONL records of code) and yields seed
    functions; a seed of another language than Python carries its `language`.

    Input fields: (the source)
    Output fields: seed, entry_point, docstring
    Drop reasons: unreadable_file, not_a_regular_file, non_utf8_name, file_too_large,
    empty_file, binary_file, not_utf8, syntax_error, too_long, short_docstring, no_return,
    no_arguments, banned_import, banned_api, todo_marker; for JSONL rows also bad_json, too_deeply_nested,
    non_finite_number, invalid_unicode, not_an_object, missing_content, content_not_text
    """

    kind = StageKind.PREPARE
    name = "seeds"
    outputs = ("seed", "entry_point", "docstring")

    def __init__(self, source: Source, mining: Mining) -> None:
        self.source = source
        self.mining = mining

    def partitions(self, ctx: StageContext) -> list[Any]:
        source = self.source
        size = source.files_per_shard
        jsonl = source.format is SourceFormat.JSONL
        suffixes = (".jsonl",) if jsonl else SUFFIXES[source.language]
        files = list_files(source.uri, suffixes, source.max_files)
        if is_s3(source.uri):
            return [{"s3": files[i : i + size]} for i in range(0, len(files), size)]
        if jsonl:
            return [{"jsonl": f} for f in files]
        return [{"files": files[i : i + size]} for i in range(0, len(files), size)]

    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        source = self.source
        for path, data in _partition_contents(partition, source):
            ctx.stats.counters["files"] += 1
            if isinstance(data, BadRow):
                yield _file_drop(path, data.reason, ctx)
                continue
            if not is_text(path):
                yield _file_drop(path, "non_utf8_name", ctx)
                continue
            text, reason = decode_source(data, source.max_file_bytes)
            if text is None:
                yield _file_drop(path, reason or "unreadable_file", ctx)
                continue
            yield from self._seeds_of(path, text, ctx)

    def _seeds_of(self, path: str, text: str, ctx: StageContext) -> Iterator[StageOutput]:
        try:
            candidates = extract_seeds(text, self.mining, self.source.language)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            yield _file_drop(path, "syntax_error", ctx)
            return
        for candidate in candidates:
            ctx.stats.records_in += 1
            seed = (
                f"{candidate.imports}\n\n\n{candidate.code}"
                if candidate.imports
                else candidate.code
            )
            record: Record = {
                "id": content_id(seed),
                "seed": seed,
                "entry_point": candidate.name,
                "docstring": candidate.docstring,
                "meta": {"source": path, "line": candidate.line},
            }
            if self.source.language != SourceLanguage.PYTHON:
                record["language"] = str(self.source.language)
            yield record if candidate.drop_reason is None else Drop(record, candidate.drop_reason)


def _file_drop(path: str, reason: str, ctx: StageContext) -> Drop:
    ctx.stats.records_in += 1
    return Drop({"id": content_id("file", path), "meta": {"source": printable(path)}}, reason)


def _partition_contents(
    partition: dict[str, Any], source: Source
) -> Iterator[tuple[str, bytes | BadRow]]:
    if "files" in partition:
        for path in partition["files"]:
            yield path, read_local(path, source.max_file_bytes)
        return
    if "s3" in partition:
        store = open_store(source.uri)
        for key in partition["s3"]:
            name, data = store.uri(key), store.get(key)
            if source.format is SourceFormat.JSONL:
                yield from _jsonl_contents(name, data, source)
            else:
                yield name, data
        return
    path = partition["jsonl"]
    lines = read_local(path)
    if isinstance(lines, BadRow):
        yield path, lines
    else:
        yield from _jsonl_contents(path, lines, source)


def _jsonl_contents(path: str, data: bytes, source: Source) -> Iterator[tuple[str, bytes | BadRow]]:
    """(name, code or BadRow) per JSONL line; the BadRow says what is wrong with the row."""
    for number, row in iter_jsonl(data):
        where = f"{path}:{number}"
        if isinstance(row, BadLine):
            yield where, BadRow(row.reason)
        elif not isinstance(row, dict):
            yield where, BadRow("not_an_object")
        elif source.content_field not in row:
            yield where, BadRow("missing_content")
        elif not isinstance(row[source.content_field], str):
            yield where, BadRow("content_not_text")
        else:
            given = row.get("path")
            yield given if isinstance(given, str) else where, row[source.content_field].encode()
