"""The user's emotional state over time, from per-frame face readings (pure logic, no model).

A single frame says little: the detector misses a face now and then, and the
classifier's label can jump on a blink or a head turn. `EmotionTracker` smooths
the largest face's probabilities, changes the label only once a new one has led
for a while, and reports `none` only after no face has been seen for a few
seconds. It keeps labels and scores only, never pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

LABELS = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
"""The protocol's expression names (the same as model.embedded.emotion.LABELS)."""
NONE = "none"
"""The label when no face is in the picture."""
FRUSTRATED = frozenset({"angry", "sad", "fearful", "disgusted"})
"""Labels the tutor treats as frustration (it slows down and encourages)."""


class FaceLike(Protocol):
    """One face's reading, as `model.embedded.emotion.FaceEmotion` gives it."""

    @property
    def box(self) -> tuple[int, int, int, int]: ...
    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def probabilities(self) -> Mapping[str, float]: ...


@dataclass(frozen=True)
class EmotionState:
    label: str
    """One of LABELS, or "none" when no face is seen."""
    score: float
    """Smoothed probability of `label` (0 for none)."""
    faces: int
    """Faces in the picture."""

    def as_event(self) -> dict[str, object]:
        """The payload of an `emotion.state` event."""
        return {"label": self.label, "score": round(self.score, 2), "faces": self.faces}


NO_FACE = EmotionState(NONE, 0.0, 0)


class EmotionTracker:
    """Temporal smoothing so one odd frame does not flip the state.

    - The largest face's probabilities are averaged exponentially
      (`alpha` = weight of the newest sample).
    - The label changes only when another label has led the average for
      `min_frames` consecutive samples with a face, or leads it by `margin` at once.
      The first face after `none` sets the label at once.
    - The face count changes when a new count has been seen `min_frames` times in a
      row (a false detection in one frame is not a second person).
    - `none` (faces 0) once no face has been seen for `none_after_s` seconds.

    `push` returns the new state only when the label or the face count changed.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        min_frames: int = 2,
        none_after_s: float = 2.0,
        margin: float = 0.4,
    ) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        if min_frames < 1:
            raise ValueError("min_frames must be at least 1")
        self.alpha = alpha
        self.min_frames = min_frames
        self.none_after_s = none_after_s
        self.margin = margin
        self._state = NO_FACE
        self._smoothed: dict[str, float] = {}
        self._last_face_t: float | None = None
        self._pending_label: str | None = None
        self._pending_label_n = 0
        self._pending_faces: int | None = None
        self._pending_faces_n = 0
        self._frustrated_since: float | None = None

    @property
    def state(self) -> EmotionState:
        """The current state; its score follows the smoothed probability between changes."""
        return self._state

    def push(self, faces: Sequence[FaceLike], t: float) -> EmotionState | None:
        """Add one sampled frame's faces at time `t` (seconds); the new state if it changed."""
        before = self._state
        if faces:
            self._face_seen(faces, t)
        elif (
            before.label != NONE
            and self._last_face_t is not None
            and t - self._last_face_t >= self.none_after_s
        ):
            self._reset()
        after = self._state
        if after.label != before.label:
            if after.label not in FRUSTRATED:
                self._frustrated_since = None
            elif before.label not in FRUSTRATED:
                self._frustrated_since = t
        if (after.label, after.faces) != (before.label, before.faces):
            return after
        return None

    def frustrated_for(self, t: float) -> float:
        """Seconds the state has continuously been angry, sad, fearful or disgusted (else 0)."""
        if self._frustrated_since is None or self._stale(t):
            return 0.0
        return max(0.0, t - self._frustrated_since)

    def _stale(self, t: float) -> bool:
        return self._last_face_t is None or t - self._last_face_t >= self.none_after_s

    def _reset(self) -> None:
        self._state = NO_FACE
        self._smoothed = {}
        self._pending_label, self._pending_label_n = None, 0
        self._pending_faces, self._pending_faces_n = None, 0

    def _face_seen(self, faces: Sequence[FaceLike], t: float) -> None:
        self._last_face_t = t
        largest = max(faces, key=lambda f: f.box[2] * f.box[3])
        probs = _probabilities(largest)
        count = len(faces)
        if self._state.label == NONE:
            self._smoothed = probs
            label = max(LABELS, key=lambda k: probs[k])
            self._state = EmotionState(label, probs[label], count)
            return
        a = self.alpha
        self._smoothed = {k: a * probs[k] + (1 - a) * self._smoothed[k] for k in LABELS}
        label = self._next_label()
        faces_now = self._next_faces(count)
        self._state = EmotionState(label, self._smoothed[label], faces_now)

    def _next_label(self) -> str:
        current = self._state.label
        smoothed = self._smoothed
        leader = max(LABELS, key=lambda k: smoothed[k])
        if smoothed[leader] <= smoothed[current]:
            self._pending_label, self._pending_label_n = None, 0
            return current
        if leader == self._pending_label:
            self._pending_label_n += 1
        else:
            self._pending_label, self._pending_label_n = leader, 1
        if (
            self._pending_label_n >= self.min_frames
            or smoothed[leader] - smoothed[current] >= self.margin
        ):
            self._pending_label, self._pending_label_n = None, 0
            return leader
        return current

    def _next_faces(self, count: int) -> int:
        if count == self._state.faces:
            self._pending_faces, self._pending_faces_n = None, 0
            return count
        if count == self._pending_faces:
            self._pending_faces_n += 1
        else:
            self._pending_faces, self._pending_faces_n = count, 1
        if self._pending_faces_n >= self.min_frames:
            self._pending_faces, self._pending_faces_n = None, 0
            return count
        return self._state.faces


def _probabilities(face: FaceLike) -> dict[str, float]:
    """The face's probabilities over LABELS (its own label and score if it gives none)."""
    given = face.probabilities
    if not given:
        return {k: (float(face.score) if k == face.label else 0.0) for k in LABELS}
    return {k: float(given.get(k, 0.0)) for k in LABELS}
