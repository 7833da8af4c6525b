"""The secret that signs local upload URLs, kept in the data dir."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = "upload-signing.key"


def load_or_create_signing_key(data_dir: Path) -> bytes:
    """The data dir's signing key, created (readable by its owner only) on first use."""
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def sign(key: bytes, *fields: object) -> str:
    """HMAC-SHA256 over the fields joined by ':'."""
    message = ":".join(str(field) for field in fields).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(key: bytes, signature: str, *fields: object) -> bool:
    """Whether ``signature`` signs ``fields`` (constant-time)."""
    return hmac.compare_digest(sign(key, *fields).encode(), signature.encode())  # bytes: any text compares
