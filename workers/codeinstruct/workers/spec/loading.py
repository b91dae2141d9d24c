"""Reading a spec file: YAML to a validated `InstructionDataset`, or a `SpecError` with one line
per problem, each naming the field path. The file must be UTF-8, and a key given twice in one
mapping is an error (YAML loaders otherwise keep the last one silently)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.spec.models import InstructionDataset


class SpecError(UserError):
    """A spec file that cannot be used; `problems` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def parse_spec(document: Any, source: str = "<spec>") -> InstructionDataset:
    if not isinstance(document, dict):
        raise SpecError(source, ["the file must hold one InstructionDataset object (a mapping)"])
    try:
        return InstructionDataset.model_validate(document)
    except ValidationError as error:
        raise SpecError(source, [describe_error(e) for e in error.errors()]) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}: each key may appear once",
                    key_node.start_mark,
                )  # fmt: skip
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_spec(path: str | Path) -> InstructionDataset:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise SpecError(str(path), [f"cannot read the file: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise SpecError(
            str(path), [f"not UTF-8 text (byte {error.start}); save the spec as UTF-8"]
        ) from None
    try:
        documents = [d for d in yaml.load_all(text, Loader=_UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError(str(path), [f"{where}not valid YAML ({problem})"]) from None
    if len(documents) != 1:
        raise SpecError(str(path), [f"expected one YAML document, found {len(documents)}"])
    return parse_spec(documents[0], str(path))


def describe_error(error: Any) -> str:
    """One line: the field path and what is wrong with it, in words."""
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    context = error.get("ctx") or {}
    given = error.get("input")
    if kind == "missing":
        return f"{path}: required field is missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown field (check the spelling; fields are camelCase)"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<"}.get(kind, "<=")
        bound = next(iter(context.values()))
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        return f"{path}: must be {op} {bound}, got {given!r}"
    if kind in {"enum", "literal_error"}:
        return f"{path}: must be one of {context.get('expected')}, got {given!r}"
    if kind == "value_error":
        return f"{path}: {context.get('error', error['msg'])}".replace("(top level): ", "")
    return f"{path}: {error['msg'][0].lower()}{error['msg'][1:]}, got {given!r}"
