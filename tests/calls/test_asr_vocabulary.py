"""What the recogniser is told and what it says of itself: the scenario's vocabulary reaches
Whisper (jargon is heard as jargon, not as common words), and it says how sure it was."""

from __future__ import annotations

import numpy as np
import pytest

from bench.asr_window import through_opus
from explainer.rules import vocabulary
from model.audio import resample_int16
from model.embedded.backend import EmbeddedModel

pytestmark = pytest.mark.models


def received(model: EmbeddedModel, text: str) -> np.ndarray:
    """`text` in the project's English voice as the gateway hears it (the model's own voice:
    a second Piper would initialise espeak-ng a second time in this process)."""
    pcm = np.concatenate(
        [resample_int16(p, rate, 48_000) for _, p, rate in model.sentences(text, "en")]
    )
    return through_opus(pcm)


def test_rules_vocabulary_names_each_sports_topics() -> None:
    tennis = vocabulary("tennis")
    assert tennis.startswith("Questions about tennis:") and "tiebreak" in tennis
    assert "offside" not in tennis
    every = vocabulary(None)
    assert all(word in every for word in ("offside", "three-pointer", "tiebreak"))


async def test_foul_is_heard_with_the_explainers_vocabulary(
    embedded_model: EmbeddedModel,
) -> None:
    session = embedded_model.session()
    said = received(embedded_model, "What is a foul?")
    heard = []
    for lead in (0, 4, 9):  # where the VAD cuts the turn varies
        audio = np.concatenate([np.zeros(lead * 320, np.float32), said])
        plain = await session.transcribe(audio, ["en"])
        hinted = await session.transcribe(audio, ["en"], prompt=vocabulary("football"))
        heard.append((plain.text, hinted.text))
    # Whisper base alone hears the project's voice say "What is a pal?" (bench.asr_window).
    assert all("foul" in hinted.lower() for _, hinted in heard), heard


def test_a_cancelled_transcription_skips_the_decoder(embedded_model: EmbeddedModel) -> None:
    import threading

    audio = received(embedded_model, "What is a foul?")
    cancelled = threading.Event()
    assert embedded_model.transcribe_blocking(audio, ["en"], "", cancelled).text
    cancelled.set()  # the speculative turn went on: nobody waits for these words
    assert embedded_model.transcribe_blocking(audio, ["en"], "", cancelled).text == ""


def test_the_recogniser_says_how_sure_it_was_of_the_last_word(
    embedded_model: EmbeddedModel,
) -> None:
    audio = received(embedded_model, "Where is the train station?")
    whole = embedded_model.transcribe_blocking(audio, ["en"], "", None)
    # Cut inside "station": Whisper still writes a word there, a guess ("stay").
    cut = embedded_model.transcribe_blocking(audio[: int(len(audio) * 0.7)], ["en"], "", None)
    assert whole.text.lower().rstrip("?").endswith("station"), whole.text
    assert whole.last_word_probability is not None and whole.last_word_probability > 0.9
    assert cut.last_word_probability is not None
    assert cut.last_word_probability < whole.last_word_probability - 0.3, (cut, whole)


def test_loading_voices_and_hears_a_sentence(embedded_model: EmbeddedModel) -> None:
    """The last step of loading: a sentence voiced and heard (the first caller does not pay
    the libraries' first runs, and a broken voice or recogniser shows before anyone calls)."""
    heard = (embedded_model.warm_up_heard or "").lower()
    assert "how are you" in heard
