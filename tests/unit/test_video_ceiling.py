"""The video ceiling: what each scenario asks the camera for, and how an answer says it."""

from __future__ import annotations

import dataclasses

from model.base import Capabilities
from model.tone import ToneModel
from rtc.app import default_scenarios
from rtc.conversation.session_config import SessionRules
from rtc.conversation.video_ceiling import CALL_BOUND, MAX_HEIGHT, VideoCeiling, ceiling_for
from rtc.transports.video_feedback import answer_with_ceiling

ANSWER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 127.0.0.1",
        "a=mid:0",
        "a=sendrecv",
        "m=video 9 UDP/TLS/RTP/SAVPF 97",
        "c=IN IP4 127.0.0.1",
        "a=mid:1",
        "a=recvonly",
        "a=rtcp-fb:97 goog-remb",
        "m=application 9 DTLS/SCTP 5000",
        "c=IN IP4 127.0.0.1",
        "a=mid:2",
        "",
    ]
)


def _sections(sdp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = "session"
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            current = line[2:].split()[0]
        out.setdefault(current, []).append(line)
    return out


def test_ceilings_follow_the_sampling_rate() -> None:
    assert ceiling_for(0.0) == VideoCeiling(fps=0.0, bitrate=0, height=MAX_HEIGHT)
    assert not ceiling_for(0.0).wants_video
    assert ceiling_for(0.0).feedback_bitrate > 0  # REMB cannot say "nothing"
    tutor, faces, explainer = ceiling_for(1.0), ceiling_for(0.5), ceiling_for(6.0)
    assert (tutor.fps, faces.fps, explainer.fps) == (2.0, 2.0, 12.0)
    assert tutor.bitrate < explainer.bitrate < CALL_BOUND.bitrate
    assert ceiling_for(100.0) == CALL_BOUND


def test_the_answer_carries_the_bound_and_the_opening_rate() -> None:
    out = answer_with_ceiling(ANSWER, ceiling_for(1.0), CALL_BOUND)
    sections = _sections(out)
    video = sections["video"]
    connection = video.index("c=IN IP4 127.0.0.1")
    assert video[connection + 1 : connection + 3] == [
        f"b=AS:{CALL_BOUND.bitrate // 1000}",
        f"b=TIAS:{CALL_BOUND.bitrate}",
    ]
    assert video[-1] == "a=framerate:2"
    # Nothing else changes.
    assert sections["audio"] == _sections(ANSWER)["audio"]
    assert sections["application"] == _sections(ANSWER)["application"]
    assert out.endswith("\r\n")
    # A video section last in the answer gets its rate too; an answer without video, nothing.
    audio_video = ANSWER.split("m=application")[0]
    assert answer_with_ceiling(audio_video, ceiling_for(0.0), CALL_BOUND).endswith(
        "a=framerate:1\r\n"
    )
    audio_only = ANSWER.split("m=video")[0]
    assert answer_with_ceiling(audio_only, ceiling_for(1.0), CALL_BOUND) == audio_only


def test_the_session_says_the_ceiling_and_clients_cannot_set_it() -> None:
    model = ToneModel()
    rules = SessionRules(model, default_scenarios())
    tutor = rules.open({"scenario": "tutor"})
    assert tutor.as_json()["video"] == {"fps": 1.0, "ceiling": ceiling_for(1.0).as_json()}
    assert "ceiling" not in tutor.data["video"]  # said, not stored
    interpreter = rules.update(tutor, {"scenario": "interpreter"})
    assert interpreter.video_ceiling == ceiling_for(0.0)
    echoed = rules.update(tutor, {"video": {"fps": 1.0, "ceiling": {"max_fps": 30}}})
    assert echoed.video_ceiling == tutor.video_ceiling
    faster = rules.update(tutor, {"video": {"fps": 4}})
    assert faster.video_ceiling == ceiling_for(4.0)


class FaceReadingTone(ToneModel):
    @property
    def capabilities(self) -> Capabilities:
        return dataclasses.replace(super().capabilities, emotion=True)


def test_reading_faces_needs_the_camera_too() -> None:
    rules = SessionRules(FaceReadingTone(), default_scenarios())
    interpreter = rules.open({"scenario": "interpreter", "emotion": {"enabled": True}})
    assert interpreter.video_ceiling == ceiling_for(1.0)
