"""HMAC-SHA256 signatures for webhooks, with a timestamp so that a captured request cannot be replayed later.

The header reads ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the scheme Stripe and
others use, which receivers can check with a few lines in any language.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from fleetray.errors import FleetrayError

SIGNATURE_HEADER = "X-Fleetray-Signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(FleetrayError):
    """A webhook's signature is missing, malformed, wrong, or too old."""


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The signature header value for ``body``."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def verify(
    secret: str, header: str | None, body: bytes, *, now: float | None = None, tolerance_s: float = DEFAULT_TOLERANCE_S
) -> int:
    """Check a signature header; return its timestamp.

    Raises:
        SignatureError: no header, a malformed one, a wrong digest, or a timestamp outside the tolerance.
    """
    if not header:
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, digest = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or not digest:
        raise SignatureError(f"the {SIGNATURE_HEADER} header must read t=<unix seconds>,v1=<hex digest>")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest):
        raise SignatureError("the signature does not match the body")
    moment = time.time() if now is None else now
    if abs(moment - int(timestamp)) > tolerance_s:
        raise SignatureError(f"the signature is {abs(moment - int(timestamp)):.0f} s old; at most {tolerance_s:g} s")
    return int(timestamp)
