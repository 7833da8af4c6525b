"""Dead letters: input that could not be accepted, kept with the reason it was refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

DEAD_LETTER_COLUMNS = ("source", "reason", "detail", "tenant_id", "robot_id", "topic", "payload")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message. ``reason`` is a short stable key (``malformed_json``, ``schema``...)."""

    source: str
    reason: str
    detail: str
    payload: bytes
    topic: str | None = None
    tenant_id: str | None = None
    robot_id: str | None = None


def write_dead_letters(conn: psycopg.Connection, letters: Sequence[DeadLetter]) -> int:
    """Store refused messages for later inspection."""
    if not letters:
        return 0
    columns = ", ".join(DEAD_LETTER_COLUMNS)
    with conn.cursor().copy(f"COPY dead_letters ({columns}) FROM STDIN") as copy:
        for letter in letters:
            copy.write_row(
                (
                    letter.source,
                    letter.reason,
                    letter.detail[:2000],
                    letter.tenant_id,
                    letter.robot_id,
                    letter.topic,
                    letter.payload,
                )
            )
    return len(letters)


def count_dead_letters(conn: psycopg.Connection) -> dict[str, int]:
    """How many dead letters are stored, by reason."""
    return dict(conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall())
