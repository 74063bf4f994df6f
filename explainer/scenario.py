"""The sports explainer: watches the match with the fan and explains it by voice.

Watching: sampled frames (the session's `video.fps`, 2 by default, bursting to
`BURST_FPS` for a few seconds when the picture changes a lot) go through
`push_video` in a worker thread, which only compares cheap thumbnails and
keeps the newest frame. The `watch` task reads the scoreboard of the newest
frame by OCR (`session.read_text`, off the event loop), cropped to where the
scoreboard was last found, and sends `explainer.observation` for each change
of score, clock minute, period or sport.

Explaining: spoken or typed questions are answered from those observations
or from the bundled rules (explainer/rules.json), with an `explainer.answer`
event that carries the citation. On the embedded backend this is rules-based.
A backend that converses (`Capabilities.dialogue`, an omni model) is instead
given the latest sampled frames, the question, the explainer's instructions
with the observations so far, and a `rules_lookup` tool over the same rules
(explainer/dialogue.py); its `explainer.answer` follows the spoken answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from explainer import dialogue
from explainer.answers import Answer, answer
from explainer.match import MatchState, score_sentence
from explainer.rules import vocabulary
from explainer.scoreboard import SPORTS, parse_scoreboard
from model.base import OmniModel
from model.dialogue import DialogueRequest, ToolCall
from model.errors import ModelError
from model.scenario import (
    EventEmitter,
    ResponseSink,
    Scenario,
    ScenarioConfigError,
    UserTurn,
    VideoSample,
    model_answer,
    with_client,
)
from model.types import TextLine

logger = logging.getLogger(__name__)

#: Mean absolute difference (0-255) of 64 x 36 gray thumbnails that counts as a big change
#: (a cut, a replay, a goal celebration), and how fast and how long to look after one.
BURST_DIFF = 18.0
BURST_FPS = 6.0
BURST_S = 3.0
#: Crop changes smaller than this (max abs difference of a quarter-size gray crop) are noise.
CROP_CHANGED = 28.0
#: A whole-frame read at least this often, in case the scoreboard moved or another appeared.
FULL_READ_EVERY_S = 10.0
#: Even an unchanged scoreboard is re-read this often.
REREAD_EVERY_S = 5.0

#: Sampled frames sent with a question to a model that converses: the newest few, from
#: the last seconds (the sampler already keeps to the explainer's rate).
QUESTION_FRAMES = 2
QUESTION_FRAMES_S = 3.0
NOTHING_YET = "I'm watching, but I can't read a scoreboard yet."


def _thumb(rgb: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.float32]:
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return np.asarray(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), dtype=np.float32)


class ExplainerScenario(Scenario):
    name = "explainer"
    default_video_fps = 2.0
    events = ("explainer.observation", "explainer.answer")
    # Observations come every few seconds and say what the camera saw, not what was said.
    recorded_events = frozenset({"explainer.answer"})

    def __init__(self, model: OmniModel, session: Any, config: Mapping[str, Any]) -> None:
        super().__init__(model, session, config)
        self.state = MatchState()
        self._lock = threading.Lock()
        self._newest: VideoSample | None = None
        self._frames: deque[VideoSample] = deque(maxlen=QUESTION_FRAMES)
        self._previous: NDArray[np.float32] | None = None
        self._burst_until = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False
        self._region: tuple[int, int, int, int] | None = None
        self._full_read_at = -1e9
        self._read_at = -1e9
        self._read_crop: NDArray[np.float32] | None = None
        self.reads = 0

    @classmethod
    def check_config(cls, model: OmniModel, config: Mapping[str, Any]) -> None:
        caps = model.capabilities
        if not caps.speech_to_text or not caps.text_to_speech:
            raise ScenarioConfigError(
                "unsupported_backend",
                f"the explainer needs speech in and out; {model.name} lacks it",
            )
        sport = config.get("sport")
        if sport not in (None, "auto", *SPORTS):
            raise ScenarioConfigError(
                "invalid_sport", f"sport must be one of {', '.join(SPORTS)} or auto, not {sport!r}"
            )

    @property
    def sport(self) -> str | None:
        """The sport the session names; None to detect it from the scoreboard."""
        sport = self.config.get("sport")
        return sport if isinstance(sport, str) and sport in SPORTS else None

    @property
    def languages(self) -> list[str]:
        return ["en"]

    @property
    def vocabulary(self) -> str:
        return vocabulary(self.sport or self.state.sport)

    @classmethod
    def peak_video_fps(cls, fps: float) -> float:
        return max(fps, BURST_FPS) if fps > 0 else 0.0

    @property
    def video_fps(self) -> float:
        base = super().video_fps
        if base > 0 and time.monotonic() < self._burst_until:
            return max(base, BURST_FPS)
        return base

    # -- watching --------------------------------------------------------------------
    def push_video(self, sample: VideoSample) -> None:
        thumb = _thumb(sample.rgb, (64, 36))
        previous, self._previous = self._previous, thumb
        if previous is not None and float(np.abs(thumb - previous).mean()) >= BURST_DIFF:
            self._burst_until = time.monotonic() + BURST_S
        with self._lock:
            self._newest = sample  # the newest frame wins; an older unread one is dropped
            self._frames.append(sample)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing with the call
                loop.call_soon_threadsafe(wake.set)

    async def watch(self, emit: EventEmitter) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        if not self.model.capabilities.ocr:
            logger.info("explainer: %s cannot read text; not watching", self.model.name)
            return
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                sample, self._newest = self._newest, None
            if sample is None or self._closed:
                continue
            try:
                await self._look(sample, emit)
            except ModelError as exc:
                logger.warning("explainer: scoreboard reading off: %s", exc)
                return

    async def _look(self, sample: VideoSample, emit: EventEmitter) -> None:
        now = time.monotonic()
        rgb, (x0, y0) = sample.rgb, (0, 0)
        region = self._region
        if region is not None and now - self._full_read_at < FULL_READ_EVERY_S:
            x0, y0, x1, y1 = region
            rgb = sample.rgb[y0:y1, x0:x1]
            crop = _thumb(rgb, (max(8, (x1 - x0) // 4), max(4, (y1 - y0) // 4)))
            previous = self._read_crop
            if (
                self.state.settled
                and previous is not None
                and previous.shape == crop.shape
                and float(np.abs(crop - previous).max()) < CROP_CHANGED
                and now - self._read_at < REREAD_EVERY_S
            ):
                return  # the scoreboard looks the same as when it was last read
            self._read_crop = crop
        else:
            self._full_read_at = now
            self._read_crop = None
        lines: list[TextLine] = await self.session.read_text(rgb)
        self._read_at = now
        self.reads += 1
        reading = parse_scoreboard([line.text for line in lines], self.sport)
        if reading is None:
            if x0 or y0 or region is not None:
                self._region = None  # look at the whole frame next time
            return
        boxes = [lines[i].box for i in reading.line_indices]
        self._region = _expand(boxes, x0, y0, sample.rgb.shape[1], sample.rgb.shape[0])
        for observation in self.state.push(reading.board, sample.timestamp_s):
            logger.info("explainer: %s", observation.text)
            emit("explainer.observation", observation.as_event())

    # -- explaining ------------------------------------------------------------------
    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        transcript = await self.hear(turn, out)
        question = transcript.text if transcript is not None else (turn.text or "")
        if not question.strip():
            if turn.audio is None:  # response.create with nothing typed: what it sees now
                board = self.state.board
                text = f"The score is {score_sentence(board)}." if board else NOTHING_YET
                await self._say(out, text)
            return
        if self.model.capabilities.dialogue:
            await self._converse(question.strip(), turn, out)
            return
        reply = answer(question.strip(), self.state, self.sport)
        out.event("explainer.answer", reply.as_event(self.sport or self.state.sport))
        await self._say(out, reply.text)

    async def _say(self, out: ResponseSink, text: str) -> None:
        await out.say(text, "en")

    async def _converse(self, question: str, turn: UserTurn, out: ResponseSink) -> None:
        """The model answers from the frames and the observations; rules via its tool."""
        with self._lock:
            frames = list(self._frames)
        newest = frames[-1].timestamp_s if frames else 0.0
        images = tuple(f.rgb for f in frames if newest - f.timestamp_s <= QUESTION_FRAMES_S)
        request = DialogueRequest(
            dialogue.instructions(self.state, self.sport),
            text=question,
            audio=turn.audio,
            images=images,
            tools=(dialogue.rules_tool(self.state, self.sport),),
            language="en",
        )
        words: list[str] = []
        calls: list[ToolCall] = []
        await model_answer(self.session, with_client(request, turn), out, words, calls)
        rule = dialogue.cited_rule(calls)
        text = "".join(words).strip()
        reply = (
            Answer(question, text, "rules", rule.source, rule.topic)
            if rule is not None
            else Answer(question, text, "observation")
        )
        out.event("explainer.answer", reply.as_event(self.sport or self.state.sport))

    async def aclose(self) -> None:
        self._closed = True
        if self._wake is not None:
            self._wake.set()


def _expand(
    boxes: list[tuple[int, int, int, int]], dx: int, dy: int, width: int, height: int
) -> tuple[int, int, int, int]:
    """The scoreboard's lines, in frame coordinates, with room for longer names and digits."""
    x0 = min(b[0] for b in boxes) + dx
    y0 = min(b[1] for b in boxes) + dy
    x1 = max(b[2] for b in boxes) + dx
    y1 = max(b[3] for b in boxes) + dy
    pad_x, pad_y = max(24, (x1 - x0) // 3), max(16, (y1 - y0) // 2)
    return (max(0, x0 - pad_x), max(0, y0 - pad_y), min(width, x1 + pad_x), min(height, y1 + pad_y))
