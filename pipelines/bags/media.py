"""Camera images to PNG or JPEG files, point clouds to PCD files.

Raw images in the common encodings (mono8, mono16, rgb8, bgr8, rgba8, bgra8) are written as PNG;
compressed images keep their own bytes (JPEG or PNG). Point clouds are written as binary PCD with
the fields the message declares. A topic's table row points at the file.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from fleetray.errors import FleetrayError

IMAGE_MODES = {
    "mono8": ("L", 1, np.uint8),
    "8uc1": ("L", 1, np.uint8),
    "mono16": ("I;16", 1, np.uint16),
    "16uc1": ("I;16", 1, np.uint16),
    "rgb8": ("RGB", 3, np.uint8),
    "bgr8": ("RGB", 3, np.uint8),
    "rgba8": ("RGBA", 4, np.uint8),
    "bgra8": ("RGBA", 4, np.uint8),
}
PCD_TYPES = {1: ("I", 1), 2: ("U", 1), 3: ("I", 2), 4: ("U", 2), 5: ("I", 4), 6: ("U", 4), 7: ("F", 4), 8: ("F", 8)}


class UnsupportedMediaError(FleetrayError):
    """An image encoding or point layout this pipeline does not write."""


def image_file(msg: Any) -> tuple[bytes, str, dict[str, Any]]:
    """``(file bytes, extension, row fields)`` of a sensor_msgs/Image."""
    from PIL import Image

    encoding = str(msg.encoding).lower()
    if encoding not in IMAGE_MODES:
        raise UnsupportedMediaError(f"image encoding {msg.encoding!r} (written: {', '.join(IMAGE_MODES)})")
    mode, channels, dtype = IMAGE_MODES[encoding]
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(height, step)
    pixels = data[:, : width * channels * np.dtype(dtype).itemsize].copy().view(dtype)
    if np.dtype(dtype).itemsize > 1 and bool(msg.is_bigendian) == np.little_endian:  # big-endian data, little host
        pixels = pixels.byteswap()
    pixels = pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)
    if encoding.startswith("bgr"):
        pixels = pixels[..., [2, 1, 0, *([3] if channels == 4 else [])]]
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode=None if mode != "I;16" else "I;16").save(out, format="PNG")
    return out.getvalue(), "png", {"width": width, "height": height, "encoding": str(msg.encoding)}


def compressed_image_file(msg: Any) -> tuple[bytes, str, dict[str, Any]]:
    """``(file bytes, extension, row fields)`` of a sensor_msgs/CompressedImage: its own bytes."""
    fmt = str(msg.format).lower()
    extension = "png" if "png" in fmt else "jpg" if ("jpeg" in fmt or "jpg" in fmt) else "bin"
    return bytes(msg.data), extension, {"format": str(msg.format), "bytes": len(msg.data)}


def point_cloud_file(msg: Any) -> tuple[bytes, str, dict[str, Any]]:
    """``(file bytes, extension, row fields)`` of a sensor_msgs/PointCloud2 as binary PCD."""
    fields = sorted(msg.fields, key=lambda f: f.offset)
    unknown = [f.name for f in fields if f.datatype not in PCD_TYPES]
    if unknown:
        raise UnsupportedMediaError(f"point fields of unknown datatype: {unknown}")
    names = [str(f.name) for f in fields]
    sizes = [PCD_TYPES[f.datatype][1] for f in fields]
    types = [PCD_TYPES[f.datatype][0] for f in fields]
    counts = [max(1, int(f.count)) for f in fields]
    points = int(msg.width) * int(msg.height)
    packed = sum(s * c for s, c in zip(sizes, counts, strict=True))
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8)[: points * int(msg.point_step)]
    raw = raw.reshape(points, int(msg.point_step))
    if packed != int(msg.point_step) or any(
        f.offset != sum(s * c for s, c in zip(sizes[:i], counts[:i], strict=True)) for i, f in enumerate(fields)
    ):
        columns = [raw[:, f.offset : f.offset + s * c] for f, s, c in zip(fields, sizes, counts, strict=True)]
        raw = np.hstack(columns)
    header = (
        "# .PCD v0.7 - written by fleetray\nVERSION 0.7\n"
        f"FIELDS {' '.join(names)}\nSIZE {' '.join(map(str, sizes))}\nTYPE {' '.join(types)}\n"
        f"COUNT {' '.join(map(str, counts))}\nWIDTH {int(msg.width)}\nHEIGHT {int(msg.height)}\n"
        f"VIEWPOINT 0 0 0 1 0 0 0\nPOINTS {points}\nDATA binary\n"
    )
    return header.encode() + np.ascontiguousarray(raw).tobytes(), "pcd", {"points": points, "fields": names}


MEDIA_WRITERS = {
    "sensor_msgs/msg/Image": image_file,
    "sensor_msgs/msg/CompressedImage": compressed_image_file,
    "sensor_msgs/msg/PointCloud2": point_cloud_file,
}
