"""One edge agent under a robot's load: CPU, memory, uplink, a broker outage with a SIGKILL, a triggered bag.

The robot is a generated ROS 1 bag replayed at recorded speed: battery, diagnostics and rosout at
1 Hz, odometry at 10 Hz, IMU at 100 Hz, laser scans of 720 ranges at 10 Hz, a compressed camera at
5 Hz (30 kB frames), with an ERROR halfway through the load phase. The agent runs as its own process
(``python -m edge run``) against a Mosquitto with the project's production settings and, unless
``--no-platform``, ``fleetray up`` (PostgreSQL, ingestion, API, bag pipeline).

Phases: load (the agent's CPU and RSS sampled each second, what reaches the broker counted), outage
(the broker stopped; halfway through, the agent is killed with SIGKILL and started again where the
bag was; then the broker comes back and the queue drains), flat out (the same agent code replaying
as fast as it can, beside the plain rosbags loop that reads and deserialises the same bag).

The last line is JSON:
    cpu_cores                 the agent's CPU time over wall time during the load phase (1.0 = one core)
    rss_mb                    the agent's peak resident memory during the load phase
    uplink_kbit_s             MQTT payload bytes the platform received, per second of load, in kbit/s
    mb_per_hour               the same, as MB an hour
    replay_msgs_per_s         messages the agent takes in per second, flat out (mapping, downsampling, recording)
    rosbags_loop_msgs_per_s   the plain rosbags loop over the same bag (read and deserialise every message)
    outage_lost               samples the agent queued that never reached the platform
    outage_duplicated         samples the platform received more than once (the broker, not PostgreSQL, counts)
    kill_gap_s                bag seconds without a sample around the kill (readings not yet queued die with the agent)
    trigger_to_indexed_s      from the ERROR to its bag searchable as processed in the platform's index
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
import tomli_w

TENANT, ROBOT = "bench", "bench-r1"


class Uplink:
    """The platform's side of the broker, for counting: every message on the robot's up channels."""

    def __init__(self, url: str) -> None:
        from fleetray.mqtt import connect

        self.bytes = 0
        self.seqs: list[int] = []
        self.stamps: list[float] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = connect(
            url, f"bench-uplink-{uuid.uuid4().hex[:6]}", clean_start=False, on_message=self._on_message
        )
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe(f"fr/v1/{TENANT}/{ROBOT}/#", qos=1)
        subscribed.wait(10)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        from fleetray.schemas import decode_payload

        with self.lock:
            self.bytes += len(message.payload) + len(message.topic)
            if message.topic.endswith("/telemetry"):
                for document in decode_payload(message.payload):
                    self.seqs.append(int(document["seq"]))
                    if "pose" in document:  # a tick, not a status change on its own
                        self.stamps.append(datetime.fromisoformat(str(document["ts"])).timestamp())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def write_config(
    path: Path,
    data_dir: Path,
    broker: str,
    bag: Path,
    *,
    offset_s: float = 0.0,
    rate: float = 1.0,
    api: tuple[str, Path] | None = None,
    before_s: float = 300,
    after_s: float = 120,
    reconnect_max_s: float = 60.0,
) -> Path:
    from edge.synthetic import DEFAULT_CONFIG_TOPICS

    document: dict[str, Any] = {
        "tenant_id": TENANT,
        "robot_id": ROBOT,
        "data_dir": str(data_dir),
        "transport": "mqtt",
        "broker": {"url": broker, "reconnect_max_s": reconnect_max_s},
        "topics": DEFAULT_CONFIG_TOPICS,
        "sources": [{"kind": "bag", "path": str(bag), "rate": rate, "start_offset_s": offset_s}],
        "remote": {"version": 1, "recorder": {"before_s": before_s, "after_s": after_s}},
    }
    if api is not None:
        document["api"] = {"url": api[0], "device_key_file": str(api[1])}
    path.write_text(tomli_w.dumps(document))
    return path


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def queued_next_seq(data_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(data_dir / "spool.sqlite3") as spool:
        return spool.execute("SELECT value FROM counters WHERE name = 'seq:telemetry'").fetchone()[0]


def queue_depth(data_dir: Path) -> int:
    """Telemetry samples still in the agent's queue."""
    import sqlite3

    with sqlite3.connect(data_dir / "spool.sqlite3") as spool:
        return spool.execute("SELECT count(*) FROM messages WHERE channel = 'telemetry'").fetchone()[0]


def flat_out(bag: Path, work: Path, seconds: float) -> tuple[float, float]:
    """Messages per second: the agent's pipeline replaying flat out, and the plain rosbags loop."""
    from rosbags.highlevel import AnyReader

    from edge.agent import Agent
    from edge.config import parse_config
    from edge.synthetic import DEFAULT_CONFIG_TOPICS

    started = time.perf_counter()
    count = 0
    with AnyReader([bag]) as reader:
        for connection, _, raw in reader.messages():
            reader.deserialize(raw, connection.msgtype)
            count += 1
            if time.perf_counter() - started > seconds:
                break
    rosbags_rate = count / (time.perf_counter() - started)
    config = parse_config(
        {
            "tenant_id": TENANT,
            "robot_id": ROBOT,
            "data_dir": str(work / "flat"),
            "transport": "mqtt",
            "broker": {"url": "mqtt://127.0.0.1:1"},
            "topics": DEFAULT_CONFIG_TOPICS,
            "sources": [{"kind": "bag", "path": str(bag), "rate": 1e9, "start_at": "recorded"}],
        }
    )
    agent = Agent(config)
    agent.start()
    started = time.perf_counter()
    while not agent.sources_done() and time.perf_counter() - started < seconds:
        time.sleep(0.1)
    while not agent.inbox.empty() and time.perf_counter() - started < seconds + 30:
        time.sleep(0.01)
    handled, elapsed = agent.sources[0].replayed, time.perf_counter() - started
    agent.stop()
    return handled / elapsed, rosbags_rate


def say(what: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {what}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load-s", type=float, default=300.0)
    parser.add_argument("--outage-s", type=float, default=600.0, help="the broker outage (the issue's: 10 minutes)")
    parser.add_argument("--no-platform", action="store_true", help="broker only: no trigger_to_indexed_s")
    parser.add_argument("--quick", action="store_true", help="15 s of load, an 8 s outage, no platform")
    args = parser.parse_args()
    if args.quick:
        args.load_s, args.outage_s, args.no_platform = 15.0, 8.0, True

    from edge.synthetic import write_robot_bag
    from fleetray.services.mqtt_broker import embedded_broker
    from fleetray.services.ports import free_port

    work = Path(tempfile.mkdtemp(prefix="fleetray-bench-edge-"))
    bag = work / "robot.bag"
    error_at_s = args.load_s * 0.4
    write_robot_bag(bag, duration_s=args.load_s + args.outage_s + 30, error_at_s=error_at_s, camera_bytes=30_000)
    broker, url = embedded_broker(work, port=free_port())
    with (work / "mqtt/mosquitto.conf").open("a") as conf:
        conf.write("user root\n")  # started as root, Mosquitto would switch to a user who cannot write here
    broker.start()
    say("bag written, broker started")
    platform = api = None
    result: dict[str, Any] = {}
    agent: subprocess.Popen[bytes] | None = None
    try:
        if not args.no_platform:
            platform, api, db = start_platform(work, url)
        uplink = Uplink(url)
        data_dir, log = work / "agent", work / "agent.log"
        before, after = (300, 120) if not args.quick else (10, 5)
        window = {"api": api, "before_s": before, "after_s": after, "reconnect_max_s": 2.0 if args.quick else 60.0}
        config = write_config(work / "agent.toml", data_dir, url, bag, **window)
        agent = start_agent(config, log)
        replay_started = time.time()
        process = psutil.Process(agent.pid)
        time.sleep(2)  # imports and the first connection are not the robot's steady load
        cpu_before, load_started, rss = sum(process.cpu_times()[:2]), time.time(), 0.0
        bytes_before = uplink.bytes
        while time.time() - load_started < args.load_s:
            rss = max(rss, process.memory_info().rss / 1e6)
            time.sleep(1.0)
        load_s = time.time() - load_started
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        sent = uplink.bytes - bytes_before
        result.update(
            cpu_cores=round(cpu / load_s, 3),
            rss_mb=round(rss, 1),
            uplink_kbit_s=round(sent * 8 / 1000 / load_s, 2),
            mb_per_hour=round(sent / load_s * 3600 / 1e6, 2),
        )

        say("load measured; the broker stops")
        broker.stop()
        time.sleep(args.outage_s / 2)
        os.killpg(agent.pid, signal.SIGKILL)
        agent.wait()
        offset = time.time() - replay_started
        config = write_config(work / "agent.toml", data_dir, url, bag, offset_s=offset, **window)
        agent = start_agent(config, log)
        time.sleep(args.outage_s / 2)
        broker.start()
        say("the broker is back; draining")
        backlog_end = queued_next_seq(data_dir) - 1  # what was queued during the outage must all arrive
        deadline = time.monotonic() + 600
        while max(uplink.seqs, default=-1) < backlog_end and time.monotonic() < deadline:
            time.sleep(0.2)
        say("backlog delivered; the agent stops")
        stopping = time.monotonic()
        os.killpg(agent.pid, signal.SIGTERM)
        try:
            agent.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, signal.SIGUSR1)  # its threads' stacks into the agent's log
            time.sleep(2)
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait()
        result["stop_s"] = round(time.monotonic() - stopping, 1)
        agent = None
        time.sleep(1)
        with uplink.lock:
            seqs = list(uplink.seqs)
        distinct = sorted(set(seqs))
        # Still queued on the robot after it stopped is not lost: it goes when the agent runs again.
        queued = queued_next_seq(data_dir) - distinct[0] - queue_depth(data_dir)
        stamps = sorted(set(uplink.stamps))
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        result.update(
            outage_lost=queued - len(distinct),
            outage_duplicated=len(seqs) - len(distinct),
            kill_gap_s=round(max(gaps) - 1, 1) if gaps else None,
        )
        uplink.close()

        say("drained")
        if platform is not None:
            result["trigger_to_indexed_s"] = indexed_after(db, replay_started + error_at_s)
        say("flat out")
        replay, rosbags_loop = flat_out(bag, work, 6.0 if args.quick else 60.0)
        result.update(
            replay_msgs_per_s=round(replay),
            rosbags_loop_msgs_per_s=round(rosbags_loop),
            replay_vs_rosbags=round(replay / rosbags_loop, 2),
        )
    finally:
        if agent is not None and agent.poll() is None:
            os.killpg(agent.pid, signal.SIGKILL)
        if platform is not None:
            platform.__exit__(None, None, None)
        broker.stop()
    print(json.dumps({"load_s": args.load_s, "outage_s": args.outage_s, **result}))


def start_platform(work: Path, mqtt_url: str) -> tuple[Any, tuple[str, Path], Any]:
    """``fleetray up`` on this machine, with the bench's broker; the robot registered, its device key written."""
    from fleetray.config import load_settings
    from fleetray.inventory import RobotRecord, TenantRecord
    from fleetray.services import Platform
    from fleetray.services.ports import free_port
    from fleetray.storage.api_keys import create_key
    from fleetray.storage.fleet import upsert_robots, upsert_tenant

    port = free_port()
    settings = load_settings(
        data_dir=work / "platform",
        mqtt_url=mqtt_url,
        shards=1,
        api_port=port,
        api_base_url=f"http://127.0.0.1:{port}",
        bag_scan_s=3600,
        database_url=os.environ.get("FLEETRAY_DATABASE_URL"),
    )
    platform = Platform(settings)
    platform.__enter__()
    db = platform.db
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id=TENANT, name="Bench"))
        upsert_robots(
            conn, [RobotRecord(tenant_id=TENANT, robot_id=ROBOT, manufacturer="Gausium", model="Phantas", serial="b1")]
        )
        key = create_key(conn, TENANT, "device", robot_id=ROBOT).token
    key_file = work / "device.key"
    key_file.write_text(key)
    return platform, (f"http://127.0.0.1:{port}", key_file), db


def indexed_after(db: Any, error_wall_s: float, timeout_s: float = 600) -> float | None:
    from fleetray.storage.bags import search_bags

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.connect() as conn:
            rows = [r for r in search_bags(conn, TENANT, robot_id=ROBOT) if r["status"] == "done"]
        if rows:
            return round(rows[0]["finished_at"].timestamp() - error_wall_s, 1)
        time.sleep(1)
    return None


if __name__ == "__main__":
    main()
