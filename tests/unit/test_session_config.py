"""The session object: defaults, deep merge, validation of honoured fields, typed reading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from model.tone import ToneModel
from rtc.app import default_scenarios
from rtc.conversation.session_config import PCMU, SessionRules
from rtc.conversation.turns import TurnSettings
from rtc.errors import InvalidEvent

RULES = SessionRules(ToneModel(), default_scenarios())


def default_session(_model: str) -> dict[str, Any]:
    return RULES.default_json()


def apply_update(current: Mapping[str, Any], update: Any) -> dict[str, Any]:
    return dict(RULES.update(current, update).data)


def turn_settings(session: Mapping[str, Any]) -> TurnSettings | None:
    return RULES.parse(session).turn


def test_defaults_follow_the_contract() -> None:
    s = default_session("embedded")
    assert s["scenario"] == "tutor"
    assert s["audio"]["input"]["turn_detection"]["type"] == "semantic_vad"
    settings = turn_settings(s)
    assert settings is not None and settings.interrupt_response and settings.create_response
    # Finished-sounding words end a turn sooner than the longest wait.
    assert settings.eager_silence_ms is not None
    assert settings.eager_silence_ms < settings.silence_duration_ms


def test_server_vad_is_silence_only_and_a_new_type_starts_afresh() -> None:
    s = default_session("embedded")
    new = apply_update(
        s,
        {
            "audio": {
                "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 700}}
            }
        },
    )
    turn = new["audio"]["input"]["turn_detection"]
    assert turn["type"] == "server_vad" and "eagerness" not in turn
    assert turn["threshold"] == 0.5 and turn["prefix_padding_ms"] == 300
    settings = turn_settings(new)
    assert settings is not None
    assert settings.eager_silence_ms is None and settings.silence_duration_ms == 700
    back = apply_update(
        new, {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}}}
    )
    assert "silence_duration_ms" not in back["audio"]["input"]["turn_detection"]
    low, auto = turn_settings(back), turn_settings(s)
    assert low is not None and auto is not None and low.eager_silence_ms and auto.eager_silence_ms
    assert low.eager_silence_ms > auto.eager_silence_ms
    assert low.silence_duration_ms > auto.silence_duration_ms


def test_update_merges_deeply_and_keeps_the_scenario() -> None:
    s = default_session("embedded")
    new = apply_update(
        s,
        {
            "audio": {"input": {"turn_detection": {"silence_duration_ms": 300}}},
            "output_modalities": ["text"],
            "audio.output.format": {"type": "audio/pcmu"},
        },
    )
    assert new["scenario"] == "tutor"
    assert new["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 300
    assert new["audio"]["input"]["turn_detection"]["eagerness"] == "auto"
    assert new["id"] == s["id"]
    settings = turn_settings(new)
    assert settings is not None and settings.silence_duration_ms == 300


def test_null_turn_detection_means_manual_turns_and_semantic_vad_is_accepted() -> None:
    s = default_session("embedded")
    assert turn_settings(apply_update(s, {"audio": {"input": {"turn_detection": None}}})) is None
    semantic = apply_update(
        s, {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "low"}}}}
    )
    assert turn_settings(semantic) is not None


def test_scenario_change_brings_its_video_rate() -> None:
    s = apply_update(default_session("embedded"), {"scenario": "interpreter"})
    assert s["video"]["fps"] == 0.0
    s = apply_update(s, {"scenario": "explainer", "video": {"fps": 4}})
    assert s["video"]["fps"] == 4


@pytest.mark.parametrize(
    "update",
    [
        {"scenario": "karaoke"},
        {"video": {"fps": 100}},
        {"video": {"fps": "fast"}},
        {"languages": "en"},
        {"audio": {"input": {"turn_detection": {"type": "push_to_talk"}}}},
        {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "eager"}}}},
        {"audio": {"input": {"turn_detection": {"threshold": "high"}}}},
        {"audio": {"input": {"turn_detection": {"interrupt_response": "yes"}}}},
        {"audio": "loud"},
    ],
)
def test_bad_updates_are_refused(update: dict[str, object]) -> None:
    with pytest.raises(InvalidEvent):
        apply_update(default_session("embedded"), update)


def test_the_typed_config_is_read_once_from_the_json() -> None:
    config = RULES.update(
        RULES.default_json(),
        {
            "scenario": "interpreter",
            "languages": ["es", "en"],
            "audio": {"input": {"format": {"type": "audio/pcmu"}}},
        },
    )
    assert config.scenario == "interpreter" and config.languages == ("es", "en")
    assert config.video_fps == 0.0 and config.emotion is False
    assert config.input_format.kind == PCMU and config.input_format.rate == 8000
    assert config.output_format.rate == 24000
    assert config.as_json()["scenario"] == "interpreter"
    tutor = RULES.default()
    assert tutor.scenario == "tutor" and tutor.video_fps == 1.0 and tutor.emotion is True


def test_a_scenario_the_backend_cannot_run_is_refused() -> None:
    from model.base import Capabilities

    class Mute(ToneModel):
        @property
        def capabilities(self) -> Capabilities:
            return Capabilities(speech_to_text=False, text_to_speech=False)

    with pytest.raises(InvalidEvent) as refused:
        SessionRules(Mute(), default_scenarios()).open({"scenario": "tutor"})
    assert refused.value.code == "unsupported_backend"
