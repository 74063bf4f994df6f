"""The one way JSON from a client is read: bounded in size and in depth.

`json.loads` itself recurses once per nesting level (it raises RecursionError far
below what a small body can nest), and everything after it that walks the value
(merging a session, copying it, echoing it back) recurses too. So every client JSON
(HTTP bodies, multipart fields, data-channel and WebSocket events) goes through
`loads`, which refuses what is too large or too deep with `JSONRejected`, whose
message says which, before anything else sees it.
"""

from __future__ import annotations

import json
from typing import Any

#: Deeper than any session or event of the protocol (a session is ~5 levels).
MAX_DEPTH = 32


class JSONRejected(ValueError):
    """Not JSON, or JSON this server refuses to read; `message` says why."""

    def __init__(self, message: str, *, too_deep: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.too_deep = too_deep


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> Any:
    if max_bytes is not None and len(text) > max_bytes:
        raise JSONRejected(f"the JSON is over the {max_bytes}-byte limit")
    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONRejected(
            f"the JSON nests deeper than {max_depth} levels", too_deep=True
        ) from None
    except UnicodeDecodeError:
        raise JSONRejected("the JSON is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JSONRejected(f"not valid JSON: {exc.msg} (at {exc.pos})") from None
    if depth_exceeds(value, max_depth):
        raise JSONRejected(f"the JSON nests deeper than {max_depth} levels", too_deep=True)
    return value


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether `value` nests objects and arrays more than `max_depth` deep (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
