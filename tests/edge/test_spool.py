"""The store-and-forward queue: durable, bounded, sequenced, encrypted when asked."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from edge.crypto import Sealer, load_key, new_key_hex
from edge.errors import AgentConfigError, SpoolError
from edge.spool import Spool


def _queue(spool: Spool, channel: str, count: int, size: int = 10) -> list[int]:
    return spool.append([(channel, lambda seq: f'{{"seq":{seq}}}'.encode().ljust(size)[:size]) for _ in range(count)])


def test_seqs_are_persisted_and_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    before = time.time_ns() // 1000
    spool = Spool(path, max_bytes=1 << 20)
    first = _queue(spool, "telemetry", 3)
    assert first[0] >= before and first == [first[0], first[0] + 1, first[0] + 2]
    events = _queue(spool, "events", 1)
    spool.close()
    again = Spool(path, max_bytes=1 << 20)  # the agent restarted
    assert _queue(again, "telemetry", 1) == [first[-1] + 1]
    assert _queue(again, "events", 1) == [events[0] + 1]
    assert [m.seq for m in again.oldest("telemetry", 10)] == [*first, first[-1] + 1]


def test_past_the_bound_the_oldest_go_first_and_are_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=3000)
    seqs = _queue(spool, "telemetry", 150, size=30)  # 4,500 bytes into a 3,000-byte queue
    stats = spool.stats()
    assert stats.dropped == 50 and stats.messages == 100 and stats.bytes == 3000
    assert [m.seq for m in spool.oldest("telemetry", 1000)] == seqs[50:]
    spool.remove([m.id for m in spool.oldest("telemetry", 40)])
    assert spool.stats().messages == 60 and spool.stats().bytes == 1800


def test_a_full_disk_keeps_what_was_queued(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=1 << 30)
    kept = _queue(spool, "telemetry", 5)
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    spool._db.execute(f"PRAGMA max_page_count = {pages}")  # the file can grow no more: a full disk, for SQLite
    with pytest.raises(SpoolError, match="cannot queue 2000 messages"):
        _queue(spool, "telemetry", 2000, size=300)
    assert [m.seq for m in spool.oldest("telemetry", 100)] == kept
    assert _queue(spool, "telemetry", 1) == [kept[-1] + 1]  # the failed call used no seq


def test_encrypted_at_rest(tmp_path: Path) -> None:
    key_file = tmp_path / "spool.key"
    key_file.write_text(new_key_hex())
    sealer = Sealer(load_key(f"file:{key_file}"))
    spool = Spool(tmp_path / "spool.sqlite3", max_bytes=1 << 20, sealer=sealer)
    spool.append([("events", lambda seq: b'{"code":"E_SECRET_PLAN"}')])
    assert spool.oldest("events", 1)[0].payload == b'{"code":"E_SECRET_PLAN"}'
    spool.close()
    raw = sqlite3.connect(tmp_path / "spool.sqlite3").execute("SELECT payload FROM messages").fetchone()[0]
    assert b"E_SECRET_PLAN" not in raw
    other = Spool(tmp_path / "spool.sqlite3", max_bytes=1 << 20, sealer=Sealer(bytes(32)))
    with pytest.raises(SpoolError, match="does not decrypt with the configured key"):
        other.oldest("events", 1)


def test_key_references_are_checked(tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"12345")
    with pytest.raises(AgentConfigError, match="holds 5 bytes; expected 32 raw bytes or 64 hex digits"):
        load_key(f"file:{short}")
    with pytest.raises(AgentConfigError, match="must start with file: or keyring:"):
        load_key("vault:x")
    with pytest.raises(AgentConfigError, match="cannot read the spool key file"):
        load_key(f"file:{tmp_path / 'missing.key'}")
