"""Qwen's tool-call convention, for the `transformers` backend's `converse`.

The tools are listed in the system prompt as JSON inside <tools></tools>; the
model calls one by writing <tool_call>{"name": ..., "arguments": {...}}</tool_call>;
the result goes back in a user turn as <tool_response>...</tool_response>, and the
model generates again. This is the template Qwen2.5 and Qwen2.5-Omni were trained on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model.dialogue import (
    Called,
    HistoryEntry,
    Said,
    Tool,
    parse_arguments,
    result_json,
)

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_CALL = re.compile(rf"{OPEN}\s*(.*?)\s*(?:{CLOSE}|$)", re.DOTALL)

_TOOLS_HEADER = """# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>"""


def system_prompt(instructions: str, tools: Sequence[Tool]) -> str:
    """The scenario's instructions, then the tools' signatures (none: the instructions only)."""
    if not tools:
        return instructions
    signatures = "\n".join(
        json.dumps(
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            },
            ensure_ascii=False,
        )
        for t in tools
    )
    return f"{instructions}\n\n{_TOOLS_HEADER.format(tools=signatures)}"


def parse_tool_calls(text: str) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The words outside any tool call, and the (name, arguments) of each call, in order.

    A call cut off before its closing tag still counts when its JSON is whole; a call
    whose JSON cannot be read, or that names no function, is dropped."""
    calls: list[tuple[str, dict[str, Any]]] = []
    for match in _CALL.finditer(text):
        try:
            body = json.loads(match.group(1))
        except ValueError:
            continue
        if isinstance(body, dict) and isinstance(body.get("name"), str) and body["name"]:
            calls.append((body["name"], parse_arguments(body.get("arguments"))))
    return _CALL.sub("", text).strip(), calls


def tool_response(result: Any) -> str:
    """A tool's result as the user-turn content Qwen expects."""
    return f"<tool_response>\n{result_json(result)}\n</tool_response>"


def history_turn(entry: HistoryEntry) -> tuple[str, str]:
    """An earlier part of the conversation as the (role, content) turn Qwen was trained on."""
    if isinstance(entry, Said):
        return ("assistant" if entry.role == "assistant" else "user", entry.text)
    if isinstance(entry, Called):
        body = {"name": entry.name, "arguments": parse_arguments(entry.arguments)}
        return ("assistant", f"{OPEN}\n{json.dumps(body, ensure_ascii=False)}\n{CLOSE}")
    return ("user", f"<tool_response>\n{entry.output}\n</tool_response>")


@dataclass
class VisibleText:
    """Streams the words of an answer, holding back anything that is (or may become) a
    tool call, so the caller never hears or reads the call's JSON."""

    text: str = ""
    shown: int = 0
    calling: bool = False

    def push(self, piece: str) -> str:
        """Add generated text; returns what can be shown now ("" when nothing new)."""
        self.text += piece
        if self.calling:
            return ""
        start = self.text.find(OPEN, self.shown)
        if start >= 0:
            self.calling = True
            return self._show(start)
        # Hold back a tail that could be the start of "<tool_call>".
        end = len(self.text)
        for keep in range(min(len(OPEN) - 1, end - self.shown), 0, -1):
            if OPEN.startswith(self.text[end - keep :]):
                end -= keep
                break
        return self._show(end)

    def flush(self) -> str:
        """The rest, once the answer is complete and holds no tool call."""
        return "" if self.calling else self._show(len(self.text))

    def _show(self, end: int) -> str:
        new, self.shown = self.text[self.shown : end], max(self.shown, end)
        return new
