"""Emotion reading: the real face + expression model on real photographs, and the tracker."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from skimage import data as skdata

from model import emotion as tutor_emotion
from model.embedded import emotion as model_emotion
from model.embedded.emotion import FaceEmotion, FaceEmotionModel
from model.emotion import EmotionState, EmotionTracker
from model.errors import ModelLoadError

# The astronaut's face in skimage.data.astronaut() (512 x 512), as the cascade finds it.
ASTRONAUT_FACE = (177, 66, 95, 95)


@pytest.fixture(scope="module")
def model() -> FaceEmotionModel:
    return FaceEmotionModel()


def astronaut() -> NDArray[np.uint8]:
    image: NDArray[np.uint8] = skdata.astronaut()  # type: ignore[no-untyped-call]
    return image


def printed_page() -> NDArray[np.uint8]:
    """skimage's scanned page of printed text, as an RGB frame."""
    gray: NDArray[np.uint8] = skdata.page()  # type: ignore[no-untyped-call]
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def two_people() -> NDArray[np.uint8]:
    """The astronaut's head and, beside it, a mirrored copy at 70 % of the size."""
    head = astronaut()[0:300, 100:400]
    small = cv2.resize(head[:, ::-1], (210, 210), interpolation=cv2.INTER_AREA)
    frame = np.full((300, 520, 3), 235, np.uint8)
    frame[:, :300] = head
    frame[45:255, 305:515] = small
    return frame


def near(box: tuple[int, int, int, int], expected: tuple[int, int, int, int], tol: int) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(box, expected, strict=True))


# --- the model, on real photographs -------------------------------------------------------


@pytest.mark.models
def test_labels_match_the_protocol() -> None:
    assert model_emotion.LABELS == tutor_emotion.LABELS
    assert set(model_emotion.LABELS) == {
        "happy",
        "neutral",
        "sad",
        "angry",
        "surprised",
        "fearful",
        "disgusted",
    }


@pytest.mark.models
def test_astronaut_is_one_happy_face(model: FaceEmotionModel) -> None:
    faces = model.analyze(astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert face.label == "happy"
    assert face.score > 0.9
    assert near(face.box, ASTRONAUT_FACE, 8)
    assert set(face.probabilities) == set(model_emotion.LABELS)
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert face.score == max(face.probabilities.values())


@pytest.mark.models
def test_big_frames_are_detected_downscaled_and_boxed_in_original_pixels(
    model: FaceEmotionModel,
) -> None:
    big = np.asarray(cv2.resize(astronaut(), (1280, 1280)), np.uint8)
    faces = model.analyze(big)
    assert len(faces) == 1
    assert faces[0].label == "happy"
    x, y, w, h = (round(2.5 * v) for v in ASTRONAUT_FACE)
    assert near(faces[0].box, (x, y, w, h), 20)


@pytest.mark.models
@pytest.mark.parametrize(
    "frame",
    [
        np.full((480, 640, 3), 245, np.uint8),  # a blank sheet
        printed_page(),
        np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),
    ],
    ids=["blank", "printed-page", "noise"],
)
def test_no_face(model: FaceEmotionModel, frame: NDArray[np.uint8]) -> None:
    assert model.analyze(frame) == []


@pytest.mark.models
def test_two_faces_side_by_side_largest_first(model: FaceEmotionModel) -> None:
    faces = model.analyze(two_people())
    assert len(faces) == 2
    big, small = faces
    assert big.box[2] * big.box[3] > small.box[2] * small.box[3]
    assert big.box[0] + big.box[2] <= 300 < small.box[0]  # left photo, then the mirrored one
    assert [f.label for f in faces] == ["happy", "happy"]


@pytest.mark.models
def test_mirrored_view_and_threads(model: FaceEmotionModel) -> None:
    """Flipped (non-contiguous) frames work, and concurrent calls agree with serial ones."""
    frames = [astronaut(), astronaut()[:, ::-1], two_people(), printed_page()] * 3
    serial = [model.analyze(f) for f in frames]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(model.analyze, frames))
    assert parallel == serial
    assert [len(r) for r in serial[:4]] == [1, 1, 2, 0]


@pytest.mark.models
def test_keeps_no_pixels(model: FaceEmotionModel) -> None:
    face = model.analyze(astronaut())[0]
    assert all(not isinstance(v, np.ndarray) for v in vars(face).values())
    # The interpreter's input tensor (a 64 x 64 gray face) is cleared after each face.
    leftover = model._interpreter.get_tensor(model._input)
    assert not leftover.any()


@pytest.mark.parametrize(
    ("missing", "named"),
    [("fer", "'fer'"), ("ai_edge_litert.interpreter", "'ai-edge-litert'")],
)
def test_a_missing_package_is_named(
    monkeypatch: pytest.MonkeyPatch, missing: str, named: str
) -> None:
    if missing == "fer":
        real = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util, "find_spec", lambda name, *a: None if name == "fer" else real(name, *a)
        )
    else:
        monkeypatch.setitem(sys.modules, missing, None)  # makes the import fail
    with pytest.raises(ModelLoadError, match=named):
        FaceEmotionModel()


@pytest.mark.models
def test_rejects_non_rgb(model: FaceEmotionModel) -> None:
    with pytest.raises(ValueError):
        model.analyze(np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError):
        model.analyze(np.zeros((0, 64, 3), np.uint8))
    assert model.analyze(np.zeros((10, 16, 3), np.uint8)) == []  # smaller than any face


@pytest.mark.models
def test_classify_a_box_over_the_frame_edge(model: FaceEmotionModel) -> None:
    """A face cut by the frame's edge is padded, not dropped."""
    x, y, w, h = ASTRONAUT_FACE
    cut = np.ascontiguousarray(astronaut()[y + 20 :, x + 15 :])
    face = model.classify(cut, (-15, -20, w, h))
    assert face.box == (-15, -20, w, h)
    assert face.label in model_emotion.LABELS
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.models
def test_emotion_state_sequence_from_real_frames(model: FaceEmotionModel) -> None:
    """Sampled at 1 fps: the astronaut, then a printed page; `none` once the face has left."""
    tracker = EmotionTracker()
    script = [astronaut()] * 3 + [printed_page()] * 4 + [two_people()] * 3
    events = []
    for t, frame in enumerate(script):
        state = tracker.push(model.analyze(frame), float(t))
        if state is not None:
            events.append((t, state.as_event()))
    assert [(t, e["label"], e["faces"]) for t, e in events] == [
        (0, "happy", 1),
        (4, "none", 0),  # last seen at t=2: none 2 s later
        (7, "happy", 2),
    ]
    assert isinstance(events[0][1]["score"], float) and events[0][1]["score"] > 0.9


# --- the tracker, on scripted timelines ------------------------------------------------------


@dataclass(frozen=True)
class Face:
    label: str
    score: float = 0.9
    box: tuple[int, int, int, int] = (100, 100, 120, 120)
    probabilities: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def of(label: str, score: float = 0.9, size: int = 120) -> Face:
        rest = (1.0 - score) / (len(tutor_emotion.LABELS) - 1)
        probs = {k: (score if k == label else rest) for k in tutor_emotion.LABELS}
        return Face(label, score, (10, 10, size, size), probs)


def run(
    tracker: EmotionTracker, frames: Sequence[Sequence[Face]], fps: float = 1.0
) -> list[tuple[float, EmotionState]]:
    changes = []
    for i, faces in enumerate(frames):
        t = i / fps
        state = tracker.push(faces, t)
        if state is not None:
            changes.append((t, state))
    return changes


def labels(changes: list[tuple[float, EmotionState]]) -> list[tuple[float, str, int]]:
    return [(t, s.label, s.faces) for t, s in changes]


def test_starts_as_none_and_the_first_face_sets_the_label() -> None:
    tracker = EmotionTracker()
    assert tracker.state == EmotionState("none", 0.0, 0)
    assert tracker.push([], 0.0) is None
    state = tracker.push([Face.of("neutral", 0.8)], 1.0)
    assert state == EmotionState("neutral", pytest.approx(0.8), 1)  # type: ignore[arg-type]
    assert state is not None
    assert state.as_event() == {"label": "neutral", "score": 0.8, "faces": 1}


def test_one_odd_frame_does_not_flip() -> None:
    happy, sad = [Face.of("happy", 0.95)], [Face.of("sad", 0.95)]
    tracker = EmotionTracker()
    changes = run(tracker, [happy, happy, happy, sad, happy, happy])
    assert labels(changes) == [(0, "happy", 1)]
    assert tracker.state.label == "happy"


def test_a_sustained_change_flips() -> None:
    happy, sad = [Face.of("happy", 0.95)], [Face.of("sad", 0.95)]
    tracker = EmotionTracker()
    changes = run(tracker, [happy, happy, happy, sad, sad, sad, sad])
    assert labels(changes) == [(0, "happy", 1), (4, "sad", 1)]
    assert changes[-1][1].score > 0.6


def test_a_soft_change_needs_min_frames_of_lead() -> None:
    """Without a clear margin, the new label must lead the average `min_frames` times."""
    tracker = EmotionTracker(alpha=0.5, min_frames=3, margin=0.9)
    neutral, surprised = [Face.of("neutral", 0.6)], [Face.of("surprised", 0.6)]
    changes = run(tracker, [neutral, neutral] + [surprised] * 5)
    # surprised leads the average from t=3 on (t=2 is a tie), so it wins at t=5.
    assert labels(changes) == [(0, "neutral", 1), (5, "surprised", 1)]


def test_none_after_the_face_leaves() -> None:
    happy = [Face.of("happy")]
    tracker = EmotionTracker(none_after_s=2.0)
    changes = run(tracker, [happy, happy, [], [], [], []], fps=2.0)
    # Last face at t=0.5; none at the first empty sample >= 2 s later, t=2.5.
    assert labels(changes) == [(0, "happy", 1), (2.5, "none", 0)]
    assert changes[-1][1].as_event() == {"label": "none", "score": 0.0, "faces": 0}


def test_a_short_miss_keeps_the_state() -> None:
    happy = [Face.of("happy")]
    tracker = EmotionTracker(none_after_s=2.0)
    changes = run(tracker, [happy, [], happy, [], happy, happy])
    assert labels(changes) == [(0, "happy", 1)]


def test_face_count_changes_once_it_holds() -> None:
    one = [Face.of("happy", size=150)]
    two = [Face.of("happy", size=150), Face.of("neutral", size=80)]
    tracker = EmotionTracker(min_frames=2)
    changes = run(tracker, [one, two, one, two, two, two, one, one])
    # The single two-face frame at t=1 is ignored; two faces from t=3 are reported at t=4.
    assert labels(changes) == [(0, "happy", 1), (4, "happy", 2), (7, "happy", 1)]


def test_the_largest_face_decides() -> None:
    small_sad = Face.of("sad", 0.99, size=60)
    big_happy = Face.of("happy", 0.9, size=200)
    tracker = EmotionTracker()
    state = tracker.push([small_sad, big_happy], 0.0)
    assert state is not None and state.label == "happy" and state.faces == 2


def test_frustrated_for() -> None:
    tracker = EmotionTracker()
    neutral, angry, sad = (
        [Face.of("neutral", 0.95)],
        [Face.of("angry", 0.95)],
        [Face.of("sad", 0.95)],
    )
    run(tracker, [neutral, neutral])
    assert tracker.frustrated_for(1.0) == 0.0
    for t, faces in [(2.0, angry), (3.0, angry), (4.0, angry)]:
        tracker.push(faces, t)
    assert tracker.state.label == "angry"  # since t=3
    assert tracker.frustrated_for(4.0) == pytest.approx(1.0)
    # angry -> sad is still frustration: the clock keeps running.
    for t in (5.0, 6.0, 7.0):
        tracker.push(sad, t)
    assert tracker.state.label == "sad"
    assert tracker.frustrated_for(7.0) == pytest.approx(4.0)
    # The face leaves: once it is gone for none_after_s, no frustration.
    assert tracker.frustrated_for(8.5) == pytest.approx(5.5)
    assert tracker.frustrated_for(9.0) == 0.0
    tracker.push([], 9.0)
    assert tracker.state.label == "none"
    assert tracker.frustrated_for(9.0) == 0.0
    # A smile resets it.
    tracker.push(angry, 10.0)  # the first face after none sets the label at once
    assert tracker.frustrated_for(11.0) == pytest.approx(1.0)
    for t in (11.0, 12.0, 13.0):
        tracker.push([Face.of("happy", 0.95)], t)
    assert tracker.state.label == "happy"
    assert tracker.frustrated_for(13.0) == 0.0


def test_face_without_probabilities_uses_its_label() -> None:
    tracker = EmotionTracker()
    state = tracker.push([Face("surprised", 0.7)], 0.0)
    assert state == EmotionState("surprised", pytest.approx(0.7), 1)  # type: ignore[arg-type]


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        EmotionTracker(alpha=0.0)
    with pytest.raises(ValueError):
        EmotionTracker(min_frames=0)


def test_model_faces_fit_the_tracker() -> None:
    probs = {k: (0.7 if k == "sad" else 0.05) for k in model_emotion.LABELS}
    face = FaceEmotion((0, 0, 50, 50), "sad", 0.7, probs)
    assert EmotionTracker().push([face], 0.0) == EmotionState("sad", 0.7, 1)
