"""Decompressing chunks: MCAP's (zstd, lz4, none; the size known) and ROS1's (bz2, lz4, none)."""

from __future__ import annotations

import bz2
import threading
from collections.abc import Callable

_ZSTD = threading.local()  # a decompressor per thread: one is reused chunk after chunk, never shared


def _zstd(data: bytes | memoryview, size: int) -> bytes:
    decompressor = getattr(_ZSTD, "decompressor", None)
    if decompressor is None:
        import zstandard

        decompressor = _ZSTD.decompressor = zstandard.ZstdDecompressor()
    return decompressor.decompress(data, max_output_size=size)


def _lz4(data: bytes | memoryview, size: int) -> bytes:
    import lz4.frame

    return lz4.frame.decompress(data)


# MCAP: by the chunk's compression name, given the uncompressed size.
DECOMPRESSORS: dict[str, Callable[[bytes | memoryview, int], bytes | memoryview]] = {
    "": lambda data, size: data,
    "zstd": _zstd,
    "lz4": _lz4,
}
# ROS1: by the chunk record's compression field.
ROS1_DECOMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "none": bytes,
    "bz2": bz2.decompress,
    "lz4": lambda data: _lz4(data, 0),
}
