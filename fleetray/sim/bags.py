"""Recorded bags from a simulated cleaning robot, in every format robots produce: ROS1 ``.bag``, rosbag2
(SQLite or MCAP storage) and bare MCAP.

The robot drives a lawnmower pattern over a floor. It records an IMU at 100 Hz, odometry at 20 Hz,
battery at 1 Hz, laser scans at 10 Hz, a camera at 5 Hz (and JPEG at 1 Hz), point clouds at 2 Hz, diagnostics at 1 Hz
(warnings and errors with codes when the brush motor overheats or the bumper hits), rosout with
errors, TF, and a custom message type (``fleetray_msgs/msg/BrushStatus``) defined only in the bag.
Seeded: the same arguments give the same messages.

rosbags (and mcap, for bare MCAP files) are imported when a bag is written, never by ``fleetray.sim``.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

BagFormat = Literal["ros1", "ros2-sqlite3", "ros2-mcap", "mcap"]
RECORDING_TOPIC = "/fleetray/recording"  # ROS1 bags' labels (tenant, robot, trigger), as pipelines.bags reads them
BRUSH_STATUS = "fleetray_msgs/msg/BrushStatus"
BRUSH_STATUS_DEFINITION = "std_msgs/Header header\nfloat32 current_a\nfloat32 rpm\nuint8 wear_percent\nstring mode\n"
START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z

TOPICS = {
    "/imu/data": ("sensor_msgs/msg/Imu", 100.0),
    "/odom": ("nav_msgs/msg/Odometry", 20.0),
    "/battery": ("sensor_msgs/msg/BatteryState", 1.0),
    "/scan": ("sensor_msgs/msg/LaserScan", 10.0),
    "/camera/image_raw": ("sensor_msgs/msg/Image", 5.0),
    "/camera/image_raw/compressed": ("sensor_msgs/msg/CompressedImage", 1.0),
    "/points": ("sensor_msgs/msg/PointCloud2", 2.0),
    "/diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", 1.0),
    "/brush/status": (BRUSH_STATUS, 10.0),
    "/tf": ("tf2_msgs/msg/TFMessage", 20.0),
}


@dataclass(frozen=True)
class BagSpec:
    """What to record: how long, how big the camera images and point clouds are, and the labels."""

    duration_s: float = 60.0
    image_width: int = 64
    image_height: int = 48
    cloud_points: int = 512
    scan_beams: int = 360
    seed: int = 1
    tenant: str = "demo"
    robot: str = "robot-1"
    trigger: str = "schedule"
    start_ns: int = START_NS


def _typestore(ros1: bool) -> Any:
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.LATEST)
    store.register(get_types_from_msg(BRUSH_STATUS_DEFINITION, BRUSH_STATUS))
    if ros1:  # Noetic's store lacks tf2_msgs; its definition is one line
        store.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms", "tf2_msgs/msg/TFMessage"))
    return store


class _Robot:
    """The simulated robot's state, advanced tick by tick, and its messages."""

    def __init__(self, spec: BagSpec, store: Any, ros1: bool) -> None:
        self.spec, self.store, self.ros1 = spec, store, ros1
        self.types = store.types
        self.rnd = np.random.default_rng(spec.seed)
        self.random = random.Random(spec.seed)
        self.field = np.array([(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, spec.cloud_points)])

    def _time(self, t_ns: int) -> Any:
        return self.types["builtin_interfaces/msg/Time"](sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000)

    def _header(self, t_ns: int, frame: str) -> Any:
        kwargs = {"seq": 0} if self.ros1 else {}
        return self.types["std_msgs/msg/Header"](**kwargs, stamp=self._time(t_ns), frame_id=frame)

    def pose_at(self, t_s: float) -> tuple[float, float, float]:
        """Lawnmower lanes 20 m long, 1 m apart, at 0.4 m/s."""
        lane, along = divmod(t_s * 0.4, 20.0)
        x = along if int(lane) % 2 == 0 else 20.0 - along
        return x, lane * 1.0, 0.0 if int(lane) % 2 == 0 else math.pi

    def message(self, topic: str, t_ns: int) -> Any:  # noqa: PLR0911 (one branch per topic)
        t_s = (t_ns - self.spec.start_ns) / 1e9
        T, v3 = self.types, self.types["geometry_msgs/msg/Vector3"]
        x, y, yaw = self.pose_at(t_s)
        quaternion = T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2))
        if topic == "/imu/data":
            noise = self.rnd.normal(0, 0.02, 6)
            return T["sensor_msgs/msg/Imu"](
                header=self._header(t_ns, "imu"),
                orientation=quaternion,
                orientation_covariance=np.zeros(9),
                angular_velocity=v3(x=noise[0], y=noise[1], z=noise[2]),
                angular_velocity_covariance=np.zeros(9),
                linear_acceleration=v3(x=noise[3], y=noise[4], z=9.81 + noise[5]),
                linear_acceleration_covariance=np.zeros(9),
            )
        if topic == "/odom":
            pose = T["geometry_msgs/msg/Pose"](
                position=T["geometry_msgs/msg/Point"](x=x, y=y, z=0.0), orientation=quaternion
            )
            twist = T["geometry_msgs/msg/Twist"](linear=v3(x=0.4, y=0.0, z=0.0), angular=v3(x=0.0, y=0.0, z=0.0))
            return T["nav_msgs/msg/Odometry"](
                header=self._header(t_ns, "odom"),
                child_frame_id="base_link",
                pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=pose, covariance=np.zeros(36)),
                twist=T["geometry_msgs/msg/TwistWithCovariance"](twist=twist, covariance=np.zeros(36)),
            )
        if topic == "/battery":
            soc = max(0.05, 0.95 - t_s / 14_400)
            fields = {
                "voltage": 24.0 + 4 * soc,
                "temperature": 31.0 + t_s / 600,
                "current": -4.2,
                "charge": 40 * soc,
                "capacity": 40.0,
                "design_capacity": 40.0,
                "percentage": soc,
                "power_supply_status": 2,
                "power_supply_health": 1,
                "power_supply_technology": 2,
                "present": True,
                "cell_voltage": np.full(7, (24.0 + 4 * soc) / 7, dtype=np.float32),
                "cell_temperature": np.full(7, 31.0, dtype=np.float32),
                "location": "bay",
                "serial_number": "B1",
            }
            return T["sensor_msgs/msg/BatteryState"](header=self._header(t_ns, "battery"), **fields)
        if topic == "/scan":
            beams = self.spec.scan_beams
            ranges = (3.0 + np.sin(np.linspace(0, 6, beams) + t_s) + self.rnd.normal(0, 0.01, beams)).astype(np.float32)
            ranges[self.rnd.random(beams) < 0.02] = np.inf
            return T["sensor_msgs/msg/LaserScan"](
                header=self._header(t_ns, "laser"),
                angle_min=-math.pi,
                angle_max=math.pi,
                angle_increment=2 * math.pi / beams,
                time_increment=0.0,
                scan_time=0.1,
                range_min=0.05,
                range_max=12.0,
                ranges=ranges,
                intensities=np.zeros(beams, dtype=np.float32),
            )
        if topic == "/camera/image_raw":
            width, height = self.spec.image_width, self.spec.image_height
            pixels = self.rnd.integers(0, 255, (height, width, 3), dtype=np.uint8)
            pixels[:, :, 1] = int(t_s * 10) % 255
            return T["sensor_msgs/msg/Image"](
                header=self._header(t_ns, "camera"),
                height=height,
                width=width,
                encoding="rgb8",
                is_bigendian=0,
                step=width * 3,
                data=pixels.reshape(-1),
            )
        if topic == "/camera/image_raw/compressed":
            import io

            from PIL import Image

            width, height = self.spec.image_width, self.spec.image_height
            pixels = np.zeros((height, width, 3), dtype=np.uint8)
            pixels[:, :, 0] = np.linspace(0, 255, width, dtype=np.uint8)
            pixels[:, :, 2] = int(t_s * 10) % 255
            jpeg = io.BytesIO()
            Image.fromarray(pixels).save(jpeg, format="JPEG", quality=80)
            data = np.frombuffer(jpeg.getvalue(), dtype=np.uint8)
            return T["sensor_msgs/msg/CompressedImage"](header=self._header(t_ns, "camera"), format="jpeg", data=data)
        if topic == "/points":
            points = np.zeros((self.spec.cloud_points, 3), dtype=np.float32)
            points[:, :2] = self.field * (2.0 + math.sin(t_s))
            point_field = T["sensor_msgs/msg/PointField"]
            fields = [point_field(name=n, offset=4 * i, datatype=7, count=1) for i, n in enumerate("xyz")]
            return T["sensor_msgs/msg/PointCloud2"](
                header=self._header(t_ns, "lidar"),
                height=1,
                width=len(points),
                fields=fields,
                is_bigendian=False,
                point_step=12,
                row_step=12 * len(points),
                data=points.view(np.uint8).reshape(-1),
                is_dense=True,
            )
        if topic == "/diagnostics":
            return self._diagnostics(t_ns, t_s)
        if topic == "/brush/status":
            current = 1.8 + t_s / 3600 + float(self.rnd.normal(0, 0.05))
            return T[BRUSH_STATUS](
                header=self._header(t_ns, "brush"),
                current_a=current,
                rpm=1450.0,
                wear_percent=min(100, int(t_s / 60)),
                mode="scrub",
            )
        if topic == "/tf":
            transform = T["geometry_msgs/msg/Transform"](translation=v3(x=x, y=y, z=0.0), rotation=quaternion)
            stamped = T["geometry_msgs/msg/TransformStamped"](
                header=self._header(t_ns, "odom"), child_frame_id="base_link", transform=transform
            )
            return T["tf2_msgs/msg/TFMessage"](transforms=[stamped])
        raise KeyError(topic)

    def _diagnostics(self, t_ns: int, t_s: float) -> Any:
        T = self.types
        key_value = T["diagnostic_msgs/msg/KeyValue"]
        statuses = []
        brush_hot = int(t_s) % 30 == 9
        bumped = int(t_s) % 45 == 14
        for name, level, message, code in (
            ("brush_motor", 1 if brush_hot else 0, "brush current high" if brush_hot else "ok", "E-BRUSH-201"),
            ("bumper", 2 if bumped else 0, "bumper pressed" if bumped else "ok", "E-BUMP-101"),
        ):
            statuses.append(
                T["diagnostic_msgs/msg/DiagnosticStatus"](
                    level=level,
                    name=name,
                    message=message,
                    hardware_id=name,
                    values=[key_value(key="code", value=code if level else "")],
                )
            )
        return T["diagnostic_msgs/msg/DiagnosticArray"](header=self._header(t_ns, "base"), status=statuses)

    def log(self, t_ns: int, level: str, text: str) -> tuple[str, str, Any]:
        T = self.types
        fields = {"msg": text, "file": "planner.cpp", "function": "plan", "line": 120}
        if self.ros1:
            ros1_level = {"info": 2, "warn": 4, "error": 8}[level]
            message = T["rosgraph_msgs/msg/Log"](
                header=self._header(t_ns, ""), level=ros1_level, name="/navigation", topics=[], **fields
            )
            return "/rosout", "rosgraph_msgs/msg/Log", message
        ros2_level = {"info": 20, "warn": 30, "error": 40}[level]
        message = T["rcl_interfaces/msg/Log"](stamp=self._time(t_ns), level=ros2_level, name="navigation", **fields)
        return "/rosout", "rcl_interfaces/msg/Log", message

    def stream(self) -> Iterator[tuple[str, str, int, Any]]:
        """``(topic, type, log time, message)`` in time order."""
        spec = self.spec
        schedule = [(spec.start_ns, topic) for topic in TOPICS]
        period = {topic: round(1e9 / rate) for topic, (_, rate) in TOPICS.items()}
        end = spec.start_ns + round(spec.duration_s * 1e9)
        import heapq

        heapq.heapify(schedule)
        next_log = spec.start_ns
        while schedule:
            t_ns, topic = heapq.heappop(schedule)
            if t_ns >= end:
                continue
            while next_log <= t_ns:
                level = "error" if self.random.random() < 0.3 else "info"
                text = "path blocked by an obstacle" if level == "error" else "lane finished"
                log_topic, log_type, message = self.log(next_log, level, text)
                yield log_topic, log_type, next_log, message
                next_log += 5_000_000_000
            yield topic, TOPICS[topic][0], t_ns, self.message(topic, t_ns)
            heapq.heappush(schedule, (t_ns + period[topic], topic))


def write_bag(path: Path, fmt: BagFormat, spec: BagSpec | None = None, *, compression: str | None = None) -> Path:
    """Record a bag at ``path`` (a ``.bag`` or ``.mcap`` file, or a rosbag2 directory); returns ``path``.

    ``compression``: ``bz2`` or ``lz4`` chunks for ROS1; ``zstd`` or ``lz4`` chunks for (bare) MCAP.
    """
    spec = spec or BagSpec()
    ros1 = fmt == "ros1"
    store = _typestore(ros1)
    robot = _Robot(spec, store, ros1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "ros1":
        _write_ros1(path, store, robot, compression)
    elif fmt == "mcap":
        _write_mcap(path, store, robot, spec, compression)
    else:
        _write_rosbag2(path, store, robot, spec, fmt.removeprefix("ros2-"))
    return path


def _write_ros1(path: Path, store: Any, robot: _Robot, compression: str | None) -> None:
    from rosbags.rosbag1 import Writer

    writer = Writer(path)
    if compression:
        writer.set_compression(Writer.CompressionFormat[compression.upper()])
    with writer:
        label = writer.add_connection(RECORDING_TOPIC, "std_msgs/msg/String", typestore=store)
        text = json.dumps({"tenant": robot.spec.tenant, "robot": robot.spec.robot, "trigger": robot.spec.trigger})
        message = store.types["std_msgs/msg/String"](data=text)
        writer.write(label, robot.spec.start_ns, store.serialize_ros1(message, "std_msgs/msg/String"))
        connections: dict[str, Any] = {}
        for topic, msgtype, t_ns, message in robot.stream():
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], t_ns, store.serialize_ros1(message, msgtype))


def _write_rosbag2(path: Path, store: Any, robot: _Robot, spec: BagSpec, storage: str) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for key, value in (
            ("fleetray.tenant", spec.tenant),
            ("fleetray.robot", spec.robot),
            ("fleetray.trigger", spec.trigger),
        ):
            writer.set_custom_data(key, value)
        connections: dict[str, Any] = {}
        for topic, msgtype, t_ns, message in robot.stream():
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], t_ns, store.serialize_cdr(message, msgtype))


def _write_mcap(path: Path, store: Any, robot: _Robot, spec: BagSpec, compression: str | None) -> None:
    from mcap.writer import CompressionType, Writer

    with open(path, "wb") as stream:
        writer = Writer(stream, compression=CompressionType[(compression or "zstd").upper()])
        writer.start(profile="ros2", library="fleetray")
        writer.add_metadata("fleetray", {"tenant": spec.tenant, "robot": spec.robot, "trigger": spec.trigger})
        channels: dict[str, int] = {}
        for topic, msgtype, t_ns, message in robot.stream():
            if topic not in channels:
                definition, _ = store.generate_msgdef(msgtype, ros_version=2)
                schema = writer.register_schema(name=msgtype, encoding="ros2msg", data=definition.encode())
                channels[topic] = writer.register_channel(topic=topic, message_encoding="cdr", schema_id=schema)
            writer.add_message(
                channels[topic], log_time=t_ns, publish_time=t_ns, data=bytes(store.serialize_cdr(message, msgtype))
            )
        writer.finish()
