"""A machine's cache of files the readers need locally: remote bags, and decompressed storage files.

rosbags, SQLite and the MCAP reader read local files. A remote bag is therefore copied to the machine
that decodes it, and a rosbag2 file compressed as a whole is decompressed there; both once per machine
however many parts of the bag run on it. The cache lives in ``{tmp}/fleetray-bag-cache``; copies are
evicted least recently used first when it would grow past ``FLEETRAY_BAG_CACHE_BYTES``, never while in use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def cache_root() -> Path:
    """Where this machine keeps its copies."""
    root = Path(tempfile.gettempdir()) / "fleetray-bag-cache"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def cached(key: str, size_bytes: int, fill: Callable[[Path], None]) -> Iterator[Path]:
    """The cache entry (a directory) for ``key``, filled by ``fill(directory)`` if this machine lacks it.

    Users share a lock on the entry, so one in use (by other parts, or further up this process) is never
    evicted; filling holds it alone, so users that come meanwhile wait instead of filling it again.
    """
    from fleetray.config import get_settings

    root = cache_root()
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    entry = root / name
    with open(root / f"{name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        if not (entry / ".complete").exists():
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (entry / ".complete").exists():
                _evict(root, get_settings().bag_cache_bytes - size_bytes, keep=name)
                shutil.rmtree(entry, ignore_errors=True)
                entry.mkdir()
                fill(entry)
                (entry / ".complete").touch()
            fcntl.flock(lock, fcntl.LOCK_SH)
        os.utime(entry)  # recently used
        yield entry


def _evict(root: Path, budget: int, keep: str) -> None:
    """Remove entries not in use, least recently used first, until the rest fit in ``budget`` bytes."""
    entries = sorted((p for p in root.iterdir() if p.is_dir() and p.name != keep), key=lambda p: p.stat().st_mtime)
    sizes = {p: sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) for p in entries}
    total = sum(sizes.values())
    for entry in entries:
        if total <= budget:
            return
        with open(root / f"{entry.name}.lock", "a+b") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # being read right now
            shutil.rmtree(entry, ignore_errors=True)
            total -= sizes[entry]
