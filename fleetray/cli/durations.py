"""Parsing human durations such as ``90s``, ``15m``, ``2h`` or ``1.5d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(text: str) -> timedelta:
    """``15m`` -> 15 minutes.

    Raises:
        ValueError: names the text and the accepted form.
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"duration {text!r} must be a number followed by s, m, h or d (e.g. 15m, 2h, 1.5d)")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
