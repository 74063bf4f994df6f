"""Media files for Chromium's fake capture devices: a WAV for the microphone, a Y4M for
the camera. Chromium loops both files, so the speech is padded with silence."""

from __future__ import annotations

import dataclasses
import wave
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE = 48_000


def speak_english(text: str) -> NDArray[np.int16]:
    """`text` in the project's own English voice (Piper), at 48 kHz mono."""
    from model.audio import resample_int16
    from model.embedded.tts import PiperEnglishVoice

    voice = PiperEnglishVoice()
    pcm = np.concatenate([samples for _, samples in voice.sentences(text)])
    return resample_int16(pcm, voice.sample_rate, SAMPLE_RATE)


def write_wav(
    path: Path,
    pcm: NDArray[np.int16],
    *,
    lead_s: float = 0.5,
    tail_s: float = 3.0,
    rate: int = SAMPLE_RATE,
) -> Path:
    """16-bit mono WAV: `lead_s` of silence, the speech, then `tail_s` of silence."""
    silence = np.zeros(int(rate * lead_s), np.int16), np.zeros(int(rate * tail_s), np.int16)
    audio = np.concatenate([silence[0], pcm.astype(np.int16, copy=False), silence[1]])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(audio.tobytes())
    return path


def rgb_to_i420(rgb: NDArray[np.uint8]) -> bytes:
    """One frame as planar YUV 4:2:0, full range (JFIF / `C420jpeg`)."""
    height, width, _ = rgb.shape
    if width % 2 or height % 2:
        raise ValueError("Y4M 4:2:0 frames need even width and height")
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    v = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b

    def quarter(plane: NDArray[np.float32]) -> NDArray[np.float32]:
        out: NDArray[np.float32] = plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
        return out

    planes = (y, quarter(u), quarter(v))
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: Path, frames: list[NDArray[np.uint8]], fps: int = 15) -> Path:
    """A YUV4MPEG2 file of RGB frames (all the same size)."""
    height, width, _ = frames[0].shape
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n")
            out.write(rgb_to_i420(frame))
    return path


def colour_bars(width: int = 320, height: int = 240, count: int = 6) -> list[NDArray[np.uint8]]:
    """A few frames of colour bars with a moving square, so a preview visibly plays."""
    bars = np.array(
        [[235, 235, 235], [235, 235, 16], [16, 235, 235], [16, 235, 16], [235, 16, 235]],
        np.uint8,
    )
    base = bars[(np.arange(width) * len(bars)) // width][None, :, :].repeat(height, axis=0)
    frames = []
    for k in range(count):
        frame = base.copy()
        x = (k * width) // count
        frame[height // 3 : height // 3 + 40, x : x + 40] = (20, 20, 120)
        frames.append(frame)
    return frames


def printed_problem(lines: list[str], width: int = 640, height: int = 480) -> NDArray[np.uint8]:
    """A camera frame of a printed problem: tests/imagegen.py when it is there, else plain
    DejaVu Sans on white."""
    try:
        from tests.imagegen import CLEAN, render_problem
    except ImportError:
        return _plain_problem(lines, width, height)
    # Held close, as a student does when asking for help: large, sharp print.
    return render_problem(lines, dataclasses.replace(CLEAN, size=56), size=(width, height))


def _plain_problem(lines: list[str], width: int, height: int) -> NDArray[np.uint8]:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 56)
    top = height // 2 - 40 * len(lines)
    for i, line in enumerate(lines):
        w = font.getbbox(line)[2]
        draw.text(((width - w) // 2, top + i * 80), line, font=font, fill=(20, 20, 20))
    out: NDArray[np.uint8] = np.asarray(img, dtype=np.uint8)
    return out
