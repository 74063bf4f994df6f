"""Conversation records: what was said, translated and solved in each call, kept in SQLite.

One database thread owns the connection (WAL mode, `synchronous=FULL`): the event loop
only puts jobs on its queue, never waits on the disk. Writes are committed as they come
(each batch the thread finds waiting is one transaction), so a crash loses at most the
events of the last few milliseconds. Reads go through the same thread, after the writes
queued before them. Audio and video are never stored; only the text of the events in
`RECORDED_EVENTS` and the text of typed user items.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Server events kept in a call's record, besides the scenarios' own (`recorded_events` of
#: each scenario class). emotion.state, audio buffer events and the like are not: they are
#: frequent and say nothing about the conversation.
#: The user's speech as heard, only with `--record-audio` (never sent to clients).
INPUT_AUDIO: Final = "input_audio.recorded"
RECORDED_EVENTS: Final = frozenset(
    {
        "session.created",
        "session.updated",
        "conversation.item.input_audio_transcription.completed",
        INPUT_AUDIO,
        "response.output_audio_transcript.done",
        "response.done",
        "error",
        # Not a server event: a typed user item, shown to the record by the call (its text
        # only; an attached image is only noted, never stored).
        "conversation.item.create",
    }
)
#: The entry a record gets where the call was resumed on a new connection (its data:
#: `after`, how the previous connection ended). Not a server event.
RESUMED_ENTRY: Final = "call.resumed"
#: end_reason of calls found unfinished at start-up: the previous process died mid-call.
INTERRUPTED: Final = "interrupted"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    ended_at REAL,
    end_reason TEXT,
    scenario TEXT
);
CREATE INDEX IF NOT EXISTS calls_by_start ON calls (started_at);
CREATE TABLE IF NOT EXISTS entries (
    call_id TEXT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
"""


@dataclass(frozen=True)
class CallSummary:
    id: str
    started_at: float
    ended_at: float | None
    end_reason: str | None
    scenario: str | None
    entries: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "realtime.conversation",
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "end_reason": self.end_reason,
            "scenario": self.scenario,
            "entries": self.entries,
        }


def recorded_payload(
    event: Mapping[str, Any], scenario_events: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """What of a server event goes into the record (None: nothing); `scenario_events`: the
    scenarios' events worth keeping."""
    kind = event.get("type")
    if kind not in RECORDED_EVENTS and kind not in scenario_events:
        return None
    data = {k: v for k, v in event.items() if k not in ("type", "event_id")}
    if kind == "response.done":
        response = data.get("response") or {}
        keep = ("id", "status", "status_details")
        data = {"response": {k: response[k] for k in keep if k in response}}
    return data


class ConversationStore:
    """The SQLite file of conversation records, written by one thread."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._jobs: queue.SimpleQueue[Callable[[sqlite3.Connection], object] | None] = (
            queue.SimpleQueue()
        )
        self._seq: dict[str, int] = {}
        self._paused: dict[str, int] = {}
        """Calls that ended but may be resumed (rtc/resume.py): their last entry number."""
        self._closed = False
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="omnilive-records", daemon=True
        )
        self._thread.start()
        ready.result()  # raises if the database cannot be opened

    # -- the database thread ----------------------------------------------------------
    def _run(self, ready: Future[None]) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
            db.execute(
                "UPDATE calls SET end_reason = ?, ended_at = COALESCE("
                "(SELECT MAX(at) FROM entries WHERE call_id = calls.id), started_at) "
                "WHERE ended_at IS NULL",
                (INTERRUPTED,),
            )
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            while True:
                job = self._jobs.get()
                batch = [job]
                while True:  # everything already waiting goes into one transaction
                    try:
                        batch.append(self._jobs.get_nowait())
                    except queue.Empty:
                        break
                stop = None in batch
                self._execute(db, [j for j in batch if j is not None])
                if stop:
                    return
        finally:
            db.close()

    def _execute(
        self, db: sqlite3.Connection, jobs: list[Callable[[sqlite3.Connection], object]]
    ) -> None:
        db.execute("BEGIN")
        for job in jobs:
            try:
                job(db)
            except Exception:  # one bad job must not lose the others, nor stop the thread
                logger.exception("conversation record: a write failed")
        try:
            db.execute("COMMIT")
        except sqlite3.Error:
            logger.exception("conversation record: could not commit %d job(s)", len(jobs))
            if db.in_transaction:
                db.execute("ROLLBACK")

    def _submit(self, job: Callable[[sqlite3.Connection], object]) -> None:
        if not self._closed:
            self._jobs.put(job)

    async def _query(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        future: Future[T] = Future()

        def job(db: sqlite3.Connection) -> None:
            try:
                future.set_result(fn(db))
            except BaseException as exc:
                future.set_exception(exc)

        if self._closed:
            raise RuntimeError("the conversation store is closed")
        self._jobs.put(job)
        return await asyncio.wrap_future(future)

    # -- writes (from the event loop; never block) -------------------------------------
    def call_started(self, call_id: str, scenario: str | None) -> None:
        self._seq[call_id] = 0
        at = self._clock()
        self._submit(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO calls (id, started_at, scenario) VALUES (?, ?, ?)",
                (call_id, at, scenario),
            )
        )

    def add(self, call_id: str, kind: str, data: Mapping[str, Any]) -> None:
        if call_id not in self._seq:
            return
        seq = self._seq[call_id] = self._seq[call_id] + 1
        at = self._clock()
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
        scenario = (data.get("session") or {}).get("scenario") if "session" in data else None

        def write(db: sqlite3.Connection) -> None:
            db.execute(  # nothing if the record was deleted meanwhile
                "INSERT INTO entries (call_id, seq, at, type, data) "
                "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM calls WHERE id = ?)",
                (call_id, seq, at, kind, text, call_id),
            )
            if isinstance(scenario, str):
                db.execute("UPDATE calls SET scenario = ? WHERE id = ?", (scenario, call_id))

        self._submit(write)

    def call_ended(self, call_id: str, reason: str | None, *, resumable: bool = False) -> None:
        """The call ended (`resumable`: a new call may still go on with it, rtc/resume.py)."""
        seq = self._seq.pop(call_id, None)
        if seq is None:
            return
        if resumable:
            self._paused[call_id] = seq
        at = self._clock()
        self._submit(
            lambda db: db.execute(
                "UPDATE calls SET ended_at = ?, end_reason = ? WHERE id = ?",
                (at, reason, call_id),
            )
        )

    def call_resumed(self, call_id: str) -> None:
        """A new connection goes on with a dropped call: its record goes on too, one record
        for the whole conversation, open again until the call ends."""
        seq = self._paused.pop(call_id, None)
        if seq is None:  # its record was deleted meanwhile: a new one from here
            self.call_started(call_id, None)
            return
        self._seq[call_id] = seq
        self._submit(
            lambda db: db.execute(
                "UPDATE calls SET ended_at = NULL, end_reason = NULL WHERE id = ?", (call_id,)
            )
        )

    def forget(self, call_id: str) -> None:
        """A dropped call was not resumed in time: its record stays as it ended."""
        self._paused.pop(call_id, None)

    # -- reads and maintenance (awaited; run on the database thread) -------------------
    async def list_calls(
        self, *, limit: int = 20, before: float | None = None
    ) -> tuple[list[CallSummary], bool]:
        """Newest first; and whether there are more."""

        def run(db: sqlite3.Connection) -> tuple[list[CallSummary], bool]:
            rows = db.execute(
                "SELECT id, started_at, ended_at, end_reason, scenario, "
                "(SELECT COUNT(*) FROM entries WHERE call_id = calls.id) "
                "FROM calls WHERE started_at < ? ORDER BY started_at DESC, id LIMIT ?",
                (before if before is not None else float("inf"), limit + 1),
            ).fetchall()
            return [CallSummary(*row) for row in rows[:limit]], len(rows) > limit

        return await self._query(run)

    async def get(self, call_id: str) -> dict[str, Any] | None:
        def run(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute(
                "SELECT id, started_at, ended_at, end_reason, scenario, "
                "(SELECT COUNT(*) FROM entries WHERE call_id = calls.id) FROM calls WHERE id = ?",
                (call_id,),
            ).fetchone()
            if row is None:
                return None
            entries = [
                {"seq": seq, "at": at, "type": kind, "data": json.loads(data)}
                for seq, at, kind, data in db.execute(
                    "SELECT seq, at, type, data FROM entries WHERE call_id = ? ORDER BY seq",
                    (call_id,),
                )
            ]
            return {**CallSummary(*row).as_json(), "entries": entries}

        return await self._query(run)

    async def delete(self, call_id: str) -> bool:
        """Delete a call's record (a call still running stops being recorded)."""
        self._seq.pop(call_id, None)
        self._paused.pop(call_id, None)

        def run(db: sqlite3.Connection) -> bool:
            return db.execute("DELETE FROM calls WHERE id = ?", (call_id,)).rowcount > 0

        return await self._query(run)

    async def purge(self, older_than_days: float) -> int:
        """Delete records of calls that started more than `older_than_days` ago."""
        cutoff = self._clock() - older_than_days * 86_400

        def run(db: sqlite3.Connection) -> int:
            ids = [r[0] for r in db.execute("SELECT id FROM calls WHERE started_at < ?", (cutoff,))]
            live = [i for i in ids if i in self._seq or i in self._paused]
            doomed = [i for i in ids if i not in live]
            db.executemany("DELETE FROM calls WHERE id = ?", [(i,) for i in doomed])
            return len(doomed)

        return await self._query(run)

    async def aclose(self) -> None:
        """Write what is queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    def close_sync(self) -> None:
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()
