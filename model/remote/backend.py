"""The `remote` backend: each call gets its own upstream OpenAI Realtime session.

How the session's requests map onto the Realtime protocol:

- `transcribe`: input_audio_buffer.append (PCM16, 24 kHz, base64) + commit; the
  answer is conversation.item.input_audio_transcription.completed (server-side
  turn detection is off: the gateway decides when a turn ends). An upstream that
  does not transcribe (vLLM-Omni accepts `transcription` and drops it: its
  `session.updated` says so) is asked instead: a text response to the utterance,
  sent inline as an input_audio item.
- `translate`: a text response (output_modalities ["text"], instructions to
  translate) with the text as its own `input`; its output item is then deleted
  from the conversation. (Not `conversation: "none"`: vLLM-Omni refuses
  out-of-band responses.)
- `synthesize`: an audio response with instructions to say the text; the
  response.output_audio.delta chunks are resampled and yielded as they arrive,
  response.output_audio_transcript.delta gives their text.
- `look`/`read_text`: a sampled frame is sent as conversation.item.create with an
  input_image content part; `read_text` then asks for a text response. An endpoint
  that refuses images (vLLM-Omni's does) is sent no more frames once it has said so,
  and `read_text` then fails with a ModelError that says why.
- `converse`: the turn goes up as conversation items (one with the frames, one
  with the typed text, so that a refused frame never loses the words; a spoken
  turn's audio is already there from `transcribe`), then response.create with the
  scenario's instructions and its tools (type "function"). A function call in the
  answer (response.function_call_arguments.done, or an output item of type
  function_call) runs the tool's handler; its result goes back as a
  function_call_output item and another response.create follows, until an answer
  calls no tool.
- barge-in: a synthesize or converse consumer cancelled mid-answer sends response.cancel, and
  the gateway's `truncate` becomes conversation.item.truncate of the last audio
  item, at what was played (capped at what was received). A converse abandoned
  with function calls not yet answered (a handler still running) still sends a
  function_call_output for each (INTERRUPTED, or the result if the handler had
  finished) and no response.create: some upstreams refuse the next response while
  a call of theirs has no output.

Server events are read in both generations' names (model/remote/events.py): the
GA names, and the beta ones older vLLM-Omni releases send.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import cv2
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
    ToolOutput,
    result_json,
    run_tool,
)
from model.errors import ModelError, ModelLoadError
from model.image import as_rgb
from model.remote.connection import Exchange, Refused, RemoteConfig, Upstream, UpstreamLost
from model.remote.events import (
    REALTIME_RATE,
    TEXT_DONE,
    audio_delta,
    is_terminal,
    output_item_ids,
    response_id,
    text_delta,
)
from model.text import language_name
from model.types import INPUT_SAMPLE_RATE, SpeechChunk, TextLine, Transcript

logger = logging.getLogger("omnilive.remote")

#: Audio sent per input_audio_buffer.append (0.5 s).
APPEND_SAMPLES = REALTIME_RATE // 2
#: The output of a function call whose turn was abandoned before its handler finished.
INTERRUPTED = {"error": "cancelled: the user interrupted"}
TRANSCRIBE = (
    "Transcribe what the user says in this audio, word for word, in the language it is "
    "spoken in ({languages}). Reply with the words only, or with nothing if no words "
    "are spoken."
)


def _pcm24k(audio: NDArray[np.float32], rate: int) -> NDArray[np.int16]:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)
    return resample_int16(pcm, rate, REALTIME_RATE)


def encode_pcm(audio: NDArray[np.float32], rate: int = INPUT_SAMPLE_RATE) -> list[str]:
    """Float audio as base64 PCM16 at 24 kHz, in append-sized pieces."""
    pcm = _pcm24k(audio, rate)
    return [
        base64.b64encode(pcm[i : i + APPEND_SAMPLES].tobytes()).decode("ascii")
        for i in range(0, len(pcm), APPEND_SAMPLES)
    ]


def encode_pcm_whole(audio: NDArray[np.float32], rate: int = INPUT_SAMPLE_RATE) -> str:
    """Float audio as one base64 PCM16 24 kHz string (an input_audio content part)."""
    return base64.b64encode(_pcm24k(audio, rate).tobytes()).decode("ascii")


def image_url(rgb: NDArray[np.uint8]) -> str:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(as_rgb(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ModelError("could not encode a frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def function_call_output(call_id: str, result: Any) -> dict[str, Any]:
    """The conversation.item.create that hands a function call's result to the upstream (a
    client's output is already the JSON text it sent)."""
    output = result if isinstance(result, str) else result_json(result)
    item = {"type": "function_call_output", "call_id": call_id, "output": output}
    return {"type": "conversation.item.create", "item": item}


#: The output a client's call gets when the conversation moved on without its result.
NO_CLIENT_RESULT = {"error": "no result came for this call before the conversation went on"}


def _user_text(text: str) -> list[dict[str, Any]]:
    return _user([{"type": "input_text", "text": text}])


def _user(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": content}]


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "input_text", "text": text}]


class RemoteSession(OmniSession):
    def __init__(self, config: RemoteConfig) -> None:
        super().__init__()
        audio_out: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": REALTIME_RATE}}
        if config.voice:
            audio_out["voice"] = config.voice
        self.upstream = Upstream(
            config,
            {
                "type": "realtime",
                "instructions": "You are a voice assistant on a phone call. Be brief.",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": REALTIME_RATE},
                        "transcription": {"model": config.model or "default"},
                        "turn_detection": None,
                    },
                    "output": audio_out,
                },
            },
        )
        self._last_audio_item: tuple[str, float] | None = None
        """The last upstream assistant audio item and how many ms of it arrived."""
        self._background: set[asyncio.Task[None]] = set()
        self._heard: tuple[NDArray[np.float32], int] | None = None
        """The last audio `transcribe` committed upstream, and on which connection."""
        self._client_calls: list[str] = []
        """Calls of the client's tools the upstream waits on (the client runs them)."""
        self._settled: dict[str, bool] = {}
        """Client calls answered upstream: True with the client's result, False with a note."""

    @contextlib.asynccontextmanager
    async def _exchange(self, outputs: Sequence[ToolOutput] = ()) -> AsyncIterator[Exchange]:
        """One request to the upstream. Calls of the client's tools still waiting for their
        results are answered first (upstreams refuse a response while a call has none):
        with the client's result when `outputs` brings it, else with a note that none came;
        a result that comes after that note still reaches the model, as a message."""
        async with self.upstream.request() as ex:
            given = {o.call_id: o.output for o in outputs}
            pending, self._client_calls = self._client_calls, []
            for call_id in pending:
                result = given.pop(call_id, None)
                self._settled[call_id] = result is not None
                await ex.send(
                    function_call_output(call_id, NO_CLIENT_RESULT if result is None else result)
                )
            for call_id, result in given.items():
                if self._settled.get(call_id) is not True:
                    late = f"(The result of the earlier function call {call_id}: {result})"
                    await ex.send({"type": "conversation.item.create", "item": _user_text(late)[0]})
                    self._settled[call_id] = True
            yield ex

    async def _retrying(self, run: Any) -> Any:
        """Run one request; once more on a fresh connection when the upstream dropped."""
        try:
            async with self._exchange() as ex:
                return await run(ex)
        except UpstreamLost:
            logger.warning("upstream dropped; reconnecting and retrying the request once")
            async with self._exchange() as ex:
                return await run(ex)

    async def transcribe(
        self, audio: NDArray[np.float32], languages: Sequence[str], *, prompt: str = ""
    ) -> Transcript:
        async def run(ex: Exchange) -> Transcript:
            if not ex.upstream.transcribes:
                return await self._ask_for_words(ex, audio, languages, prompt)
            await ex.send({"type": "input_audio_buffer.clear"})
            for piece in encode_pcm(audio):
                await ex.send({"type": "input_audio_buffer.append", "audio": piece})
            await ex.send({"type": "input_audio_buffer.commit"})
            item_id: str | None = None
            while True:
                event = await ex.receive()
                kind = event.get("type")
                if kind == "input_audio_buffer.committed":
                    item_id = event.get("item_id")
                elif kind == "conversation.item.input_audio_transcription.completed" and (
                    item_id is None or event.get("item_id") in (None, item_id)
                ):
                    self._heard = (audio, self.upstream.connects)
                    return self._transcript(str(event.get("transcript") or ""), event, languages)
                elif kind == "conversation.item.input_audio_transcription.failed":
                    error = event.get("error") or {}
                    raise ModelError(f"upstream transcription failed: {error.get('message')}")

        transcript: Transcript = await self._retrying(run)
        if transcript.language_probability < 1.0 and len(languages) > 1 and transcript.has_words:
            transcript = await self._identify(transcript, languages)
        return transcript

    async def _ask_for_words(
        self, ex: Exchange, audio: NDArray[np.float32], languages: Sequence[str], prompt: str
    ) -> Transcript:
        """The model transcribes the utterance (an upstream that has no transcription).
        The utterance goes inline, so the conversation is left as it was; `converse`
        commits it there if the turn is answered."""
        names = ", ".join(language_name(code) for code in languages) or "any language"
        instructions = TRANSCRIBE.format(languages=names)
        if prompt:
            instructions += f" Words you may hear: {prompt}"
        content = [{"type": "input_audio", "audio": encode_pcm_whole(audio)}]
        text = await self._text_response(ex, instructions, content)
        return Transcript(text.strip(), languages[0] if languages else "en", 0.5)

    @staticmethod
    def _transcript(text: str, event: dict[str, Any], languages: Sequence[str]) -> Transcript:
        language = event.get("language")
        if isinstance(language, str) and language:
            code = language.lower()[:2]
            return Transcript(text.strip(), code, 1.0)
        return Transcript(text.strip(), languages[0] if languages else "en", 0.5)

    async def _identify(self, transcript: Transcript, languages: Sequence[str]) -> Transcript:
        """The Realtime transcription event carries no language: ask which candidate it is."""
        codes = ", ".join(languages)
        instructions = (
            f"Which language is the user's text in: {codes}? Answer with the language code only."
        )

        async def run(ex: Exchange) -> str:
            return await self._text_response(ex, instructions, _text(transcript.text))

        answer: str = (await self._retrying(run)).strip().lower()
        for code in languages:
            if answer.startswith(code):
                return Transcript(transcript.text, code, 0.9)
        return transcript

    async def _text_response(
        self, ex: Exchange, instructions: str, content: list[dict[str, Any]]
    ) -> str:
        """A text answer to `content` alone (the response's own `input`), whose output
        item is then deleted: the conversation keeps only the call's turns."""
        create = await ex.send(
            {
                "type": "response.create",
                "response": {
                    "output_modalities": ["text"],
                    "instructions": instructions,
                    "input": _user(content),
                },
            }
        )
        parts: list[str] = []
        items: list[str] = []
        stream = self._stream_response(ex, create, REALTIME_RATE, items=items)
        async with contextlib.aclosing(stream):
            async for output in stream:
                if isinstance(output, TextDelta):
                    parts.append(output.text)
        for item in dict.fromkeys(items):
            await self.upstream.send({"type": "conversation.item.delete", "item_id": item})
        return "".join(parts).strip()

    async def translate(self, text: str, source: str, target: str) -> str:
        instructions = (
            f"Translate the user's text from {language_name(source)} to {language_name(target)}. "
            "Reply with the translation only."
        )

        async def run(ex: Exchange) -> str:
            return await self._text_response(ex, instructions, _text(text))

        result: str = await self._retrying(run)
        return result

    async def synthesize(
        self,
        text: str,
        language: str,
        *,
        sample_rate: int,
        voice: str | None = None,
        speed: float = 1.0,
    ) -> AsyncIterator[SpeechChunk]:
        response: dict[str, Any] = {
            "output_modalities": ["audio"],
            "instructions": f"Say exactly this, in {language_name(language)}, and nothing else.",
            "input": _user_text(text),
        }
        if voice:
            response["audio"] = {"output": {"voice": voice}}
        for attempt in (0, 1):
            yielded = False
            try:
                async with self._exchange() as ex:
                    create = await ex.send({"type": "response.create", "response": response})
                    stream = self._stream_response(ex, create, sample_rate)
                    async with contextlib.aclosing(stream):
                        async for output in stream:
                            if isinstance(output, SpeechOut):
                                yielded = True
                                yield output.chunk
                return
            except UpstreamLost:
                if yielded or attempt:
                    raise
                logger.warning("upstream dropped before speaking; reconnecting and retrying")

    async def converse(self, request: DialogueRequest) -> AsyncIterator[DialogueOutput]:
        for attempt in (0, 1):
            yielded = False
            try:
                async with self._exchange(request.tool_outputs) as ex:
                    stream = self._converse(ex, request)
                    async with contextlib.aclosing(stream):
                        async for output in stream:
                            yielded = True
                            yield output
                return
            except UpstreamLost:
                if yielded or attempt:
                    raise
                logger.warning("upstream dropped before answering; reconnecting and retrying")

    async def _converse(
        self, ex: Exchange, request: DialogueRequest
    ) -> AsyncGenerator[DialogueOutput, None]:
        """The turn as conversation items, then responses until one calls no tool (or calls
        a client's tool: the answer ends there, the client's result comes next request)."""
        if request.images:
            frames = [
                {"type": "input_image", "image_url": image_url(rgb)} for rgb in request.images
            ]
            await ex.send_image({"type": "conversation.item.create", "item": _user(frames)[0]})
        last = self._heard
        heard = last is not None and last[0] is request.audio and last[1] == self.upstream.connects
        if request.audio is None and request.text:
            await ex.send({"type": "conversation.item.create", "item": _user_text(request.text)[0]})
        if request.audio is not None and not heard:  # not already committed by `transcribe`
            await ex.send({"type": "input_audio_buffer.clear"})
            for piece in encode_pcm(request.audio):
                await ex.send({"type": "input_audio_buffer.append", "audio": piece})
            await ex.send({"type": "input_audio_buffer.commit"})
        response: dict[str, Any] = {
            "output_modalities": ["audio"] if request.speak else ["text"],
            "instructions": request.instructions,
        }
        offered = request.offered_tools()
        if offered:
            response["tools"] = [tool.schema() for tool in offered]
        words: list[str] = []
        calls: dict[str, tuple[str, object]] = {}
        """Every function call the upstream asked for in this turn (call_id -> name, arguments)."""
        results: dict[str, Any] = {}
        answered: set[str] = set()
        try:
            for round_ in range(MAX_TOOL_ROUNDS + 1):
                if offered:
                    first = request.tool_choice if round_ == 0 else "auto"
                    response["tool_choice"] = first if round_ < MAX_TOOL_ROUNDS else "none"
                create = await ex.send({"type": "response.create", "response": dict(response)})
                stream = self._stream_response(ex, create, request.sample_rate, calls)
                async with contextlib.aclosing(stream):
                    async for output in stream:
                        if isinstance(output, TextDelta):
                            words.append(output.text)
                        yield output
                pending = [call_id for call_id in calls if call_id not in answered]
                if not pending:
                    break
                for call_id in pending:
                    name, arguments = calls[call_id]
                    call = await run_tool(offered, call_id, name, arguments)
                    if call.on_client:  # the client answers it, even after a barge-in
                        answered.add(call_id)
                        self._client_calls.append(call_id)
                        yield call
                        continue
                    results[call_id] = call.result
                    yield call
                    await ex.send(function_call_output(call_id, call.result))
                    answered.add(call_id)
                if self._client_calls:
                    break  # the client runs its tools; the answer goes on with their results
            yield DialogueDone("".join(words).strip())
        finally:
            if unanswered := [call_id for call_id in calls if call_id not in answered]:
                # Abandoned (barge-in, a fault) with calls the upstream still waits on: a
                # function call left without output makes some upstreams refuse the next
                # response. Answer each one, and ask for no response to this turn.
                await self._answer_abandoned(
                    [
                        function_call_output(call_id, results.get(call_id, INTERRUPTED))
                        for call_id in unanswered
                    ]
                )

    async def _answer_abandoned(self, outputs: list[dict[str, Any]]) -> None:
        """Send the outputs of an abandoned turn's calls, even from a cancelled consumer.

        The request lock, still held by the abandoned turn, keeps the next request behind
        them; they go from a task so that a second cancellation cannot cut the list short
        (the task is tracked, and `aclose` waits for it)."""

        async def send_all() -> None:
            for event in outputs:
                await self.upstream.send(event)

        task = asyncio.get_running_loop().create_task(send_all(), name="remote abandoned calls")
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        logger.info("turn abandoned with %d function call(s) pending: answering them", len(outputs))
        await asyncio.shield(task)

    async def _stream_response(
        self,
        ex: Exchange,
        create: str,
        sample_rate: int,
        calls: dict[str, tuple[str, object]] | None = None,
        *,
        items: list[str] | None = None,
    ) -> AsyncGenerator[TextDelta | SpeechOut, None]:
        """The words and voice of the response asked for by the response.create `create`,
        as they arrive; the function calls it makes are collected in `calls` (call_id ->
        name, arguments), the conversation items it adds in `items`. Abandoned, it is
        cancelled upstream."""
        rid: str | None = None
        item_id: str | None = None
        received_ms = 0.0
        words: list[str] = []
        wrote = False
        finished = False
        try:
            while True:
                event = await ex.receive()
                kind = event.get("type")
                if items is not None:
                    items.extend(output_item_ids(event))
                if kind == "response.created":
                    rid = response_id(event)
                elif (delta := text_delta(event)) is not None:
                    wrote = True
                    words.append(delta)
                    yield TextDelta(delta)
                elif kind in TEXT_DONE and not wrote:  # the whole text at once
                    wrote = True
                    yield TextDelta(str(event.get("text") or ""))
                elif (audio := audio_delta(event)) is not None:
                    pcm, rate = audio
                    item_id = event.get("item_id") or item_id
                    received_ms += 1000.0 * len(pcm) / rate
                    if item_id:
                        self._last_audio_item = (item_id, received_ms)
                    if len(pcm):
                        said, words = "".join(words), []
                        chunk = resample_int16(pcm, rate, sample_rate)
                        yield SpeechOut(SpeechChunk(chunk, sample_rate, said))
                elif calls is not None and kind in (
                    "response.function_call_arguments.done",
                    "response.output_item.done",
                ):
                    call = event.get("item") if kind == "response.output_item.done" else event
                    if isinstance(call, dict) and (
                        kind != "response.output_item.done" or call.get("type") == "function_call"
                    ):
                        call_id = str(call.get("call_id") or call.get("id") or "")
                        calls[call_id] = (str(call.get("name") or ""), call.get("arguments"))
                elif is_terminal(event):
                    finished = True
                    return
        except Refused as exc:
            finished = exc.about == create  # refused outright: there is no answer to stop
            raise
        finally:
            if not finished:
                # Barge-in (or a fault): stop the upstream generating. Sent from a task so
                # a cancelled consumer still gets it out; the lock holds the next request
                # until the cancel is on the wire. Its late events are dropped by id, or,
                # when the upstream never said the id, waited out before the next request.
                cancel: dict[str, Any] = {"type": "response.cancel"}
                if rid:
                    cancel["response_id"] = rid
                    self.upstream.stale.add(rid)
                else:
                    self.upstream.abandon(create)
                await asyncio.shield(self.upstream.send(cancel))

    def truncate(self, item_id: str, audio_end_ms: float) -> str | None:
        kept = super().truncate(item_id, audio_end_ms)
        if self._last_audio_item is not None:
            upstream_item, received_ms = self._last_audio_item
            self._last_audio_item = None
            event = {
                "type": "conversation.item.truncate",
                "item_id": upstream_item,
                "content_index": 0,
                "audio_end_ms": int(max(0.0, min(audio_end_ms, received_ms))),
            }
            task = asyncio.get_running_loop().create_task(self.upstream.send(event))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return kept

    async def look(self, rgb: NDArray[np.uint8]) -> None:
        """Add a sampled camera frame to the upstream conversation (unless it takes none)."""
        if self.upstream.refuses_images:
            return
        content = [{"type": "input_image", "image_url": image_url(rgb)}]

        async def run(ex: Exchange) -> None:
            await ex.send_image({"type": "conversation.item.create", "item": _user(content)[0]})

        await self._retrying(run)

    async def read_text(self, rgb: NDArray[np.uint8]) -> list[TextLine]:
        self._check_images()
        await self.look(rgb)
        height, width = rgb.shape[:2]
        instructions = (
            "Read the printed text in the last image, one line of output per line of text, "
            "top to bottom. Reply with the text only."
        )

        async def run(ex: Exchange) -> str:
            create = await ex.send(
                {
                    "type": "response.create",
                    "response": {"output_modalities": ["text"], "instructions": instructions},
                }
            )
            stream = self._stream_response(ex, create, REALTIME_RATE)
            async with contextlib.aclosing(stream):
                return "".join([o.text async for o in stream if isinstance(o, TextDelta)])

        text: str = await self._retrying(run)
        self._check_images()  # refused on the way: what came back was read from nothing
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        step = height // max(1, len(lines))
        return [
            TextLine(line, 1.0, (0, i * step, width, (i + 1) * step))
            for i, line in enumerate(lines)
        ]

    def _check_images(self) -> None:
        if self.upstream.refuses_images:
            raise ModelError(
                "the Realtime endpoint takes no images, so it cannot read the camera",
                code="images_refused",
            )

    async def aclose(self) -> None:
        for task in list(self._background):
            await asyncio.gather(task, return_exceptions=True)
        await self.upstream.aclose()


class RemoteModel(OmniModel):
    name = "remote"

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        self._loaded = False

    @property
    def capabilities(self) -> Capabilities:
        languages = self.config.languages
        return Capabilities(
            speech_to_text=True,
            text_to_speech=True,
            spoken_languages=languages,
            translation_pairs=frozenset((a, b) for a in languages for b in languages if a != b),
            vision=True,
            ocr=True,
            dialogue=True,
        )

    def check(self) -> None:
        try:
            self.config.endpoint()
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from exc

    def load(self, progress: ProgressCallback) -> None:
        try:
            endpoint = self.config.endpoint()
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from exc
        # Nothing to load here: each call opens its own upstream session (and reconnects
        # with backoff), so a pool that is briefly down does not stop the gateway starting.
        progress(f"remote backend: Realtime endpoint {endpoint} (connected per call)")
        self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded

    def session(self) -> RemoteSession:
        return RemoteSession(self.config)
