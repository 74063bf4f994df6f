"""The `transformers` backend: one Qwen3-Omni or Qwen2.5-Omni (thinker + talker) or
Qwen2-VL-class model from a local directory, shared by all calls.

- Weights come from `--model-path` only (local_files_only: never a download); a
  missing directory, missing files or an unsupported model type or device is a
  ModelLoadError that says which.
- Inference runs in one worker thread (`FairWorker`), one request per call in
  turn; the event loop never waits on torch.
- Text is streamed token by token from the thinker; speech (Omni's talker) comes
  once the answer's text is complete, per sentence the scenario speaks.
- `converse` lists the scenario's tools in the system prompt (Qwen's convention,
  model/hf/dialogue.py), runs the tool calls the answer makes and generates again
  with their results.
- A request abandoned on barge-in sets its cancel flag; a StoppingCriteria sees
  it at the next decoding step, in the thinker and the talker alike.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from model.audio import resample_int16
from model.base import Capabilities, OmniModel, OmniSession, ProgressCallback
from model.dialogue import (
    MAX_TOOL_ROUNDS,
    DialogueDone,
    DialogueOutput,
    DialogueRequest,
    SpeechOut,
    TextDelta,
    new_call_id,
    run_tool,
)
from model.errors import ModelError, ModelLoadError, UnsupportedError
from model.hf.dialogue import (
    CLOSE,
    VisibleText,
    history_turn,
    parse_tool_calls,
    system_prompt,
    tool_response,
)
from model.hf.worker import Emit, FairWorker
from model.image import as_rgb
from model.text import language_name
from model.types import INPUT_SAMPLE_RATE, SpeechChunk, TextLine, Transcript

logger = logging.getLogger("omnilive.hf")

#: Both Omni generations' talkers speak at 24 kHz.
TALKER_RATE = 24_000
QWEN3_OMNI = "qwen3_omni_moe"
OMNI_TYPES = {"qwen2_5_omni", QWEN3_OMNI}
VL_TYPES = {"qwen2_vl", "qwen2_5_vl"}
#: Qwen2.5-Omni's talker speaks English and Chinese, Qwen3-Omni's ten languages (its model
#: card); the thinkers read and write more.
SPOKEN = {
    "qwen2_5_omni": frozenset({"en", "zh"}),
    QWEN3_OMNI: frozenset({"en", "zh", "fr", "de", "ru", "it", "es", "pt", "ja", "ko"}),
}
WRITTEN = frozenset({"en", "zh", "es", "fr", "de", "it", "ja", "ko", "pt", "ru"})


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 256
    min_new_tokens: int = 0
    talker_max_new_tokens: int = 4096
    token2wav_steps: int = 10
    speaker: str = "Chelsie"


class Flag(Protocol):
    """What stops a generation at its next decoding step (a threading.Event, or more)."""

    def is_set(self) -> bool: ...


@dataclass
class _Inputs:
    """A prompt with its audio and image, ready for `generate` (tensors, on the device)."""

    tensors: dict[str, Any]


class TransformersModel(OmniModel):
    name = "transformers"

    def __init__(
        self,
        path: str | Path,
        *,
        device: str = "auto",
        settings: GenerationSettings | None = None,
    ) -> None:
        self.path = Path(path)
        self.device_request = device
        self.settings = settings or GenerationSettings()
        self.model_type: str | None = None
        #: Loaded, and can speak.
        self.talks = False
        self.device = "cpu"
        self._model: Any = None
        self._tokenizer: Any = None
        self._features: Any = None
        self._images: Any = None
        self.worker: FairWorker | None = None
        self._lock = threading.Lock()

    @property
    def omni(self) -> bool:
        return self.model_type in OMNI_TYPES

    @property
    def capabilities(self) -> Capabilities:
        pairs = frozenset((a, b) for a in WRITTEN for b in WRITTEN if a != b)
        model_type = self.model_type or self._peek_type()
        hears = model_type in OMNI_TYPES
        talks = self.talks if self.loaded else hears and self._peek_talker()
        return Capabilities(
            speech_to_text=hears,
            text_to_speech=talks,
            spoken_languages=SPOKEN.get(model_type or "", frozenset()) if talks else frozenset(),
            translation_pairs=pairs,
            vision=True,
            ocr=True,
            dialogue=True,
        )

    def _peek_config(self) -> dict[str, Any]:
        try:
            config = json.loads((self.path / "config.json").read_text())
        except (OSError, ValueError):
            return {}
        return config if isinstance(config, dict) else {}

    def _peek_talker(self) -> bool:
        """Whether the Omni has its talker: Qwen3-Omni's Thinking and Captioner releases have
        none."""
        return bool(self._peek_config().get("enable_audio_output", True))

    def _peek_type(self) -> str | None:
        value = self._peek_config().get("model_type")
        return value if isinstance(value, str) else None

    def _pick_device(self) -> str:
        import torch

        request = self.device_request
        if request == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if request == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("--device cuda was asked for, but torch sees no CUDA GPU")
        if request not in {"cpu", "cuda"}:
            raise ModelLoadError(f"unsupported device {request!r}: use auto, cpu or cuda")
        return request

    def check(self) -> None:
        self._checked_type()
        self._pick_device()

    def _checked_type(self) -> str:
        if not (self.path / "config.json").is_file():
            raise ModelLoadError(
                f"no model at {self.path}: --model-path must be a local directory with "
                "config.json, the weights and the processor files (nothing is downloaded)"
            )
        model_type = self._peek_type()
        if model_type not in OMNI_TYPES | VL_TYPES:
            raise ModelLoadError(
                f"{self.path} holds a {model_type!r} model; the transformers backend runs "
                f"{', '.join(sorted(OMNI_TYPES | VL_TYPES))}"
            )
        return model_type

    def load(self, progress: ProgressCallback) -> None:
        with self._lock:
            if self._model is not None:
                return
            model_type = self._checked_type()
            self.device = self._pick_device()
            progress(
                f"transformers backend: loading {model_type} from {self.path} on {self.device}"
            )
            try:
                self._load(model_type)
            except ModelLoadError:
                raise
            except (OSError, ValueError, KeyError, ImportError) as exc:
                raise ModelLoadError(f"cannot load the model in {self.path}: {exc}") from exc
            self.model_type = model_type
            self.talks = model_type in OMNI_TYPES and self._peek_talker()
            self.worker = FairWorker()
            progress("transformers backend: ready")

    def _load(self, model_type: str) -> None:
        import torch
        import transformers as tf

        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        classes: dict[str, Any] = {
            "qwen2_5_omni": tf.Qwen2_5OmniForConditionalGeneration,
            QWEN3_OMNI: tf.Qwen3OmniMoeForConditionalGeneration,
            "qwen2_vl": tf.Qwen2VLForConditionalGeneration,
            "qwen2_5_vl": tf.Qwen2_5_VLForConditionalGeneration,
        }
        local: dict[str, Any] = {"local_files_only": True}
        model = classes[model_type].from_pretrained(self.path, dtype=dtype, **local)
        self._model = model.to(self.device).eval()
        self._tokenizer = tf.AutoTokenizer.from_pretrained(self.path, **local)
        # The processor's parts, not the Omni processors: they insist on a video
        # processor, which needs torchvision, and calls carry frames, not videos.
        self._images = tf.Qwen2VLImageProcessorPil.from_pretrained(self.path, **local)
        if model_type in OMNI_TYPES:
            self._features = tf.WhisperFeatureExtractor.from_pretrained(self.path, **local)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def session(self) -> TransformersSession:
        if self.worker is None:
            raise ModelError("the transformers model is not loaded")
        return TransformersSession(self, self.worker.owner())

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    # --- in the worker thread -------------------------------------------------------

    def prepare(
        self,
        system: str,
        text: str,
        audio: NDArray[np.float32] | None,
        images: Sequence[NDArray[np.uint8]] = (),
        after: Sequence[tuple[str, str]] = (),
        before: Sequence[tuple[str, str]] = (),
    ) -> _Inputs:
        """Tokenise a chat: the system prompt, the (role, content) turns `before` the user's
        (the conversation so far), the user's turn with its audio and image placeholders
        expanded (none when it has nothing: a continuation after a client's tool), then the
        turns `after` it (tool rounds)."""
        import torch

        tok = self._tokenizer
        tensors: dict[str, Any] = {}
        media = ""
        if audio is not None:
            if not self.omni:
                raise UnsupportedError("this model cannot hear audio")
            tensors["input_features"], tensors["feature_attention_mask"], count = self._hear(audio)
            media += tok.audio_bos_token + tok.audio_token * count + tok.audio_eos_token
        if images:
            pixels = self._images(images=[as_rgb(i) for i in images], return_tensors="pt")
            # Omni's generate hands unprefixed kwargs to the talker too, which refuses
            # pixel_values; thinker_ keeps them for the thinker.
            tensors["thinker_pixel_values" if self.omni else "pixel_values"] = pixels[
                "pixel_values"
            ]
            tensors["image_grid_thw"] = pixels["image_grid_thw"]
            for grid in pixels["image_grid_thw"]:
                count = int(grid.prod()) // self._images.merge_size**2
                if self.omni:
                    media += tok.vision_bos_token + tok.image_token * count + tok.vision_eos_token
                else:
                    media += "<|vision_start|>" + "<|image_pad|>" * count + "<|vision_end|>"
        user = [("user", media + text)] if media or text or not before else []
        turns = [("system", system), *before, *user, *after]
        prompt = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
        prompt += "<|im_start|>assistant\n"
        ids = tok([prompt], return_tensors="pt")
        tensors["input_ids"] = ids["input_ids"]
        tensors["attention_mask"] = ids["attention_mask"]
        return _Inputs(
            {
                k: (v.to(self.device) if isinstance(v, torch.Tensor) else v)
                for k, v in tensors.items()
            }
        )

    def _hear(self, audio: NDArray[np.float32]) -> tuple[Any, Any, int]:
        """Log-mel features, their mask, and how many audio tokens the encoder makes of them,
        as each model's own processor does it."""
        from transformers.models.qwen2_5_omni import processing_qwen2_5_omni as qwen2_5
        from transformers.models.qwen3_omni_moe import processing_qwen3_omni_moe as qwen3

        if self.model_type == QWEN3_OMNI:
            padding: dict[str, Any] = {"padding": True, "truncation": False}
        else:
            padding = {"padding": "max_length"}
        feats = self._features(
            [audio], sampling_rate=INPUT_SAMPLE_RATE, return_attention_mask=True,
            return_tensors="pt", **padding,
        )  # fmt: skip
        lengths = feats["attention_mask"].sum(-1)
        if self.model_type == QWEN3_OMNI:
            window = self._model.config.thinker_config.audio_config.n_window
            tokens = qwen3._get_feat_extract_output_lengths(lengths, window)  # type: ignore[no-untyped-call]
        else:
            tokens = qwen2_5._get_feat_extract_output_lengths(lengths)  # type: ignore[no-untyped-call]
        return feats["input_features"], feats["attention_mask"], int(tokens[0])

    def _talker_options(self, stopping: Any) -> dict[str, Any]:
        """generate's talker_ and token2wav_ options for a spoken answer."""
        s = self.settings
        options: dict[str, Any] = {
            "talker_stopping_criteria": stopping,
            "talker_max_new_tokens": s.talker_max_new_tokens,
        }
        if self.model_type == QWEN3_OMNI:
            # Qwen3-Omni's generate sets its codec's end and samples its talker as the
            # release is meant to be run; a non-finite logit must not abort the answer
            # (torch.multinomial refuses inf and nan: seen with tiny random weights).
            return options | {"return_audio": True, "talker_remove_invalid_values": True}
        codec = self._model.config.talker_config
        return options | {
            "talker_do_sample": False,
            "talker_eos_token_id": [codec.tts_codec_pad_token_id, codec.tts_codec_end_token_id],
            "token2wav_num_steps": s.token2wav_steps,
        }

    def generate(self, inputs: _Inputs, cancel: Flag, emit: Emit, *, speak: bool) -> None:
        """Stream ("text", piece) items, then ("audio", int16 24 kHz) when `speak`."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        tokenizer = self._tokenizer

        class Cancelled(StoppingCriteria):
            def __call__(
                self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any
            ) -> torch.Tensor:
                return torch.full(
                    (input_ids.shape[0],),
                    cancel.is_set(),
                    dtype=torch.bool,
                    device=input_ids.device,
                )

        class Streamer(BaseStreamer):
            """Decodes the new tokens as they come; the first call carries the prompt."""

            def __init__(self) -> None:
                self.prompt_seen = False
                self.ids: list[int] = []
                self.sent = ""

            def put(self, value: torch.Tensor) -> None:
                if not self.prompt_seen:
                    self.prompt_seen = True
                    return
                self.ids.extend(int(x) for x in value.reshape(-1).tolist())
                text = tokenizer.decode(self.ids, skip_special_tokens=True)
                if len(text) > len(self.sent) and not text.endswith("\ufffd"):
                    emit(("text", text[len(self.sent) :]))
                    self.sent = text

            def end(self) -> None:
                return None

        s = self.settings
        stop = StoppingCriteriaList([Cancelled()])
        kwargs: dict[str, Any] = dict(inputs.tensors)
        with torch.inference_mode():
            if not self.omni:
                self._model.generate(
                    **kwargs, streamer=Streamer(), stopping_criteria=stop, do_sample=False,
                    max_new_tokens=s.max_new_tokens, min_new_tokens=s.min_new_tokens,
                )  # fmt: skip
                return
            options: dict[str, Any] = {
                "thinker_streamer": Streamer(),
                "thinker_stopping_criteria": stop,
                "thinker_do_sample": False,
                "thinker_max_new_tokens": s.max_new_tokens,
                "thinker_min_new_tokens": s.min_new_tokens,
                "speaker": s.speaker,
            }
            if self.model_type == QWEN3_OMNI:
                # Its default is the released vocabulary's <|im_end|>; a model's own wins.
                options["thinker_eos_token_id"] = tokenizer.convert_tokens_to_ids("<|im_end|>")
            if speak:
                options |= self._talker_options(StoppingCriteriaList([Cancelled()]))
            else:
                options["generation_mode"] = "text"
            result = self._model.generate(**kwargs, **options)
            if speak and not cancel.is_set():
                wav = result[1].detach().float().cpu().numpy().reshape(-1)
                emit(("audio", (np.clip(wav, -1.0, 1.0) * 32767).astype(np.int16)))


def language_tagged(text: str, languages: Sequence[str]) -> Transcript:
    """A transcript from "[es] Hola": the tag if it is a candidate, else the first candidate."""
    match = re.match(r"\s*\[([A-Za-z]{2})\]\s*", text)
    fallback = languages[0] if languages else "en"
    if match is None:
        return Transcript(text.strip(), fallback, 0.5)
    code = match.group(1).lower()
    words = text[match.end() :].strip()
    if languages and code not in languages:
        return Transcript(words, fallback, 0.5)
    return Transcript(words, code, 0.9)


@dataclass
class _UntilToolCall:
    """Stops a generation when it is cancelled or once it has written a whole tool call."""

    cancel: threading.Event
    text: str = ""

    def is_set(self) -> bool:
        return self.cancel.is_set() or CLOSE in self.text


class TransformersSession(OmniSession):
    def __init__(self, model: TransformersModel, owner: int) -> None:
        super().__init__()
        self.model = model
        self.owner = owner

    def _stream(
        self,
        system: str,
        text: str,
        *,
        audio: NDArray[np.float32] | None = None,
        image: NDArray[np.uint8] | None = None,
        speak: bool = False,
    ) -> AsyncIterator[Any]:
        model = self.model
        assert model.worker is not None

        def work(cancel: threading.Event, emit: Emit) -> None:
            images = () if image is None else (image,)
            model.generate(model.prepare(system, text, audio, images), cancel, emit, speak=speak)

        return model.worker.stream(self.owner, work)

    async def respond(
        self,
        instructions: str,
        text: str = "",
        *,
        audio: NDArray[np.float32] | None = None,
        image: NDArray[np.uint8] | None = None,
    ) -> AsyncIterator[str]:
        """Stream the model's text answer to one turn, token by token."""
        async for kind, value in self._stream(instructions, text, audio=audio, image=image):
            if kind == "text":
                yield value

    async def _text(self, system: str, text: str, **media: Any) -> str:
        return "".join([piece async for piece in self.respond(system, text, **media)]).strip()

    async def transcribe(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> Transcript:
        if not self.model.omni:
            raise UnsupportedError("this model cannot hear audio")
        codes = ", ".join(languages) or "a two-letter code"
        system = (
            "Write down exactly what is said. Begin with the language it is spoken in, "
            f"as a code in brackets ({codes}), e.g. [en] Hello."
        )
        return language_tagged(await self._text(system, "", audio=audio), languages)

    async def translate(self, text: str, source: str, target: str) -> str:
        system = (
            f"Translate from {language_name(source)} to {language_name(target)}. "
            "Reply with the translation only."
        )
        return await self._text(system, text)

    async def synthesize(
        self,
        text: str,
        language: str,
        *,
        sample_rate: int,
        voice: str | None = None,
        speed: float = 1.0,
    ) -> AsyncIterator[SpeechChunk]:
        if not self.model.talks:
            raise UnsupportedError("this model cannot speak")
        system = f"Repeat the user's text word for word, in {language_name(language)}."
        said: list[str] = []
        async for kind, value in self._stream(system, text, speak=True):
            if kind == "text":
                said.append(value)
            elif kind == "audio" and len(value):
                pcm = resample_int16(value, TALKER_RATE, sample_rate)
                yield SpeechChunk(pcm, sample_rate, text or "".join(said))

    async def converse(self, request: DialogueRequest) -> AsyncIterator[DialogueOutput]:
        """Generate, run the tools the answer calls, generate again with their results (at
        most MAX_TOOL_ROUNDS rounds of calls); the words stream as they are generated, and
        Omni's talker voices the final answer once its text is complete."""
        offered = request.offered_tools()
        instructions = request.instructions
        if must := request.must_call():
            instructions = f"{instructions}\n{must}".strip()
        system = system_prompt(instructions, offered)
        speak = request.speak and self.model.talks
        after: list[tuple[str, str]] = [history_turn(o) for o in request.tool_outputs]
        words: list[str] = []
        for round_ in range(MAX_TOOL_ROUNDS + 1):
            visible = VisibleText()
            audio: NDArray[np.int16] | None = None
            async for kind, value in self._round(system, request, after, speak):
                if kind == "audio":
                    audio = value
                elif shown := visible.push(value):
                    words.append(shown)
                    yield TextDelta(shown)
            _, calls = parse_tool_calls(visible.text)
            if not calls or round_ == MAX_TOOL_ROUNDS:
                if rest := visible.flush():
                    words.append(rest)
                    yield TextDelta(rest)
                text = "".join(words).strip()
                if audio is not None and len(audio):
                    pcm = resample_int16(audio, TALKER_RATE, request.sample_rate)
                    yield SpeechOut(SpeechChunk(pcm, request.sample_rate, text))
                yield DialogueDone(text)
                return
            after.append(("assistant", visible.text.strip()))
            asked = False
            for name, arguments in calls:
                call = await run_tool(offered, new_call_id(), name, arguments)
                yield call
                if call.on_client:
                    asked = True  # the client runs it; its output comes with the next request
                else:
                    after.append(("user", tool_response(call.result)))
            if asked:
                text = "".join(words).strip()
                yield DialogueDone(text)
                return

    def _round(
        self,
        system: str,
        request: DialogueRequest,
        after: Sequence[tuple[str, str]],
        speak: bool,
    ) -> AsyncIterator[tuple[str, Any]]:
        """One generation of the conversation so far: ("text", piece)... then ("audio", pcm)
        when it speaks. An answer that calls a tool stops at the call's closing tag, unvoiced."""
        model = self.model
        assert model.worker is not None
        turns = tuple(after)

        def work(cancel: threading.Event, emit: Emit) -> None:
            stop = _UntilToolCall(cancel)

            def watch(item: tuple[str, Any]) -> None:
                if item[0] == "text":
                    stop.text += item[1]
                emit(item)

            audio = request.audio if model.omni else None  # a VL model reads the transcript
            before = [history_turn(entry) for entry in request.history]
            inputs = model.prepare(system, request.text, audio, request.images, turns, before)
            model.generate(inputs, stop, watch, speak=speak)

        return model.worker.stream(self.owner, work)

    async def read_text(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        text = await self._text("Read the printed text in the image, line by line.", "", image=rgb)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        height, width = rgb.shape[:2]
        step = height // max(1, len(lines))
        return [TextLine(t, 0.5, (0, i * step, width, (i + 1) * step)) for i, t in enumerate(lines)]
