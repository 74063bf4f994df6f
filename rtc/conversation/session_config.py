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
from model.dialogue import Tool, ToolChoice
from model.scenario import ScenarioConfigError, ScenarioRegistry, Voice
from rtc.conversation.camera import EMOTION_FPS
from rtc.conversation.turns import TurnSettings
from rtc.conversation.video_ceiling import VideoCeiling, ceiling_for
from rtc.errors import InvalidEvent
from rtc.events import new_id

MAX_VIDEO_FPS = 15.0
MIN_SPEED, MAX_SPEED = 0.25, 1.5
MAX_TOOLS = 128
NOISE_REDUCTION = ("near_field", "far_field")

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
    """What `semantic_vad` eagerness means here, in silence (as the VAD hears it, ~100 ms
    after the voice stops) after the last word."""

    finished_ms: int
    """Silence that ends a turn whose words and voice both sound finished."""
    unsure_ms: int
    """Silence that ends a turn whose voice sounds finished and whose words may be (a bare
    "yes", "x equals 5")."""
    doubt_ms: int
    """Silence that ends a turn whose words and voice disagree (one says finished)."""
    unfinished_ms: int
    """The longest wait: a turn whose words trail off ("I would like to order ...") or whose
    voice does not sound finished. OpenAI's semantic_vad waits at most 2 s (high), 4 s
    (medium, auto) or 8 s (low)."""
    speculate_ms: int
    """Silence after which the turn is transcribed, to know how its words end."""
    voice_score_ms: int = 96
    """Silence after which the end-of-turn model judges the voice (again at 2x and 4x)."""
    quiet_ratio: float | None = 0.03
    """Or once the level has dropped this far below the turn's loudest (about -30 dB) for
    64 ms, before the VAD calls it silence (TurnSettings.quiet_ratio); None: the VAD only."""


EAGERNESS = {
    "high": Eagerness(
        finished_ms=64, unsure_ms=250, doubt_ms=800, unfinished_ms=2000, speculate_ms=32
    ),
    "medium": Eagerness(
        finished_ms=128, unsure_ms=400, doubt_ms=1200, unfinished_ms=4000, speculate_ms=32
    ),
    "auto": Eagerness(
        finished_ms=128, unsure_ms=400, doubt_ms=1200, unfinished_ms=4000, speculate_ms=32
    ),
    "low": Eagerness(
        finished_ms=320,
        unsure_ms=800,
        doubt_ms=2400,
        unfinished_ms=8000,
        speculate_ms=96,
        voice_score_ms=192,
        quiet_ratio=None,
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
class ClientRequest:
    """What the app developer asks of the answers: instructions, function tools (run by the
    client) and the tool choice; per session, or per `response.create`."""

    instructions: str = ""
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice = "auto"


@dataclass(frozen=True)
class Transcription:
    """`audio.input.transcription`: live captions of what the user says."""

    language: str | None = None
    """The language spoken; None: detected (among the scenario's languages)."""
    prompt: str = ""
    """Words to expect (names, jargon), as a hint to the recogniser."""


@dataclass(frozen=True)
class SessionConfig:
    """What the server acts on, read off the session JSON (`data`, echoed whole)."""

    data: Mapping[str, Any]
    kind: str
    """"realtime" (answers), or "transcription" (captions only, no answers)."""
    scenario: str
    languages: tuple[str, ...]
    video_fps: float
    emotion: bool
    turn: TurnSettings | None
    """None: turns are the client's (`turn_detection: null`, commit by hand)."""
    input_format: AudioFormat
    output_format: AudioFormat
    voice: Voice
    client: ClientRequest
    transcription: Transcription | None
    noise_reduction: str | None
    """None, "near_field" or "far_field"."""
    echo_cancellation: bool
    """Ours, `audio.input.echo_cancellation`: cancel the answer's echo on a WebRTC call too
    (the WebSocket always does)."""
    video_ceiling: VideoCeiling
    """The camera video the call asks the phone for (`session.video.ceiling`, read-only)."""

    @property
    def transcribing_only(self) -> bool:
        return self.kind == "transcription"

    def as_json(self) -> dict[str, Any]:
        """The session object for `session.created` / `session.updated` (a copy)."""
        out = copy.deepcopy(dict(self.data))
        out["video"] = {**(out.get("video") or {}), "ceiling": self.video_ceiling.as_json()}
        return out


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
        video_fps, emotion = _video_fps(data), _emotion(data)
        faces = EMOTION_FPS if emotion and self.model.capabilities.emotion else 0.0
        config = SessionConfig(
            data=data,
            kind=_kind(data),
            scenario=cls.name,
            languages=_languages(data),
            video_fps=video_fps,
            emotion=emotion,
            turn=turn_settings(data),
            input_format=audio_format(data, "input"),
            output_format=audio_format(data, "output"),
            voice=_voice(data),
            client=client_request(data),
            transcription=_transcription(data),
            noise_reduction=_noise_reduction(data),
            echo_cancellation=_echo_cancellation(data),
            video_ceiling=ceiling_for(max(cls.peak_video_fps(video_fps), faces)),
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
        video = update.get("video")
        if isinstance(video, Mapping) and "ceiling" in video:
            # The server's to say (clients echo whole sessions back): ignored.
            update["video"] = {k: v for k, v in video.items() if k != "ceiling"}
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


def _kind(session: Mapping[str, Any]) -> str:
    kind = session.get("type", "realtime")
    if kind not in ("realtime", "transcription"):
        raise InvalidEvent(
            "invalid_session", f"session.type must be realtime or transcription, not {kind!r}"
        )
    return str(kind)


def _side(session: Mapping[str, Any], direction: str) -> Mapping[str, Any]:
    audio = session.get("audio")
    side = audio.get(direction) if isinstance(audio, Mapping) else None
    return side if isinstance(side, Mapping) else {}


def _voice(session: Mapping[str, Any]) -> Voice:
    modalities = session.get("output_modalities", ["audio"])
    if not isinstance(modalities, list) or not set(modalities) <= {"audio", "text"}:
        raise InvalidEvent("invalid_session", 'output_modalities must be ["audio"] or ["text"]')
    output = _side(session, "output")
    speed = output.get("speed", 1.0)
    if speed is None:
        speed = 1.0
    if (
        isinstance(speed, bool)
        or not isinstance(speed, int | float)
        or not (MIN_SPEED <= speed <= MAX_SPEED)
    ):
        raise InvalidEvent(
            "invalid_session",
            f"audio.output.speed must be a number from {MIN_SPEED:g} to {MAX_SPEED:g}",
        )
    voice = output.get("voice")
    return Voice(
        audio="audio" in modalities or not modalities,
        name=voice if isinstance(voice, str) else None,
        speed=float(speed),
    )


def client_request(fields: Mapping[str, Any], base: ClientRequest | None = None) -> ClientRequest:
    """`instructions`, `tools` and `tool_choice` of a session (or of a `response.create`'s
    `response`, over `base`, the session's)."""
    base = base or ClientRequest()
    instructions = fields.get("instructions", base.instructions)
    if instructions is None:
        instructions = ""
    if not isinstance(instructions, str):
        raise InvalidEvent("invalid_session", "instructions must be a string")
    tools = base.tools if "tools" not in fields else _tools(fields.get("tools"))
    choice = fields.get("tool_choice", base.tool_choice)
    if choice is None:
        choice = "auto"
    named = isinstance(choice, Mapping) and isinstance(choice.get("name"), str)
    if not (choice in ("auto", "none", "required") or named):
        raise InvalidEvent(
            "invalid_session",
            'tool_choice must be "auto", "none", "required" or {"type": "function", "name": ...}',
        )
    return ClientRequest(instructions, tools, choice)


def _tools(raw: Any) -> tuple[Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_TOOLS:
        raise InvalidEvent("invalid_session", f"tools must be a list of at most {MAX_TOOLS}")
    tools: list[Tool] = []
    for entry in raw:
        if not isinstance(entry, Mapping) or entry.get("type", "function") != "function":
            raise InvalidEvent(
                "invalid_session", 'each tool must be {"type": "function", "name": ...}'
            )
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidEvent("invalid_session", "a function tool needs a name")
        parameters = entry.get("parameters") or {"type": "object", "properties": {}}
        description = entry.get("description") or ""
        if not isinstance(parameters, Mapping) or not isinstance(description, str):
            raise InvalidEvent("invalid_session", f"tool {name!r}: parameters must be an object")
        tools.append(Tool(name, description, dict(parameters), handler=None))
    return tuple(tools)


def _transcription(session: Mapping[str, Any]) -> Transcription | None:
    raw = _side(session, "input").get("transcription")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidEvent("invalid_session", "audio.input.transcription must be an object or null")
    language, prompt = raw.get("language"), raw.get("prompt") or ""
    if (language is not None and not isinstance(language, str)) or not isinstance(prompt, str):
        raise InvalidEvent("invalid_session", "transcription.language and .prompt must be strings")
    return Transcription(language or None, prompt)


def _echo_cancellation(session: Mapping[str, Any]) -> bool:
    value = _side(session, "input").get("echo_cancellation", False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidEvent("invalid_session", "audio.input.echo_cancellation must be true or false")
    return value


def _noise_reduction(session: Mapping[str, Any]) -> str | None:
    raw = _side(session, "input").get("noise_reduction")
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if kind not in NOISE_REDUCTION:
        raise InvalidEvent(
            "invalid_session",
            'audio.input.noise_reduction must be null or {"type": "near_field" | "far_field"}',
        )
    return str(kind)


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
            doubt_silence_ms=e.doubt_ms,
            silence_duration_ms=e.unfinished_ms,
            early_silence_ms=e.speculate_ms,
            quiet_ratio=e.quiet_ratio,
            voice_score_ms=e.voice_score_ms,
        )
    # Ours for semantic_vad: the VAD level, padding and longest wait can still be set.
    for key in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
        value = turn.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidEvent("invalid_session", f"turn_detection.{key} must be a number")
        fields[key] = value if key == "threshold" else int(value)
    for key in ("eager_silence_ms", "unsure_silence_ms", "doubt_silence_ms"):
        if fields.get(key) is not None:
            fields[key] = min(fields[key], fields["silence_duration_ms"])
    flags = ["interrupt_response", "create_response"]
    if kind == "semantic_vad":
        fields["backchannels"] = True
        flags += ["end_of_turn_model", "backchannels"]  # ours, to compare with the words alone
    for key in flags:
        value = turn.get(key)
        if value is not None:
            if not isinstance(value, bool):
                raise InvalidEvent("invalid_session", f"turn_detection.{key} must be true or false")
            fields[key] = value
    if not fields.pop("end_of_turn_model", True):
        fields["voice_score_ms"] = None
    for key in ("min_interruption_ms",):  # ours
        value = turn.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            fields[key] = int(value)
    try:
        return TurnSettings(**fields)
    except ValueError as exc:
        raise InvalidEvent("invalid_session", f"turn_detection: {exc}") from None
