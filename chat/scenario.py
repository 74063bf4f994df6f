"""`chat`: a general assistant on a video call, steered by the app developer.

It hears the user (a model that hears takes the audio itself), sees the camera (the
newest frames at the scenario's rate go with each turn, as the explainer's do, and any
picture sent with the turn), remembers the conversation, and answers in words or voice
through the model. The app developer's instructions and function tools (run by the
client) shape it; it has none of its own beyond a short brief. It needs a backend that
converses: the embedded backend, which has no language model, refuses it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.base import OmniModel
from model.dialogue import DialogueRequest, ToolOutput
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

BRIEF = (
    "You are a helpful assistant on a live video call. You hear the user and see what "
    "their camera shows. Answer briefly, in one to three sentences, in the language the "
    "user speaks, and say what you see when it helps."
)
#: Camera frames that go with a turn: the newest few, from the last seconds.
FRAMES = 2
FRAME_AGE_S = 3.0
#: Backends that converse, for the message to a server that has none.
CONVERSING = "transformers or remote"


class ChatScenario(Scenario):
    name = "chat"
    default_video_fps = 1.0

    def __init__(self, model: OmniModel, session: Any, config: Mapping[str, Any]) -> None:
        super().__init__(model, session, config)
        self._lock = threading.Lock()
        self._frames: deque[VideoSample] = deque(maxlen=FRAMES)

    @classmethod
    def check_config(cls, model: OmniModel, config: Mapping[str, Any]) -> None:
        if not model.capabilities.dialogue:
            raise ScenarioConfigError(
                "scenario_unavailable",
                f"the chat scenario needs a backend that converses ({CONVERSING}); "
                f"this server runs the {model.name} backend, which has no language model",
            )

    @property
    def languages(self) -> list[str]:
        languages = self.config.get("languages")
        return list(languages) if isinstance(languages, list) else []

    def push_video(self, sample: VideoSample) -> None:
        with self._lock:  # a worker thread puts, the event loop takes
            self._frames.append(sample)

    def _recent_frames(self) -> tuple[NDArray[np.uint8], ...]:
        with self._lock:
            frames = list(self._frames)
        newest = frames[-1].timestamp_s if frames else 0.0
        return tuple(f.rgb for f in frames if newest - f.timestamp_s <= FRAME_AGE_S)

    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        transcript = await self.hear(turn, out)
        if transcript is not None:
            text, language = transcript.text, transcript.language or "en"
        else:
            text, language = (turn.text or "").strip(), "en"
        pictures = tuple(p for p in map(decode_image, turn.images) if p is not None)
        if not (text or pictures or turn.tool_outputs) and turn.trigger == "user":
            return  # nothing said, shown or returned: nothing to answer
        answered = {o.call_id for o in turn.tool_outputs}
        history = tuple(
            entry
            for entry in self.session.conversation.history(before=turn.item_id)
            if not (isinstance(entry, ToolOutput) and entry.call_id in answered)
        )
        request = DialogueRequest(
            BRIEF,
            text=text,
            audio=turn.audio,
            images=self._recent_frames() + pictures,
            language=language,
            history=history,
        )
        await model_answer(self.session, with_client(request, turn), out)
