"""Verified API keys, remembered briefly so that most requests cost no database round trip."""

from __future__ import annotations

import hashlib
import threading
import time

import psycopg

from fleetray.storage.api_keys import ApiKey, verify_key

MAX_ENTRIES = 10_000


class KeyCache:
    """Token digest -> verified key, for ``ttl_s`` seconds.

    A revoked key keeps working on other replicas for up to ``ttl_s`` (the replica that revoked it
    forgets it at once); failures are never cached, so a key created a moment ago works at once.
    The cache holds digests of tokens, never the tokens themselves.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[bytes, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def cached(self, token: str) -> ApiKey | None:
        """The key a token was verified as recently, if it is still fresh and usable."""
        entry = self._entries.get(self._digest(token))
        if entry is None or time.monotonic() - entry[0] > self.ttl_s:
            return None
        return entry[1]

    def verify(self, conn: psycopg.Connection, token: str) -> ApiKey | None:
        """Verify against the database and remember a success."""
        key = verify_key(conn, token)
        if key is not None and self.ttl_s > 0:
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[self._digest(token)] = (time.monotonic(), key)
        return key

    def forget(self, key_id: str) -> None:
        """Drop a key (revoked here)."""
        with self._lock:
            self._entries = {d: e for d, e in self._entries.items() if e[1].key_id != key_id}
