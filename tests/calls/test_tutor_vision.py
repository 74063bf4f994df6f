"""The tutor's eyes: OCR of rendered homework and the cheap per-frame checks.

OCR tests load RapidOCR once for the module (about 1.5 s) and read ~20 frames
at 0.3-1 s each; everything else is plain image arithmetic.

What OCR really returns, and the tests allow for (tutor/mathread.py repairs it):
  * spacing is arbitrary: "12÷3-8×2" for "12 ÷ 3 − 8 × 2";
  * the minus sign comes back as "−", "-" or "–", plus sometimes as full-width "＋";
  * a superscript square can come back as a plain digit: "x2" for "x²", "32" for "3²".
So texts are compared after `canon`, which drops spaces, unifies those symbols and
reads "²" as "2".
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from model.embedded import ocr as ocr_module
from model.embedded.ocr import Fragment, OcrEngine, merge_fragments
from model.errors import ModelLoadError
from tests.imagegen import (
    CLEAN,
    Style,
    printed_problem_set,
    random_style,
    render_problem,
)
from tutor.vision import (
    StillnessTracker,
    different_page,
    page_signature,
    page_similarity,
    sharpness,
)

_CANON = str.maketrans(
    {
        "\u2212": "-",  # − minus sign
        "\u2013": "-",  # – en dash
        "\u2014": "-",
        "\u00d7": "*",  # ×
        "\u00f7": "/",  # ÷
        "\uff0b": "+",  # ＋ full-width plus
        "\u03c7": "x",  # χ for an italic x
        "\u00b2": "2",  # ² as a plain digit (see the module docstring)
    }
)


def canon(text: str) -> str:
    return "".join(text.split()).translate(_CANON)


def shaken(img: NDArray[np.uint8], dx: float, dy: float, angle: float = 0.0) -> NDArray[np.uint8]:
    """The same page a moment later: moved by hand shake, edges filled from the border."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[0, 2] += dx
    m[1, 2] += dy
    out = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.uint8)


def noisier(
    img: NDArray[np.uint8], sigma: float, gain: float = 1.0, seed: int = 0
) -> NDArray[np.uint8]:
    noise = np.random.default_rng(seed).normal(0.0, sigma, img.shape)
    return np.clip(img.astype(np.float64) * gain + noise, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ OCR


@pytest.fixture(scope="module")
def engine() -> OcrEngine:
    return OcrEngine()


CLEAN_PROBLEMS = [
    ["3 + 4 \u00d7 2"],
    ["2x + 3 = 11"],
    ["x\u00b2 \u2212 5x + 6 = 0"],
    ["3/4 + 5/6"],
    ["15% of 80"],
]


@pytest.mark.models
@pytest.mark.parametrize("lines", CLEAN_PROBLEMS, ids=lambda ls: ls[0])
def test_reads_a_clean_print(engine: OcrEngine, lines: list[str]) -> None:
    result = engine.read(render_problem(lines, CLEAN))
    assert len(result) == 1
    assert canon(result[0].text) == canon(lines[0])
    assert 0.5 < result[0].score <= 1.0


@pytest.mark.models
def test_reads_degraded_camera_frames(engine: OcrEngine) -> None:
    """Tilt, blur, noise, shading and ruled paper together; one misread in eight is
    tolerated (the 100-frame benchmark reads ~97% exactly)."""
    rng = random.Random(11)
    problems = printed_problem_set(8, seed=5)
    misses = []
    for i, (_plain, lines) in enumerate(problems):
        style = random_style(rng)
        got = [line.text for line in engine.read(render_problem(lines, style, seed=i))]
        if canon("".join(got)) != canon("".join(lines)):
            misses.append((lines, got, style))
    assert len(misses) <= 1, misses


@pytest.mark.models
def test_worst_case_style_still_reads_digits_and_operators(engine: OcrEngine) -> None:
    style = Style(
        font=CLEAN.font, size=30, rotation=-7.0, blur=1.5, noise=12.0, lined_paper=True, light=0.4
    )
    result = engine.read(render_problem(["3x \u2212 4 > 5"], style, seed=3))
    assert canon(" ".join(r.text for r in result)) == "3x-4>5"


@pytest.mark.models
def test_split_fragments_come_back_as_one_line(engine: OcrEngine) -> None:
    # A wide gap makes the detector cut the line in two ("2x + 3" | "= 11").
    result = engine.read(render_problem(["2x + 3" + " " * 8 + "= 11"], CLEAN))
    assert [canon(r.text) for r in result] == ["2x+3=11"]


@pytest.mark.models
@pytest.mark.parametrize("rotation", [0.0, -6.0])
def test_a_system_comes_back_as_two_lines_in_order(engine: OcrEngine, rotation: float) -> None:
    lines = ["2x + y = 7", "x \u2212 y = 2"]
    style = dataclasses.replace(CLEAN, rotation=rotation, size=44)
    result = engine.read(render_problem(lines, style, seed=4))
    assert [canon(r.text) for r in result] == ["2x+y=7", "x-y=2"]
    assert result[0].box[1] < result[1].box[1]


@pytest.mark.models
def test_large_frames_are_read_and_boxes_are_in_frame_pixels(engine: OcrEngine) -> None:
    frame = render_problem(["Expand: (x + 2)(x \u2212 3)"], CLEAN, size=(1920, 1080), seed=2)
    result = engine.read(frame)
    assert [canon(r.text) for r in result] == ["Expand:(x+2)(x-3)"]
    x0, y0, x1, y1 = result[0].box
    assert 0 <= x0 < x1 <= 1920 and 0 <= y0 < y1 <= 1080
    # The block is centred (within the renderer's jitter) and 40 px type is ~40-80 px tall.
    assert abs((x0 + x1) / 2 - 960) < 100 and abs((y0 + y1) / 2 - 540) < 100
    assert 30 < y1 - y0 < 100


@pytest.mark.models
def test_small_text_in_a_hd_frame_is_found_by_the_second_look(engine: OcrEngine) -> None:
    # 16 px type in a 720p frame is 8 px for the shrunk detector: only the centre
    # re-read at full resolution finds it.
    frame = render_problem(
        ["x\u00b2 \u2212 5x \u2212 4 = 0"], dataclasses.replace(CLEAN, size=16), (1280, 720)
    )
    assert canon("".join(r.text for r in engine.read(frame))) == "x2-5x-4=0"


@pytest.mark.models
def test_a_blank_page_reads_as_nothing(engine: OcrEngine) -> None:
    assert engine.read(render_problem([""], CLEAN)) == []


@pytest.mark.models
def test_concurrent_reads_share_one_engine(engine: OcrEngine) -> None:
    frames = [render_problem(lines, CLEAN) for lines in (["2x + 3 = 11"], ["15% of 80"])]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(OcrEngine().read, frames))
    assert [canon(r[0].text) for r in results] == ["2x+3=11", "15%of80"]
    assert OcrEngine()._ocr is engine._ocr


def test_missing_rapidocr_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr_module, "_shared", None)
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # makes `import rapidocr` fail
    with pytest.raises(ModelLoadError, match="rapidocr"):
        OcrEngine()


def test_read_rejects_frames_that_are_not_rgb() -> None:
    ocr = OcrEngine.__new__(OcrEngine)  # no model needed: the check comes first
    with pytest.raises(ValueError, match="RGB"):
        ocr.read(np.zeros((4, 4, 5), np.uint8))


# ------------------------------------------------------------------ line merging


def frag(
    text: str, cx: float, cy: float, width: float, height: float = 40.0, angle: float = 0.0
) -> Fragment:
    """A detector box of `width` x `height` centred at (cx, cy), tilted by `angle` degrees."""
    a = math.radians(angle)
    u = (math.cos(a), math.sin(a))
    v = (-math.sin(a), math.cos(a))
    corners = [
        (-width / 2, -height / 2),
        (width / 2, -height / 2),
        (width / 2, height / 2),
        (-width / 2, height / 2),
    ]
    quad = tuple((cx + x * u[0] + y * v[0], cy + x * u[1] + y * v[1]) for x, y in corners)
    return Fragment(quad, text, 0.9)


def test_fragments_of_one_line_are_joined_left_to_right() -> None:
    lines = merge_fragments([frag("= 11", 400, 200, 100), frag("2x + 3", 220, 202, 160)])
    assert [line.text for line in lines] == ["2x + 3 = 11"]
    assert lines[0].box == (140, 180, 450, 222)


def test_tilted_lines_merge_along_the_text_not_the_image_axes() -> None:
    # At 6 degrees a fragment 200 px further right sits 21 px lower: the end of the
    # first line is nearly level with the start of the second.
    drop = 200 * math.tan(math.radians(6))
    fragments = [
        frag("= 2", 400, 300 + drop, 60, angle=6),
        frag("2x + y", 220, 240, 120, angle=6),
        frag("x - y", 200, 300, 100, angle=6),
        frag("= 7", 420, 240 + drop, 60, angle=6),
    ]
    assert [line.text for line in merge_fragments(fragments)] == ["2x + y = 7", "x - y = 2"]


def test_columns_far_apart_stay_separate_and_read_left_to_right() -> None:
    fragments = [frag("b) x - 4 = 2", 520, 100, 180), frag("a) 2x + 3 = 11", 120, 102, 200)]
    assert [line.text for line in merge_fragments(fragments)] == ["a) 2x + 3 = 11", "b) x - 4 = 2"]


def test_merged_score_weights_fragments_by_length() -> None:
    a = dataclasses.replace(frag("2x + 3", 100, 100, 120), score=1.0)
    b = dataclasses.replace(frag("=", 200, 100, 20), score=0.4)
    (line,) = merge_fragments([a, b])
    assert line.score == pytest.approx((6 * 1.0 + 1 * 0.4) / 7)


# ------------------------------------------------------------------ frame checks


@pytest.mark.parametrize("i", range(3))
def test_blur_lowers_sharpness(i: int) -> None:
    _plain, lines = printed_problem_set(3, seed=2)[i]
    style = dataclasses.replace(random_style(random.Random(i)), blur=0.0, noise=3.0)
    sharp = render_problem(lines, style, seed=i)
    blurred = render_problem(lines, dataclasses.replace(style, blur=1.5), seed=i)
    out_of_focus = noisier(np.asarray(cv2.GaussianBlur(sharp, (0, 0), 3.0), np.uint8), 3.0)
    assert sharpness(blurred) < 0.7 * sharpness(sharp)
    assert sharpness(out_of_focus) < 0.5 * sharpness(sharp)


# A realistic desk scene: the sheet's edges, ruled lines and shading move with the
# phone. (A bare line of text on paper filling the frame can slide ~20 px under
# the default threshold; the sharpness check still rejects frames smeared by it.)
DESK = dataclasses.replace(CLEAN, light=0.25, lined_paper=True, rotation=2.0, noise=3.0)


def test_still_page_turns_still_after_hold() -> None:
    page = render_problem(["2x + 3 = 11"], DESK, seed=1)
    tracker = StillnessTracker(hold_s=1.0)
    # Sensor noise, a 1-2 px tremor and auto exposure are not movement.
    frames = [
        page,
        noisier(page, 5.0, gain=0.9, seed=1),
        shaken(noisier(page, 5.0, gain=1.1, seed=2), 2, -1),
        noisier(page, 8.0, gain=0.85, seed=3),
    ]
    assert [tracker.push(f, t) for f, t in zip(frames, [0.0, 0.5, 1.0, 1.5], strict=True)] == [
        False,
        False,
        True,
        True,
    ]


def test_moving_or_changing_pages_are_never_still() -> None:
    page = render_problem(["2x + 3 = 11"], DESK, seed=1)
    other = render_problem(["x\u00b2 \u2212 5x + 6 = 0"], DESK, seed=11)
    tracker = StillnessTracker(hold_s=1.0)
    frames = [page, shaken(page, 35, 20), other, shaken(other, -30, -20), page, other]
    assert not any(tracker.push(f, float(t)) for t, f in enumerate(frames))


def test_movement_restarts_the_hold() -> None:
    page = render_problem(["2x + 3 = 11"], DESK, seed=1)
    moved = shaken(page, 40, 25)
    tracker = StillnessTracker(hold_s=1.0)
    pushes = [(page, 0.0), (page, 1.0), (moved, 2.0), (moved, 2.5), (moved, 3.0)]
    assert [tracker.push(f, t) for f, t in pushes] == [False, True, False, False, True]


def test_page_signature_is_small_and_normalised() -> None:
    sig = page_signature(render_problem(["2x + 3 = 11"], CLEAN))
    assert sig.dtype == np.float32 and sig.shape == (96, 128)
    assert float(np.linalg.norm(sig)) == pytest.approx(1.0, abs=1e-4)
    assert abs(float(sig.mean())) < 1e-4


SIGNATURE_CASES = list(range(6))


@pytest.mark.parametrize("i", SIGNATURE_CASES)
def test_same_page_shaken_relit_or_noisier_is_not_a_different_page(i: int) -> None:
    _plain, lines = printed_problem_set(6, seed=8)[i]
    style = random_style(random.Random(100 + i))
    page = render_problem(lines, style, seed=i)
    sig = page_signature(page)
    for moved in (
        shaken(page, 14, -9),
        shaken(page, -18, 12, angle=0.6),
        noisier(page, 8.0, seed=i),
        noisier(page, 2.0, gain=0.8, seed=i),
    ):
        assert not different_page(sig, page_signature(moved))


@pytest.mark.parametrize("i", SIGNATURE_CASES)
def test_another_problem_is_a_different_page(i: int) -> None:
    problems = printed_problem_set(12, seed=8)
    style = random_style(random.Random(100 + i))
    page = page_signature(render_problem(problems[i][1], style, seed=i))
    # Next problem on the same sheet, same font and place; and one on another sheet.
    same_sheet = page_signature(render_problem(problems[i + 1][1], style, seed=i))
    other_sheet = page_signature(
        render_problem(problems[i + 6][1], random_style(random.Random(i)), seed=50 + i)
    )
    assert different_page(page, same_sheet)
    assert different_page(page, other_sheet)
    assert page_similarity(page, page) == pytest.approx(1.0, abs=1e-4)
