"""Step plans: how a patient tutor walks through each kind of problem, checked by the CAS.

Every plan is verified before it is returned (`verify_chain`): each state must mean the
same as the one before (same value, same solution set, same solution of the system) and
the last one must be the solution, else PlanError; so a wrong step is never spoken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from tutor.plan_base import WORD_STATES, Plan, PlanError
from tutor.plans_algebra import plan_linear, plan_polynomial, plan_quadratic
from tutor.plans_numeric import plan_numeric, plan_percentage
from tutor.plans_system3 import plan_any_system
from tutor.problems import (
    READ_ERRORS,
    Problem,
    Step,
    meaning,
    same_meaning,
    solution_text,
)
from tutor.speech import speak_math

__all__ = ["PlanError", "plan", "solution_text", "verify_chain"]


def plan(problem: Problem) -> list[Step]:
    """The verified step plan; the last step is final and states the solution."""
    try:
        drafts = _PLANNERS[problem.kind](problem).drafts
    except PlanError:
        raise
    except Exception as exc:  # untrusted input: any failure means "no verified plan"
        raise PlanError(f"cannot plan {problem.text!r}: {exc!r}") from exc
    if not drafts:
        raise PlanError(f"nothing to do for {problem.text!r}")
    steps = []
    for i, d in enumerate(drafts):
        if d.math in WORD_STATES or d.text.endswith(f"= {d.math}."):
            spoken = d.spoken  # the sentence already says the result
        elif re.search(r"[=<>]", d.text):
            spoken = f"{d.spoken} Now we have {speak_math(d.math)}."
        else:
            spoken = f"{d.spoken.rstrip('.')}: {speak_math(d.math)}."
        steps.append(Step(i, d.text, d.math, i == len(drafts) - 1, spoken, d.hint, d.move))
    if not verify_chain(problem, steps):
        raise PlanError(f"the plan for {problem.text!r} did not verify")
    return steps


def verify_chain(problem: Problem, steps: Sequence[Step]) -> bool:
    """Each state equivalent to the one before (the problem first); the last is final and
    is the solution; indices 0..n-1."""
    if not steps or [s.index for s in steps] != list(range(len(steps))):
        return False
    if not steps[-1].final or any(s.final for s in steps[:-1]):
        return False
    try:
        before = meaning(problem, problem.text)
        for step in steps:
            after = meaning(problem, step.math)
            if not same_meaning(before, after):
                return False
            before = after
        return steps[-1].math == solution_text(problem)
    except READ_ERRORS:
        return False


_PLANNERS: dict[str, Callable[[Problem], Plan]] = {
    "arithmetic": plan_numeric,
    "fraction": plan_numeric,
    "percentage": plan_percentage,
    "linear_equation": plan_linear,
    "linear_inequality": plan_linear,
    "quadratic_equation": plan_quadratic,
    "linear_system": plan_any_system,
    "simplify": plan_polynomial,
    "expand": plan_polynomial,
}
