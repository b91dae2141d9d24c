"""The reference of every spec field with its default, generated from the models (docs/spec.md)."""

from __future__ import annotations

import json
import types
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from codeinstruct.workers.spec import Spec


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in get_args(annotation) if a is not type(None))
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is not None and get_args(annotation):  # Annotated[int, ...]
        return _type_name(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, list):
        value = [
            v.model_dump(mode="json", by_alias=True)
            if isinstance(v, BaseModel)
            else getattr(v, "value", v)
            for v in value
        ]
    return f"`{json.dumps(getattr(value, 'value', value))}`"


def _nested(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model a field holds (directly, optionally, or as a list item) and its path suffix."""
    suffix = ""
    if get_origin(annotation) is list:
        annotation, suffix = get_args(annotation)[0], "[]"
    elif get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, suffix
    return None


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}.{field.alias or name}"
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{path}` | {_type_name(field.annotation)} | {_default(field)} | {description} |"
        )
        nested = _nested(field.annotation)
        if nested is not None:
            rows.extend(_rows(nested[0], path + nested[1]))
    return rows


def spec_reference() -> str:
    lines = [
        "# InstructionDataset spec reference",
        "",
        "Generated from `codeinstruct.workers.spec` by `codeinstruct reference`; this is the one",
        "place defaults are documented (the CRD schema is generated from the same models).",
        "",
        "| field | type | default | description |",
        "|---|---|---|---|",
        *_rows(Spec, "spec"),
    ]
    return "\n".join(lines) + "\n"


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("reference", help="print the spec field reference (markdown)")
    parser.set_defaults(handler=lambda args: print(spec_reference(), end="") or 0)
