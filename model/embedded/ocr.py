"""Reading printed text in camera frames with RapidOCR and its bundled PP-OCR models.

Everything runs offline: the models ship inside the rapidocr wheel and are
passed to it by path, so it never reaches for its download code. Loaded once
per process; `read` is blocking (callers run it in a worker thread).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from model.errors import ModelLoadError
from model.image import as_rgb
from model.types import TextLine

# Frames larger than this are shrunk first: phone text is legible well below it,
# and detection time grows with the pixel count.
MAX_LONG_SIDE = 1280
# The detector sees at most this many pixels on the long side. 640 keeps a 720p
# frame around a third of a second on two cores; text too small to be found at
# that scale is looked for again by `_second_look`.
DET_LONG_SIDE = 640
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}


#: A read line is the model layer's TextLine (text, score, box x0, y0, x1, y1).
OcrLine = TextLine


@dataclass(frozen=True)
class Fragment:
    """One piece of text as the detector found it: a quadrilateral (top-left,
    top-right, bottom-right, bottom-left, in image px), its text and confidence."""

    quad: tuple[tuple[float, float], ...]
    text: str
    score: float


class _QuietEmpty(logging.Filter):
    """RapidOCR warns "The text detection result is empty" on every frame without
    text; for a camera that is the normal case, not something to log each second."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "detection result is empty" not in record.getMessage()


# The recogniser is trained on Chinese text and sometimes answers in full-width
# forms ("＋", "２", "（"); fold them to ASCII. Nothing else is changed: telling
# "×" from "x" or "−" from "-" is the math reader's business.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_shared: Any = None  # the RapidOCR instance, one per process
_load_lock = threading.Lock()
# RapidOCR keeps per-call state on the instance (update_params), so calls are
# serialised; onnxruntime already uses every core inside a single call.
_read_lock = threading.Lock()


def _load_rapidocr() -> Any:
    try:
        import rapidocr
        from rapidocr import EngineType, RapidOCR
    except ImportError as exc:
        raise ModelLoadError(
            "the tutor reads homework with RapidOCR, which is not installed: "
            "pip install rapidocr==3.10.0 (it bundles its PP-OCR models)"
        ) from exc

    model_dir = Path(rapidocr.__file__).resolve().parent / "models"
    params: dict[str, Any] = {
        "Global.log_level": "warning",
        # Printed homework is upright; the 0/180 degree classifier only costs time.
        "Global.use_cls": False,
        "Det.limit_type": "max",
        "Det.limit_side_len": DET_LONG_SIDE,
    }
    for section, name in MODEL_FILES.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelLoadError(
                f"RapidOCR model {path} is missing; reinstall rapidocr==3.10.0 "
                "(the tutor never downloads models at run time)"
            )
        # An explicit model_path is what keeps RapidOCR away from its downloader.
        params[f"{section}.model_path"] = str(path)
        params[f"{section}.engine_type"] = EngineType.ONNXRUNTIME

    # Its logger is created at import at INFO level with its own handler.
    rapid_log = logging.getLogger("RapidOCR")
    rapid_log.setLevel(logging.WARNING)
    if not any(isinstance(f, _QuietEmpty) for f in rapid_log.filters):
        rapid_log.addFilter(_QuietEmpty())
    try:
        engine = RapidOCR(params=params)
        # Models load lazily on the first call; load them now so that a broken
        # install fails at start-up and the first real frame is not slow.
        engine(_warmup_image())
    except Exception as exc:
        raise ModelLoadError(f"RapidOCR failed to load its bundled models: {exc}") from exc
    return engine


def _warmup_image() -> NDArray[np.uint8]:
    img = np.full((96, 320, 3), 255, np.uint8)
    cv2.putText(img, "2x + 3 = 11", (12, 64), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (0, 0, 0), 3)
    return img


class OcrEngine:
    """RapidOCR loaded once per process, shared by all calls; read() is blocking
    (callers run it in a worker thread) and thread-safe (a lock)."""

    def __init__(self) -> None:
        global _shared
        with _load_lock:
            if _shared is None:
                _shared = _load_rapidocr()
            self._ocr: Any = _shared

    def read(self, rgb: NDArray[np.uint8]) -> list[OcrLine]:
        """The text lines of `rgb` (H x W x 3, RGB) in reading order, fragments of
        one printed line merged into one OcrLine."""
        frame = as_rgb(rgb)
        h, w = frame.shape[:2]
        scale = min(1.0, MAX_LONG_SIDE / max(h, w))
        if scale < 1.0:
            frame = _resize(frame, (round(w * scale), round(h * scale)), cv2.INTER_AREA)
        # RapidOCR takes arrays as BGR.
        bgr = np.ascontiguousarray(frame[:, :, ::-1])
        fragments = self._fragments(bgr)
        fragments = self._second_look(bgr, fragments)
        lines = merge_fragments(fragments)
        return [_scaled(line, 1.0 / scale, w, h) for line in lines]

    def _fragments(self, bgr: NDArray[np.uint8]) -> list[Fragment]:
        with _read_lock:
            result = self._ocr(bgr)
        boxes = getattr(result, "boxes", None)
        txts = getattr(result, "txts", None)
        scores = getattr(result, "scores", None)
        if boxes is None or txts is None or scores is None:
            return []
        out = []
        for quad, text, score in zip(boxes, txts, scores, strict=False):
            text = text.translate(_FULLWIDTH)
            if text.strip():
                pts = tuple((float(x), float(y)) for x, y in np.asarray(quad).reshape(4, 2))
                out.append(Fragment(pts, text.strip(), float(score)))
        return out

    def _read_region(
        self, bgr: NDArray[np.uint8], region: tuple[int, int, int, int], factor: float
    ) -> list[Fragment]:
        """Fragments of `region` (x0, y0, x1, y1) enlarged by `factor`, in frame px."""
        x0, y0, x1, y1 = region
        size = (max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor)))
        crop = _resize(np.ascontiguousarray(bgr[y0:y1, x0:x1]), size, cv2.INTER_CUBIC)
        return [
            Fragment(tuple((x / factor + x0, y / factor + y0) for x, y in f.quad), f.text, f.score)
            for f in self._fragments(crop)
        ]

    def _second_look(self, bgr: NDArray[np.uint8], fragments: list[Fragment]) -> list[Fragment]:
        """Nothing found: look again at the middle of the frame, where the student
        aims, enlarged so the detector sees it at twice the scale (a 720p frame at
        full resolution, a VGA one upscaled 2x). This rescues text too small for
        the shrunk whole frame; it costs one more pass, on empty frames only."""
        if fragments:
            # Text the detector found is read well even when small (12 px glyphs on a
            # 640 px frame): an enlarged re-read measured no better, so none is done.
            return fragments
        h, w = bgr.shape[:2]
        if min(h, w) < 64:
            return fragments
        region = (w // 4, h // 4, w - w // 4, h - h // 4)
        factor = DET_LONG_SIDE / max(w - 2 * (w // 4), h - 2 * (h // 4))
        return self._read_region(bgr, region, max(factor, 1.0))


def _scaled(line: OcrLine, k: float, w: int, h: int) -> OcrLine:
    x0, y0, x1, y1 = line.box
    box = (
        max(0, min(w, math.floor(x0 * k))),
        max(0, min(h, math.floor(y0 * k))),
        max(0, min(w, math.ceil(x1 * k))),
        max(0, min(h, math.ceil(y1 * k))),
    )
    return OcrLine(line.text, line.score, box)


# ------------------------------------------------------------- line merging

# Two fragments are on one line when the second's centre lies within this many
# line heights of the first's centre line (a neighbouring printed line sits ~1.5
# heights away) ...
SAME_LINE_OFFSET = 0.5
# ... and the gap between them is at most this many heights: OCR splits "2x + 3"
# from "= 11" at a wide space, but two columns of a worksheet stay apart.
MAX_WORD_GAP = 3.5


def _geometry(f: Fragment) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """(centre, unit direction of the text, height) of a fragment's quad."""
    q = np.array(f.quad, np.float64)
    direction = (q[1] - q[0]) + (q[2] - q[3])
    norm = float(np.hypot(*direction))
    unit = direction / norm if norm > 1e-6 else np.array([1.0, 0.0])
    height = float((np.hypot(*(q[3] - q[0])) + np.hypot(*(q[2] - q[1]))) / 2)
    return q.mean(axis=0), unit, max(height, 1.0)


def merge_fragments(fragments: list[Fragment]) -> list[OcrLine]:
    """Group fragments into printed lines and order them for reading.

    Works in the page's own frame (the mean text direction), so a tilted phone
    does not turn one line into two or interleave neighbouring lines.
    """
    if not fragments:
        return []
    geo = [_geometry(f) for f in fragments]
    parent = list(range(len(fragments)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(fragments)):
        ci, ui, hi = geo[i]
        for j in range(i + 1, len(fragments)):
            cj, uj, hj = geo[j]
            u = ui + uj
            u /= max(float(np.hypot(*u)), 1e-6)
            d = cj - ci
            across = abs(float(u[0] * d[1] - u[1] * d[0]))
            h = max(hi, hj)
            if across > SAME_LINE_OFFSET * h or max(hi, hj) > 2.2 * min(hi, hj):
                continue
            # Gap along the line between the two fragments' extents.
            ext_i = _extent(fragments[i], ci, u)
            ext_j = _extent(fragments[j], ci, u)
            gap = max(ext_i[0], ext_j[0]) - min(ext_i[1], ext_j[1])
            if gap <= MAX_WORD_GAP * h:
                parent[root(j)] = root(i)

    groups: dict[int, list[int]] = {}
    for i in range(len(fragments)):
        groups.setdefault(root(i), []).append(i)

    page_u = np.mean([g[1] for g in geo], axis=0)
    page_u /= max(float(np.hypot(*page_u)), 1e-6)
    page_down = np.array([-page_u[1], page_u[0]])

    rows: list[tuple[float, float, float, OcrLine]] = []
    for members in groups.values():
        members.sort(key=lambda k: float(geo[k][0] @ page_u))
        text = " ".join(fragments[k].text for k in members)
        weights = [max(len(fragments[k].text), 1) for k in members]
        score = sum(fragments[k].score * wgt for k, wgt in zip(members, weights, strict=True))
        pts = np.array([p for k in members for p in fragments[k].quad], np.float64)
        box = (
            math.floor(pts[:, 0].min()),
            math.floor(pts[:, 1].min()),
            math.ceil(pts[:, 0].max()),
            math.ceil(pts[:, 1].max()),
        )
        centre = np.mean([geo[k][0] for k in members], axis=0)
        height = float(np.mean([geo[k][2] for k in members]))
        rows.append(
            (
                float(centre @ page_down),
                float((pts @ page_u).min()),
                height,
                OcrLine(text, score / sum(weights), box),
            )
        )

    # Top to bottom; lines whose centres are within half a line height of each
    # other form one row (e.g. two worksheet columns) and are read left to right.
    rows.sort(key=lambda r: r[0])
    ordered: list[OcrLine] = []
    i = 0
    while i < len(rows):
        j = i + 1
        while j < len(rows) and rows[j][0] - rows[i][0] < 0.5 * rows[i][2]:
            j += 1
        ordered.extend(r[3] for r in sorted(rows[i:j], key=lambda r: r[1]))
        i = j
    return ordered


def _extent(
    f: Fragment, origin: NDArray[np.float64], u: NDArray[np.float64]
) -> tuple[float, float]:
    proj = (np.array(f.quad, np.float64) - origin) @ u
    return float(proj.min()), float(proj.max())


def _resize(img: NDArray[np.uint8], size: tuple[int, int], interpolation: int) -> NDArray[np.uint8]:
    """cv2.resize to (width, height), typed for mypy."""
    return np.asarray(cv2.resize(img, size, interpolation=interpolation), dtype=np.uint8)
