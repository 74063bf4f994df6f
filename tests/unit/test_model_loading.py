"""Missing weights or programs fail with a sentence that names what to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.embedded import asr, mt
from model.errors import ModelLoadError
from rtc.app import build_model


def test_missing_weight_package_is_named() -> None:
    with pytest.raises(ModelLoadError, match="no-such-weights"):
        asr._package_dir("no_such_weights")


def test_missing_apertium_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(ModelLoadError, match="apertium-eng-spa"):
        mt.ApertiumTranslator()


def test_missing_apertium_mode_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mt, "MODES_DIR", tmp_path)
    with pytest.raises(ModelLoadError, match="apertium-eng-spa"):
        mt.ApertiumTranslator()


def test_unknown_backend_is_named() -> None:
    with pytest.raises(ModelLoadError, match="embedded, tone"):
        build_model("quantum")


def test_the_whisper_join_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr, "MODEL_BIN_SHA256", "0" * 64)
    with pytest.raises(ModelLoadError, match="sha256"):
        asr.whisper_base_dir(tmp_path)
    assert not (tmp_path / "whisper-base-ct2" / ".complete").exists()
