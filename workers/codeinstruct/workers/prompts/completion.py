"""Completion-style prompts for base models (`generator.api: completion`): the same system text
and few-shot examples as the chat prompts, laid out as numbered examples that a base model
continues, as SelfCodeAlign's reference prompts are.

    <system text>

    ## Example 1
    <user turn>
    <assistant turn>

    ## Example 2
    <user turn>
    (the model writes here, and stops before the next `## Example`)
"""

from __future__ import annotations

EXAMPLE_STOP = "## Example"


def as_completion(messages: list[dict[str, str]]) -> str:
    """One text from chat messages: system text first, then each user turn opens an example."""
    parts: list[str] = []
    number = 0
    for message in messages:
        content = message["content"].strip("\n")
        if message["role"] == "system":
            parts.append(content + "\n")
        elif message["role"] == "user":
            number += 1
            parts.append(f"{EXAMPLE_STOP} {number}\n{content}\n")
        else:
            parts[-1] += content + "\n"
    return "\n".join(parts)
