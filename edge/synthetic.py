"""A robot's bag, generated: what demos, tests and the benchmark replay through the agent.

The load of a cleaning robot: battery and diagnostics at 1 Hz, odometry at 10 Hz, IMU at 100 Hz,
laser scans of 720 ranges at 10 Hz, a compressed camera at 5 Hz, task status on change and rosout,
with an ERROR (``E_BRUSH_JAM``) at ``error_at_s`` when asked. Written as a ROS 1 bag by rosbags.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

NS = 1_000_000_000
DEFAULT_CONFIG_TOPICS = {
    "/battery_state": {"kind": "battery"},
    "/odom": {"kind": "odometry"},
    "/imu": {"kind": "imu"},
    "/diagnostics": {"kind": "diagnostics", "components": {"main_brush_motor": "main_brush", "vacuum_motor": "vacuum"}},
    "/rosout": {"kind": "log"},
    "/task_status": {"kind": "task_status"},
    "/scan": {"kind": "record_only"},
    "/camera/image/compressed": {"kind": "record_only"},
}


def write_robot_bag(
    path: Path,
    *,
    duration_s: float = 60.0,
    start_ns: int = 1_700_000_000 * NS,
    error_at_s: float | None = None,
    camera_bytes: int = 30_000,
    seed: int = 7,
    imu_hz: float = 100.0,
    scan_hz: float = 10.0,
    camera_hz: float = 5.0,
) -> dict[str, int]:
    """Write the bag; returns the number of messages per topic."""
    import numpy as np
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    t = store.types
    rng = random.Random(seed)
    path = Path(path)
    path.unlink(missing_ok=True)
    image = bytes(rng.getrandbits(8) for _ in range(camera_bytes))
    counts: dict[str, int] = {}
    events: list[tuple[int, str, Any, str]] = []

    def header(at: int, frame: str = "base_link") -> Any:
        return t["std_msgs/msg/Header"](
            seq=0, stamp=t["builtin_interfaces/msg/Time"](sec=at // NS, nanosec=at % NS), frame_id=frame
        )

    def vec(x: float, y: float, z: float) -> Any:
        return t["geometry_msgs/msg/Vector3"](x=x, y=y, z=z)

    def every(topic: str, msgtype: str, hz: float, build: Any) -> None:
        step = int(NS / hz)
        for at in range(start_ns, start_ns + int(duration_s * NS), step):
            events.append((at, topic, build(at), msgtype))

    def battery(at: int) -> Any:
        elapsed = (at - start_ns) / NS
        return t["sensor_msgs/msg/BatteryState"](
            header=header(at),
            voltage=25.2 - elapsed * 0.001,
            temperature=31.0 + rng.random(),
            current=-4.2 - rng.random(),
            charge=math.nan,
            capacity=math.nan,
            design_capacity=40.0,
            percentage=max(0.05, 0.9 - elapsed / 36000),
            power_supply_status=2,
            power_supply_health=1,
            power_supply_technology=2,
            present=True,
            cell_voltage=np.zeros(0, dtype=np.float32),
            cell_temperature=np.zeros(0, dtype=np.float32),
            location="",
            serial_number="",
        )

    def odometry(at: int) -> Any:
        elapsed = (at - start_ns) / NS
        pose = t["geometry_msgs/msg/Pose"](
            position=t["geometry_msgs/msg/Point"](x=math.cos(elapsed / 30) * 10, y=math.sin(elapsed / 30) * 10, z=0.0),
            orientation=t["geometry_msgs/msg/Quaternion"](
                x=0.0, y=0.0, z=math.sin(elapsed / 60), w=math.cos(elapsed / 60)
            ),
        )
        twist = t["geometry_msgs/msg/Twist"](linear=vec(0.4, 0.0, 0.0), angular=vec(0.0, 0.0, 0.03))
        return t["nav_msgs/msg/Odometry"](
            header=header(at, "odom"),
            child_frame_id="base_link",
            pose=t["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
            twist=t["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36)),
        )

    def imu(at: int) -> Any:
        return t["sensor_msgs/msg/Imu"](
            header=header(at, "imu"),
            orientation=t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
            orientation_covariance=np.zeros(9),
            angular_velocity=vec(0.0, 0.0, 0.03 + rng.gauss(0, 0.01)),
            angular_velocity_covariance=np.zeros(9),
            linear_acceleration=vec(rng.gauss(0, 0.05), rng.gauss(0, 0.05), 9.81 + rng.gauss(0, 0.05)),
            linear_acceleration_covariance=np.zeros(9),
        )

    def scan(at: int) -> Any:
        ranges = np.array([2.0 + rng.random() for _ in range(720)], dtype=np.float32)
        return t["sensor_msgs/msg/LaserScan"](
            header=header(at, "laser"),
            angle_min=-math.pi,
            angle_max=math.pi,
            angle_increment=2 * math.pi / 720,
            time_increment=0.0,
            scan_time=0.1,
            range_min=0.05,
            range_max=25.0,
            ranges=ranges,
            intensities=np.zeros(0, dtype=np.float32),
        )

    def camera(at: int) -> Any:
        return t["sensor_msgs/msg/CompressedImage"](
            header=header(at, "camera"), format="jpeg", data=np.frombuffer(image, dtype=np.uint8)
        )

    def diagnostics(at: int) -> Any:
        def status(name: str, current: float, temperature: float) -> Any:
            values = [
                t["diagnostic_msgs/msg/KeyValue"](key="current", value=f"{current:.3f}"),
                t["diagnostic_msgs/msg/KeyValue"](key="temperature", value=f"{temperature:.2f}"),
            ]
            return t["diagnostic_msgs/msg/DiagnosticStatus"](
                level=0, name=name, message="OK", hardware_id="", values=values
            )

        return t["diagnostic_msgs/msg/DiagnosticArray"](
            header=header(at),
            status=[
                status("main_brush_motor", 1.8 + rng.gauss(0, 0.05), 41.0 + rng.gauss(0, 0.3)),
                status("vacuum_motor", 3.1 + rng.gauss(0, 0.05), 48.0 + rng.gauss(0, 0.3)),
            ],
        )

    def log(at: int, level: int, text: str) -> Any:
        return t["rosgraph_msgs/msg/Log"](
            header=header(at),
            level=level,
            name="/cleaning_controller",
            msg=text,
            file="controller.cpp",
            function="tick",
            line=42,
            topics=[],
        )

    def task(at: int, document: dict[str, Any]) -> Any:
        return t["std_msgs/msg/String"](data=json.dumps(document))

    every("/battery_state", "sensor_msgs/msg/BatteryState", 1.0, battery)
    every("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", 1.0, diagnostics)
    every("/odom", "nav_msgs/msg/Odometry", 10.0, odometry)
    every("/imu", "sensor_msgs/msg/Imu", imu_hz, imu)
    every("/scan", "sensor_msgs/msg/LaserScan", scan_hz, scan)
    every("/camera/image/compressed", "sensor_msgs/msg/CompressedImage", camera_hz, camera)
    every("/rosout", "rosgraph_msgs/msg/Log", 0.2, lambda at: log(at, 2, "cleaning lane"))
    events.append(
        (
            start_ns,
            "/task_status",
            task(start_ns, {"status": "cleaning", "task_id": "task-1", "event": "started"}),
            "std_msgs/msg/String",
        )
    )
    end = start_ns + int(duration_s * NS) - NS // 2
    events.append(
        (
            end,
            "/task_status",
            task(
                end, {"status": "idle", "task_id": "task-1", "event": "completed", "efficiency": 0.93, "progress": 1.0}
            ),
            "std_msgs/msg/String",
        )
    )
    if error_at_s is not None:
        at = start_ns + int(error_at_s * NS)
        events.append(
            (
                at,
                "/rosout",
                log(at, 8, "E_BRUSH_JAM: main brush current over limit, brush stopped"),
                "rosgraph_msgs/msg/Log",
            )
        )
    events.sort(key=lambda event: event[0])
    writer = Writer(path)
    writer.set_compression(Writer.CompressionFormat.LZ4)
    with writer:
        connections: dict[str, Any] = {}
        for at, topic, message, msgtype in events:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], at, store.serialize_ros1(message, msgtype))
            counts[topic] = counts.get(topic, 0) + 1
    return counts
