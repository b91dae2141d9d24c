"""SelfCodeAlign seed mining: top-level Python functions with a docstring and a valued return,
or for `source.language` another language, its documented functions
(`codeinstruct.workers.documented_functions`).

Bad input never stops a run: every unreadable, binary, oversized or unparsable file is a counted
drop. The extraction (`extract_seeds`, `decode_source`) is pure and works on source text; the
stage reads the files through `sources`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from codeinstruct.workers.documented_functions import SUFFIXES, Candidate, extract_documented
from codeinstruct.workers.records import Record, content_id, iter_jsonl
from codeinstruct.workers.sources import is_s3, list_files, read_local
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
        imports = _needed_imports(tree, used, bindings)
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
        found.append(Candidate(node.name, code, imports, docstring, node.lineno, reason))
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


def _needed_imports(tree: ast.Module, used: set[str], bindings: dict[str, str]) -> str:
    statements = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name.split(".")[0]) in used for alias in node.names
        ):
            statements.append(ast.unparse(node))
    return "\n".join(statements)


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
    Drop reasons: unreadable_file, file_too_large, empty_file, binary_file, not_utf8,
    syntax_error, too_long, short_docstring, no_return, no_arguments, banned_import, banned_api,
    todo_marker
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
            if data is None:
                yield _file_drop(path, "unreadable_file", ctx)
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
    return Drop({"id": content_id("file", path), "meta": {"source": path}}, reason)


def _partition_contents(
    partition: dict[str, Any], source: Source
) -> Iterator[tuple[str, bytes | None]]:
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
    if lines is None:
        yield path, None
    else:
        yield from _jsonl_contents(path, lines, source)


def _jsonl_contents(path: str, data: bytes, source: Source) -> Iterator[tuple[str, bytes | None]]:
    """(name, code) per JSONL line; a line without the content field yields (name, None)."""
    for number, row in iter_jsonl(data):
        try:
            content = row[source.content_field]
        except (KeyError, TypeError):  # not JSON (BadLine), not an object, no such field
            yield f"{path}:{number}", None
            continue
        name = row.get("path") if isinstance(row.get("path"), str) else f"{path}:{number}"
        yield name, content.encode("utf-8", "surrogatepass") if isinstance(content, str) else None
