"""Echo cancellation and noise suppression: WebRTC's audio processing, per call.

A phone on speaker, or a telephone line, sends the assistant's own voice back
in the microphone, about 10 dB down and 50-300 ms late. The turn detector
cannot tell it from the user, so the assistant interrupts itself. The fix is
the one every WebRTC endpoint uses: subtract an adaptive estimate of the echo,
referenced to the exact audio that was played (WebRTC AEC3), then suppress
what is left and, optionally, steady background noise.

The engine is `livekit.rtc.AudioProcessingModule` from the `livekit` wheel
(Apache-2.0; WebRTC's module compiled into `liblivekit_ffi.so`): it works
offline and needs no LiveKit server. It takes 10 ms frames of int16; this
class hides that, buffering what does not fill a frame.

One `EchoCanceller` per call (it learns that call's echo path); cheap: with
the far end at 48 kHz and the microphone at 16 kHz, 8-11 ms of CPU per
second of call (about 1 % of a core; 0.2 ms per 20 ms of both), 0.5 MB per
call after the library's 24 MB. Blocking but short, so it may run on the
event loop or next to the VAD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from model.errors import ModelLoadError

NoiseReduction = Literal["near_field", "far_field"]
#: Rates WebRTC's module processes natively (others it would resample, or refuse).
SAMPLE_RATES = (8_000, 16_000, 32_000, 48_000)


@dataclass(frozen=True)
class EchoSettings:
    """What one call's canceller does.

    `noise_reduction` follows OpenAI's `audio.input.noise_reduction.type`:
    None keeps the noise; "near_field" (a headset or a phone at the ear)
    suppresses steady noise; "far_field" (a laptop or a phone on a table)
    also evens out the level of a distant talker (automatic gain control).
    The binding has a single suppression strength, so that is the only
    difference between the two.
    """

    sample_rate: int = 16_000
    """Rate of the microphone audio given to `near_end` (and returned)."""
    far_end_rate: int | None = None
    """Rate of the audio given to `far_end`; None: the same as `sample_rate`."""
    echo_cancellation: bool = True
    noise_reduction: NoiseReduction | None = None
    high_pass_filter: bool = True
    """Removes rumble below ~80 Hz; WebRTC runs it before the echo canceller."""

    def __post_init__(self) -> None:
        for rate in (self.sample_rate, self.far_end_rate or self.sample_rate):
            if rate not in SAMPLE_RATES:
                raise ValueError(f"sample rate must be one of {SAMPLE_RATES}, got {rate}")
        if self.noise_reduction not in (None, "near_field", "far_field"):
            raise ValueError("noise_reduction must be None, 'near_field' or 'far_field'")


def _livekit_rtc() -> Any:
    try:
        from livekit import rtc
    except ImportError as exc:
        raise ModelLoadError(
            "the Python package 'livekit' (WebRTC echo cancellation) is not installed; "
            "run `make serve` or `pip install -r requirements/base.txt`"
        ) from exc
    return rtc


class _Framer:
    """Cuts a stream of int16 samples into 10 ms frames, keeping the remainder."""

    def __init__(self, frame: int) -> None:
        self.frame = frame
        self._rest = np.zeros(0, np.int16)

    def frames(self, pcm: NDArray[np.int16]) -> list[NDArray[np.int16]]:
        data = np.concatenate([self._rest, np.asarray(pcm, dtype=np.int16).reshape(-1)])
        whole = len(data) // self.frame * self.frame
        self._rest = data[whole:]
        return [data[i : i + self.frame] for i in range(0, whole, self.frame)]

    def take_rest(self) -> NDArray[np.int16]:
        rest, self._rest = self._rest, np.zeros(0, np.int16)
        return rest

    @property
    def buffered(self) -> int:
        return len(self._rest)


class EchoCanceller:
    """One call's echo canceller (and noise suppressor).

    - `far_end(pcm)`: the audio the server sends to the caller, exactly as
      sent (after any mixing), at the moment it is sent. Silence sent counts
      too, or may be skipped: the module only needs what could echo.
    - `near_end(pcm) -> pcm`: the caller's microphone, cleaned. Returns as
      many samples as given, `latency_samples` (10 ms) late: the module works
      on whole 10 ms frames, so the first 10 ms out are silence. WebRTC's own
      filters add about 8 ms more (measured).
    - `set_delay_ms(ms)`: a hint of the echo's round trip (far_end call to
      its echo reaching near_end). AEC3 finds the delay itself (tested with
      80 ms and no hint); the hint only helps it start.

    Not thread-safe: call it from one thread (or the event loop) per call.
    """

    def __init__(
        self,
        sample_rate: int = 16_000,
        noise_suppression: NoiseReduction | None = None,
        *,
        far_end_rate: int | None = None,
        echo_cancellation: bool = True,
        high_pass_filter: bool = True,
    ) -> None:
        self.settings = EchoSettings(
            sample_rate=sample_rate,
            far_end_rate=far_end_rate,
            echo_cancellation=echo_cancellation,
            noise_reduction=noise_suppression,
            high_pass_filter=high_pass_filter,
        )
        self._rtc = _livekit_rtc()
        self._apm = self._rtc.AudioProcessingModule(
            echo_cancellation=echo_cancellation,
            noise_suppression=noise_suppression is not None,
            high_pass_filter=high_pass_filter,
            auto_gain_control=noise_suppression == "far_field",
        )
        self.sample_rate = sample_rate
        self.far_end_rate = far_end_rate or sample_rate
        self._near = _Framer(sample_rate // 100)
        self._far = _Framer(self.far_end_rate // 100)
        self.latency_samples = sample_rate // 100
        # Output lags input by one frame, so every call returns as many samples as it got.
        self._out = np.zeros(self.latency_samples, np.int16)
        self._delay_ms = 0

    def set_delay_ms(self, delay_ms: int) -> None:
        """Hint of the round trip from `far_end` to `near_end`, in ms (0-500)."""
        self._delay_ms = max(0, min(500, int(delay_ms)))

    def far_end(self, pcm: NDArray[np.int16]) -> None:
        """What was just sent to the caller (mono int16 at `far_end_rate`)."""
        if not self.settings.echo_cancellation:
            return
        for frame in self._far.frames(pcm):
            self._apm.process_reverse_stream(self._frame(frame, self.far_end_rate))

    def near_end(self, pcm: NDArray[np.int16]) -> NDArray[np.int16]:
        """The caller's microphone (mono int16 at `sample_rate`), with echo and noise removed."""
        cleaned = [self._out, *(self._process(frame) for frame in self._near.frames(pcm))]
        joined = np.concatenate(cleaned)
        n = len(np.asarray(pcm).reshape(-1))
        out, self._out = joined[:n], joined[n:]
        return out

    def near_end_in_step(
        self, pcm: NDArray[np.int16]
    ) -> tuple[NDArray[np.int16], NDArray[np.int16]]:
        """`near_end` without its 10 ms of latency: (the whole 10 ms frames of the
        microphone so far, as they came; the same frames cleaned). What does not fill a
        frame waits for the next call. Use this or `near_end` on one canceller, not both."""
        frames = self._near.frames(pcm)
        if not frames:
            empty = np.zeros(0, np.int16)
            return empty, empty
        raw = np.concatenate(frames)
        return raw, np.concatenate([self._process(frame) for frame in frames])

    def take_waiting(self) -> NDArray[np.int16]:
        """What `near_end_in_step` holds back (under 10 ms, not cleaned), handed over."""
        return self._near.take_rest()

    def _process(self, frame: NDArray[np.int16]) -> NDArray[np.int16]:
        if self.settings.echo_cancellation:
            # WebRTC wants the delay set before each captured frame it processes.
            self._apm.set_stream_delay_ms(self._delay_ms)
        buffer = bytearray(frame.tobytes())
        self._apm.process_stream(self._rtc.AudioFrame(buffer, self.sample_rate, 1, len(frame)))
        return np.frombuffer(buffer, dtype=np.int16)

    def near_end_float(self, audio: NDArray[np.float32]) -> NDArray[np.float32]:
        """`near_end` for float audio in [-1, 1] (the gateway's 16 kHz chunks)."""
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
        out: NDArray[np.float32] = self.near_end(pcm).astype(np.float32) / 32768.0
        return out

    def _frame(self, frame: NDArray[np.int16], rate: int) -> Any:
        return self._rtc.AudioFrame(bytearray(frame.tobytes()), rate, 1, len(frame))
