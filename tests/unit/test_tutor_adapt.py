"""The tutor changes its manner with the student's expression (fakes of the real interfaces)."""

from __future__ import annotations

from model.emotion import EmotionState
from model.scenario import UserTurn
from tests.fakes import FakeModel, RecordingSink
from tutor.scenario import TutorScenario


async def _tutor_with_problem(problem: str = "solve x^2 - 5x + 6 = 0") -> TutorScenario:
    model = FakeModel()
    tutor = TutorScenario(model, model.session(), {"scenario": "tutor"})
    await tutor.respond(UserTurn("item_1", text=problem), RecordingSink())
    assert tutor.problem is not None and tutor.next_index == 1
    assert len(tutor.steps) >= 3
    return tutor


ANGRY = EmotionState("angry", 0.8, 1)


async def test_sustained_frustration_makes_the_tutor_speak_up_with_a_simpler_hint() -> None:
    tutor = await _tutor_with_problem()
    assert tutor.on_emotion(ANGRY, frustrated_s=1.0) is False  # one glance proves nothing
    assert tutor.on_emotion(ANGRY, frustrated_s=5.0) is True
    sink = RecordingSink()
    await tutor.respond(UserTurn("item_2", trigger="emotion"), sink)
    assert sink.adapts() == ["encourage"]
    spoken = " ".join(sink.said)
    assert "simpler" in spoken
    assert tutor.steps[1].hint.split(".")[0] in spoken
    # Not again right away.
    assert tutor.on_emotion(ANGRY, frustrated_s=9.0) is False


async def test_frustrated_student_gets_slower_steps_calm_one_gets_a_question() -> None:
    calm = await _tutor_with_problem()
    calm.on_emotion(EmotionState("neutral", 0.7, 1), frustrated_s=0.0)
    calm_sink = RecordingSink()
    await calm.respond(UserTurn("item_2", text="what's next?"), calm_sink)
    assert calm_sink.adapts() == []
    assert "What would you do next?" in " ".join(calm_sink.said)

    upset = await _tutor_with_problem()
    upset.on_emotion(EmotionState("sad", 0.7, 1), frustrated_s=6.0)
    upset_sink = RecordingSink()
    await upset.respond(UserTurn("item_2", text="what's next?"), upset_sink)
    assert upset_sink.adapts() == ["slow_down"]
    spoken = " ".join(upset_sink.said)
    assert "Take your time" in spoken and "What would you do next?" not in spoken
    # Same step either way: the pace changes, not the mathematics.
    steps = [p for k, p in calm_sink.events if k == "tutor.step"]
    assert steps == [p for k, p in upset_sink.events if k == "tutor.step"]


async def test_happiness_after_a_correct_answer_gets_brief_praise() -> None:
    tutor = await _tutor_with_problem()
    tutor.on_emotion(EmotionState("happy", 0.9, 1), frustrated_s=0.0)
    sink = RecordingSink()
    await tutor.respond(UserTurn("item_2", text="x equals 2 or x equals 3"), sink)
    checks = [p for k, p in sink.events if k == "tutor.check"]
    assert checks and checks[0]["correct"] is True
    assert sink.adapts() == ["praise"]
