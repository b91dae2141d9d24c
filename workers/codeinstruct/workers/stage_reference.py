"""The table of every method's stages (docs/stages.md), generated from the stages' docstrings.

Each stage's docstring has the sections `Input fields:`, `Output fields:` and `Drop reasons:`;
a section runs until the next one or a blank line.
"""

from __future__ import annotations

import inspect
from typing import Any

from codeinstruct.workers.methods import method_stages
from codeinstruct.workers.spec import InstructionDataset, Method
from codeinstruct.workers.stages.base import Stage

SECTIONS = ("Input fields", "Output fields", "Drop reasons")
# Each method with every optional stage switched on.
FULL_SPECS: dict[Method, dict[str, Any]] = {
    Method.SELFCODEALIGN: {"mining": {"typeCheck": True}},
    Method.WAVECODER: {"wavecoder": {"executionCheck": "report"}},
    Method.XCODER: {"scoring": {"complexityScorer": "llm", "qualityScorer": "unit_tests"}},
}


def docstring_sections(stage: type[Stage]) -> dict[str, str]:
    """The sections of a stage class's docstring, by title (missing ones are absent)."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in inspect.cleandoc(stage.__doc__ or "").splitlines():
        title = next((s for s in SECTIONS if line.startswith(s + ":")), None)
        if title is not None:
            current = title
            sections[title] = line[len(title) + 1 :].strip()
        elif current is not None and line.strip():
            sections[current] += " " + line.strip()
        else:
            current = None
    return sections


def summary(stage: type[Stage]) -> str:
    return inspect.cleandoc(stage.__doc__ or "").split("\n\n")[0].replace("\n", " ")


def method_pipeline(method: Method) -> list[Stage]:
    spec = {"method": method.value, "targetSize": 100, **FULL_SPECS[method]}
    dataset = InstructionDataset.model_validate({"spec": spec})
    return method_stages(dataset.spec)


def stage_reference() -> str:
    lines = [
        "# Stages",
        "",
        "Generated from the stages' docstrings by `codeinstruct stages` (`make generate`). Each",
        "method with every optional stage on; the runner checks, before any request, that each",
        "stage's input fields are added by an earlier stage. Records keep every field they gain.",
        "",
    ]
    for method in Method:
        lines += [
            f"## {method.value}",
            "",
            "| stage | kind | what it does | input fields | output fields | drop reasons |",
            "|---|---|---|---|---|---|",
        ]
        for stage in method_pipeline(method):
            sections = docstring_sections(type(stage))
            for title, fields in (("Input fields", stage.inputs), ("Output fields", stage.outputs)):
                configured = sections.get(title, "")
                if configured.startswith("(the configured") and fields:
                    sections[title] = ", ".join(fields)
            cells = [
                f"`{stage.name}`",
                stage.kind.value,
                summary(type(stage)),
                *(sections.get(title, "") for title in SECTIONS),
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("stages", help="print the table of every method's stages")
    parser.set_defaults(handler=lambda args: print(stage_reference(), end="") or 0)
