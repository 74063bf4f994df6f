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
        proc = await asyncio.create_subprocess_exec(
            self._exe, "-u", mode,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(text.encode()), self._timeout_s)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise ModelError("apertium timed out", code="translation_timeout") from None
        except asyncio.CancelledError:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        if proc.returncode != 0:
            raise ModelError(f"apertium failed: {err.decode(errors='replace')[:200]}")
        return _clean(out.decode("utf-8", errors="replace"))


def _clean(text: str) -> str:
    # Apertium leaves '#' before words it could not inflect and '@' before untranslated ones.
    return " ".join(text.replace("#", "").replace("@", "").split())
