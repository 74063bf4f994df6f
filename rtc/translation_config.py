"""The session of a translation session (`type: "translation"`): its JSON and what is read
off it.

OpenAI's translation sessions have three fields a client may change (`session.update`):
`audio.output.language` (the language everything is rendered into),
`audio.input.transcription` (set: the source transcript is sent too) and
`audio.input.noise_reduction`; `type` and `model` are fixed at creation. As with the
realtime session, the JSON is deep-merged, checked whole, and echoed back whole (unknown
fields included); a refused update changes nothing.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.base import OmniModel
from rtc.conversation.session_config import merge
from rtc.errors import InvalidEvent
from rtc.events import new_id

#: Audio in and out of a translation session (OpenAI's: base64 PCM16, mono, 24 kHz).
WIRE_RATE = 24_000
NOISE_REDUCTION_TYPES = ("near_field", "far_field")


@dataclass(frozen=True)
class NoiseReduction:
    """`audio.input.noise_reduction`: stored and handed to the input filter (rtc/input_filter.py)."""

    kind: str
    """near_field (a headset, a phone at the ear) or far_field (a laptop, a room)."""
    strength: float
    """0..1; 1 when first enabled."""


@dataclass(frozen=True)
class TranslationConfig:
    data: Mapping[str, Any]
    target: str
    """`audio.output.language`: what every heard language is rendered into."""
    sources: tuple[str, ...]
    """The languages listened for: those the backend can render into `target`, and it."""
    transcription: bool
    """`audio.input.transcription` is set: send `session.input_transcript.delta` too."""
    noise_reduction: NoiseReduction | None

    def as_json(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.data))


class TranslationRules:
    """Makes and changes translation session configs for one server's model."""

    def __init__(self, model: OmniModel, max_session_s: float) -> None:
        self.model = model
        self.max_session_s = max_session_s

    @property
    def targets(self) -> list[str]:
        """Languages a session can render into: spoken, and translated into from another."""
        caps = self.model.capabilities
        return sorted({t for s, t in caps.translation_pairs if s != t} & set(caps.spoken_languages))

    def sources(self, target: str) -> tuple[str, ...]:
        caps = self.model.capabilities
        heard = {s for s, t in caps.translation_pairs if t == target}
        return tuple(sorted(heard | {target}))

    def default_json(self, model: str | None) -> dict[str, Any]:
        targets = self.targets
        language = "en" if "en" in targets or not targets else targets[0]
        expires = int(time.time() + self.max_session_s) if self.max_session_s > 0 else 0
        return {
            "type": "translation",
            "id": new_id("sess"),
            "model": model or f"omnilive-{self.model.name}",
            "expires_at": expires,
            "audio": {
                "input": {"transcription": None, "noise_reduction": None},
                "output": {"language": language},
            },
        }

    def open(self, model: str | None, update: Any = None) -> TranslationConfig:
        """A new session (with what a client secret or the client asks for). InvalidEvent
        if it is not usable."""
        base = self.default_json(model)
        config = self.read(base)
        return self.update(config, update) if update else config

    def update(self, current: TranslationConfig, update: Any) -> TranslationConfig:
        """`session.update`: all of it, or nothing (InvalidEvent)."""
        if not isinstance(update, Mapping):
            raise InvalidEvent("invalid_session", "session must be a JSON object")
        if update.get("type", "translation") != "translation":
            raise InvalidEvent(
                "invalid_session", "a translation session's type is 'translation' and stays so"
            )
        if "model" in update and update["model"] != current.data.get("model"):
            raise InvalidEvent(
                "invalid_session", "the model of a translation session is set when it opens"
            )
        changed = dict(update)
        changed.pop("id", None)
        changed.pop("expires_at", None)
        audio = changed.get("audio")
        if isinstance(audio, Mapping) and isinstance(audio.get("input"), Mapping):
            noise = audio["input"].get("noise_reduction")
            if isinstance(noise, Mapping) and "strength" not in noise:
                # Omitting strength keeps the current one (1 when first enabled), as OpenAI.
                was = current.noise_reduction
                strength = was.strength if was is not None else 1.0
                audio = {
                    **audio,
                    "input": {**audio["input"], "noise_reduction": {**noise, "strength": strength}},
                }
                changed["audio"] = audio
        return self.read(merge(current.data, changed))

    def read(self, data: Mapping[str, Any]) -> TranslationConfig:
        audio = _object(data.get("audio"), "session.audio")
        given_in = audio.get("input")
        given_out = audio.get("output")
        audio_in = _object(given_in, "session.audio.input") if given_in is not None else {}
        audio_out = _object(given_out, "session.audio.output") if given_out is not None else {}
        target = audio_out.get("language")
        if not isinstance(target, str) or not target:
            raise InvalidEvent(
                "invalid_session", "session.audio.output.language must be a language code"
            )
        target = target.lower()
        if target not in self.targets:
            can = ", ".join(self.targets) or "none"
            raise InvalidEvent(
                "unsupported_language",
                f"the {self.model.name} backend cannot translate into {target!r}; it can: {can}",
            )
        transcription = audio_in.get("transcription")
        if transcription is not None:
            transcription = _object(transcription, "session.audio.input.transcription")
            model = transcription.get("model")
            if model is not None and not isinstance(model, str):
                raise InvalidEvent(
                    "invalid_session", "session.audio.input.transcription.model must be a string"
                )
        return TranslationConfig(
            data=dict(data),
            target=target,
            sources=self.sources(target),
            transcription=transcription is not None,
            noise_reduction=_noise_reduction(audio_in.get("noise_reduction")),
        )


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidEvent("invalid_session", f"{where} must be an object")
    return value


def _noise_reduction(value: Any) -> NoiseReduction | None:
    if value is None:
        return None
    given = _object(value, "session.audio.input.noise_reduction")
    kind = given.get("type")
    if kind not in NOISE_REDUCTION_TYPES:
        raise InvalidEvent(
            "invalid_session",
            "session.audio.input.noise_reduction.type must be 'near_field' or 'far_field'",
        )
    strength = given.get("strength", 1.0)
    if (
        isinstance(strength, bool)
        or not isinstance(strength, int | float)
        or not 0 <= strength <= 1
    ):
        raise InvalidEvent(
            "invalid_session",
            "session.audio.input.noise_reduction.strength must be a number from 0 to 1",
        )
    return NoiseReduction(str(kind), float(strength))
