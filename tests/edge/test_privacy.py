"""Faces are blurred in recorded camera images when the policy asks (a real photo, OpenCV's Haar cascade)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.decoding import Decoder
from edge.readings import SourceMessage

cv2 = pytest.importorskip("cv2", reason='needs OpenCV: pip install "fleetray[edge-vision]"')
skimage_data = pytest.importorskip("skimage.data", reason="needs scikit-image's sample photos")

from edge.privacy import FaceBlur  # noqa: E402 (after the skips: it needs OpenCV)


def _faces(image: np.ndarray) -> int:
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return len(detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24)))


def _message(msgtype: str, **fields: object) -> SourceMessage:
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    t = store.types
    header = t["std_msgs/msg/Header"](seq=0, stamp=t["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="cam")
    message = t[msgtype](header=header, **fields)
    raw = bytes(store.serialize_ros1(message, msgtype))
    return SourceMessage("/camera", msgtype, 1, None, raw, "ros1", "", "ros1msg")


def test_a_face_in_a_jpeg_is_blurred_and_the_rest_left_alone(tmp_path: Path) -> None:
    photo = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)  # a portrait in a public-domain photo
    assert _faces(photo) == 1
    jpeg = np.frombuffer(cv2.imencode(".jpg", photo)[1].tobytes(), dtype=np.uint8)
    item = _message("sensor_msgs/msg/CompressedImage", format="jpeg", data=jpeg)
    blur = FaceBlur()
    private = blur.apply(item)
    assert private is not None and private.raw != item.raw and blur.blurred == 1
    decoded = Decoder().decode("sensor_msgs/msg/CompressedImage", private.raw, "ros1")
    image = cv2.imdecode(np.frombuffer(bytes(decoded.data), dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == photo.shape and _faces(image) == 0
    corner = (slice(400, 500), slice(400, 500))  # far from the face: as it was, but for JPEG's own loss
    assert np.abs(image[corner].astype(int) - photo[corner].astype(int)).mean() < 8

    rocket = np.frombuffer(
        cv2.imencode(".jpg", cv2.cvtColor(skimage_data.rocket(), cv2.COLOR_RGB2BGR))[1].tobytes(), dtype=np.uint8
    )
    no_face = _message("sensor_msgs/msg/CompressedImage", format="jpeg", data=rocket)
    assert blur.apply(no_face) is no_face
    broken = _message("sensor_msgs/msg/CompressedImage", format="jpeg", data=np.zeros(10, dtype=np.uint8))
    assert blur.apply(broken) is None  # unreadable: left out, never recorded unblurred


def test_a_raw_rgb_image_is_blurred_in_its_own_encoding() -> None:
    photo = skimage_data.astronaut()
    item = _message(
        "sensor_msgs/msg/Image",
        height=512,
        width=512,
        encoding="rgb8",
        is_bigendian=0,
        step=512 * 3,
        data=photo.reshape(-1).copy(),
    )
    private = FaceBlur().apply(item)
    assert private is not None
    decoded = Decoder().decode("sensor_msgs/msg/Image", private.raw, "ros1")
    image = np.asarray(decoded.data).reshape(512, 512, 3)
    assert decoded.encoding == "rgb8" and _faces(cv2.cvtColor(image, cv2.COLOR_RGB2BGR)) == 0
