"""The agent: sources in; downsampled telemetry, events and bags out; commands and config from the platform.

Threads, each with one job: one per source; the pipeline (mapping, downsampling, anomaly scores,
recording, triggers); the sender (spool to broker); the uploader (bags); the heartbeat. MQTT's own
network thread hands commands and configs to the pipeline's queue, so state changes in one place.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge import __version__
from edge.config import AgentConfig, describe
from edge.crypto import Sealer, load_key
from edge.decoding import normalise
from edge.errors import AgentConfigError, SourceError, SpoolError
from edge.mapping import TopicMapper
from edge.readings import EventReading, Item, Reading, SourceMessage, TaskReading
from edge.recorder import Recorder, Trigger
from edge.sampler import NS, Sampler
from edge.sources import Source, build_sources
from edge.spool import Spool
from edge.updates import Updates
from edge.uplink import HttpsLink, MqttLink, Sender
from edge.uploads import UploadManager
from fleetray.features.anomaly import SampleScorer
from fleetray.features.signals import telemetry_signals
from fleetray.schemas import AgentCommand, AgentHeartbeat, CommandAck, RemoteConfig, RobotEvent, TaskEvent
from fleetray.schemas.agent import AgentUpdate

logger = logging.getLogger(__name__)
QUIET_NS = 2 * NS
MAX_HELD = 10_000


class Agent:
    """One robot's agent. ``start()`` runs it in threads; ``stop()`` ends it and closes the open segment."""

    def __init__(self, config: AgentConfig, *, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        config.data_dir.mkdir(parents=True, exist_ok=True)
        sealer = Sealer(load_key(config.spool.encryption_key)) if config.spool.encryption_key else None
        self.spool = Spool(config.spool_path, max_bytes=int(config.spool.max_mb * 1024 * 1024), sealer=sealer)
        self.remote = self._stored_remote() or config.remote
        self.config_error: str | None = None
        self.mapper = TopicMapper(config.topics)
        self.sampler = Sampler(config.tenant_id, config.robot_id, self._interval)
        self.scorer = SampleScorer()
        self._anomalous = False
        self._face_blur: Any = None  # made on first use: OpenCV loads only where faces are to be blurred
        self._anomalies: list[EventReading] = []  # found while queuing telemetry, queued right after it
        self.recorder = Recorder(
            config.data_dir / "recorder",
            lambda: self.remote.recorder,
            self._bag_ready,
            tenant_id=config.tenant_id,
            robot_id=config.robot_id,
            disk_reserve_bytes=int(config.disk_reserve_mb * 1024 * 1024),
        )
        self.uploads = UploadManager(config.data_dir / "uploads.sqlite3", config.api, self._upload_rate)
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=20_000)
        self.sources: list[Source] = build_sources(config)
        self.source_states: dict[str, str] = {}  # running, ended (a bag played out), or what went wrong
        self.mqtt = MqttLink(config, self._on_down_message) if config.transport != "https" else None
        self.https = HttpsLink(config) if config.api is not None and config.transport != "mqtt" else None
        self.sender = Sender(config, self.spool, self.mqtt, self.https, lambda: self.remote.batch_max_delay_s)
        self.stop_event = threading.Event()
        self.started_at = datetime.now(timezone.utc)
        self._threads: list[threading.Thread] = []
        self._replays: list[threading.Thread] = []  # sources faster than real time, still playing
        self._held: list[tuple[str, Any]] = []  # messages the spool could not take (full disk), retried
        self._last_item_wall = time.monotonic()
        self._recording_task: str | None = None
        self.restart_requested = False
        self.updates = Updates(config.data_dir, config.updates.public_key)
        self.counts: dict[str, int] = {"messages": 0, "telemetry": 0, "events": 0, "tasks": 0, "triggers": 0}
        import psutil

        self._process = psutil.Process()
        self._process.cpu_percent()

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if self.mqtt is not None:
            self.mqtt.start()
        self._spawn("pipeline", self._pipeline)
        self._spawn("sender", self.sender.run, self.stop_event)
        self._spawn("uploads", self.uploads.run, self.stop_event)
        self._spawn("heartbeat", self._heartbeats)
        for source in self.sources:
            thread = self._spawn(f"source-{source.name}", self._run_source, source)
            if not source.paced_by_wall_clock:
                self._replays.append(thread)
        for path in self.recorder.bags_dir.glob("*.mcap"):
            self.uploads.enqueue(path, None)  # bags a previous run finished but had not queued
        self._ack_update_outcome()

    def _spawn(self, name: str, target: Any, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def stop(self, *, drain_s: float = 0.0) -> None:
        """Stop every thread; with ``drain_s``, first give the sender that long to empty the queue."""
        deadline = time.monotonic() + drain_s
        while drain_s and time.monotonic() < deadline and self.spool.stats().messages:
            self.sender.drain_once(force=True)
            time.sleep(0.1)
        self.stop_event.set()
        self.sender.wake.set()
        self.uploads.wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._advance()  # the samples of the last ticks the pipeline passed, into the queue
        self.recorder.close()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.https is not None:
            self.https.close()
        self.uploads.close()
        self.spool.close()

    def sources_done(self) -> bool:
        """Whether every source thread has ended (a bag played out)."""
        return all(not t.is_alive() for t in self._threads if t.name.startswith("source-"))

    def _run_source(self, source: Source) -> None:
        self.source_states[source.name] = "running"
        try:
            source.run(self._emit, self.stop_event)
            self.source_states[source.name] = "ended"
        except SourceError as err:
            self.source_states[source.name] = f"failed: {err}"
            logger.error("%s", err)
        except Exception as err:
            self.source_states[source.name] = f"failed: {type(err).__name__}: {err}"
            logger.exception("source %s failed", source.name)

    def _emit(self, item: Item) -> None:
        while not self.stop_event.is_set():  # a full inbox holds a source back, but never past stop
            try:
                self.inbox.put(("item", item), timeout=0.5)
                return
            except queue.Full:
                continue

    # -- the pipeline ------------------------------------------------------------------------------

    def _pipeline(self) -> None:
        next_poll = 0.0
        while not self.stop_event.is_set():
            try:
                kind, value = self.inbox.get(timeout=0.2)
            except queue.Empty:
                kind, value = "", None
            try:
                if kind == "item":
                    self._handle(value)
                elif kind in ("cmd", "config"):
                    self._control(kind, value)
            except Exception:
                logger.exception("could not handle a %s", kind or "tick")
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + 0.2
                self._advance()

    def _clock_ns(self) -> int:
        if not self.sampler.clock_ns:
            return 0  # no reading yet: no clock to move on from
        if not self.inbox.empty() or any(thread.is_alive() for thread in self._replays):
            # Readings wait (the pipeline fell behind, the sources did not go quiet), or a fast replay
            # plays: a stall of either is not silence, and moving the clock on would fold its seconds into one tick.
            return self.sampler.clock_ns
        quiet = int((time.monotonic() - self._last_item_wall) * NS)
        return self.sampler.clock_ns + (quiet if quiet > QUIET_NS else 0)

    def _handle(self, item: Item) -> None:
        self.counts["messages"] += 1
        self._last_item_wall = time.monotonic()
        if isinstance(item, SourceMessage):
            self.sampler.clock_ns = max(self.sampler.clock_ns, item.timestamp_ns)
            mapping = self.config.topics.get(item.topic)
            if mapping is None or mapping.record:
                recorded = self._private(item) if self.remote.recorder.blur_faces else item
                if recorded is not None:
                    self.recorder.add(recorded)
            for output in self.mapper.map(item):
                self._handle(output)
        elif isinstance(item, Reading):
            self.sampler.add(item)
        elif isinstance(item, EventReading):
            self._event(item)
        elif isinstance(item, TaskReading):
            self._task(item)

    def _private(self, item: SourceMessage) -> SourceMessage | None:
        """The message as it may be recorded: faces blurred; an image never goes unblurred (None: left out)."""
        from edge.privacy import IMAGE_TYPES, FaceBlur

        if self._face_blur is None:
            try:
                self._face_blur = FaceBlur()
            except AgentConfigError as err:
                if normalise(item.msgtype) in IMAGE_TYPES:
                    self.config_error = str(err)
                    return None
                return item
        return self._face_blur.apply(item)

    def _advance(self) -> None:
        now = self._clock_ns()
        if now <= 0:
            return
        samples = self.sampler.advance(now)
        if samples:
            self._queue([("telemetry", fields) for fields in samples])
        self.recorder.poll(now)
        if self._held:
            held, self._held = self._held, []
            self._queue(held)

    def _queue(self, items: list[tuple[str, Any]]) -> None:
        builders = []
        for channel, content in items:
            if channel == "telemetry":
                builders.append((channel, lambda seq, fields=content: self._telemetry_bytes(fields, seq)))
            else:
                builders.append(
                    (channel, lambda seq, build=content: build(seq).model_dump_json(exclude_none=True).encode())
                )
        try:
            self.spool.append(builders)
        except SpoolError as err:
            logger.error("%s; %s messages are held in memory until it mends", err, len(items))
            self._held = (self._held + items)[-MAX_HELD:]
            return
        for channel, _ in items:
            self.counts[channel] = self.counts.get(channel, 0) + 1
        self.sender.wake.set()
        anomalies, self._anomalies = self._anomalies, []
        for event in anomalies:
            self._event(event)

    def _telemetry_bytes(self, fields: dict[str, Any], seq: int) -> bytes:
        sample = self.sampler.telemetry(fields, seq)
        self._score(sample)
        return sample.model_dump_json(exclude_none=True).encode()

    def _score(self, sample: Any) -> None:
        scores = self.scorer.score(sample.status.value, telemetry_signals(sample))
        if not scores:
            return
        signal, worst = max(scores.items(), key=lambda item: item[1])
        threshold = self.remote.anomaly_threshold
        if worst > threshold and not self._anomalous:
            self._anomalous = True
            at = int(sample.ts.timestamp() * NS)
            message = f"{signal} scored {worst:.1f} (threshold {threshold})"
            self._anomalies.append(
                EventReading(at, "WARNING", "ANOMALY", message, state={"signal": signal, "score": round(worst, 2)})
            )
        elif worst < threshold / 2:
            self._anomalous = False
        self._face_blur: Any = None  # made on first use: OpenCV loads only where faces are to be blurred

    def _state(self) -> dict[str, Any]:
        return {"status": self.sampler.status, "task_id": self.sampler.task_id}

    def _event(self, event: EventReading) -> None:
        ts = datetime.fromtimestamp(event.timestamp_ns / NS, tz=timezone.utc)

        def build(seq: int) -> RobotEvent:
            return RobotEvent(
                tenant_id=self.config.tenant_id,
                robot_id=self.config.robot_id,
                ts=ts,
                seq=seq,
                level=event.level,
                code=event.code,
                message=event.message,
                component=event.component,
                state={**self._state(), **event.state},
            )

        self._queue([("events", build)])
        policy = self.remote.recorder
        if event.level in policy.on_levels or (event.code == "ANOMALY" and policy.on_anomaly):
            self._trigger("anomaly" if event.code == "ANOMALY" else event.level.lower(), event.code, event.timestamp_ns)

    def _task(self, task: TaskReading) -> None:
        ts = datetime.fromtimestamp(task.timestamp_ns / NS, tz=timezone.utc)
        fields = {k: v for k, v in task.values.items() if k in TaskEvent.model_fields}

        def build(seq: int) -> TaskEvent:
            return TaskEvent(
                tenant_id=self.config.tenant_id,
                robot_id=self.config.robot_id,
                ts=ts,
                seq=seq,
                task_id=task.task_id,
                type=task.type,
                **fields,
            )

        self._queue([("tasks", build)])
        if task.type in ("completed", "failed"):
            self.recorder.task_ended(task.timestamp_ns)
        efficiency, floor = task.values.get("efficiency"), self.remote.recorder.min_task_efficiency
        if isinstance(efficiency, int | float) and floor is not None and efficiency < floor:
            self._trigger("efficiency", "LOW_EFFICIENCY", task.timestamp_ns)

    def _trigger(self, reason: str, code: str, at_ns: int, **window: Any) -> Trigger | None:
        if not self.remote.recorder.enabled:
            return None
        self.counts["triggers"] += 1
        return self.recorder.trigger(reason, code, at_ns, **window)

    def _bag_ready(self, path: Path, trigger: Trigger) -> None:
        self.uploads.enqueue(path, trigger.label)

    # -- commands and remote config ----------------------------------------------------------------

    def _on_down_message(self, channel: str, payload: bytes) -> None:
        self.inbox.put((channel, payload))

    def _control(self, channel: str, payload: bytes) -> None:
        if channel == "config":
            self.apply_remote_config(payload)
        else:
            self.run_command(payload)

    def _stored_remote(self) -> RemoteConfig | None:
        stored = self.spool.get_state("remote_config")
        if stored is None:
            return None
        try:
            return RemoteConfig.model_validate_json(stored)
        except ValidationError:
            return None

    def apply_remote_config(self, payload: bytes) -> bool:
        """Validate and apply a config from the platform; a bad one is refused and reported, the last good one stays."""
        if not payload:
            return False  # a cleared retained message: keep what runs
        try:
            candidate = RemoteConfig.model_validate_json(payload)
        except ValidationError as err:
            self.config_error = f"remote config refused: {describe(err)}"
            logger.error("%s; keeping version %s", self.config_error, self.remote.version)
            self._event(EventReading(time.time_ns(), "WARNING", "CONFIG_REJECTED", self.config_error[:2000]))
            return False
        if candidate.version <= self.remote.version and self.spool.get_state("remote_config") is not None:
            return False
        self.remote = candidate
        self.config_error = None
        self.spool.set_state("remote_config", candidate.model_dump_json())
        logging.getLogger("edge").setLevel(candidate.log_level)
        logger.info("remote config version %s applied", candidate.version)
        return True

    def _ack(self, command_id: str, status: str, detail: str = "", result: dict[str, Any] | None = None) -> None:
        def build(_seq: int) -> CommandAck:
            return CommandAck(
                tenant_id=self.config.tenant_id,
                robot_id=self.config.robot_id,
                ts=datetime.now(timezone.utc),
                command_id=command_id,
                status=status,
                detail=detail[:2000],
                result=result or {},
            )

        self._queue([("ack", build)])

    def run_command(self, payload: bytes) -> None:
        """Carry out one command once (a redelivered one is acknowledged again, not run again)."""
        try:
            command = AgentCommand.model_validate_json(payload)
        except ValidationError as err:
            command_id = _command_id(payload)
            logger.error("command refused: %s", describe(err))
            if command_id:
                self._ack(command_id, "rejected", describe(err))
            return
        done = json.loads(self.spool.get_state("commands_done") or "[]")
        if command.command_id in done:
            self._ack(command.command_id, "succeeded", "already carried out")
            return
        if command.expires_at is not None and command.expires_at < datetime.now(timezone.utc):
            self._ack(command.command_id, "rejected", f"expired at {command.expires_at.isoformat()}")
            return
        self._ack(command.command_id, "accepted")
        if command.type == "update":
            self._update(command)
            return
        try:
            result = self._carry_out(command)
        except Exception as err:
            logger.exception("command %s failed", command.type)
            self._ack(command.command_id, "failed", f"{type(err).__name__}: {err}")
            return
        self.spool.set_state("commands_done", json.dumps([*done, command.command_id][-200:]))
        self._ack(command.command_id, "succeeded", result=result)
        if command.type == "restart":
            self.restart_requested = True
            self.stop_event.set()

    def _update(self, command: AgentCommand) -> None:
        """Install a release and restart into it; its first heartbeat (or a rollback) answers the command."""
        import httpx

        from edge.updates import UpdateError

        update = AgentUpdate.model_validate(command.args)
        try:
            response = httpx.get(update.url, timeout=120.0, follow_redirects=True)
            response.raise_for_status()
            self.updates.install(update, command.command_id, response.content)
        except (httpx.HTTPError, UpdateError) as err:
            logger.error("update to %s refused: %s", update.version, err)
            self._ack(command.command_id, "failed", str(err))
            return
        done = json.loads(self.spool.get_state("commands_done") or "[]")
        self.spool.set_state("commands_done", json.dumps([*done, command.command_id][-200:]))
        self.restart_requested = True
        self.stop_event.set()

    def _carry_out(self, command: AgentCommand) -> dict[str, Any]:
        now = self._clock_ns() or time.time_ns()
        if command.type == "record":
            if command.args.get("until_task_end"):
                trigger = self.recorder.trigger("command", "OPERATOR", now, before_s=0, until_task_end=True)
            else:
                trigger = self.recorder.trigger(
                    "command", "OPERATOR", now, before_s=0, after_s=float(command.args["minutes"]) * 60
                )
            return {"trigger_id": trigger.trigger_id}
        if command.type == "upload_logs":
            path = self._collect_logs(int(command.args.get("lines", 2000)))
            self.uploads.enqueue(path, "command:upload_logs")
            return {"file": path.name}
        if command.type == "reload_config":
            if self.config_path is None:
                raise RuntimeError("the agent was not started from a config file")
            from edge.config import load_config

            reloaded = load_config(self.config_path)
            self.config = reloaded
            self.mapper = TopicMapper(reloaded.topics)
            return {"topics": len(reloaded.topics)}
        return {}

    def _collect_logs(self, lines: int) -> Path:
        from edge.config import LogSource

        paths = [*self.config.log_files_for_upload]
        paths += [p for s in self.config.sources if isinstance(s, LogSource) for p in s.paths]
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")
        target = self.recorder.bags_dir.parent / "logs" / f"logs_{stamp}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w") as out:
            for path in paths:
                out.write(f"==> {path} <==\n")
                try:
                    out.writelines(Path(path).read_text(errors="replace").splitlines(keepends=True)[-lines:])
                except OSError as err:
                    out.write(f"(unreadable: {err.strerror})\n")
        return target

    # -- health --------------------------------------------------------------------------------------

    def _upload_rate(self) -> float:
        working = self.sampler.status in ("cleaning", "moving")
        return self.remote.upload_kbit_s_working if working else self.remote.upload_kbit_s

    def heartbeat(self) -> AgentHeartbeat:
        stats = self.spool.stats()
        memory = self._process.memory_info()
        return AgentHeartbeat(
            tenant_id=self.config.tenant_id,
            robot_id=self.config.robot_id,
            ts=datetime.now(timezone.utc),
            agent_version=__version__,
            started_at=self.started_at,
            cpu_percent=self._process.cpu_percent(),
            rss_mb=memory.rss / 1e6,
            disk_free_mb=shutil.disk_usage(self.config.data_dir).free / 1e6,
            queue_messages=stats.messages,
            queue_bytes=stats.bytes,
            dropped=stats.dropped,
            last_upload_at=self.uploads.last_upload_at,
            uploads_pending=len(self.uploads.pending()),
            recorder_bytes=self.recorder.bytes_on_disk,
            config_version=self.remote.version,
            config_error=self.config_error,
            versions={"agent": __version__, "python": sys.version.split()[0]},
        )

    def _heartbeats(self) -> None:
        wait_s = 0.0
        while not self.stop_event.wait(wait_s):
            beat = self.heartbeat()
            sent = self.mqtt is not None and self.mqtt.publish("heartbeat", beat.model_dump_json().encode(), qos=0)
            self.write_status(beat)
            # Until one goes out, every second: the platform learns of a reconnected robot at once.
            wait_s = self.remote.heartbeat_s if sent or self.mqtt is None else 1.0
            if sent:
                self.updates.healthy()
                self._ack_update_outcome()
            elif self.updates.overdue():
                self.updates.rollback("did not report healthy in time")
                self.restart_requested = True
                self.stop_event.set()

    def _ack_update_outcome(self) -> None:
        outcome = self.updates.take_outcome()
        if outcome is not None:
            self._ack(outcome["command_id"], outcome["status"], outcome["detail"])

    def write_status(self, beat: AgentHeartbeat) -> None:
        """``status.json`` in the data directory, for ``fleetray-edge status``."""
        status = {
            "heartbeat": json.loads(beat.model_dump_json()),
            "connected": bool(self.mqtt and self.mqtt.connected.is_set()),
            "broker_error": self.mqtt.last_error if self.mqtt else "",
            "sources": self.source_states,
            "ignored_topics": self.mapper.refused,
            "counts": self.counts,
            "pending_triggers": len(self.recorder.pending),
            "upload_error": self.uploads.last_error,
            "pid": os.getpid(),
        }
        target = self.config.data_dir / "status.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(status, indent=2, default=str))
        os.replace(temporary, target)

    def _interval(self, stream: str) -> float | None:
        rate = self.remote.streams.get(stream)
        return None if rate is None else rate.interval_s


def _command_id(payload: bytes) -> str | None:
    try:
        value = json.loads(payload).get("command_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None
