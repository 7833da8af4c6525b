"""Store-and-forward: a durable queue on disk (SQLite in WAL mode), bounded in bytes.

Every message is written here before it is sent and deleted only once the broker (or the API) has
acknowledged it, so a broker outage or a killed agent loses nothing within the bound. Past the bound
the oldest messages go first, and are counted. Each channel's ``seq`` is kept here too, in the same
transaction as the messages that use it, so a restarted agent never reuses one; a queue created anew
(its file wiped) starts its counters at the clock in microseconds, above anything sent before.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.crypto import Sealer
from edge.errors import SpoolError

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_channel ON messages (channel, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Queued:
    """One message waiting to be sent."""

    id: int
    channel: str
    seq: int
    payload: bytes


@dataclass(frozen=True)
class SpoolStats:
    messages: int
    bytes: int
    dropped: int


class Spool:
    """The queue. Thread-safe: sources append while the uplink sends and removes."""

    def __init__(self, path: Path, *, max_bytes: int, sealer: Sealer | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._sealer = sealer
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a robot loses power: what was acknowledged to a source stays
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as err:
            raise SpoolError(
                f"cannot open the queue at {self.path}: {err} (move the file away to start afresh)"
            ) from err

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return row[0]
        start = time.time_ns() // 1000 if name.startswith("seq:") else 0
        self._db.execute("INSERT INTO counters VALUES (?, ?)", (name, start))
        return start

    def _add(self, name: str, amount: int) -> None:
        self._counter(name)
        self._db.execute("UPDATE counters SET value = value + ? WHERE name = ?", (amount, name))

    def append(self, items: Sequence[tuple[str, Callable[[int], bytes]]]) -> list[int]:
        """Queue messages, each built from the next ``seq`` of its channel; returns the seqs used.

        Raises:
            SpoolError: the disk is full or the file is damaged; nothing of this call is kept.
        """
        seqs = []
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                added = 0
                for channel, build in items:
                    seq = self._counter(f"seq:{channel}")
                    payload = build(seq)
                    stored = self._seal(payload, channel, seq)
                    self._db.execute(
                        "INSERT INTO messages (channel, seq, payload) VALUES (?, ?, ?)", (channel, seq, stored)
                    )
                    self._db.execute("UPDATE counters SET value = ? WHERE name = ?", (seq + 1, f"seq:{channel}"))
                    added += len(stored)
                    seqs.append(seq)
                self._add("bytes", added)
                self._enforce_bound()
                self._db.execute("COMMIT")
            except sqlite3.Error as err:
                if self._db.in_transaction:  # SQLite rolls back by itself on a full disk
                    self._db.execute("ROLLBACK")
                raise SpoolError(f"cannot queue {len(items)} messages in {self.path}: {err}") from err
        return seqs

    def _enforce_bound(self) -> None:
        total = self._counter("bytes")
        if total <= self.max_bytes:
            return
        excess, dropped, freed = total - self.max_bytes, 0, 0
        rows = self._db.execute("SELECT id, length(payload) FROM messages ORDER BY id LIMIT 100000").fetchall()
        last_id = None
        for row_id, size in rows:
            if freed >= excess:
                break
            freed += size
            dropped += 1
            last_id = row_id
        if last_id is not None:
            self._db.execute("DELETE FROM messages WHERE id <= ?", (last_id,))
            self._add("bytes", -freed)
            self._add("dropped", dropped)

    def _seal(self, payload: bytes, channel: str, seq: int) -> bytes:
        return payload if self._sealer is None else self._sealer.seal(payload, f"{channel}:{seq}".encode())

    def _open(self, stored: bytes, channel: str, seq: int) -> bytes:
        return stored if self._sealer is None else self._sealer.open(stored, f"{channel}:{seq}".encode())

    def oldest(self, channel: str, limit: int) -> list[Queued]:
        """Up to ``limit`` of a channel's messages, oldest first (they stay queued until removed).

        Raises:
            SpoolError: a stored message does not decrypt (another key, or altered on disk).
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT id, channel, seq, payload FROM messages WHERE channel = ? ORDER BY id LIMIT ?", (channel, limit)
            ).fetchall()
        try:
            return [Queued(row_id, name, seq, self._open(stored, name, seq)) for row_id, name, seq, stored in rows]
        except Exception as err:  # cryptography's InvalidTag has no message of its own
            raise SpoolError(
                f"a queued {channel} message does not decrypt with the configured key ({type(err).__name__}); "
                "restore the key that sealed it"
            ) from err

    def channels(self) -> list[str]:
        """The channels with messages waiting."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT channel FROM messages")]

    def remove(self, ids: Sequence[int]) -> None:
        """Forget messages the other side acknowledged."""
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            marks = ",".join("?" * len(ids))
            size = self._db.execute(
                f"SELECT coalesce(sum(length(payload)), 0) FROM messages WHERE id IN ({marks})", ids
            )
            freed = size.fetchone()[0]
            self._db.execute(f"DELETE FROM messages WHERE id IN ({marks})", ids)
            self._add("bytes", -freed)
            self._db.execute("COMMIT")

    def stats(self) -> SpoolStats:
        with self._lock:
            count = self._db.execute("SELECT count(*) FROM messages").fetchone()[0]
            return SpoolStats(count, max(0, self._counter("bytes")), self._counter("dropped"))

    def get_state(self, name: str) -> str | None:
        """A small value the agent keeps across restarts (the remote config, commands done)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def set_state(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO state VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value)
            )
