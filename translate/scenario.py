"""Two people, one phone, two languages: each utterance is heard, translated and spoken.

Two modes (`session.interpretation`, ours): "turns" (the default) and "simultaneous"
(translate/interpreting.py: the gateway feeds every chunk of audio to the streaming
engine, which speaks while the speakers go on). Typed `input_text` items are answered
turn by turn in either mode. Turn by turn, for every turn: detect which language of the pair it is in, transcribe it,
translate it into the other, and speak the translation, starting as soon as
the first sentence is translated. The translation is the backend's `translate`:
Apertium on the embedded backend, the model itself on `transformers` and
`remote` (a text answer with instructions to translate), so no conversation
with tools is needed here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from model.base import OmniModel, OmniSession
from model.scenario import ResponseSink, Scenario, ScenarioConfigError, StreamSink, UserTurn
from model.text import split_sentences
from translate.interpreting import DONE, INPUT_DELTA, OUTPUT_DELTA, ScenarioOutput
from translate.langid import guess_language
from translate.simultaneous import Directions, SimultaneousInterpreter, SimultaneousSettings

DEFAULT_PAIR = ("en", "es")
TURNS, SIMULTANEOUS = "turns", "simultaneous"
MODES = (TURNS, SIMULTANEOUS)
#: Output rate of the gateway's audio track; speech is produced at this rate.
OUTPUT_SAMPLE_RATE = 48_000


def language_pair(config: Mapping[str, Any]) -> tuple[str, str]:
    langs = config.get("languages") or list(DEFAULT_PAIR)
    if (
        not isinstance(langs, list | tuple)
        or len(langs) != 2
        or not all(isinstance(x, str) and x for x in langs)
        or langs[0] == langs[1]
    ):
        raise ScenarioConfigError(
            "invalid_languages",
            'languages must be a pair of two different codes, e.g. ["en", "es"]',
        )
    return (langs[0].lower(), langs[1].lower())


def interpretation(config: Mapping[str, Any]) -> str:
    """`session.interpretation`: "turns" (default) or "simultaneous"."""
    mode = config.get("interpretation")
    if mode is None:
        return TURNS
    if mode not in MODES:
        raise ScenarioConfigError(
            "invalid_interpretation", 'interpretation must be "turns" or "simultaneous"'
        )
    return str(mode)


class InterpreterScenario(Scenario):
    name = "interpreter"
    events = (DONE, INPUT_DELTA, OUTPUT_DELTA)
    recorded_events = frozenset({DONE})

    def __init__(self, model: OmniModel, session: OmniSession, config: Mapping[str, Any]) -> None:
        super().__init__(model, session, config)
        self._engine: SimultaneousInterpreter | None = None
        self._runs = 0

    @classmethod
    def check_config(cls, model: OmniModel, config: Mapping[str, Any]) -> None:
        interpretation(config)
        a, b = language_pair(config)
        caps = model.capabilities
        if not caps.can_interpret(a, b) or not {a, b} <= caps.spoken_languages:
            can = ", ".join(f"{x}<->{y}" for x, y in caps.interpreter_pairs()) or "none"
            raise ScenarioConfigError(
                "unsupported_language_pair",
                f"the {model.name} backend cannot interpret {a}<->{b}; it can do: {can}",
            )

    @property
    def pair(self) -> tuple[str, str]:
        return language_pair(self.config)

    @property
    def languages(self) -> list[str]:
        return list(self.pair)

    # -- simultaneous mode -----------------------------------------------------------
    @property
    def listens_continuously(self) -> bool:
        return interpretation(self.config) == SIMULTANEOUS

    def configure(self, config: Mapping[str, Any]) -> None:
        super().configure(config)
        if self._engine is not None:
            self._engine.set_directions(Directions.two_way(*self.pair))

    async def listen(self, out: StreamSink) -> None:
        """Interpret the call's audio as it comes, both ways, until cancelled."""
        run = self._runs  # item ids stay unique if listening stops and starts again
        engine = SimultaneousInterpreter(
            self.session,
            Directions.two_way(*self.pair),
            ScenarioOutput(out, lambda index: f"seg_{run}_{index}"),
            settings=SimultaneousSettings(output_rate=OUTPUT_SAMPLE_RATE),
            vocabulary=self.vocabulary,
        )
        self._engine = engine
        self._runs += 1
        try:
            await engine.run()
        finally:
            if self._engine is engine:
                self._engine = None

    def hear_audio(self, chunk: NDArray[np.float32]) -> None:
        if self._engine is not None:
            self._engine.feed(chunk)

    # -- turn by turn ----------------------------------------------------------------

    async def respond(self, turn: UserTurn, out: ResponseSink) -> None:
        pair = self.pair
        transcript = await self.hear(turn, out)
        if transcript is not None:
            if not transcript.has_words:
                return
            text, source = transcript.text, transcript.language
        elif turn.text and turn.text.strip():
            text, source = turn.text.strip(), guess_language(turn.text, pair)
        else:
            out.error("nothing_to_translate", "the interpreter needs speech or an input_text item")
            return
        target = pair[1] if source == pair[0] else pair[0]
        translated: list[str] = []
        await self._say_translation(out, text, source, target, translated)
        out.event(
            "translation.done",
            {
                "item_id": turn.item_id,
                "source_language": source,
                "target_language": target,
                "source_text": text,
                "text": " ".join(translated),
            },
        )

    async def _say_translation(
        self, out: ResponseSink, text: str, source: str, target: str, translated: list[str]
    ) -> None:
        sentences = split_sentences(text) or [text]
        # Translate sentence n+1 while sentence n is being spoken.
        pending = asyncio.ensure_future(self.session.translate(sentences[0], source, target))
        try:
            for i in range(len(sentences)):
                sentence = await pending
                if i + 1 < len(sentences):
                    pending = asyncio.ensure_future(
                        self.session.translate(sentences[i + 1], source, target)
                    )
                if not sentence:
                    continue
                translated.append(sentence)
                await out.say(sentence, target)
        finally:
            if not pending.done():
                pending.cancel()
