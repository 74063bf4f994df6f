"""The `session` object: defaults, merging `session.update`, and validation."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rtc.errors import InvalidEvent
from rtc.events import new_id
from rtc.turns import TurnSettings

SCENARIOS = ("tutor", "interpreter", "explainer", "chat")
DEFAULT_SCENARIO = "tutor"
DEFAULT_VIDEO_FPS = {"tutor": 1.0, "interpreter": 0.0, "explainer": 2.0, "chat": 1.0}
MAX_VIDEO_FPS = 15.0
#: Emotion reading is on by default where the scenario adapts to it.
DEFAULT_EMOTION = {"tutor": True, "interpreter": False, "explainer": False, "chat": False}

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "interrupt_response": True,
    "create_response": True,
    "idle_timeout_ms": None,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "interrupt_response": True,
    "create_response": True,
}
TURN_DETECTION_DEFAULTS = {"server_vad": SERVER_VAD_DEFAULTS, "semantic_vad": SEMANTIC_VAD_DEFAULTS}
#: The default answers fast: finished sentences end the turn after a short silence.
DEFAULT_TURN_DETECTION = SEMANTIC_VAD_DEFAULTS


@dataclass(frozen=True)
class Eagerness:
    """What `semantic_vad` eagerness means here, in silence after the last word."""

    finished_ms: int
    """Silence that ends a turn whose words sound finished."""
    unsure_ms: int
    """Silence that ends a turn whose words may be finished (a bare "yes", "x equals 5")."""
    unfinished_ms: int
    """Silence that ends a turn whose words do not (or are not known yet)."""
    speculate_ms: int
    """Silence after which the turn is transcribed, to know how its words end."""
    quiet_ratio: float | None = 0.03
    """Or once the level has dropped this far below the turn's loudest (about -30 dB) for
    64 ms, before the VAD calls it silence (TurnSettings.quiet_ratio); None: the VAD only."""


EAGERNESS = {
    "high": Eagerness(finished_ms=64, unsure_ms=250, unfinished_ms=400, speculate_ms=32),
    "medium": Eagerness(finished_ms=128, unsure_ms=400, unfinished_ms=800, speculate_ms=32),
    "auto": Eagerness(finished_ms=128, unsure_ms=400, unfinished_ms=800, speculate_ms=32),
    "low": Eagerness(
        finished_ms=320, unsure_ms=800, unfinished_ms=1600, speculate_ms=96, quiet_ratio=None
    ),
}


def default_session(model_name: str) -> dict[str, Any]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": f"omnilive-{model_name}",
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "noise_reduction": None,
                "transcription": None,
                "turn_detection": dict(DEFAULT_TURN_DETECTION),
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "alloy",
                "speed": 1.0,
            },
        },
        "scenario": DEFAULT_SCENARIO,
        "languages": ["en", "es"],
        "video": {"fps": DEFAULT_VIDEO_FPS[DEFAULT_SCENARIO]},
        "emotion": {"enabled": DEFAULT_EMOTION[DEFAULT_SCENARIO]},
    }


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge objects; anything else (lists, null, scalars) replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_update(current: Mapping[str, Any], update: Any) -> dict[str, Any]:
    """Return the new session, or raise InvalidEvent with a precise reason."""
    if not isinstance(update, Mapping):
        raise InvalidEvent("invalid_session", "session must be a JSON object")
    update = dict(update)
    for fixed in ("id", "object"):
        update.pop(fixed, None)
    audio = update.get("audio")
    if audio is not None and not isinstance(audio, Mapping):
        raise InvalidEvent("invalid_session", "session.audio must be an object")
    new = merge(current, update)
    # A new scenario brings its own video rate unless the update sets one.
    if "scenario" in update and "video" not in update and new.get("scenario") in DEFAULT_VIDEO_FPS:
        new["video"] = {**(new.get("video") or {}), "fps": DEFAULT_VIDEO_FPS[new["scenario"]]}
    if "scenario" in update and "emotion" not in update and new.get("scenario") in DEFAULT_EMOTION:
        new["emotion"] = {"enabled": DEFAULT_EMOTION[new["scenario"]]}
    turn = (new.get("audio") or {}).get("input", {}).get("turn_detection")
    asked = ((update.get("audio") or {}).get("input") or {}).get("turn_detection")
    if isinstance(asked, Mapping) and "type" in asked:
        turn = asked  # a new type starts afresh rather than inheriting the old type's fields
    if isinstance(turn, Mapping) and turn.get("type") in TURN_DETECTION_DEFAULTS:
        # Fill what a partial turn_detection left out.
        defaults = TURN_DETECTION_DEFAULTS[turn["type"]]
        new["audio"]["input"]["turn_detection"] = {**defaults, **copy.deepcopy(dict(turn))}
    validate(new)
    return new


def validate(session: Mapping[str, Any]) -> None:
    scenario = session.get("scenario")
    if scenario not in SCENARIOS:
        raise InvalidEvent(
            "invalid_scenario",
            f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}",
        )
    video = session.get("video")
    if video is not None:
        if not isinstance(video, Mapping):
            raise InvalidEvent("invalid_session", "session.video must be an object")
        fps = video.get("fps", 0)
        if (
            isinstance(fps, bool)
            or not isinstance(fps, int | float)
            or not 0 <= fps <= MAX_VIDEO_FPS
        ):
            raise InvalidEvent(
                "invalid_session", f"session.video.fps must be a number from 0 to {MAX_VIDEO_FPS:g}"
            )
    emotion = session.get("emotion")
    if emotion is not None and (
        not isinstance(emotion, Mapping) or not isinstance(emotion.get("enabled", False), bool)
    ):
        raise InvalidEvent("invalid_session", 'session.emotion must be {"enabled": true|false}')
    languages = session.get("languages")
    if languages is not None and (
        not isinstance(languages, list) or not all(isinstance(x, str) for x in languages)
    ):
        raise InvalidEvent("invalid_session", "session.languages must be a list of language codes")
    turn_settings(session)


def emotion_enabled(session: Mapping[str, Any]) -> bool:
    emotion = session.get("emotion")
    return bool(isinstance(emotion, Mapping) and emotion.get("enabled"))


def turn_settings(session: Mapping[str, Any]) -> TurnSettings | None:
    """TurnSettings from `audio.input.turn_detection`; None when turns are manual."""
    audio = session.get("audio") or {}
    turn = audio.get("input", {}).get("turn_detection") if isinstance(audio, Mapping) else None
    if turn is None:
        return None
    if not isinstance(turn, Mapping):
        raise InvalidEvent("invalid_session", "turn_detection must be an object or null")
    kind = turn.get("type", "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        raise InvalidEvent("invalid_session", f"unknown turn_detection type {kind!r}")
    fields: dict[str, Any] = {}
    if kind == "semantic_vad":
        eagerness = turn.get("eagerness", "auto")
        if eagerness not in EAGERNESS:
            raise InvalidEvent(
                "invalid_session",
                f"turn_detection.eagerness must be one of {', '.join(EAGERNESS)}",
            )
        e = EAGERNESS[eagerness]
        fields.update(
            eager_silence_ms=e.finished_ms,
            unsure_silence_ms=e.unsure_ms,
            silence_duration_ms=e.unfinished_ms,
            early_silence_ms=e.speculate_ms,
            quiet_ratio=e.quiet_ratio,
        )
    # Ours for semantic_vad: the VAD level, padding and longest wait can still be set.
    for key in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
        value = turn.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidEvent("invalid_session", f"turn_detection.{key} must be a number")
        fields[key] = value if key == "threshold" else int(value)
    for key in ("eager_silence_ms", "unsure_silence_ms"):
        if fields.get(key) is not None:
            fields[key] = min(fields[key], fields["silence_duration_ms"])
    for key in ("interrupt_response", "create_response"):
        value = turn.get(key)
        if value is not None:
            if not isinstance(value, bool):
                raise InvalidEvent("invalid_session", f"turn_detection.{key} must be true or false")
            fields[key] = value
    for key in ("min_interruption_ms",):  # ours
        value = turn.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            fields[key] = int(value)
    try:
        return TurnSettings(**fields)
    except ValueError as exc:
        raise InvalidEvent("invalid_session", f"turn_detection: {exc}") from None
