"""One shard's live state of its robots, as plain Python (the Ray actor wraps it)."""

from __future__ import annotations

import operator
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from math import isnan
from typing import Any

from actors.alerts import AlertChange, AlertPolicy, AlertTracker
from actors.intake import Intake
from actors.live_features import LiveFeatures
from fleetray.features import MinuteAggregator
from fleetray.features.online import ClosedMinute, summarise_minutes
from fleetray.features.score_book import RobotScores, ScoreBook
from fleetray.features.signals import telemetry_signal_row
from fleetray.schemas import EventLevel
from fleetray.wire import TELEMETRY, TelemetryStruct, dump

RING_SIZE = 300  # five minutes at 1 Hz
_ARRIVAL_ORDER = operator.attrgetter("robot_id", "tenant_id", "seq")
MINUTE_GRACE_S = (5.0, 30.0)


@dataclass(frozen=True)
class RobotInfo:
    """What the registry knows of a robot, to enrich its state."""

    tenant_id: str
    robot_id: str
    site_id: str | None
    manufacturer: str
    model: str
    current_limits: dict[str, float] = field(default_factory=dict)


def minute_grace_s(robot_id: str) -> float:
    """How long after a minute ends the robot's minute closes: 5 to 30 s, fixed per robot.

    Samples up to 5 s late always count in their minute; spreading the rest over 25 s keeps a
    shard from writing every robot's minute aggregates in the same second.
    """
    return MINUTE_GRACE_S[0] + (MINUTE_GRACE_S[1] - MINUTE_GRACE_S[0]) * (zlib.crc32(robot_id.encode()) / 2**32)


def sample_view(sample: TelemetryStruct) -> dict[str, Any]:
    """A sample as the state queries return it: JSON-able, without what the robot's record already says."""
    view = dump(sample)
    for name in ("v", "tenant_id", "robot_id"):
        del view[name]
    return view


@dataclass(slots=True)
class RobotState:
    """Everything a shard keeps about one robot."""

    info: RobotInfo
    alerts: AlertTracker
    # Recent samples as the JSON documents they arrived as: bytes cost a fifth of the memory of
    # model objects and are invisible to the garbage collector (10,000 robots x 300 samples).
    ring: deque[bytes] = field(default_factory=lambda: deque(maxlen=RING_SIZE))
    # The current minute and the four before it: enough for the five-minute window.
    minute: MinuteAggregator = field(default_factory=lambda: MinuteAggregator(keep=4))
    scores: RobotScores = field(default_factory=RobotScores)  # its signals' slots in the shard's ScoreBook
    highest_seq: int = -1
    last_seen: datetime | None = None
    task_id: str | None = None
    task_status: str | None = None

    @property
    def latest(self) -> TelemetryStruct | None:
        """The newest sample applied, decoded again from the ring when asked for.

        Holding it decoded meant freeing the one before with every sample, a second after it was made and
        long gone from the CPU's caches; now a batch's samples are freed with the batch, still warm.
        """
        return TELEMETRY.decode(self.ring[-1]) if self.ring else None

    def update(self, latest: TelemetryStruct | None = None) -> dict[str, Any]:
        """A compact live update (what the WebSocket feed sends on each new sample); ``latest`` if the caller holds
        it decoded already."""
        latest = latest or self.latest
        return {
            "tenant_id": self.info.tenant_id,
            "robot_id": self.info.robot_id,
            "site_id": self.info.site_id,
            "status": latest.status.value if latest else None,
            "seq": self.highest_seq,
            "at": latest.ts.isoformat() if latest else None,
            "battery_soc": latest.battery.soc if latest and latest.battery else None,
            "pose": dump(latest.pose) if latest and latest.pose else None,
            "task_id": latest.task_id if latest else None,
            "alerts": sorted(self.alerts.active),
        }

    def summary(self, latest: TelemetryStruct | None = None) -> dict[str, Any]:
        """The robot's state as JSON-able data (what the API serves); ``latest`` if the caller decoded it already."""
        latest = latest or self.latest
        return {
            "tenant_id": self.info.tenant_id,
            "robot_id": self.info.robot_id,
            "site_id": self.info.site_id,
            "manufacturer": self.info.manufacturer,
            "model": self.info.model,
            "status": latest.status.value if latest else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "seq": self.highest_seq if self.highest_seq >= 0 else None,
            "latest": sample_view(latest) if latest else None,
            "task": {"task_id": self.task_id, "status": self.task_status} if self.task_id else None,
            "alerts": sorted(self.alerts.active),
        }


@dataclass
class ApplyResult:
    """What applying a batch changed."""

    alerts: list[AlertChange] = field(default_factory=list)
    closed_minutes: list[tuple] = field(default_factory=list)
    newer: int = 0


class ShardState:
    """The live state of the robots one shard owns.

    Args:
        policy_for: the alert thresholds for a (tenant, model).
    """

    def __init__(self, policy_for: Any = None) -> None:
        self._policy_for = policy_for or (lambda tenant_id, model: AlertPolicy())
        self.robots: dict[tuple[str, str], RobotState] = {}
        self.features = LiveFeatures()
        self.baselines = ScoreBook()

    def register(self, robots: Iterable[RobotInfo]) -> None:
        """Add (or refresh the metadata of) robots this shard owns."""
        for info in robots:
            key = (info.tenant_id, info.robot_id)
            state = self.robots.get(key)
            if state is None:
                policy = self._policy_for(info.tenant_id, info.model)
                tracker = AlertTracker(info.tenant_id, info.robot_id, policy, dict(info.current_limits))
                minute = MinuteAggregator(keep=4, grace_s=minute_grace_s(info.robot_id))
                self.robots[key] = RobotState(info, tracker, minute=minute)
            else:
                state.info = info
                state.alerts.current_limits = dict(info.current_limits)

    def set_policies(self, policy_for: Any) -> None:
        """New alert thresholds, for the robots held and those registered later (active alerts stay active)."""
        self._policy_for = policy_for
        for state in self.robots.values():
            state.alerts.policy = policy_for(state.info.tenant_id, state.info.model)

    def apply(self, intake: Intake) -> ApplyResult:
        """Fold a validated batch into the state; return alert changes and closed minutes."""
        result = ApplyResult()
        for event in intake.events:  # counted before the samples close the minutes they belong to
            if event.level == EventLevel.WARNING:
                self.features.on_warning((event.tenant_id, event.robot_id), event.component, event.ts)
        telemetry, documents = intake.telemetry, intake.documents
        # A robot's samples one after another, in the order of their seq: indices sorted by keys made in C, with
        # no Python call per sample.
        order = sorted(range(len(telemetry)), key=list(map(_ARRIVAL_ORDER, telemetry)).__getitem__)
        robots, baselines = self.robots, self.baselines
        applied: list[tuple[RobotState, TelemetryStruct, tuple[str, ...], list[float], tuple[str, ...]]] = []
        # The batch's scored values, scored together once every sample is in: slot, value, and which of the
        # robot's scored samples in this batch it comes from (its samples are adjacent in ``order``).
        slots: list[int] = []
        values: list[float] = []
        rounds: list[int] = []
        previous, earlier = None, 0
        for index in order:
            sample = telemetry[index]
            key = (sample.tenant_id, sample.robot_id)
            state = robots[key]
            seq = sample.seq
            if seq <= state.highest_seq:
                continue  # a redelivery or a late sample: stored, but the live state has moved on
            state.highest_seq = seq
            ts, last_seen = sample.ts, state.last_seen
            if last_seen is None or ts > last_seen:
                state.last_seen = ts
            state.ring.append(documents[index])
            names, signal_values = telemetry_signal_row(sample)
            scored, robot_slots, pick = state.scores.scored(baselines, sample.status, names)
            if scored:
                earlier = earlier + 1 if key == previous else 0
                previous = key
                slots += robot_slots
                values += pick(signal_values)
                rounds += [earlier] * len(scored)
            applied.append((state, sample, names, signal_values, scored))
        result.newer = len(applied)
        scores = baselines.score(slots, values, rounds)
        closed: list[tuple[RobotState, ClosedMinute]] = []
        position = 0
        for state, sample, names, signal_values, scored in applied:
            end = position + len(scored)
            sample_scores = scores[position:end]
            position = end
            for minute in state.minute.append(sample.ts, names, signal_values, scored, sample_scores):
                closed.append((state, minute))
            alerts = state.alerts
            if alerts.active:  # only an active alert (offline) can be cleared by hearing from the robot
                result.alerts += alerts.on_heard(sample.ts)
            changes = alerts.on_telemetry(sample, scored, sample_scores)
            if changes:
                result.alerts += changes
        if closed:
            self._close_minutes(closed, result)
        for event in intake.events:
            state = self.robots[(event.tenant_id, event.robot_id)]
            result.alerts += state.alerts.on_heard(event.ts)
            result.alerts += state.alerts.on_event(event)
        for task in intake.task_events:
            state = self.robots[(task.tenant_id, task.robot_id)]
            state.task_id, state.task_status = task.task_id, task.type.value
        return result

    def _close_minutes(self, closed: list[tuple[RobotState, ClosedMinute]], result: ApplyResult) -> None:
        """The batch's closed minutes: summarised together, folded into the features, rows to store."""
        summarise_minutes([minute for _, minute in closed])
        self.features.on_minutes(
            [((s.info.tenant_id, s.info.robot_id), minute.start, minute.aggregates) for s, minute in closed]
        )
        for state, minute in closed:
            tenant_id, robot_id, bucket = state.info.tenant_id, state.info.robot_id, minute.start
            result.closed_minutes += [
                (
                    tenant_id,
                    robot_id,
                    bucket,
                    name,
                    a.n,
                    a.mean,
                    a.low,
                    a.high,
                    a.last,
                    a.std,
                    a.p05,
                    a.p50,
                    a.p95,
                    a.slope_per_s,
                    a.rate_hz,
                    None if isnan(a.anomaly) else a.anomaly,
                )
                for name, a in minute.aggregates.items()
            ]

    def heard(self, tenant_id: str, robot_id: str, at: datetime) -> list[AlertChange]:
        """A heartbeat: the robot is alive."""
        state = self.robots[(tenant_id, robot_id)]
        state.last_seen = at if state.last_seen is None else max(state.last_seen, at)
        return state.alerts.on_heard(at)

    def tick(self, now: datetime) -> list[AlertChange]:
        """Rules that fire on silence (offline robots, error bursts dying down)."""
        changes: list[AlertChange] = []
        for state in self.robots.values():
            changes += state.alerts.on_tick(now, state.last_seen)
        return changes

    def restore_alerts(self, active: Iterable[tuple[str, str, str, datetime]]) -> None:
        """Mark alerts stored as active as active again (after a restart)."""
        for tenant_id, robot_id, rule, raised_at in active:
            state = self.robots.get((tenant_id, robot_id))
            if state is not None:
                state.alerts.active[rule] = raised_at

    def robot(self, tenant_id: str, robot_id: str) -> dict[str, Any] | None:
        """One robot's state, or None if this shard does not own it."""
        state = self.robots.get((tenant_id, robot_id))
        return state.summary() if state else None

    def query(
        self,
        tenant_id: str,
        *,
        robot_ids: Iterable[str] | None = None,
        site_id: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """The tenant's robots on this shard, filtered by ids, site and status."""
        wanted = set(robot_ids) if robot_ids is not None else None
        found = []
        for (tenant, robot_id), state in self.robots.items():
            if tenant != tenant_id or (wanted is not None and robot_id not in wanted):
                continue
            if site_id is not None and state.info.site_id != site_id:
                continue
            latest = state.latest
            if status is not None and (latest is None or latest.status.value != status):
                continue
            found.append(state.summary(latest))
        return sorted(found, key=lambda s: s["robot_id"])

    def recent(self, tenant_id: str, robot_id: str, limit: int = RING_SIZE) -> list[dict[str, Any]] | None:
        """The robot's last ``limit`` samples (oldest first), or None if this shard does not own it."""
        state = self.robots.get((tenant_id, robot_id))
        if state is None:
            return None
        documents = list(state.ring)[-limit:] if limit > 0 else []
        return [sample_view(TELEMETRY.decode(document)) for document in documents]

    def windows(self, tenant_id: str, robot_id: str) -> dict[str, Any] | None:
        """The robot's current minute, last closed minute and last five minutes (minute-aligned) aggregates."""
        state = self.robots.get((tenant_id, robot_id))
        if state is None:
            return None
        baselines = {name: self.baselines.baseline(slot) for name, slot in state.scores.slots.items()}
        return {
            "minute": {name: a.as_dict() for name, a in state.minute.current.items()},
            "previous_minute": {name: a.as_dict() for name, a in state.minute.previous.items()},
            "five_minutes": {name: a.as_dict() for name, a in state.minute.window(5).items()},
            "anomaly_baselines": {
                name: {"mean": baseline.mean, "var": baseline.var, "n": baseline.n}
                for name, baseline in baselines.items()
            },
        }

    def feature_rows(self, tenant_id: str, robot_ids: Iterable[str] | None = None) -> dict[str, Any]:
        """Model features of the tenant's robots on this shard (all, or those of ``robot_ids`` it holds).

        Returns ``robot_ids``, their ``models`` (``manufacturer/model``), the ``features`` matrix and the
        ``feature_version`` it was computed with.
        """
        if robot_ids is None:
            keys = sorted(key for key in self.robots if key[0] == tenant_id)
        else:  # a few robots of a large fleet: looked up, not searched for
            keys = sorted({(tenant_id, r) for r in robot_ids} & self.robots.keys())
        infos = [self.robots[key].info for key in keys]
        return {
            "robot_ids": [key[1] for key in keys],
            "models": [f"{info.manufacturer}/{info.model}" for info in infos],
            "features": self.features.matrix(keys),
            "feature_version": self.features.feature_set.version,
        }
