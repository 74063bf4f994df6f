"""Text translation with Apertium (Debian packages `apertium`, `apertium-eng-spa`)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from pathlib import Path

from model.errors import ModelError, ModelLoadError, UnsupportedError

logger = logging.getLogger(__name__)

#: ISO 639-1 pair -> Apertium mode name.
MODES: dict[tuple[str, str], str] = {("en", "es"): "eng-spa", ("es", "en"): "spa-eng"}
_MODES_DIR = Path("/usr/share/apertium/modes")


class ApertiumTranslator:
    """Runs `apertium -u <mode>` as a subprocess per request (about 0.15 s each)."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        exe = shutil.which("apertium")
        if exe is None:
            raise ModelLoadError(
                "the `apertium` command is missing: install the Debian packages "
                "`apertium apertium-eng-spa` (make serve does this)"
            )
        self._exe = exe
        self._timeout_s = timeout_s
        self.pairs = frozenset(
            pair for pair, mode in MODES.items() if (_MODES_DIR / f"{mode}.mode").exists()
        )
        if not self.pairs:
            raise ModelLoadError(
                "no Apertium eng<->spa mode found under /usr/share/apertium/modes: install "
                "the Debian package `apertium-eng-spa`"
            )

    async def translate(self, text: str, source: str, target: str) -> str:
        mode = MODES.get((source, target))
        if mode is None or (source, target) not in self.pairs:
            raise UnsupportedError(f"cannot translate {source} -> {target}")
        if not text.strip():
            return ""
        # -u drops Apertium's unknown-word marks (*word); the listener hears words, not symbols.
        # A blocking run in a thread, not asyncio's subprocess API: under uvloop the child's
        # stdin is a socket, which Apertium's pipeline reads as empty.
        try:
            proc = await asyncio.to_thread(
                subprocess.run, [self._exe, "-u", mode], input=text.encode(),
                capture_output=True, timeout=self._timeout_s, check=False,
            )
        except subprocess.TimeoutExpired:
            raise ModelError("apertium timed out", code="translation_timeout") from None
        out, err = proc.stdout, proc.stderr
        if proc.returncode != 0:
            raise ModelError(f"apertium failed: {err.decode(errors='replace')[:200]}")
        return _clean(out.decode("utf-8", errors="replace"))


def _clean(text: str) -> str:
    # Apertium leaves '#' before words it could not inflect and '@' before untranslated ones.
    return " ".join(text.replace("#", "").replace("@", "").split())
