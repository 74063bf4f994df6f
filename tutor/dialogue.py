"""The tutor on a backend that converses (`Capabilities.dialogue`): the model talks with
the student, the CAS still judges.

The model gets the Socratic tutor's instructions and three tools that run the tutor's
own code: `current_problem` (the problem read from the camera, a picture or speech, with
its CAS plan), `check_answer` (the student's words through tutor/answers.py; its
verdict is the `tutor.check` event, never the model's words) and `next_step` (the next
step of the CAS plan, sent as `tutor.step`). Reading the problem stays the OCR/CAS path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from model.dialogue import Tool

INSTRUCTIONS = (
    "You are a patient Socratic math tutor on a voice call with a student, looking at "
    "their homework with them. Speak in one to three short sentences, then ask one "
    "question. Guide, do not lecture, and never give away the whole solution unless the "
    "student asks for it.\n"
    "Call current_problem to see the problem and the steps shown so far. Before you say "
    "whether any answer or step of the student's is right or wrong, you must call "
    "check_answer with the student's words, and base your reply on its verdict and "
    "feedback, never on your own working. When the student asks for the next step or "
    "is stuck, call next_step and explain that step."
)

ProblemInfo = Callable[[], dict[str, Any]]
CheckUtterance = Callable[[str], Awaitable[dict[str, Any]]]
NextStep = Callable[[], Awaitable[dict[str, Any]]]


def instructions(mood: str | None) -> str:
    """The tutor's instructions, with how the student looks when that should change the pace."""
    if mood == "frustrated":
        return (
            f"{INSTRUCTIONS}\nThe student looks frustrated: slow down, make the next "
            "step smaller, and reassure them."
        )
    if mood == "happy":
        return f"{INSTRUCTIONS}\nThe student looks pleased: keep the pace and praise good work."
    return INSTRUCTIONS


def tools(problem: ProblemInfo, check: CheckUtterance, next_step: NextStep) -> tuple[Tool, ...]:
    async def current_problem(_: dict[str, Any]) -> dict[str, Any]:
        return problem()

    async def check_answer(arguments: dict[str, Any]) -> dict[str, Any]:
        return await check(str(arguments.get("utterance") or "").strip())

    async def show_next_step(_: dict[str, Any]) -> dict[str, Any]:
        return await next_step()

    nothing = {"type": "object", "properties": {}, "additionalProperties": False}
    return (
        Tool(
            "current_problem",
            "The problem the student is working on (as read from their page), its kind, "
            "the steps shown so far and how many are left.",
            nothing,
            current_problem,
        ),
        Tool(
            "check_answer",
            "Check the student's answer or proposed step with the computer algebra system. "
            "Returns correct (true or false), the student's math as read, and feedback to "
            "give. Call it for every answer or step before judging it.",
            {
                "type": "object",
                "properties": {
                    "utterance": {
                        "type": "string",
                        "description": "What the student said or typed, word for word.",
                    }
                },
                "required": ["utterance"],
                "additionalProperties": False,
            },
            check_answer,
        ),
        Tool(
            "next_step",
            "Reveal the next step of the solution (text, math, whether it is the final "
            "answer, and a simpler hint). Shows it to the student.",
            nothing,
            show_next_step,
        ),
    )
