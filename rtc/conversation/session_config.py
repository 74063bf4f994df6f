"""The `session` object: its JSON as the client sees it, and the typed settings read off it.

A client changes the session with `session.update` (or the `session` field of an
offer or of a client secret); the JSON is deep-merged and echoed back whole,
unknown OpenAI fields included. Everything the server acts on is read off that
JSON once, here, into a frozen `SessionConfig`, validated on construction: the rest
of the gateway never parses the dict again.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from model.base import OmniModel
from model.scenario import ScenarioConfigError, ScenarioRegistry
from rtc.conversation.turns import TurnSettings
from rtc.errors import InvalidEvent
from rtc.events import new_id

MAX_VIDEO_FPS = 15.0

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

#: Audio formats of `audio.input.format` / `audio.output.format` (the WebSocket's; a
#: WebRTC call's media is Opus whatever they say).
PCM, PCMU, PCMA = "audio/pcm", "audio/pcmu", "audio/pcma"
MIN_PCM_RATE, MAX_PCM_RATE = 8_000, 48_000


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


@dataclass(frozen=True)
class AudioFormat:
    kind: str
    rate: int

    @property
    def sample_bytes(self) -> int:
        return 2 if self.kind == PCM else 1


@dataclass(frozen=True)
class SessionConfig:
    """What the server acts on, read off the session JSON (`data`, echoed whole)."""

    data: Mapping[str, Any]
    scenario: str
    languages: tuple[str, ...]
    video_fps: float
    emotion: bool
    turn: TurnSettings | None
    """None: turns are the client's (`turn_detection: null`, commit by hand)."""
    input_format: AudioFormat
    output_format: AudioFormat

    def as_json(self) -> dict[str, Any]:
        """The session object for `session.created` / `session.updated` (a copy)."""
        return copy.deepcopy(dict(self.data))


class SessionRules:
    """Makes and changes SessionConfigs for one server: its model and its scenarios."""

    def __init__(self, model: OmniModel, scenarios: ScenarioRegistry) -> None:
        self.model = model
        self.scenarios = scenarios

    def default_json(self) -> dict[str, Any]:
        scenario = self.scenarios.get(self.scenarios.default)
        assert scenario is not None
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": new_id("sess"),
            "model": f"omnilive-{self.model.name}",
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "audio": {
                "input": {
                    "format": {"type": PCM, "rate": 24000},
                    "noise_reduction": None,
                    "transcription": None,
                    "turn_detection": dict(DEFAULT_TURN_DETECTION),
                },
                "output": {"format": {"type": PCM, "rate": 24000}, "voice": "alloy", "speed": 1.0},
            },
            "scenario": scenario.name,
            "languages": ["en", "es"],
            "video": {"fps": scenario.default_video_fps},
            "emotion": {"enabled": scenario.emotion_by_default},
        }

    def default(self) -> SessionConfig:
        return self.parse(self.default_json())

    def open(self, update: Mapping[str, Any] | None) -> SessionConfig:
        """The session a call opens with: the defaults, then `update` (InvalidEvent if bad)."""
        return self.update(self.default_json(), update or {})

    def update(self, current: SessionConfig | Mapping[str, Any], update: Any) -> SessionConfig:
        """`current` with a `session.update` applied; InvalidEvent with a precise reason."""
        base = current.data if isinstance(current, SessionConfig) else current
        return self.parse(self._merged(base, update))

    def parse(self, data: Mapping[str, Any]) -> SessionConfig:
        scenario = data.get("scenario")
        cls = self.scenarios.get(scenario) if isinstance(scenario, str) else None
        if cls is None:
            raise InvalidEvent(
                "invalid_scenario",
                f"unknown scenario {scenario!r}; this server has {', '.join(self.scenarios.names)}",
            )
        config = SessionConfig(
            data=data,
            scenario=cls.name,
            languages=_languages(data),
            video_fps=_video_fps(data),
            emotion=_emotion(data),
            turn=turn_settings(data),
            input_format=audio_format(data, "input"),
            output_format=audio_format(data, "output"),
        )
        try:
            cls.check_config(self.model, data)
        except ScenarioConfigError as exc:
            raise InvalidEvent(exc.code, str(exc)) from None
        return config

    def _merged(self, current: Mapping[str, Any], update: Any) -> dict[str, Any]:
        if not isinstance(update, Mapping):
            raise InvalidEvent("invalid_session", "session must be a JSON object")
        update = {k: v for k, v in update.items() if k not in ("id", "object")}
        audio = update.get("audio")
        if audio is not None and not isinstance(audio, Mapping):
            raise InvalidEvent("invalid_session", "session.audio must be an object")
        new = merge(current, update)
        # A new scenario brings its own camera rate and emotion reading unless set with it.
        named = new.get("scenario")
        cls = self.scenarios.get(named) if "scenario" in update and isinstance(named, str) else None
        if cls is not None and "video" not in update:
            new["video"] = {**(new.get("video") or {}), "fps": cls.default_video_fps}
        if cls is not None and "emotion" not in update:
            new["emotion"] = {"enabled": cls.emotion_by_default}
        turn = (new.get("audio") or {}).get("input", {}).get("turn_detection")
        asked = ((update.get("audio") or {}).get("input") or {}).get("turn_detection")
        if isinstance(asked, Mapping) and "type" in asked:
            turn = asked  # a new type starts afresh rather than inheriting the old type's fields
        if isinstance(turn, Mapping) and turn.get("type") in TURN_DETECTION_DEFAULTS:
            # Fill what a partial turn_detection left out.
            defaults = TURN_DETECTION_DEFAULTS[turn["type"]]
            new["audio"]["input"]["turn_detection"] = {**defaults, **copy.deepcopy(dict(turn))}
        return new


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge objects; anything else (lists, null, scalars) replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _video_fps(session: Mapping[str, Any]) -> float:
    video = session.get("video")
    if video is None:
        return 0.0
    if not isinstance(video, Mapping):
        raise InvalidEvent("invalid_session", "session.video must be an object")
    fps = video.get("fps", 0)
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 <= fps <= MAX_VIDEO_FPS:
        raise InvalidEvent(
            "invalid_session", f"session.video.fps must be a number from 0 to {MAX_VIDEO_FPS:g}"
        )
    return float(fps)


def _emotion(session: Mapping[str, Any]) -> bool:
    emotion = session.get("emotion")
    if emotion is None:
        return False
    if not isinstance(emotion, Mapping) or not isinstance(emotion.get("enabled", False), bool):
        raise InvalidEvent("invalid_session", 'session.emotion must be {"enabled": true|false}')
    return bool(emotion.get("enabled"))


def _languages(session: Mapping[str, Any]) -> tuple[str, ...]:
    languages = session.get("languages")
    if languages is None:
        return ()
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        raise InvalidEvent("invalid_session", "session.languages must be a list of language codes")
    return tuple(languages)


def audio_format(session: Mapping[str, Any], direction: str) -> AudioFormat:
    """`session.audio.<direction>.format`, checked."""
    audio = session.get("audio")
    side = audio.get(direction) if isinstance(audio, Mapping) else None
    fmt = side.get("format") if isinstance(side, Mapping) else None
    if fmt is None:
        return AudioFormat(PCM, 24_000)
    if not isinstance(fmt, Mapping):
        raise InvalidEvent("invalid_session", f"audio.{direction}.format must be an object")
    kind = fmt.get("type", PCM)
    if kind in (PCMU, PCMA):
        return AudioFormat(kind, 8_000)
    if kind != PCM:
        raise InvalidEvent(
            "invalid_session",
            f"audio.{direction}.format.type must be {PCM}, {PCMU} or {PCMA}, not {kind!r}",
        )
    rate = fmt.get("rate", 24_000)
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int)
        or not MIN_PCM_RATE <= rate <= MAX_PCM_RATE
    ):
        raise InvalidEvent(
            "invalid_session",
            f"audio.{direction}.format.rate must be an integer from {MIN_PCM_RATE} to {MAX_PCM_RATE}",
        )
    return AudioFormat(PCM, rate)


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
