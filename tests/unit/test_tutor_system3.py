"""Three equations in three unknowns (tutor/plans_system3.py): read as one system and
walked through by elimination, every state checked by the CAS against the one before."""

from __future__ import annotations

import random

import pytest

from tests.imagegen_homework import system_three
from tutor.mathread import parse_problem
from tutor.problems import solution_text
from tutor.steps import plan, verify_chain


def test_a_three_line_system_is_read_as_one_problem() -> None:
    problem = parse_problem("x + y + z = 6; x - y = 1; y + z = 5")
    assert problem is not None and problem.kind == "linear_system"
    assert problem.text == "x + y + z = 6; x - y = 1; y + z = 5"
    assert problem.latex.startswith("\\begin{cases}")
    # Three equations with no single solution are not a problem to walk through.
    assert parse_problem("x + y + z = 6; 2*x + 2*y + 2*z = 12; x - y = 1") is None


@pytest.mark.parametrize("seed", range(5))
def test_every_plan_verifies_and_ends_at_the_solution(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(8):
        plain, _lines = system_three(rng)
        problem = parse_problem(plain)
        assert problem is not None, plain
        steps = plan(problem)
        assert verify_chain(problem, steps)
        assert steps[-1].final and steps[-1].math == solution_text(problem)
        assert steps[-1].math.count(";") == 2  # x = ..; y = ..; z = ..


def test_the_steps_are_the_ones_taught() -> None:
    problem = parse_problem("x + y + z = 6; x - y = 1; y + z = 5")
    assert problem is not None
    steps = plan(problem)
    assert steps[0].text.startswith("To get rid of z")
    assert any(s.text.startswith("Put ") for s in steps)
    assert steps[-1].math == "x = 1; y = 0; z = 5"
    assert "Well" not in steps[-1].spoken  # the scenario adds the praise
