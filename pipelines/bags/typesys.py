"""Deserialising a bag's messages with the types the bag itself defines.

Each bag gets a type store of its own: the standard ROS types (ROS1 Noetic for ROS1 bags, the
latest ROS2 distribution otherwise), overridden by every definition the bag carries (ROS1 message
definitions, MCAP schemas in ros2msg, ros2idl or ros1msg, rosbag2's ``message_definitions`` table).
So a custom type decodes from the bag alone, and a bag recorded with an older definition of a
standard type decodes with that definition.

Service events (``pkg/srv/Name_Event``, recorded by rosbag2 since Iron) are stored with the
service's definition (request ``---`` response); the event type is built from it as ROS does.

A topic whose type is nowhere defined cannot be decoded; it is reported, and its messages counted,
but it never stops the bag.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from pipelines.bags.contents import Topic

SECTION = re.compile(r"^=+\s*\nMSG: *(\S+)\s*\n", re.MULTILINE)
IDL_SECTION = re.compile(r"^=+\s*\nIDL: *(\S+)\s*\n", re.MULTILINE)


def normalise(msgtype: str) -> str:
    """``pkg/Type`` (ROS1 style, or old rosbag2) as ``pkg/msg/Type``."""
    parts = msgtype.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else msgtype


def _sections(definition: str, msgtype: str) -> list[tuple[str, str]]:
    """``(type name, body)`` of the main definition and of each dependency the text embeds."""
    pieces = SECTION.split(definition)
    sections = [(msgtype, pieces[0])]
    sections += [(normalise(name), body) for name, body in zip(pieces[1::2], pieces[2::2], strict=True)]
    return sections


def _service_event(name: str, body: str) -> dict[str, str]:
    """Message texts for a service's request, response and event types, from the service's definition."""
    base = name.removesuffix("_Event")
    request, _, response = body.partition("\n---")
    return {
        f"{base}_Request": request,
        f"{base}_Response": response.lstrip("-").lstrip("\n"),
        name: f"service_msgs/msg/ServiceEventInfo info\n{base}_Request[<=1] request\n{base}_Response[<=1] response\n",
    }


def _srv_names(value: Any) -> Any:
    """rosbags files every parsed type under ``pkg/msg/``; service types belong under ``pkg/srv/``."""
    if isinstance(value, str):
        return value.replace("/srv/msg/", "/srv/")
    if isinstance(value, tuple):
        return tuple(_srv_names(item) for item in value)
    if isinstance(value, list):
        return [_srv_names(item) for item in value]
    return value


def _parse(topic: Topic) -> dict[str, Any]:
    """The types ``topic``'s definition declares (empty when the bag carries none)."""
    from rosbags.typesys import get_types_from_idl, get_types_from_msg

    if not topic.definition.strip():
        # A schema that is present but empty declares a type without fields (std_msgs/Empty and kin).
        return {normalise(topic.msgtype): ([], [])} if topic.definition_encoding else {}
    if topic.definition_encoding == "ros2idl":
        return get_types_from_idl(IDL_SECTION.sub("", topic.definition))
    types: dict[str, Any] = {}
    for name, body in _sections(topic.definition, normalise(topic.msgtype)):
        texts = _service_event(name, body) if "/srv/" in name and re.search(r"^---", body, re.M) else {name: body}
        for type_name, text in texts.items():
            types.update(get_types_from_msg(text, type_name))
    return {_srv_names(name): _srv_names(fields) for name, fields in types.items()}


class MessageDecoder:
    """Turns a bag's raw messages into message objects, topic by topic."""

    def __init__(
        self, topics: dict[str, Topic], ros1: bool, known_definitions: dict[str, tuple[str, str]] | None = None
    ) -> None:
        """``known_definitions`` (type -> (text, encoding)) serve topics whose bag carries no definition:
        rosbag2 SQLite bags before Iron store none."""
        from rosbags.typesys import Stores, get_typestore

        base = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.LATEST)
        self.standard = base
        types: dict[str, Any] = dict(base.fielddefs)
        self.undecodable: dict[str, str] = {}
        known = known_definitions or {}
        for topic in topics.values():
            if not topic.definition.strip() and not topic.definition_encoding and normalise(topic.msgtype) in known:
                text, encoding = known[normalise(topic.msgtype)]
                topic = Topic(topic.name, topic.msgtype, topic.encoding, text, encoding)  # noqa: PLW2901
            try:
                types.update(_parse(topic))
            except Exception as err:  # a definition rosbags cannot parse spoils one topic, not the bag
                self.undecodable[topic.name] = f"its definition of {topic.msgtype} does not parse: {err}"
        self.store = get_typestore(Stores.EMPTY)
        self.store.register(types)
        self.msgtypes: dict[str, str] = {}
        for topic in topics.values():
            msgtype = normalise(topic.msgtype)
            if topic.name in self.undecodable:
                continue
            if msgtype not in self.store.fielddefs:
                self.undecodable[topic.name] = f"type {topic.msgtype} is defined neither in the bag nor in ROS"
                continue
            self.msgtypes[topic.name] = msgtype
        self._ros1 = {name for name, topic in topics.items() if topic.encoding == "ros1"}
        self._stores: dict[str, Any] = {}
        self._integers: dict[tuple[int, bool], Callable[[str], dict[str, type]]] = {}

    def standard_layout(self, topic: str) -> bool:
        """Whether the topic's type is laid out as the standard ROS type of that name (fast paths rely on it)."""
        msgtype = self.msgtypes.get(topic)
        return msgtype is not None and self.store.fielddefs.get(msgtype) == self.standard.fielddefs.get(msgtype)

    def decode(self, topic: str, raw: bytes) -> object:
        """The message object (raises whatever rosbags raises on a malformed message).

        Where the bag's own definition of a standard type does not fit its messages (test fixtures and
        hand-written bags do carry wrong ones), the standard definition is tried, and kept if it fits.
        """
        msgtype = self.msgtypes[topic]
        store = self._stores.get(topic, self.store)
        try:
            return self._deserialize(store, topic, raw, msgtype)
        except Exception:
            if store is not self.store or msgtype not in self.standard.fielddefs:
                raise
            message = self._deserialize(self.standard, topic, raw, msgtype)
            self._stores[topic] = self.standard
            return message

    def integer_types(self, topic: str) -> Callable[[str], dict[str, type]]:
        """For the topic's messages: each type's integer fields and their numpy scalar types (ROS width and sign)."""
        store = self._stores.get(topic, self.store)
        ros1 = topic in self._ros1
        key = (id(store), ros1)
        found = self._integers.get(key)
        if found is None:
            found = self._integers[key] = functools.cache(lambda msgtype: _integer_fields(store, msgtype, ros1))
        return found

    def _deserialize(self, store: Any, topic: str, raw: bytes, msgtype: str) -> object:
        if topic in self._ros1:
            return store.deserialize_ros1(raw, msgtype)
        return store.deserialize_cdr(raw, msgtype)


# ROS integer types as numpy's; ``byte`` is a signed 8-bit integer in ROS 1 and an unsigned octet in ROS 2.
INTEGERS = {
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "char": np.uint8,
    "octet": np.uint8,
}


def _integer_fields(store: Any, msgtype: str, ros1: bool) -> dict[str, type]:
    from rosbags.typesys.base import Nodetype

    fields = {}
    for name, (node, detail) in store.fielddefs.get(msgtype, ((), ()))[1]:
        if node == Nodetype.BASE:
            base = detail[0]
            numpy_type = (np.int8 if ros1 else np.uint8) if base == "byte" else INTEGERS.get(base)
            if numpy_type is not None:
                fields[name] = numpy_type
    return fields


_DECODERS: dict[tuple, MessageDecoder] = {}
CACHED_DECODERS = 32


def decoder_for(
    topics: dict[str, Topic], ros1: bool, known_definitions: dict[str, tuple[str, str]] | None = None
) -> MessageDecoder:
    """A decoder for these topics, shared by the parts and bags a worker decodes that define the same types.

    Building a type store costs a tenth of a second or more, which small parts would pay again and again.
    """
    key = (
        ros1,
        tuple(
            sorted((t.name, t.msgtype, t.encoding, hash(t.definition), t.definition_encoding) for t in topics.values())
        ),
        tuple(sorted((k, hash(v)) for k, v in (known_definitions or {}).items())),
    )
    decoder = _DECODERS.get(key)
    if decoder is None:
        if len(_DECODERS) >= CACHED_DECODERS:
            _DECODERS.pop(next(iter(_DECODERS)))
        decoder = _DECODERS[key] = MessageDecoder(topics, ros1, known_definitions)
    return decoder
