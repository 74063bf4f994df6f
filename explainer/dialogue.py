"""The explainer on a backend that converses (`Capabilities.dialogue`): the fan's question
goes to the model with the latest sampled frames, the explainer's instructions and what it
has read from the scoreboard, and a `rules_lookup` tool over the bundled rules
(explainer/rules.json) so that rule answers cite the rule book.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from explainer.match import MatchState, score_sentence
from explainer.rules import Rule, find_rule
from model.dialogue import Tool, ToolCall

INSTRUCTIONS = (
    "You watch a sports broadcast with a fan. Answer their question in one to three "
    "short spoken sentences, from what the frames and the observations show; for rules, "
    "explain plainly and name the rule book. If the frames do not show it, say so."
)
RULES = (
    "For any question about the rules, call rules_lookup first and answer from the "
    "summary it returns, naming its source."
)
#: Observations (score changes, clock minutes) given to the model, newest last.
OBSERVATIONS = 8


def instructions(state: MatchState, sport: str | None) -> str:
    """INSTRUCTIONS, then what the explainer has seen so far."""
    lines = [INSTRUCTIONS, RULES]
    watched = sport or state.sport
    if watched:
        lines.append(f"The sport is {watched}.")
    board = state.board
    if board is None:
        lines.append("No scoreboard has been read yet.")
    else:
        lines.append(f"The scoreboard now reads: {score_sentence(board)}.")
        if board.clock:
            lines.append(f"The clock shows {board.clock}.")
    seen = [f"- at {o.at_s:.0f} s: {o.text}" for o in state.history[-OBSERVATIONS:]]
    if seen:
        lines.append("What you have observed so far (seconds into the call):\n" + "\n".join(seen))
    return "\n".join(lines)


def rules_tool(state: MatchState, sport: str | None) -> Tool:
    async def lookup(arguments: dict[str, Any]) -> dict[str, Any]:
        question = str(arguments.get("question") or "")
        rule = find_rule(question, sport or state.sport)
        if rule is None:
            return {"found": False}
        return {
            "found": True,
            "sport": rule.sport,
            "topic": rule.topic,
            "text": rule.text,
            "source": rule.source,
        }

    return Tool(
        "rules_lookup",
        "Look up the rules of the sport in the bundled rule summaries. Returns the summary "
        "and its source (the rule book and law or article).",
        {
            "type": "object",
            "properties": {
                "question": {
                    "type": "string",
                    "description": "The rule asked about, e.g. 'offside' or 'tie-break'.",
                }
            },
            "required": ["question"],
            "additionalProperties": False,
        },
        lookup,
    )


def cited_rule(calls: Sequence[ToolCall]) -> Rule | None:
    """The last rule the model looked up and found, for the answer's citation."""
    for call in reversed(calls):
        result = call.result
        if call.name == "rules_lookup" and isinstance(result, dict) and result.get("found"):
            return Rule(
                str(result["sport"]),
                str(result["topic"]),
                (),
                str(result["text"]),
                str(result["source"]),
            )
    return None
