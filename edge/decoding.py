"""Deserialising raw ROS messages with rosbags' type stores: standard types built in, others from their definitions."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def normalise(msgtype: str) -> str:
    """``pkg/Type`` (ROS 1) as ``pkg/msg/Type`` (rosbags' and ROS 2's spelling)."""
    return msgtype if msgtype.count("/") >= 2 else msgtype.replace("/", "/msg/", 1)


class Decoder:
    """Decodes ROS 1 and CDR messages; a type it cannot parse raises once per call, never crashes the agent."""

    def __init__(self) -> None:
        from rosbags.typesys import Stores, get_typestore

        self._stores = {"ros1": get_typestore(Stores.ROS1_NOETIC), "cdr": get_typestore(Stores.LATEST)}

    def learn(self, msgtype: str, definition: str, encoding: str) -> None:
        """Register a type the standard store lacks, from the definition its publisher or bag carried."""
        from rosbags.typesys import get_types_from_idl, get_types_from_msg

        store = self._stores["ros1" if encoding == "ros1" else "cdr"]
        name = normalise(msgtype)
        if name in store.fielddefs or not definition.strip():
            return
        parse = (
            get_types_from_idl if definition.lstrip().startswith(("module", "#include", "//")) else get_types_from_msg
        )
        store.register(parse(definition, name) if parse is get_types_from_msg else parse(definition))

    def decode(self, msgtype: str, raw: bytes, encoding: str) -> Any:
        store = self._stores["ros1" if encoding == "ros1" else "cdr"]
        name = normalise(msgtype)
        if encoding == "ros1":
            return store.deserialize_ros1(raw, name)
        return store.deserialize_cdr(raw, name)

    def encode(self, msgtype: str, message: Any, encoding: str) -> bytes:
        store = self._stores["ros1" if encoding == "ros1" else "cdr"]
        name = normalise(msgtype)
        if encoding == "ros1":
            return bytes(store.serialize_ros1(message, name))
        return bytes(store.serialize_cdr(message, name))

    def knows(self, msgtype: str, encoding: str) -> bool:
        return normalise(msgtype) in self._stores["ros1" if encoding == "ros1" else "cdr"].fielddefs
