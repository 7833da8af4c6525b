"""Run by the system's ROS 1 Python (``python3 ros1_bridge.py /topic ...``): forwards raw messages on stdout.

Kept free of fleetray imports and of syntax newer than Python 3.8 (ROS Noetic's), so it runs where
rospy lives while the agent runs on its own Python. Each frame: a 4-byte big-endian header length,
a JSON header (topic, type, definition, t_ns, size), then the message's serialised bytes.
"""

import json
import struct
import sys
import threading
import time


def main(topics):
    import rospy

    out = sys.stdout.buffer
    lock = threading.Lock()

    def forward(message, topic):
        header = message._connection_header
        data = bytes(message._buff)
        meta = json.dumps(
            {
                "topic": topic,
                "type": header["type"],
                "definition": header.get("message_definition", ""),
                "t_ns": time.time_ns(),
                "size": len(data),
            }
        ).encode()
        with lock:
            out.write(struct.pack(">I", len(meta)) + meta + data)
            out.flush()

    rospy.init_node("fleetray_edge_bridge", anonymous=True, disable_signals=True)
    for topic in topics:
        rospy.Subscriber(topic, rospy.AnyMsg, forward, callback_args=topic, queue_size=1000)
    sys.stderr.write("subscribed\n")
    sys.stderr.flush()
    while not rospy.is_shutdown():
        if sys.stdin.read(1) == "":  # the agent closed our stdin: it is gone
            rospy.signal_shutdown("agent gone")
            break


if __name__ == "__main__":
    main(sys.argv[1:])
