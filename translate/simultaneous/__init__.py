"""Simultaneous interpretation: a streaming engine that speaks while the speaker goes on.

See `engine.py` for the data flow; `SimultaneousSettings` documents every knob.
"""

from translate.simultaneous.engine import InterpretationSink, SimultaneousInterpreter
from translate.simultaneous.types import (
    Directions,
    HeardWord,
    OutputAudio,
    OutputDelta,
    RenderedSegment,
    Segment,
    SimultaneousSettings,
    SourceDelta,
)

__all__ = [
    "Directions",
    "HeardWord",
    "InterpretationSink",
    "OutputAudio",
    "OutputDelta",
    "RenderedSegment",
    "Segment",
    "SimultaneousInterpreter",
    "SimultaneousSettings",
    "SourceDelta",
]
