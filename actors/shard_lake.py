"""A shard's share of the Parquet lake, written by receive window so that a crash loses nothing."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from fleetray.lake import telemetry_table, write_named
from fleetray.objectstore import ObjectStore
from fleetray.storage import Database
from fleetray.storage.lake_checkpoints import read_checkpoint, write_checkpoint
from fleetray.storage.telemetry import received_since, telemetry_from_row

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=5)
DATASET = "telemetry"


@dataclass
class _Chunk:
    """The rows of one receive window (from ``start``), and the checkpoint once they are written."""

    start: datetime
    written_through: datetime
    tables: list[pa.Table] = field(default_factory=list)


class ShardLake:
    """Writes the telemetry a shard persisted to the lake, grouped by when PostgreSQL received it.

    A batch's rows belong to the window (5 minutes by default) of its ``received_at``, the
    transaction time PostgreSQL stores with them. When a later window starts, the earlier one is
    written on a background thread: one file per tenant and sample date, named after the window and
    the shard, so writing the same window again replaces its files instead of adding copies. Then
    the shard's checkpoint (table ``lake_checkpoints``) moves past it. A restarted shard re-reads its
    robots' rows received since the checkpoint, so rows that were only buffered when it died still
    reach the lake, exactly once. A window that fails to write is retried, and the checkpoint
    waits for it.

    Args:
        store, db: the object store of the lake; the database of the rows and checkpoints.
        index, count: the shard's place in the layout (part of file names and of the checkpoint key).
    """

    def __init__(self, store: ObjectStore, db: Database, index: int, count: int, *, window: timedelta = WINDOW) -> None:
        self._store, self._db = store, db
        self._index, self._count = index, count
        self._window_s = window.total_seconds()
        self._floor: datetime | None = None
        self._open: dict[int, _Chunk] = {}
        self._ready: deque[_Chunk] = deque()
        self._ready_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"lake-shard-{index}")
        self.written: list[str] = []

    def recover(self, robots: Sequence[tuple[str, str]]) -> int:
        """Read the checkpoint (set it at a first start) and buffer ``robots``' rows received since.

        Returns the number of rows recovered.
        """
        with self._db.connect() as conn:
            checkpoint = read_checkpoint(conn, self._index, self._count)
            if checkpoint is None:
                checkpoint = conn.execute("SELECT now()").fetchone()[0]
                write_checkpoint(conn, self._index, self._count, checkpoint)
            self._floor = checkpoint
            recovered = 0
            for rows in received_since(conn, robots, since=checkpoint) if robots else []:
                by_window: dict[int, list[dict]] = {}
                for row in rows:
                    by_window.setdefault(self._window_of(row["received_at"]), []).append(row)
                for number, window_rows in sorted(by_window.items()):
                    samples = [telemetry_from_row(row) for row in window_rows]
                    self._chunk(number).tables.append(telemetry_table(samples))
                recovered += len(rows)
        if recovered:
            logger.info(
                "shard %s/%s: %s rows received since %s are buffered for the lake again",
                self._index,
                self._count,
                recovered,
                checkpoint.isoformat(),
            )
        return recovered

    def add(self, received_at: datetime, table: pa.Table) -> None:
        """Buffer a persisted batch's rows; ``received_at`` is its transaction time in PostgreSQL."""
        number = self._window_of(received_at)
        self.close_before(received_at)
        if table.num_rows:
            self._chunk(number).tables.append(table)

    def close_before(self, moment: datetime) -> None:
        """Write every window that ended by ``moment`` (a time of the database's clock)."""
        current = self._window_of(moment)
        finished = sorted(number for number in self._open if number < current)
        if finished:
            self._hand_over([self._open.pop(number) for number in finished])

    def close(self, moment: datetime) -> list[str]:
        """Write everything buffered, received before ``moment``, and wait; return the files written so far."""
        self._hand_over([self._open.pop(number) for number in sorted(self._open)], until=moment)
        self._executor.submit(self._drain).result()
        self._floor = moment  # rows received from now on start a new chunk, under a name of their own
        return self.written

    def _window_of(self, moment: datetime) -> int:
        return int(moment.timestamp() // self._window_s)

    def _chunk(self, number: int) -> _Chunk:
        chunk = self._open.get(number)
        if chunk is None:
            start = datetime.fromtimestamp(number * self._window_s, UTC)
            end = datetime.fromtimestamp((number + 1) * self._window_s, UTC)
            chunk = self._open[number] = _Chunk(max(start, self._floor or start), end)
        return chunk

    def _hand_over(self, chunks: list[_Chunk], until: datetime | None = None) -> None:
        if until is not None and chunks:
            chunks[-1].written_through = until
        with self._ready_lock:
            self._ready.extend(chunks)
        self._executor.submit(self._drain)

    def _drain(self) -> None:
        """Write the ready windows in order; stop at the first failure (retried with the next hand-over)."""
        while True:
            with self._ready_lock:
                if not self._ready:
                    return
                chunk = self._ready[0]
            try:
                name = f"part-{chunk.start:%Y%m%dT%H%M%S%f}-shard{self._index}of{self._count}"
                keys = write_named(self._store, DATASET, pa.concat_tables(chunk.tables), name) if chunk.tables else []
                with self._db.connect() as conn:
                    write_checkpoint(conn, self._index, self._count, chunk.written_through)
            except Exception:
                logger.exception(
                    "shard %s/%s: lake window from %s not written; will retry",
                    self._index,
                    self._count,
                    chunk.start.isoformat(),
                )
                return
            with self._ready_lock:
                self._ready.popleft()
            self.written += keys
