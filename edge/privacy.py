"""Faces blurred in camera images before they are recorded (OpenCV's Haar cascade; ``fleetray[edge-vision]``).

Off by default (the recorder policy's ``blur_faces``). Compressed images (JPEG, PNG) and raw images
(rgb8, bgr8, mono8) are decoded, each face found is blurred beyond recognition, and the message is
written back in its own encoding; an image the detector cannot read is kept out of the recording
rather than recorded unblurred.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from edge.decoding import Decoder, normalise
from edge.errors import AgentConfigError
from edge.readings import SourceMessage

logger = logging.getLogger(__name__)
IMAGE_TYPES = ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image")
RAW_ENCODINGS = {"rgb8": 3, "bgr8": 3, "mono8": 1}


class FaceBlur:
    """Finds faces and blurs them in place."""

    def __init__(self) -> None:
        try:
            import cv2
        except ImportError as err:
            raise AgentConfigError('recorder.blur_faces needs OpenCV: pip install "fleetray[edge-vision]"') from err
        self._cv2 = cv2
        self._detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self._decoder = Decoder()
        self.blurred = 0

    def blur(self, image: Any) -> int:
        """Blur every face in a BGR or grey image (modified in place); returns how many were found."""
        cv2 = self._cv2
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        faces = self._detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
        for x, y, w, h in faces:
            pad_w, pad_h = w // 4, h // 4  # hair and chin too
            x0, y0 = max(0, x - pad_w), max(0, y - pad_h)
            x1, y1 = min(image.shape[1], x + w + pad_w), min(image.shape[0], y + h + pad_h)
            # A blur as wide as a third of the face: a milder one leaves the coarse light-and-shade a face
            # detector (or a person) still recognises.
            image[y0:y1, x0:x1] = cv2.GaussianBlur(image[y0:y1, x0:x1], (0, 0), max(w, h) / 3)
        return len(faces)

    def apply(self, item: SourceMessage) -> SourceMessage | None:
        """The message with faces blurred; unchanged when it is no image or shows none; None when unreadable."""
        msgtype = normalise(item.msgtype)
        if msgtype not in IMAGE_TYPES:
            return item
        try:
            message = item.message or self._decoder.decode(msgtype, item.raw, item.encoding)
            compressed = msgtype == "sensor_msgs/msg/CompressedImage"
            data = self._compressed(message) if compressed else self._raw(message)
        except Exception as err:  # a frame that does not decode: dropped from the recording, never kept unblurred
            logger.warning("an image on %s could not be checked for faces (%s); it is not recorded", item.topic, err)
            return None
        if data is None:
            return item
        self.blurred += 1
        changed = dataclasses.replace(message, data=data)
        return dataclasses.replace(item, message=changed, raw=self._decoder.encode(msgtype, changed, item.encoding))

    def _compressed(self, message: Any) -> Any:
        import numpy as np

        cv2 = self._cv2
        image = cv2.imdecode(np.frombuffer(bytes(message.data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"format {message.format!r} does not decode")
        if not self.blur(image):
            return None
        ok, encoded = cv2.imencode(".png" if "png" in message.format.lower() else ".jpg", image)
        if not ok:
            raise ValueError("the blurred image does not encode")
        return np.asarray(encoded, dtype=np.uint8).reshape(-1)

    def _raw(self, message: Any) -> Any:
        import numpy as np

        channels = RAW_ENCODINGS.get(message.encoding)
        if channels is None:
            raise ValueError(f"encoding {message.encoding!r} is not one of {', '.join(RAW_ENCODINGS)}")
        shape = (message.height, message.width) if channels == 1 else (message.height, message.width, channels)
        image = np.frombuffer(bytes(message.data), dtype=np.uint8).reshape(shape)
        bgr = image[..., ::-1].copy() if message.encoding == "rgb8" else image.copy()
        if not self.blur(bgr):
            return None
        return (bgr[..., ::-1] if message.encoding == "rgb8" else bgr).reshape(-1).copy()
