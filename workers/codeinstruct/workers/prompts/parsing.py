"""Pure helpers to read model output: tagged sections, fenced code blocks, templates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*$", re.MULTILINE)
PYTHON_TAGS = frozenset({"", "python", "py", "python3"})


@dataclass(frozen=True)
class ParseFailure:
    """Model output that could not be parsed; `reason` becomes the record's drop reason."""

    reason: str


@cache
def load_text(package: str, name: str) -> str:
    """A prompt data file shipped in `package` (e.g. `codeinstruct.workers.prompts.xcoder`),
    read once per process: every prompt of a stage uses it, and reading it per request (through
    `importlib.resources`: a listing, a stat and an open) cost more CPU than the request."""
    return (resources.files(package) / name).read_text(encoding="utf-8")


def fill(template: str, **values: object) -> str:
    """`template` with `$name` placeholders replaced (values are inserted verbatim)."""
    return Template(template).substitute({k: str(v) for k, v in values.items()})


def section(text: str, tag: str) -> str | None:
    """The text inside `<tag>...</tag>`; an unclosed tag runs to the end; None when absent.

    The first opening tag wins; a second `<tag>` inside is kept as text.
    """
    match = re.search(rf"<{tag}>", text, re.IGNORECASE)
    if match is None:
        return None
    rest = text[match.end() :]
    close = re.search(rf"</{tag}>", rest, re.IGNORECASE)
    return (rest[: close.start()] if close else rest).strip("\n")


def code_blocks(text: str, languages: frozenset[str] | None = PYTHON_TAGS) -> list[str]:
    """Fenced code blocks in order; an unclosed last fence runs to the end of the text.

    `languages` filters by the fence's language tag (lower case; "" = untagged); None keeps all.
    """
    blocks: list[str] = []
    position = 0
    while True:
        opening = _FENCE.search(text, position)
        if opening is None:
            return blocks
        fence, language = opening.group(1), opening.group(2).lower()
        start = opening.end() + 1
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        end_match = closing.search(text, start)
        end = end_match.start() if end_match else len(text)
        body = text[start:end] if start <= len(text) else ""
        if (languages is None or language in languages) and body.strip():
            blocks.append(body.rstrip() + "\n")
        if end_match is None:
            return blocks
        position = end_match.end()


def strip_tags(text: str, *tags: str) -> str:
    for tag in tags:
        text = re.sub(rf"</?{tag}>", "", text, flags=re.IGNORECASE)
    return text.strip()
