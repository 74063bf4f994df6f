"""Who imports whom: the layers of docs/architecture.md, checked on the code itself."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        bad = sorted(n for n in imported(path) if n.split(".")[0] in forbidden or n in forbidden)
        bad += sorted(n for n in imported(path) if any(n.startswith(f + ".") for f in forbidden))
        if bad:
            found[str(path.relative_to(ROOT))] = sorted(set(bad))
    return found


def test_the_conversation_imports_no_transport_and_no_scenario() -> None:
    forbidden = (
        "aiortc", "starlette", "fastapi", "uvicorn", "rtc.transports",
        "tutor", "translate", "explainer", "chat",
    )  # fmt: skip
    assert offenders("rtc/conversation", forbidden) == {}


def test_the_model_imports_no_gateway_and_no_scenario() -> None:
    assert offenders("model", ("rtc", "tutor", "translate", "explainer", "chat", "aiortc")) == {}


def test_scenarios_import_only_the_model() -> None:
    for folder in ("tutor", "translate", "explainer", "chat"):
        assert offenders(folder, ("rtc", "aiortc", "fastapi", "starlette")) == {}
