"""The interpreter's simultaneous mode: the streaming engine behind a `StreamSink`.

`session.interpretation: "simultaneous"` (ours) makes the interpreter listen
continuously: the gateway feeds it every chunk of the call's audio and it speaks while
the speakers go on, each speaker's language (of the pair) detected and rendered into
the other. What it sends (scenario events, over the data channel):

- `translation.input.delta` `{delta, language, elapsed_ms}`: the words heard, as they
  are committed (append-only text);
- `translation.output.delta` `{item_id, delta, source_language, target_language,
  elapsed_ms}`: a segment's translation, as its voice starts (append-only text);
- `translation.done` `{item_id, source_language, target_language, source_text, text}`
  per segment, as in turn-by-turn mode (kept in the conversation record).
"""

from __future__ import annotations

from collections.abc import Callable

from model.scenario import StreamSink
from model.types import SpeechChunk
from translate.simultaneous import (
    OutputAudio,
    OutputDelta,
    RenderedSegment,
    SourceDelta,
)

INPUT_DELTA = "translation.input.delta"
OUTPUT_DELTA = "translation.output.delta"
DONE = "translation.done"


class ScenarioOutput:
    """An InterpretationSink that speaks through the scenario's StreamSink."""

    def __init__(self, out: StreamSink, item_id: Callable[[int], str]) -> None:
        self.out = out
        self._item_id = item_id

    def source_delta(self, delta: SourceDelta) -> None:
        self.out.event(
            INPUT_DELTA,
            {"delta": delta.delta, "language": delta.language, "elapsed_ms": delta.elapsed_ms},
        )

    def output_delta(self, delta: OutputDelta) -> None:
        self.out.event(
            OUTPUT_DELTA,
            {
                "item_id": self._item_id(delta.segment),
                "delta": delta.delta,
                "source_language": delta.source_language,
                "target_language": delta.target_language,
                "elapsed_ms": delta.elapsed_ms,
            },
        )

    def output_audio(self, audio: OutputAudio) -> None:
        self.out.play(SpeechChunk(audio.pcm, audio.sample_rate, audio.text))

    def segment_done(self, segment: RenderedSegment) -> None:
        self.out.event(
            DONE,
            {
                "item_id": self._item_id(segment.segment.index),
                "source_language": segment.segment.language,
                "target_language": segment.target_language,
                "source_text": segment.segment.text,
                "text": segment.translation,
            },
        )

    def failed(self, code: str, message: str) -> None:
        self.out.error(code, message)
