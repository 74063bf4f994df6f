"""The math tutor: reads the problem from the camera and coaches step by step by voice.

Socratic by default: one CAS-checked step at a time, then a question. The
student's answers are checked with sympy; "I don't get it" gets a simpler
explanation, "just show me" the whole solution. On a backend that converses
(`Capabilities.dialogue`) the model talks with the student about the problem,
with the CAS as its tools (tutor/dialogue.py); reading the problem is the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.base import OmniModel
from model.dialogue import DialogueRequest
from model.emotion import FRUSTRATED, EmotionState
from model.image import decode_image
from model.scenario import (
    ResponseSink,
    Scenario,
    ScenarioConfigError,
    UserTurn,
    VideoSample,
    model_answer,
    with_client,
)
from tutor import dialogue
from tutor.answers import Check, check_answer
from tutor.corrections import Pick, judge_reply, named_problem
from tutor.intents import classify
from tutor.mathread import parse_problem, problem_from_speech
from tutor.problems import Problem, Step
from tutor.reading import PageReading, Reading, read_page
from tutor.speech import speak_math
from tutor.steps import PlanError, plan
from tutor.vision import StillnessTracker, different_page, page_signature, sharpness

logger = logging.getLogger(__name__)

#: Frames older than this are not trusted to show what is in front of the camera now.
MAX_FRAME_AGE_S = 3.0

#: Frustration must last this long, and be this clear, before the tutor changes its pace:
#: the expression model is weak on sad vs neutral, so one glance proves nothing.
FRUSTRATION_S = 4.0
FRUSTRATION_SCORE = 0.5
#: After adapting, give the student time before adapting again.
ADAPT_COOLDOWN_S = 20.0

HOLD_CLOSER = (
    "I can't read the problem yet. Hold the page a little closer and keep it steady, "
    "then say help me again."
)
NO_PROBLEM = "Point your camera at the problem and say: help me with this."
HANDWRITTEN = (
    "This page looks handwritten, and I can't read handwriting reliably. "
    "Please read the problem out loud to me, for example: two x plus three equals eleven."
)
#: Why a reading is unsure, in words, by the kind of its strongest doubt.
DOUBT_WORDS = {
    "bar": "I'm not sure whether a line is a fraction bar or a minus sign.",
    "exponent": "I'm not sure about a small raised mark.",
    "repair": "Some of the print is unclear.",
    "stray": "There is a mark beside it that I left out.",
}


@dataclasses.dataclass
class _Frame:
    sample: VideoSample
    sharpness: float


class TutorScenario(Scenario):
    name = "tutor"
    default_video_fps = 1.0
    emotion_by_default = True
    events = ("tutor.problem", "tutor.step", "tutor.check", "tutor.adapt")
    recorded_events = frozenset(events)

    def __init__(self, model: OmniModel, session: Any, config: Mapping[str, Any]) -> None:
        super().__init__(model, session, config)
        self.problem: Problem | None = None
        self.steps: list[Step] = []
        self.next_index = 0
        self._recent: list[_Frame] = []
        self._stillness = StillnessTracker(hold_s=1.0)
        self._problem_signature: NDArray[np.float32] | None = None
        self._page_changed = False
        self._last_said = ""
        # A reading the tutor was unsure of and asked about; the next turn answers it.
        self._pending: Reading | None = None
        # The last sheet of several problems read, and the problems finished so far.
        self._sheet: PageReading | None = None
        self._done: set[str] = set()
        self.emotion: EmotionState | None = None
        self._frustrated_s = 0.0
        self._last_adapted = -1e9

    @classmethod
    def check_config(cls, model: OmniModel, config: Mapping[str, Any]) -> None:
        caps = model.capabilities
        if not caps.speech_to_text or not caps.text_to_speech:
            raise ScenarioConfigError(
                "unsupported_backend", f"the tutor needs speech in and out; {model.name} lacks it"
            )

    @property
    def languages(self) -> list[str]:
        return ["en"]

    # -- camera ----------------------------------------------------------------------
    def push_video(self, sample: VideoSample) -> None:
        now = sample.timestamp_s
        kept = [f for f in self._recent if now - f.sample.timestamp_s <= MAX_FRAME_AGE_S]
        # This runs in a worker thread while the event loop reads `_recent`: the list is
        # built whole and swapped in, never changed in place.
        self._recent = [*kept, _Frame(sample, sharpness(sample.rgb))]
        still = self._stillness.push(sample.rgb, now)
        if (
            still
            and self._problem_signature is not None
            and different_page(self._problem_signature, page_signature(sample.rgb))
        ):
            self._page_changed = True

    # -- the student's face ------------------------------------------------------------
    def on_emotion(self, state: EmotionState, frustrated_s: float) -> bool:
        self.emotion = state
        self._frustrated_s = frustrated_s
        # Speak up unprompted only mid-problem, and not again right after doing so.
        return (
            self.frustrated
            and self.problem is not None
            and self.next_index < len(self.steps)
            and time.monotonic() - self._last_adapted > ADAPT_COOLDOWN_S
        )

    @property
    def frustrated(self) -> bool:
        state = self.emotion
        return (
            state is not None
            and state.label in FRUSTRATED
            and state.score >= FRUSTRATION_SCORE
            and self._frustrated_s >= FRUSTRATION_S
        )

    def _adapt(self, out: ResponseSink, action: str) -> None:
        """Tell the client how and why the tutor changed its manner (the event shows it)."""
        self._last_adapted = time.monotonic()
        label = self.emotion.label if self.emotion is not None else "none"
        out.event("tutor.adapt", {"emotion": label, "action": action})

    def _best_frame(self) -> VideoSample | None:
        if not self._recent:
            return None
        # The sharpest of the last few seconds: motion blur is the OCR's worst enemy.
        return max(self._recent, key=lambda f: f.sharpness).sample

    # -- turns -----------------------------------------------------------------------
    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        if turn.trigger == "emotion":
            await self._encourage(out)
            return
        transcript = await self.hear(turn, out)
        text = transcript.text if transcript is not None else (turn.text or "")
        if turn.images:
            page = await self._read_image_bytes(turn.images[-1])
            await self._take_page(page, out, named_problem(text))
            return
        if not text.strip():
            if turn.audio is None:
                # response.create with nothing typed: read the camera now.
                await self._read_camera(out)
            return
        if self._pending is not None and await self._answer_pending(text, out):
            return
        intent = classify(text)
        # "Number three" or "the second one" picks a problem of a sheet; "I think the
        # first one is zero" is an answer about the current one.
        pick = named_problem(text) if intent != "answer" else None
        if pick is not None:
            await self._pick_problem(pick, out)
            return
        logger.debug("tutor intent %s for %r", intent, text)
        # A page that looks different may hold a new problem, or the same one from a new
        # angle; only the text can tell, so it is read before answering.
        if (
            self._page_changed
            and intent in ("next_step", "answer", "other")
            and await self._new_problem_on_camera(out)
        ):
            return
        if intent == "new_problem":
            problem = await asyncio.to_thread(_typed_or_spoken_problem, text)
            if problem is not None:
                await self._start_problem(problem, out)
                return
            intent = "read_camera"
        if intent == "read_camera" or (self.problem is None and intent in ("next_step", "other")):
            await self._read_camera(out)
        elif self.problem is None:
            await self._say(out, NO_PROBLEM)
        elif intent != "show_all" and self.model.capabilities.dialogue:
            await self._converse(text, turn, out)
        elif intent == "next_step":
            await self._next_step(out)
        elif intent == "confused":
            await self._explain_again(out)
        elif intent == "show_all":
            await self._show_all(out)
        elif intent == "repeat":
            await self._say(out, self._last_said or NO_PROBLEM)
        else:
            await self._check(text, out)

    async def _read_camera(self, out: ResponseSink, pick: Pick | None = None) -> None:
        frame = self._best_frame()
        if frame is None:
            await self._say(
                out, "I can't see the camera. Point it at your homework and say help me again."
            )
            return
        page = await self._read_rgb(frame.rgb, source="camera")
        if page.problems:
            self._problem_signature = await asyncio.to_thread(page_signature, frame.rgb)
            self._page_changed = False
        await self._take_page(page, out, pick)

    async def _take_page(self, page: PageReading, out: ResponseSink, pick: Pick | None) -> None:
        """Start on what a photo shows: the one problem, or on a sheet the one the student
        named (else the first not done yet), after saying how many there are."""
        if page.handwritten:
            await self._say(out, HANDWRITTEN)
            return
        if not page.problems:
            await self._say(out, HOLD_CLOSER)
            return
        lead = ""
        if page.is_sheet:
            self._sheet = page
            lead = f"I see {page.count} problems on this page. "
        chosen = self._choose(page, pick)
        if chosen is None:
            numbers = ", ".join(r.number or "?" for r in page.problems)
            await self._say(out, f"{lead}I can read problems {numbers}. Which one shall we do?")
            return
        if page.is_sheet and chosen.number:
            lead += f"Let's do number {chosen.number}. "
        await self._offer(chosen, out, lead)

    def _choose(self, page: PageReading, pick: Pick | None) -> Reading | None:
        problems = page.problems
        if pick is not None and pick.number is not None:
            return page.numbered(pick.number)
        if pick is not None and pick.position is not None:
            numbers = [*(r.number for r in problems), *page.unread]
            if page.is_sheet and all(n is not None and n.isdigit() for n in numbers):
                # "the second one" on a sheet numbered 1., 2., 3.: its number.
                ordered = sorted(problems, key=lambda r: int(r.number or 0))
            else:
                ordered = list(problems)
            k = pick.position - 1 if pick.position > 0 else len(ordered) - 1
            return ordered[k] if 0 <= k < len(ordered) else None
        fresh = [r for r in problems if r.problem.text not in self._done]
        return fresh[0] if fresh else problems[0]

    async def _pick_problem(self, pick: Pick, out: ResponseSink) -> None:
        """ "Number three": from the sheet already read if the page has not moved."""
        if self._sheet is not None and not self._page_changed:
            await self._take_page(self._sheet, out, pick)
        else:
            await self._read_camera(out, pick)

    async def _offer(self, reading: Reading, out: ResponseSink, lead: str = "") -> None:
        """Solve a sure reading; say an unsure one and ask before solving it."""
        if reading.certain:
            await self._start_problem(reading.problem, out, reading=reading, lead=lead)
            return
        self._pending = reading
        out.event("tutor.problem", self._problem_event(reading))
        doubt = max(reading.doubts, key=lambda d: d.weight, default=None)
        why = DOUBT_WORDS.get(doubt.kind, "Part of it is hard to read.") if doubt else ""
        question = f"{lead}I read {speak_math(reading.problem.text)}. {why} Is that right?"
        await self._say(out, " ".join(question.split()))

    async def _answer_pending(self, text: str, out: ResponseSink) -> bool:
        """The student's yes, no or fix for the reading the tutor asked about; False when
        the turn is about something else (the reading is then dropped)."""
        pending = self._pending
        assert pending is not None
        reply = await asyncio.to_thread(judge_reply, text, pending.problem, pending.alternatives)
        if reply.verdict in ("yes", "fixed") and reply.problem is not None:
            self._pending = None
            sure = dataclasses.replace(
                pending, problem=reply.problem, confidence=1.0, alternatives=()
            )
            lead = "Great. " if reply.verdict == "yes" else "Thanks, I've fixed it. "
            await self._start_problem(reply.problem, out, reading=sure, lead=lead)
            return True
        if reply.verdict == "no":
            if pending.alternatives:
                other, *rest = pending.alternatives
                self._pending = dataclasses.replace(
                    pending, problem=other, alternatives=(*rest, pending.problem)
                )
                await self._say(out, f"Is it {speak_math(other.text)} then?")
            else:
                await self._say(
                    out,
                    "Then tell me what to fix, for example: the bottom is four, or read me "
                    "the whole problem.",
                )
            return True
        self._pending = None
        return False

    async def _new_problem_on_camera(self, out: ResponseSink) -> bool:
        """Start the problem now on camera if it is not the current one; True if started."""
        self._page_changed = False
        frame = self._best_frame()
        if frame is None:
            return False
        page = await self._read_rgb(frame.rgb, source="camera")
        self._problem_signature = await asyncio.to_thread(page_signature, frame.rgb)
        known = self.problem.text if self.problem is not None else None
        if not page.problems or any(r.problem.text == known for r in page.problems):
            return False
        await self._take_page(page, out, None)
        return True

    async def _read_rgb(self, rgb: NDArray[np.uint8], source: str) -> PageReading:
        started = time.perf_counter()
        # The layout reader's OpenCV and sympy work runs in worker threads, and the
        # session's read_text off the loop: nothing here stalls the calls' audio.
        page = await read_page(
            rgb, self.session.read_text, vision=self.model.capabilities.vision, source=source
        )
        logger.info(
            "tutor read %r -> %s in %.0f ms",
            list(page.lines),
            [(r.number, r.problem.text, r.confidence) for r in page.problems]
            or ("handwritten" if page.handwritten else None),
            1000 * (time.perf_counter() - started),
        )
        return page

    async def _read_image_bytes(self, data: bytes) -> PageReading:
        rgb = await asyncio.to_thread(decode_image, data)
        if rgb is None:
            return PageReading()
        return await self._read_rgb(rgb, source="image")

    def _problem_event(self, reading: Reading) -> dict[str, object]:
        """`tutor.problem`: the reading with its confidence and alternatives, and where
        it sits on a sheet of several problems."""
        event = reading.as_event()
        sheet = self._sheet
        if reading.number is not None and sheet is not None and sheet.numbered(reading.number):
            event["sheet"] = {"number": reading.number, "count": sheet.count}
        return event

    async def _start_problem(
        self, problem: Problem, out: ResponseSink, *, reading: Reading | None = None, lead: str = ""
    ) -> None:
        self._pending = None
        event = self._problem_event(reading if reading is not None else Reading(problem))
        try:
            steps = await asyncio.to_thread(plan, problem)
        except PlanError as exc:
            logger.info("tutor cannot plan %s: %s", problem.text, exc)
            out.event("tutor.problem", event)
            await self._say(
                out,
                f"{lead}I read {speak_math(problem.text)}, but I can't solve that kind of "
                "problem yet.",
            )
            return
        self.problem, self.steps, self.next_index = problem, steps, 0
        out.event("tutor.problem", event)
        intro = f"{lead}I see: {speak_math(problem.text)}. Let's work through it together."
        await self._say(out, intro)
        await self._next_step(out)

    async def _next_step(self, out: ResponseSink) -> None:
        if self.next_index >= len(self.steps):
            await self._say(
                out, "We're done with this one. Show me another problem whenever you like."
            )
            return
        step = self.steps[self.next_index]
        self.next_index += 1
        out.event("tutor.step", step.as_event())
        if self.frustrated and not step.final:
            # Slower: the step, then the simpler explanation, then reassurance instead of a quiz.
            self._adapt(out, "slow_down")
            await self._say(
                out, f"{step.spoken} In other words: {step.hint} Take your time, you're doing fine."
            )
        elif step.final:
            self._finished()
            await self._say(out, f"{step.spoken} Well done, that's the answer.")
        else:
            await self._say(out, f"{step.spoken} What would you do next?")

    async def _encourage(self, out: ResponseSink) -> None:
        if self.problem is None or self.next_index >= len(self.steps):
            return
        self._adapt(out, "encourage")
        hint = self.steps[self.next_index].hint
        await self._say(
            out,
            f"This one is tricky, and that's okay. Let's make it simpler. {hint} "
            "Try just that part, and tell me what you get.",
        )

    async def _explain_again(self, out: ResponseSink) -> None:
        index = max(0, self.next_index - 1)
        step = self.steps[index]
        await self._say(out, f"No problem, let's slow down. {step.hint}")

    async def _show_all(self, out: ResponseSink) -> None:
        remaining = self.steps[self.next_index :]
        if not remaining:
            await self._say(out, "We've already finished this one.")
            return
        self._finished()
        for step in remaining:
            out.event("tutor.step", step.as_event())
            self.next_index += 1
            await self._say(out, step.spoken)

    async def _check(self, text: str, out: ResponseSink) -> None:
        assert self.problem is not None
        check = await asyncio.to_thread(
            check_answer, self.problem, self.steps, self.next_index, text
        )
        if check is None:
            await self._say(out, "Tell me your answer, or say next step, or I don't get it.")
            return
        out.event("tutor.check", check.as_event())
        feedback = check.feedback
        if check.correct and self.emotion is not None and self.emotion.label == "happy":
            self._adapt(out, "praise")
            feedback = f"Yes! You've got it. {feedback}"
        elif not check.correct and self.frustrated:
            self._adapt(out, "encourage")
            feedback = f"{feedback} Don't worry, mistakes are how we learn."
        self._advance(check)
        await self._say(out, feedback)

    def _advance(self, check: Check) -> None:
        """A right next move or the right final answer moves the lesson on."""
        if check.correct and self.next_index < len(self.steps):
            if check.student and self.steps[-1].math.replace(" ", "") == check.student.replace(
                " ", ""
            ):
                self.next_index = len(self.steps)
            else:
                self.next_index += 1
            if self.next_index >= len(self.steps):
                self._finished()

    def _finished(self) -> None:
        """The current problem is done: on a sheet, the next one comes up by default."""
        if self.problem is not None:
            self._done.add(self.problem.text)

    # -- on a backend that converses -----------------------------------------------------
    async def _converse(self, text: str, turn: UserTurn, out: ResponseSink) -> None:
        """The model answers the turn; the tools it calls are the tutor's own CAS code."""
        mood = "frustrated" if self.frustrated else None
        if mood is None and self.emotion is not None and self.emotion.label == "happy":
            mood = "happy"

        async def check(utterance: str) -> dict[str, Any]:
            return await self._check_for_model(utterance, out)

        async def next_step() -> dict[str, Any]:
            return self._step_for_model(out)

        request = DialogueRequest(
            dialogue.instructions(mood),
            text=text,
            audio=turn.audio,
            tools=dialogue.tools(self._problem_for_model, check, next_step),
            language="en",
        )
        words: list[str] = []
        await model_answer(self.session, with_client(request, turn), out, words)
        self._last_said = "".join(words).strip() or self._last_said

    def _problem_for_model(self) -> dict[str, Any]:
        if self.problem is None:
            return {"problem": None}
        return {
            **self.problem.as_event(),
            "steps_shown": [s.as_event() for s in self.steps[: self.next_index]],
            "steps_left": len(self.steps) - self.next_index,
        }

    async def _check_for_model(self, utterance: str, out: ResponseSink) -> dict[str, Any]:
        """`check_answer`: the CAS's verdict, sent to the client as `tutor.check`."""
        if self.problem is None:
            return {"checked": False, "feedback": "There is no problem yet."}
        check = await asyncio.to_thread(
            check_answer, self.problem, self.steps, self.next_index, utterance
        )
        if check is None:
            return {
                "checked": False,
                "feedback": "That is not an answer or a step; ask the student for their answer.",
            }
        out.event("tutor.check", check.as_event())
        self._advance(check)
        return {"checked": True, **check.as_event()}

    def _step_for_model(self, out: ResponseSink) -> dict[str, Any]:
        """`next_step`: the CAS plan's next step, sent to the client as `tutor.step`."""
        if self.next_index >= len(self.steps):
            return {"done": True, "steps_left": 0}
        step = self.steps[self.next_index]
        self.next_index += 1
        out.event("tutor.step", step.as_event())
        return {
            **step.as_event(),
            "hint": step.hint,
            "steps_left": len(self.steps) - step.index - 1,
        }

    async def _say(self, out: ResponseSink, text: str) -> None:
        self._last_said = text
        await out.say(text, "en")


def _typed_or_spoken_problem(text: str) -> Problem | None:
    return parse_problem(text, source="text") or problem_from_speech(text)
