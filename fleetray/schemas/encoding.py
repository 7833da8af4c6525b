"""Payload encoding: one JSON object, or a zstd-compressed batch of JSON lines.

The two are told apart by the zstd frame's magic bytes, so the format works on MQTT 3.1.1 (which
has no content-type property) as well as on MQTT 5 and Kafka.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import TypeVar

import zstandard
from pydantic import ValidationError

from fleetray.errors import SchemaValidationError
from fleetray.schemas.messages import RobotEvent, TaskEvent, Telemetry, WireModel

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_PAYLOAD_BYTES = 1_048_576
MAX_DECOMPRESSED_BYTES = 16 * 1_048_576
DECOMPRESS_BLOCK_BYTES = 65_536

M = TypeVar("M", bound=WireModel)

_KINDS: dict[type[WireModel], str] = {Telemetry: "telemetry", RobotEvent: "event", TaskEvent: "task"}


class PayloadError(SchemaValidationError):
    """A payload could not be decoded into JSON objects at all (before schema checks)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__("payload", [("bytes", detail, reason)])


def encode_message(message: WireModel) -> bytes:
    """One message as a compact JSON object."""
    return message.model_dump_json(exclude_none=True).encode()


def encode_batch(messages: Iterable[WireModel], *, level: int = 3) -> bytes:
    """Many messages as zstd-compressed JSON lines."""
    lines = b"\n".join(encode_message(message) for message in messages)
    return zstandard.ZstdCompressor(level=level).compress(lines)


def is_batch(payload: bytes) -> bool:
    """Whether a payload is a zstd batch rather than a single JSON object."""
    return payload[:4] == ZSTD_MAGIC


def decode_payload(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> list[dict[str, object]]:
    """Split a payload into JSON objects, without checking them against a schema.

    Raises:
        PayloadError: oversized, not zstd or JSON, or a line that is not a JSON object.
    """
    objects = []
    for number, chunk in enumerate(split_payload(payload, max_bytes=max_bytes), start=1):
        try:
            value = json.loads(chunk)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PayloadError("malformed_json", f"line {number}: {err}") from err
        if not isinstance(value, dict):
            raise PayloadError("malformed_json", f"line {number} is a {type(value).__name__}, not an object")
        objects.append(value)
    return objects


_per_thread = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (making one per batch costs as much as decompressing it; they are not
    thread-safe)."""
    decompressor = getattr(_per_thread, "zstd", None)
    if decompressor is None:
        decompressor = _per_thread.zstd = zstandard.ZstdDecompressor()
    return decompressor


def split_payload(payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> list[bytes]:
    """The JSON documents in a payload (one, or each line of a zstd batch), not yet parsed.

    Raises:
        PayloadError: oversized, or a zstd frame that does not decompress within the limit.
    """
    if len(payload) > max_bytes:
        raise PayloadError("oversized", f"{len(payload)} bytes, over the limit of {max_bytes} bytes")
    if not is_batch(payload):
        return [payload]
    # Read in blocks, so a batch costs what it holds (one read of the limit allocates all of it), and a
    # frame that would inflate past the limit stops there.
    chunks, size = [], 0
    try:
        reader = _decompressor().stream_reader(payload)
        while chunk := reader.read(DECOMPRESS_BLOCK_BYTES):
            size += len(chunk)
            if size > MAX_DECOMPRESSED_BYTES:
                raise PayloadError("oversized", f"batch decompresses past {MAX_DECOMPRESSED_BYTES} bytes")
            chunks.append(chunk)
    except zstandard.ZstdError as err:
        raise PayloadError("corrupt_batch", f"zstd frame does not decompress ({err})") from err
    return [line for line in b"".join(chunks).split(b"\n") if line.strip()]


def parse_message(model: type[M], document: bytes) -> M:
    """Parse and validate one JSON document in a single pass (the hot path of ingestion).

    Raises:
        PayloadError: the document is not a JSON object.
        SchemaValidationError: names each field, the value given and what was expected.
    """
    try:
        return model.model_validate_json(document)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        if first["type"] in ("json_invalid", "model_type", "json_type"):
            raise PayloadError("malformed_json", first["msg"]) from err
        raise SchemaValidationError(_KINDS.get(model, model.__name__), _problems(err)) from err


def validate_message(model: type[M], data: object) -> M:
    """Check one decoded object against a wire model.

    Raises:
        SchemaValidationError: names each field, the value given and what was expected.
    """
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise SchemaValidationError(_KINDS.get(model, model.__name__), _problems(err)) from err


def decode_messages(model: type[M], payload: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> list[M]:
    """Decode a payload (single or batch) into validated messages; the first bad one raises."""
    return [validate_message(model, item) for item in decode_payload(payload, max_bytes=max_bytes)]


def _problems(err: ValidationError) -> list[tuple[str, object, str]]:
    problems = []
    for item in err.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "(message)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            expected = "no such field (unknown fields are rejected)"
        elif item["type"] == "missing":
            expected = "a value (the field is required)"
        else:
            expected = message.removeprefix("Input should be ").removeprefix("Value error, ")
        problems.append((field, item.get("input"), expected))
    return problems
