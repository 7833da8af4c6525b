"""Live ROS 1 topics: a rospy bridge process (the system's ROS Python) hands over raw messages.

rospy is packaged for the distribution's Python, not for the agent's environment, so the agent does
not import it: ``ros1_bridge.py`` subscribes with ``rospy.AnyMsg`` and forwards each message's bytes
and its publisher's type and definition; here they are decoded with rosbags, like a bag's.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import threading
from pathlib import Path
from typing import IO

from edge.config import Ros1Source
from edge.decoding import Decoder, normalise
from edge.errors import SourceError
from edge.readings import SourceMessage
from edge.sources.base import Emit, Source

logger = logging.getLogger(__name__)
BRIDGE = Path(__file__).with_name("ros1_bridge.py")
HEADER = struct.Struct(">I")


class Ros1Topics(Source):
    """Subscribes to ROS 1 topics through the bridge; restarts the bridge when it dies (roscore restarted)."""

    def __init__(self, config: Ros1Source, decode_topics: set[str]) -> None:
        self.config = config
        self.name = "ros1"
        self.decode_topics = decode_topics
        self.decoder = Decoder()
        self.received = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.config.master_uri:
            env["ROS_MASTER_URI"] = self.config.master_uri
        try:
            return subprocess.Popen(
                [self.config.python, str(BRIDGE), *self.config.topics],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except OSError as err:
            raise SourceError(f"ros1 source: cannot run {self.config.python}: {err.strerror}") from err

    def run(self, emit: Emit, stop: threading.Event) -> None:
        while not stop.is_set():
            process = self._start()
            watcher = threading.Thread(target=_kill_when_set, args=(stop, process), daemon=True)
            watcher.start()
            assert process.stdout is not None
            try:
                self._read(process.stdout, emit)
            finally:
                process.kill()
                errors = process.stderr.read().decode(errors="replace") if process.stderr else ""
                process.wait()
            if "No module named 'rospy'" in errors:
                raise SourceError(f"ros1 source: {self.config.python} has no rospy (apt-get install python3-rospy)")
            if not stop.is_set():
                logger.warning(
                    "the ROS 1 bridge stopped (%s); restarting in 2 s", errors.strip()[-300:] or "no message"
                )
                stop.wait(2.0)

    def _read(self, stream: IO[bytes], emit: Emit) -> None:
        while True:
            head = stream.read(HEADER.size)
            if len(head) < HEADER.size:
                return
            meta = json.loads(stream.read(HEADER.unpack(head)[0]))
            raw = stream.read(meta["size"])
            msgtype = normalise(meta["type"])
            message = None
            if meta["topic"] in self.decode_topics:
                try:
                    if not self.decoder.knows(msgtype, "ros1"):
                        self.decoder.learn(msgtype, meta["definition"], "ros1")
                    message = self.decoder.decode(msgtype, raw, "ros1")
                except Exception as err:  # one bad type must not stop the others
                    logger.warning("cannot decode %s on %s: %s", msgtype, meta["topic"], err)
            self.received += 1
            emit(
                SourceMessage(meta["topic"], msgtype, meta["t_ns"], message, raw, "ros1", meta["definition"], "ros1msg")
            )


def _kill_when_set(stop: threading.Event, process: subprocess.Popen[bytes]) -> None:
    stop.wait()
    process.kill()
