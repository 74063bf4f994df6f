"""Whisper's window floor: what the words cost and how well they are heard.

    .venv/bin/python -m bench.asr_window [--windows 4,8,15,30] [--leads 0,3,7]

The embedded ASR pads (or cuts) each utterance's log-mel features to a window
before the encoder: at least the floor, or twice the speech when that is
longer. The encoder's cost grows with the window; Whisper was trained on
30 s windows, so short ones could hear worse. This measures both on the
utterances the tests and benchmarks speak (English by Piper, Spanish by
espeak-ng), each sent through Opus at 32 kbit/s and back as a call's
microphone is, with 0, 60 and 140 ms of silence in front (where the VAD cuts
the turn varies).

Per window floor: word error rate over every clip (numbers compared as
words, "color" and "colour" count as different, which is the same for every
window), the median and p95 time of one transcription (run on this thread,
the machine otherwise idle), and each misheard clip. Baseline in the same run:
the 30 s window, Whisper's own.
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import time

import av
import numpy as np
from numpy.typing import NDArray

from bench.common import ms, percentile, speech_clip
from model.audio import resample_int16
from model.embedded.asr import WhisperASR, whisper_base_dir
from tutor.speech import number_to_words

ENGLISH = [
    "Can you help me with this?",
    "Is it x equals six?",
    "x equals five.",
    "Is it four?",
    "Two x equals eight.",
    "Subtract three from both sides.",
    "Solve two x plus three equals eleven.",
    "Solve x plus three equals five.",
    "I don't get it.",
    "Just show me.",
    "Say that again.",
    "Wait, stop please.",
    "I would like a cup of coffee with milk please.",
    "What's the score?",
    "Who scored?",
    "How long is left?",
    "Why was that offside?",
    "What is a foul?",
    "What is a tiebreak?",
]
SPANISH = [
    "Quiero un café con leche, por favor.",
    "¿Dónde está la estación de tren?",
    "Mi hermano vive en Barcelona.",
]


def words(text: str) -> list[str]:
    text = re.sub(r"\d+", lambda m: f" {number_to_words(m.group())} ", text.lower())
    return re.sub(r"[^a-záéíóúñü' ]+", " ", text).replace("'", "").split()


def word_errors(reference: str, heard: str) -> tuple[int, int]:
    """(edits, reference words): the Levenshtein distance over words."""
    ref, hyp = words(reference), words(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (r != h))
    return row[-1], len(ref)


def through_opus(pcm: NDArray[np.int16]) -> NDArray[np.float32]:
    """48 kHz speech as the gateway hears it: Opus at 32 kbit/s, then 16 kHz float."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48_000, "mono", "s16"
    encoder.bit_rate = 32_000
    decoder = av.CodecContext.create("opus", "r")
    decoder.sample_rate, decoder.layout = 48_000, "mono"
    out: list[NDArray[np.float32]] = []
    for start in range(0, len(pcm) - 960, 960):
        frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 960], "s16", "mono")
        frame.sample_rate, frame.pts = 48_000, start
        for packet in encoder.encode(frame):  # type: ignore[attr-defined]
            for decoded in decoder.decode(packet):  # type: ignore[attr-defined]
                samples = decoded.to_ndarray().reshape(-1)
                scale = 32768.0 if samples.dtype == np.int16 else 1.0
                out.append(samples.astype(np.float32) / scale)
    joined = (np.clip(np.concatenate(out), -1, 1) * 32767).astype(np.int16)
    return resample_int16(joined, 48_000, 16_000).astype(np.float32) / 32768.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", default="4,8,15,30", help="floors in seconds")
    parser.add_argument("--leads", default="0,3,7", help="20 ms frames of silence in front")
    args = parser.parse_args()
    windows = [float(w) for w in args.windows.split(",")]
    if 30.0 not in windows:
        windows.append(30.0)
    leads = [int(n) for n in args.leads.split(",")]
    clips: list[tuple[str, str, NDArray[np.float32]]] = []
    for language, texts in (("en", ENGLISH), ("es", SPANISH)):
        for text in texts:
            received = through_opus(speech_clip(text, language))
            for lead in leads:
                silence = np.zeros(lead * 320, np.float32)
                clips.append((text, language, np.concatenate([silence, received, silence[:1600]])))
    asr = WhisperASR(whisper_base_dir())
    asr.transcribe(clips[0][2], ["en"])  # first call pays CTranslate2's set-up
    print(f"{len(clips)} clips, {statistics.mean(len(c[2]) for c in clips) / 16000:.1f} s each")
    rows = []
    for window in windows:
        asr.set_window(window)
        errors = total = 0
        took: list[float] = []
        misheard: collections.Counter[tuple[str, str]] = collections.Counter()
        for text, language, audio in clips:
            started = time.perf_counter()
            heard = asr.transcribe(audio, [language]).text
            took.append(time.perf_counter() - started)
            edits, count = word_errors(text, heard)
            errors, total = errors + edits, total + count
            if edits:
                misheard[(text, heard)] += 1
        rows.append((window, errors / total, percentile(took, 50), percentile(took, 95)))
        print(f"\nfloor {window:.0f} s: WER {100 * errors / total:.1f}% ({errors}/{total} words)")
        for (text, heard), count in sorted(misheard.items()):
            print(f"    {count}x {text!r} -> {heard!r}")
    base = next(r for r in rows if r[0] == 30.0)
    print(f"\n{'window floor':>12} {'WER':>6} {'p50':>8} {'p95':>8}  vs 30 s (Whisper's own)")
    for window, wer, p50, p95 in rows:
        print(
            f"{window:10.0f} s {100 * wer:5.1f}% {ms(p50):>8} {ms(p95):>8}  "
            f"WER {100 * (wer - base[1]):+.1f} points, time x{p50 / base[2]:.2f}"
        )


if __name__ == "__main__":
    main()
