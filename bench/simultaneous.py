"""Simultaneous interpretation: ear-voice span, translation quality, pacing, in one run.

    python -m bench.simultaneous [--seconds 60] [--direction en-es|es-en|both] [--set NAME=VALUE]

For each direction, a monologue of the benchmark's sentences (`bench/monologues.py`)
is spoken by the embedded model's own voices (Piper for English, espeak-ng for
Spanish) with short pauses between sentences, and streamed in real time, 32 ms at a
time, into the interpreter (`translate.simultaneous`, Whisper base + Apertium +
Piper/espeak-ng, in this process). Then:

- ear-voice span (EVS): for every source word, when it was spoken (Whisper's word
  timings on each sentence heard alone, before the run) to when its translation is
  heard. Words are matched to the committed words of each segment; a segment's
  translation is spread over its voice in word order (the i-th of n words is heard at
  (i + 0.5) / n of the voice). "Heard" is when the voice plays on a listener who plays
  each piece as it arrives, after the one before;
- chrF (character 6-grams, beta 2, as sacrebleu's default) of the whole translation
  against the human reference, and of the turn-by-turn interpreter (each sentence
  transcribed as one utterance, translated whole: what `translate/scenario.py` does)
  on the same audio; the target is simultaneous >= turn-by-turn - 5;
- overlap: no piece of voice may start before the previous one has finished;
- lag growth: the slope of EVS over the source time, as seconds per 60 s.

Targets on a 2-core CPU: median EVS <= 2.5 s, p90 <= 4 s. The machine's load average
is printed: other processes on the CPU inflate every time measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import difflib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from numpy.typing import NDArray

from bench.monologues import MONOLOGUES
from model.audio import int16_to_float, resample_int16
from model.base import OmniSession
from model.embedded.backend import EmbeddedModel
from model.types import INPUT_SAMPLE_RATE
from translate.simultaneous import (
    Directions,
    OutputAudio,
    OutputDelta,
    RenderedSegment,
    SimultaneousInterpreter,
    SimultaneousSettings,
    SourceDelta,
)
from translate.simultaneous.agreement import normalized

CHUNK = 512
PAIR = ("en", "es")


# -- chrF -------------------------------------------------------------------------------
def chrf(hypothesis: str, reference: str, order: int = 6, beta: float = 2.0) -> float:
    """chrF in points (0-100): character n-grams without whitespace, precision and recall
    averaged over n = 1..order, then an F-score weighting recall `beta` times."""
    hyp, ref = "".join(hypothesis.split()), "".join(reference.split())
    precisions, recalls = [], []
    for n in range(1, order + 1):
        h = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
        r = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
        if not h or not r:
            continue
        match = sum((h & r).values())
        precisions.append(match / sum(h.values()))
        recalls.append(match / sum(r.values()))
    if not precisions:
        return 0.0
    precision, recall = float(np.mean(precisions)), float(np.mean(recalls))
    if precision + recall == 0:
        return 0.0
    return 100 * (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


# -- the monologue ----------------------------------------------------------------------
@dataclass(frozen=True)
class SpokenWord:
    text: str
    at_s: float
    """Middle of the word in the monologue."""


@dataclass
class Monologue:
    language: str
    audio: NDArray[np.float32]
    """16 kHz mono."""
    sentences: list[tuple[str, str]]
    """(source, reference translation)."""
    clips: list[NDArray[np.float32]]
    words: list[SpokenWord] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.audio) / INPUT_SAMPLE_RATE

    @property
    def reference(self) -> str:
        return " ".join(ref for _, ref in self.sentences)


def _trimmed(pcm: NDArray[np.int16], level: int = 300) -> NDArray[np.int16]:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > level)
    return pcm[int(loud[0]) : int(loud[-1]) + 1] if len(loud) else pcm


async def build_monologue(
    session: OmniSession, language: str, seconds: float, gaps: Sequence[float] = (0.5, 0.65, 0.4)
) -> Monologue:
    """Sentences spoken by the bundled voices, one after another, up to `seconds`;
    each word's time from Whisper on its sentence alone (matched to the text)."""
    pieces: list[NDArray[np.float32]] = []
    clips: list[NDArray[np.float32]] = []
    chosen: list[tuple[str, str]] = []
    words: list[SpokenWord] = []
    at = 0.3
    pieces.append(np.zeros(int(0.3 * INPUT_SAMPLE_RATE), np.float32))
    for i, (text, reference) in enumerate(MONOLOGUES[language]):
        chunks = [c async for c in session.synthesize(text, language, sample_rate=48_000)]
        pcm = _trimmed(np.concatenate([c.pcm for c in chunks]))
        clip = int16_to_float(resample_int16(pcm, 48_000, INPUT_SAMPLE_RATE))
        if at + len(clip) / INPUT_SAMPLE_RATE > seconds and chosen:
            break
        heard = await session.transcribe_words(clip, [language])
        words += _timed_source_words(text, heard.words, at)
        gap = gaps[i % len(gaps)]
        pieces += [clip, np.zeros(int(gap * INPUT_SAMPLE_RATE), np.float32)]
        clips.append(clip)
        chosen.append((text, reference))
        at += len(clip) / INPUT_SAMPLE_RATE + gap
    return Monologue(language, np.concatenate(pieces), chosen, clips, words)


def _timed_source_words(text: str, heard: Sequence[object], offset: float) -> list[SpokenWord]:
    """The sentence's own words, each timed by the recognised word it matches (words
    Whisper missed are placed between their neighbours)."""
    truth = text.split()
    got = [(normalized(w.text), w.start_s, w.end_s) for w in heard]  # type: ignore[attr-defined]
    times: list[float | None] = [None] * len(truth)
    matcher = difflib.SequenceMatcher(None, [normalized(t) for t in truth], [g[0] for g in got])
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            _, start, end = got[block.b + k]
            times[block.a + k] = offset + (start + end) / 2
    known = [i for i, t in enumerate(times) if t is not None]
    filled: list[float] = []
    for i, t in enumerate(times):
        if t is not None:
            filled.append(t)
            continue
        before = max((k for k in known if k < i), default=None)
        after = min((k for k in known if k > i), default=None)
        lo = times[before] if before is not None else offset
        hi = times[after] if after is not None else (lo or offset) + 0.3
        filled.append(((lo or offset) + (hi or offset)) / 2)
    return [SpokenWord(w, t) for w, t in zip(truth, filled, strict=True)]


# -- the two interpreters ------------------------------------------------------------------
async def turn_by_turn(session: OmniSession, monologue: Monologue, target: str) -> str:
    """What the turn-by-turn interpreter says: each sentence heard and translated whole."""
    out = []
    for clip in monologue.clips:
        heard = await session.transcribe(clip, list(PAIR))
        source = heard.language if heard.language in PAIR else monologue.language
        text = (
            heard.text if source == target else await session.translate(heard.text, source, target)
        )
        out.append(text)
    return " ".join(out)


class Collector:
    """An InterpretationSink that keeps everything, stamped with the clock."""

    def __init__(self) -> None:
        self.segments: list[RenderedSegment] = []
        self.audio: list[OutputAudio] = []
        self.source: list[SourceDelta] = []
        self.output: list[OutputDelta] = []
        self.failures: list[str] = []

    def source_delta(self, delta: SourceDelta) -> None:
        self.source.append(delta)

    def output_delta(self, delta: OutputDelta) -> None:
        self.output.append(delta)

    def output_audio(self, audio: OutputAudio) -> None:
        self.audio.append(audio)

    def segment_done(self, segment: RenderedSegment) -> None:
        self.segments.append(segment)

    def failed(self, code: str, message: str) -> None:
        self.failures.append(f"{code}: {message}")


@dataclass
class Run:
    collector: Collector
    started: float
    """Clock time of stream time 0."""
    hypotheses: int
    asr_busy_s: float


async def simultaneous(
    session: OmniSession, monologue: Monologue, target: str, settings: SimultaneousSettings
) -> Run:
    """Stream the monologue in real time into the interpreter, then 1.5 s of silence."""
    sink = Collector()
    engine = SimultaneousInterpreter(
        session, Directions.into(target, PAIR), sink, settings=settings
    )
    engine.start()
    audio = np.concatenate([monologue.audio, np.zeros(int(1.5 * INPUT_SAMPLE_RATE), np.float32)])
    started = time.monotonic()
    for i in range(0, len(audio), CHUNK):
        due = started + (i + CHUNK) / INPUT_SAMPLE_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        engine.feed(audio[i : i + CHUNK])
    await engine.finish()
    r = engine.recognizer
    return Run(sink, started, r.hypotheses, r.busy_s)


# -- measuring ----------------------------------------------------------------------------
@dataclass
class Result:
    direction: str
    seconds: float
    words: int
    matched: int
    evs_median_s: float
    evs_p90_s: float
    evs_max_s: float
    lag_growth_s_per_60s: float
    evs_first_third_s: float
    evs_last_third_s: float
    chrf_simultaneous: float
    chrf_turn_by_turn: float
    overlaps: int
    segments: int
    words_per_segment: float
    sped_up: float
    """Share of segments voiced faster than natural."""
    max_speed: float
    mean_speed: float
    hypotheses: int
    asr_busy: float
    """Share of the run the recogniser was working."""
    translation: str
    turn_by_turn: str
    failures: list[str]


def ear_voice_spans(monologue: Monologue, run: Run) -> list[tuple[float, float]]:
    """(spoken at, EVS) for every source word matched to a voiced committed word."""
    heard: list[tuple[str, float]] = []
    for done in run.collector.segments:
        words = done.segment.words
        voice = done.play_end - done.play_at
        if voice <= 0:
            continue
        for i, word in enumerate(words):
            heard.append((normalized(word.text), done.play_at + voice * (i + 0.5) / len(words)))
    truth = [normalized(w.text) for w in monologue.words]
    matcher = difflib.SequenceMatcher(None, truth, [h[0] for h in heard], autojunk=False)
    spans = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            spoken = monologue.words[block.a + k].at_s
            spans.append((spoken, heard[block.b + k][1] - run.started - spoken))
    return spans


def overlaps(run: Run) -> int:
    count = 0
    end = -np.inf
    for audio in run.collector.audio:
        if audio.play_at < end - 1e-6:
            count += 1
        end = audio.play_at + audio.duration_s
    return count


def measure(monologue: Monologue, target: str, run: Run, baseline: str) -> Result:
    spans = ear_voice_spans(monologue, run)
    at = np.array([s for s, _ in spans])
    evs = np.array([e for _, e in spans])
    slope = float(np.polyfit(at, evs, 1)[0]) if len(spans) > 2 else float("nan")
    third = monologue.seconds / 3
    first = evs[at < third]
    last = evs[at >= 2 * third]
    segments = run.collector.segments
    translation = " ".join(s.translation for s in segments if s.translation)
    speeds = [s.speed for s in segments]
    duration = monologue.seconds + 1.5
    return Result(
        direction=f"{monologue.language}->{target}",
        seconds=round(monologue.seconds, 1),
        words=len(monologue.words),
        matched=len(spans),
        evs_median_s=float(np.median(evs)) if len(evs) else float("nan"),
        evs_p90_s=float(np.percentile(evs, 90)) if len(evs) else float("nan"),
        evs_max_s=float(evs.max()) if len(evs) else float("nan"),
        lag_growth_s_per_60s=60 * slope,
        evs_first_third_s=float(np.median(first)) if len(first) else float("nan"),
        evs_last_third_s=float(np.median(last)) if len(last) else float("nan"),
        chrf_simultaneous=chrf(translation, monologue.reference),
        chrf_turn_by_turn=chrf(baseline, monologue.reference),
        overlaps=overlaps(run),
        segments=len(segments),
        words_per_segment=float(np.mean([len(s.segment.words) for s in segments]))
        if segments
        else 0.0,
        sped_up=float(np.mean([s > 1.0 for s in speeds])) if speeds else 0.0,
        max_speed=max(speeds, default=1.0),
        mean_speed=float(np.mean(speeds)) if speeds else 1.0,
        hypotheses=run.hypotheses,
        asr_busy=run.asr_busy_s / duration,
        translation=translation,
        turn_by_turn=baseline,
        failures=run.collector.failures,
    )


def report(result: Result) -> None:
    r = result

    def ok(good: bool) -> str:
        return "ok" if good else "MISSED"

    print(f"\n== {r.direction}: {r.seconds:.0f} s monologue, {r.words} words, {r.matched} matched")
    print(f"  EVS median   {r.evs_median_s:5.2f} s   (target <= 2.5)  {ok(r.evs_median_s <= 2.5)}")
    print(f"  EVS p90      {r.evs_p90_s:5.2f} s   (target <= 4.0)  {ok(r.evs_p90_s <= 4.0)}")
    print(f"  EVS max      {r.evs_max_s:5.2f} s")
    print(
        f"  lag growth   {r.lag_growth_s_per_60s:+5.2f} s per 60 s (first third "
        f"{r.evs_first_third_s:.2f} s, last third {r.evs_last_third_s:.2f} s)  "
        f"{ok(r.lag_growth_s_per_60s < 0.5)}"
    )
    gap = r.chrf_simultaneous - r.chrf_turn_by_turn
    print(
        f"  chrF         {r.chrf_simultaneous:5.1f} simultaneous vs {r.chrf_turn_by_turn:5.1f} "
        f"turn-by-turn ({gap:+.1f}; target >= -5)  {ok(gap >= -5)}"
    )
    print(f"  overlaps     {r.overlaps}  {ok(r.overlaps == 0)}")
    print(
        f"  segments     {r.segments} ({r.words_per_segment:.1f} words each), "
        f"{100 * r.sped_up:.0f}% sped up (mean x{r.mean_speed:.2f}, max x{r.max_speed:.2f})"
    )
    print(f"  recogniser   {r.hypotheses} hypotheses, busy {100 * r.asr_busy:.0f}% of the time")
    if r.failures:
        print(f"  failures     {r.failures[:3]}")
    print(f"  simultaneous: {r.translation[:300]}")
    print(f"  turn-by-turn: {r.turn_by_turn[:300]}")


async def main_async(args: argparse.Namespace) -> list[Result]:
    model = EmbeddedModel()
    print("loading the embedded model ...", file=sys.stderr)
    model.load(lambda _msg: None)
    session = model.session()
    directions = {"en-es": [("en", "es")], "es-en": [("es", "en")]}.get(
        args.direction, [("en", "es"), ("es", "en")]
    )
    settings = dataclasses.replace(SimultaneousSettings(), **dict(args.set))
    results = []
    for source, target in directions:
        monologue = await build_monologue(session, source, args.seconds)
        baseline = await turn_by_turn(session, monologue, target)
        load = os.getloadavg()[0]
        print(
            f"streaming {monologue.seconds:.0f} s of {source} in real time "
            f"(load average {load:.1f} on {os.cpu_count()} cores) ...",
            file=sys.stderr,
        )
        run = await simultaneous(session, monologue, target, settings)
        result = measure(monologue, target, run, baseline)
        report(result)
        results.append(result)
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    model.close()
    return results


def _setting(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    if name not in {f.name for f in dataclasses.fields(SimultaneousSettings)}:
        raise argparse.ArgumentTypeError(f"no engine setting {name!r}")
    number = float(value)
    return name, int(number) if number.is_integer() and "." not in value else number


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="monologue length")
    parser.add_argument("--direction", choices=["en-es", "es-en", "both"], default="both")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--set",
        action="append",
        type=_setting,
        default=[],
        metavar="NAME=VALUE",
        help="an engine setting other than its default (SimultaneousSettings), e.g. force_s=1.2",
    )
    args = parser.parse_args(argv)
    results = asyncio.run(main_async(args))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([asdict(r) for r in results], fh, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
