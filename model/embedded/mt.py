"""Text translation with Apertium (Debian packages `apertium`, `apertium-eng-spa`).

Starting Apertium's chain of ten programs costs ~150 ms, so each direction
runs as one long-lived pipeline in null-flush mode (`-z`): every request is
terminated by a NUL character, which makes each stage flush its answer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import select
import shlex
import shutil
import subprocess
import threading
import time
from pathlib import Path

from model.errors import ModelError, ModelLoadError, UnsupportedError

logger = logging.getLogger(__name__)

#: ISO 639-1 pair -> Apertium mode name.
MODES: dict[tuple[str, str], str] = {("en", "es"): "eng-spa", ("es", "en"): "spa-eng"}
MODES_DIR = Path("/usr/share/apertium/modes")
_RESERVED = re.compile(r"([\\^$@/<>{}\[\]*#~])")
_BLANK_TAIL = "[][\n]"


def pipeline_commands(mode_file: Path) -> list[list[str]]:
    """The mode's stages, each with -z, and `-n` so unknown words are not marked with '*'."""
    text = mode_file.read_text().strip().replace("$1", "-n").replace("$2", "")
    stages = []
    for stage in text.split("|"):
        argv = shlex.split(stage.strip())
        if not argv:
            continue
        stages.append([argv[0], "-z", *[a for a in argv[1:] if a]])
    return stages


class ApertiumPipeline:
    """One direction; requests are serialised (Apertium is fast, ~10 ms a sentence)."""

    def __init__(self, mode_file: Path, timeout_s: float = 10.0) -> None:
        self._commands = pipeline_commands(mode_file)
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._start()

    def _start(self) -> None:
        self.close()
        previous: int | None = None
        for i, argv in enumerate(self._commands):
            last = i == len(self._commands) - 1
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if previous is None else previous,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            if previous is not None:
                os.close(previous)
            if not last:
                assert proc.stdout is not None
                previous = os.dup(proc.stdout.fileno())
                proc.stdout.close()
            self._procs.append(proc)

    def translate(self, text: str) -> str:
        payload = _RESERVED.sub(r"\\\1", " ".join(text.split())) + _BLANK_TAIL + "\0"
        with self._lock:
            if any(p.poll() is not None for p in self._procs):
                logger.warning("apertium pipeline died; restarting it")
                self._start()
            first, last = self._procs[0], self._procs[-1]
            assert first.stdin is not None and last.stdout is not None
            try:
                first.stdin.write(payload.encode())
                first.stdin.flush()
                out = self._read_until_nul(last.stdout.fileno())
            except (OSError, TimeoutError) as exc:
                self._start()
                raise ModelError(f"apertium failed: {exc}", code="translation_failed") from None
        return clean(out.decode("utf-8", errors="replace"))

    def _read_until_nul(self, fd: int) -> bytes:
        deadline = time.monotonic() + self._timeout_s
        out = b""
        while not out.endswith(b"\0"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError("no answer in time")
            piece = os.read(fd, 65536)
            if not piece:
                raise OSError("pipeline closed")
            out += piece
        return out[:-1]

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        self._procs = []


def clean(text: str) -> str:
    text = text.replace(_BLANK_TAIL, " ")
    text = re.sub(r"\\(.)", r"\1", text)
    # '#' marks a word Apertium could not inflect; the listener hears the word, not the mark.
    return " ".join(text.replace("#", "").split())


def check_apertium() -> None:
    """ModelLoadError unless Apertium and its eng<->spa modes are installed."""
    if shutil.which("apertium") is None or shutil.which("lt-proc") is None:
        raise ModelLoadError(
            "Apertium is missing: install the Debian packages `apertium apertium-eng-spa` "
            "(make serve does this)"
        )
    if not any((MODES_DIR / f"{mode}.mode").exists() for mode in MODES.values()):
        raise ModelLoadError(
            f"no Apertium eng<->spa mode under {MODES_DIR}: install the Debian package "
            "`apertium-eng-spa`"
        )


class ApertiumTranslator:
    def __init__(self, timeout_s: float = 10.0) -> None:
        check_apertium()
        self._pipelines: dict[tuple[str, str], ApertiumPipeline] = {}
        for pair, mode in MODES.items():
            mode_file = MODES_DIR / f"{mode}.mode"
            if mode_file.exists():
                self._pipelines[pair] = ApertiumPipeline(mode_file, timeout_s)
        if not self._pipelines:
            raise ModelLoadError(
                f"no Apertium eng<->spa mode under {MODES_DIR}: install the Debian package "
                "`apertium-eng-spa`"
            )
        self.pairs = frozenset(self._pipelines)
        for pipeline in self._pipelines.values():
            pipeline.translate("hello")  # the first request loads the dictionaries

    async def translate(self, text: str, source: str, target: str) -> str:
        pipeline = self._pipelines.get((source, target))
        if pipeline is None:
            raise UnsupportedError(f"cannot translate {source} -> {target}")
        if not text.strip():
            return ""
        return await asyncio.to_thread(pipeline.translate, text)

    def close(self) -> None:
        for pipeline in self._pipelines.values():
            pipeline.close()
