"""Encryption at rest of what the agent buffers: AES-GCM, the key from a file or the OS keyring."""

from __future__ import annotations

import os

from edge.errors import AgentConfigError

KEY_BYTES = 32
NONCE_BYTES = 12


class Sealer:
    """Seals and opens buffered payloads; ``context`` (e.g. the channel and seq) is bound to each."""

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if len(key) != KEY_BYTES:
            raise AgentConfigError(f"the spool encryption key has {len(key)} bytes; AES-256-GCM needs {KEY_BYTES}")
        self._aead = AESGCM(key)

    def seal(self, data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        """The plain payload.

        Raises:
            cryptography.exceptions.InvalidTag: the data was altered, or sealed with another key.
        """
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)


def load_key(reference: str) -> bytes:
    """The key a reference names: ``file:/path`` (32 raw bytes or 64 hex digits) or ``keyring:service/name``.

    Raises:
        AgentConfigError: the reference is malformed, the file or keyring entry is missing or not a key.
    """
    scheme, _, rest = reference.partition(":")
    if scheme == "file":
        try:
            raw = open(rest, "rb").read()  # noqa: SIM115 (a key file is tiny)
        except OSError as err:
            raise AgentConfigError(f"cannot read the spool key file {rest}: {err.strerror}") from err
        return _key_bytes(raw.strip() if len(raw.strip()) == 2 * KEY_BYTES else raw, reference)
    if scheme == "keyring":
        service, _, name = rest.partition("/")
        try:
            import keyring
        except ImportError as err:
            raise AgentConfigError(
                'spool.encryption_key uses the OS keyring: pip install "fleetray[edge]" keyring'
            ) from err
        secret = keyring.get_password(service, name)
        if secret is None:
            raise AgentConfigError(f"the OS keyring has no entry {name!r} in service {service!r}")
        return _key_bytes(secret.encode(), reference)
    raise AgentConfigError(f"spool.encryption_key {reference!r} must start with file: or keyring:")


def _key_bytes(raw: bytes, reference: str) -> bytes:
    if len(raw) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(raw.decode())
        except ValueError:
            pass
    if len(raw) != KEY_BYTES:
        raise AgentConfigError(f"{reference} holds {len(raw)} bytes; expected 32 raw bytes or 64 hex digits")
    return raw


def new_key_hex() -> str:
    """A fresh key, as the 64 hex digits a key file holds."""
    return os.urandom(KEY_BYTES).hex()
