"""A call's conversation record: what was said, heard and shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from model.dialogue import Called, HistoryEntry, Said, ToolOutput

Role = Literal["user", "assistant", "system"]
Kind = Literal["message", "function_call", "function_call_output"]


@dataclass
class SpokenPart:
    """A stretch of assistant speech and the text it says."""

    text: str
    start_ms: float
    """Offset of this part from the start of the item's audio."""
    duration_ms: float


@dataclass
class ConversationItem:
    id: str
    role: Role
    text: str = ""
    language: str | None = None
    status: Literal["in_progress", "completed", "incomplete"] = "completed"
    parts: list[SpokenPart] = field(default_factory=list)
    """For assistant audio: what each stretch of audio says, in order."""
    audio_ms: float = 0.0
    kind: Kind = "message"
    call_id: str = ""
    """A function call's id (kinds function_call and function_call_output)."""
    name: str = ""
    """A function call's tool."""
    arguments: str = ""
    """A function call's arguments (JSON text); a function_call_output's output is `text`."""

    def add_spoken(self, text: str, duration_ms: float) -> None:
        self.parts.append(SpokenPart(text, self.audio_ms, duration_ms))
        self.audio_ms += duration_ms
        self.text = " ".join(p.text for p in self.parts if p.text).strip()


class Conversation:
    """Ordered items of one call, bounded so a long call cannot grow without limit."""

    def __init__(self, max_items: int = 200) -> None:
        self._items: list[ConversationItem] = []
        self._max_items = max_items

    @property
    def items(self) -> list[ConversationItem]:
        return list(self._items)

    def add(self, item: ConversationItem) -> ConversationItem:
        self._items.append(item)
        if len(self._items) > self._max_items:
            del self._items[0]
        return item

    def get(self, item_id: str) -> ConversationItem | None:
        for item in reversed(self._items):
            if item.id == item_id:
                return item
        return None

    def history(self, before: str | None = None) -> tuple[HistoryEntry, ...]:
        """The conversation as a backend without memory needs it: words, calls and their
        outputs, in order, up to (not including) the item `before`."""
        entries: list[HistoryEntry] = []
        for item in self._items:
            if item.id == before:
                break
            if item.kind == "function_call":
                entries.append(Called(item.call_id, item.name, item.arguments))
            elif item.kind == "function_call_output":
                entries.append(ToolOutput(item.call_id, item.text))
            elif item.text and item.role in ("user", "assistant"):
                entries.append(Said(item.role, item.text))
        return tuple(entries)

    def truncate(self, item_id: str, audio_end_ms: float) -> str | None:
        """Cut an assistant item to its first `audio_end_ms` of audio.

        A sentence cut in the middle keeps the words proportional to the time
        played, since that is all the listener heard. Returns the new text,
        or None for an unknown item.
        """
        item = self.get(item_id)
        if item is None:
            return None
        end = max(0.0, min(audio_end_ms, item.audio_ms))
        kept: list[SpokenPart] = []
        for part in item.parts:
            if part.start_ms >= end:
                break
            played = end - part.start_ms
            if played >= part.duration_ms:
                kept.append(part)
            else:
                words = part.text.split()
                n = int(len(words) * played / part.duration_ms) if part.duration_ms else 0
                kept.append(SpokenPart(" ".join(words[:n]), part.start_ms, played))
        item.parts = kept
        item.audio_ms = end
        item.text = " ".join(p.text for p in kept if p.text).strip()
        if end < sum(p.duration_ms for p in kept) or item.status == "in_progress":
            item.status = "incomplete"
        return item.text
