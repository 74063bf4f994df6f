"""The session object: defaults, deep merge, validation of honoured fields."""

from __future__ import annotations

import pytest

from rtc.errors import InvalidEvent
from rtc.session import apply_update, default_session, turn_settings


def test_defaults_follow_the_contract() -> None:
    s = default_session("embedded")
    assert s["scenario"] == "tutor"
    assert s["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    settings = turn_settings(s)
    assert settings is not None and settings.interrupt_response and settings.create_response


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
    assert new["audio"]["input"]["turn_detection"]["threshold"] == 0.5
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
        {"audio": {"input": {"turn_detection": {"threshold": "high"}}}},
        {"audio": {"input": {"turn_detection": {"interrupt_response": "yes"}}}},
        {"audio": "loud"},
    ],
)
def test_bad_updates_are_refused(update: dict[str, object]) -> None:
    with pytest.raises(InvalidEvent):
        apply_update(default_session("embedded"), update)
