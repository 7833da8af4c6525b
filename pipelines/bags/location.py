"""Where bags are: finding them under a URI or glob (file:// or s3://), and a local copy to read.

A bag is one ROS1 ``.bag`` file, one ROS2 bag directory (``metadata.yaml`` and its storage files,
possibly split over several), or one bare ``.mcap`` or ``.db3`` file. rosbags and mcap read from
local files, so a bag in S3 is streamed to a cache on the machine that decodes it, once per machine
however many parts of it run there; it never sits whole in memory.
"""

from __future__ import annotations

import contextlib
import fnmatch
import posixpath
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pyarrow import fs as pafs

from fleetray.errors import FleetrayError
from pipelines.bags.cache import cached

BAG_SUFFIXES = (".bag", ".mcap", ".db3")
PATH_PATTERN = re.compile(r"bags/(?P<tenant>[^/]+)/(?P<robot>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/")
COPY_BUFFER = 8 * 1024 * 1024


class BagNotFoundError(FleetrayError):
    """Nothing that looks like a bag is at the given place."""


@dataclass(frozen=True)
class BagLocation:
    """One bag: its URI, format, storage files (relative to ``uri`` for a directory) and total size."""

    uri: str
    format: str  # ros1 | ros2-sqlite3 | ros2-mcap | mcap | sqlite3
    files: tuple[str, ...]
    size_bytes: int
    modified_ns: int | None = None  # the newest of its files' modification times, where the store says

    @property
    def is_directory(self) -> bool:
        return self.format.startswith("ros2-")

    def path_fields(self) -> dict[str, str | None]:
        """Tenant, robot and date from a ``bags/{tenant}/{robot}/{date}/`` path, where it has one."""
        match = PATH_PATTERN.search(self.uri + ("/" if self.is_directory else ""))
        if match is None:
            return {"tenant": None, "robot": None, "date": None}
        return match.groupdict()


def filesystem_of(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem holding ``uri`` (a local path, file:// or s3://) and the path within it."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return pafs.LocalFileSystem(), str(Path(unquote(parts.path if parts.scheme else uri)).resolve())
    if parts.scheme == "s3":
        from fleetray.config import get_settings

        settings = get_settings()  # the same endpoint and region as the platform's object store
        filesystem = pafs.S3FileSystem(endpoint_override=settings.s3_endpoint_url, region=settings.s3_region)
        return filesystem, f"{parts.netloc}{parts.path}".rstrip("/")
    raise BagNotFoundError(f"{uri}: only file:// and s3:// locations (or local paths) hold bags")


def _uri(scheme_uri: str, path: str) -> str:
    parts = urlsplit(scheme_uri)
    return f"s3://{path}" if parts.scheme == "s3" else path


def _storage_format(filesystem: pafs.FileSystem, metadata_path: str) -> tuple[str, tuple[str, ...]]:
    import yaml

    from pipelines.bags.readers import YAML_LOADER

    with filesystem.open_input_stream(metadata_path) as stream:
        info = yaml.load(stream.read(), Loader=YAML_LOADER)["rosbag2_bagfile_information"]
    storage = info.get("storage_identifier", "sqlite3")
    return f"ros2-{storage}", tuple(info.get("relative_file_paths") or [])


def find_bags(uri_or_glob: str) -> list[BagLocation]:
    """Every bag at ``uri_or_glob``: one bag, a directory searched recursively, or a glob (``*``, ``**``).

    Raises:
        BagNotFoundError: the scheme is not file:// or s3://, or nothing there is a bag.
    """
    has_glob = any(ch in uri_or_glob for ch in "*?[")
    base_uri = uri_or_glob.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0] if has_glob else uri_or_glob
    filesystem, base = filesystem_of(base_uri if not has_glob else base_uri.rsplit("/", 1)[0] or "/")
    _, pattern = filesystem_of(uri_or_glob) if has_glob else (None, None)
    info = filesystem.get_file_info(base)
    if info.type == pafs.FileType.NotFound:
        raise BagNotFoundError(f"{uri_or_glob}: no such file or directory")
    if info.type == pafs.FileType.File:
        entries = [info]
    else:
        entries = filesystem.get_file_info(pafs.FileSelector(base, recursive=True))
    files = {entry.path: entry.size for entry in entries if entry.type == pafs.FileType.File}
    modified = {entry.path: entry.mtime_ns for entry in entries if entry.type == pafs.FileType.File}
    bags: list[BagLocation] = []
    in_directories: set[str] = set()
    for path in sorted(p for p in files if p.endswith("/metadata.yaml") or p == "metadata.yaml"):
        directory = posixpath.dirname(path)
        fmt, relative = _storage_format(filesystem, path)
        members = tuple(r for r in relative if posixpath.join(directory, r) in files) or tuple(
            posixpath.relpath(p, directory) for p in files if p.startswith(directory + "/") and p.endswith(BAG_SUFFIXES)
        )
        in_directories.update(posixpath.join(directory, m) for m in members)
        paths = [posixpath.join(directory, m) for m in (*members, "metadata.yaml")]
        size = sum(files.get(p, 0) for p in paths[:-1])
        newest = max((modified[p] for p in paths if modified.get(p) is not None), default=None)
        bags.append(BagLocation(_uri(uri_or_glob, directory), fmt, members, size, newest))
    for path, size in sorted(files.items()):
        if path in in_directories or not path.endswith(BAG_SUFFIXES):
            continue
        fmt = {".bag": "ros1", ".mcap": "mcap", ".db3": "sqlite3"}[posixpath.splitext(path)[1]]
        bags.append(BagLocation(_uri(uri_or_glob, path), fmt, (posixpath.basename(path),), size, modified.get(path)))
    if pattern is not None:
        bags = [bag for bag in bags if fnmatch.fnmatch(filesystem_of(bag.uri)[1], pattern)]
    if not bags:
        raise BagNotFoundError(f"{uri_or_glob}: no bags there (.bag, .mcap, .db3, or a directory with metadata.yaml)")
    return bags


def missing_files(directory_uri: str) -> list[str]:
    """What a rosbag2 directory still lacks: ``metadata.yaml``, or storage files its metadata lists.

    A bag uploaded file by file is complete when this is empty.
    """
    filesystem, directory = filesystem_of(directory_uri)
    if filesystem.get_file_info(f"{directory}/metadata.yaml").type != pafs.FileType.File:
        return ["metadata.yaml"]
    _, relative = _storage_format(filesystem, f"{directory}/metadata.yaml")
    infos = filesystem.get_file_info([posixpath.join(directory, name) for name in relative])
    return [name for name, info in zip(relative, infos, strict=True) if info.type != pafs.FileType.File]


@contextlib.contextmanager
def local_copy(bag: BagLocation) -> Iterator[Path]:
    """A local path to read ``bag`` from: the bag itself when it is local, else a copy in this machine's cache
    (:func:`pipelines.bags.cache.cached`), fetched once per machine however many parts of it run there."""
    filesystem, path = filesystem_of(bag.uri)
    if isinstance(filesystem, pafs.LocalFileSystem):
        yield Path(path)
        return
    key = f"{bag.uri}|{bag.size_bytes}|{bag.modified_ns}|{bag.files}"
    with cached(key, bag.size_bytes, lambda entry: _download(filesystem, path, bag, entry)) as entry:
        yield entry / posixpath.basename(path) if bag.is_directory else entry / bag.files[0]


def _download(filesystem: pafs.FileSystem, path: str, bag: BagLocation, entry: Path) -> None:
    names = [*bag.files, "metadata.yaml"] if bag.is_directory else [bag.files[0]]
    target_dir = entry / posixpath.basename(path) if bag.is_directory else entry
    for name in names:
        source = posixpath.join(path, name) if bag.is_directory else path
        (target_dir / name).parent.mkdir(parents=True, exist_ok=True)
        with filesystem.open_input_stream(source) as stream, open(target_dir / name, "wb") as out:
            shutil.copyfileobj(stream, out, COPY_BUFFER)
