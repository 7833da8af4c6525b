"""Columnar simulator output, and its conversions to messages, database rows and Arrow tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from fleetray.schemas import Telemetry
from fleetray.sim.catalog import COMPONENT_NAMES

STATUS_NAMES = ("idle", "cleaning", "charging", "docked", "moving", "error")
METRIC_NAMES = ("wheel_vibration_g", "filter_dp_pa", "battery_cycles", "battery_health")
SYSTEM_FIELDS = ("cpu", "mem", "disk", "net")
COMPONENT_FIELDS = ("current_a", "temp_c", "rpm", "usage_h")
_MOTOR_FIELDS = '"current_a":%.3f,"temp_c":%.2f,"rpm":%.1f,"usage_h":%.4f'
_PASSIVE_FIELDS = '"usage_h":%.4f'


@dataclass
class TelemetryColumns:
    """Telemetry rows as arrays: ``robot`` indexes ``robot_ids``; ``ts`` is epoch seconds (UTC).

    Component arrays are ``(rows, len(COMPONENT_NAMES))``; a robot's model decides which of them it
    has (``has_component``). Values are rounded when converted, not here.
    """

    tenant_id: str
    robot_ids: list[str]
    has_component: np.ndarray
    robot: np.ndarray
    ts: np.ndarray
    seq: np.ndarray
    status: np.ndarray
    x: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    linear: np.ndarray
    angular: np.ndarray
    soc: np.ndarray
    voltage: np.ndarray
    current: np.ndarray
    battery_temp: np.ndarray
    charging: np.ndarray
    component_current: np.ndarray
    component_temp: np.ndarray
    component_rpm: np.ndarray
    component_usage: np.ndarray
    metrics: np.ndarray
    system: np.ndarray

    def __len__(self) -> int:
        return len(self.robot)

    def _components_json(self) -> list[str]:
        """Each row's components as a JSON object: one format string per robot model, rows grouped."""
        values = np.stack(
            [self.component_current, self.component_temp, self.component_rpm, self.component_usage], axis=2
        )
        out: list[str] = [""] * len(self)
        masks = self.has_component[self.robot]
        groups, group_of_row = np.unique(masks, axis=0, return_inverse=True)
        for g, mask in enumerate(groups):
            rows = np.flatnonzero(group_of_row.reshape(-1) == g)
            parts, columns = [], []
            for j in np.flatnonzero(mask):
                passive = COMPONENT_NAMES[j] == "filter"
                fields = _PASSIVE_FIELDS if passive else _MOTOR_FIELDS
                parts.append(f'"{COMPONENT_NAMES[j]}":{{{fields}}}')
                columns.extend((j, k) for k in range(4 - (1 if passive else 4), 4))
            template = "{" + ",".join(parts) + "}"
            matrix = np.stack([values[rows, j, k] for j, k in columns], axis=1)
            for row, filled in zip(rows.tolist(), matrix.tolist(), strict=True):
                out[row] = template % tuple(filled)
        return out

    def to_rows(self) -> list[tuple]:
        """Rows in ``fleetray.storage.telemetry.TELEMETRY_COLUMNS`` order, for COPY."""
        components = self._components_json()
        ids, tenant = self.robot_ids, self.tenant_id
        # printf-style templates: several times faster than json.dumps for millions of rows.
        metrics_template = '{"wheel_vibration_g":%.4f,"filter_dp_pa":%.1f,"battery_cycles":%.3f,"battery_health":%.4f}'
        system_template = '{"cpu":%.1f,"mem":%.1f,"disk":%.2f,"net":%.0f}'
        metrics = [metrics_template % tuple(m) for m in self.metrics.tolist()]
        system = [system_template % tuple(s) for s in self.system.tolist()]
        stamps = {ts: datetime.fromtimestamp(ts, UTC) for ts in np.unique(self.ts).tolist()}
        times = [stamps[ts] for ts in self.ts.tolist()]
        columns = zip(
            self.robot.tolist(),
            times,
            self.seq.tolist(),
            self.status.tolist(),
            np.round(self.x, 3).tolist(),
            np.round(self.y, 3).tolist(),
            np.round(self.theta, 4).tolist(),
            np.round(self.linear, 3).tolist(),
            np.round(self.angular, 4).tolist(),
            np.round(self.soc, 4).tolist(),
            np.round(self.voltage, 3).tolist(),
            np.round(self.current, 3).tolist(),
            np.round(self.battery_temp, 2).tolist(),
            self.charging.tolist(),
            components,
            system,
            metrics,
            strict=True,
        )
        return [
            (
                tenant,
                ids[r],
                ts,
                seq,
                STATUS_NAMES[st],
                None,
                x,
                y,
                th,
                None,
                lin,
                ang,
                soc,
                volt,
                cur,
                bt,
                ch,
                comp,
                sys_,
                met,
            )
            for r, ts, seq, st, x, y, th, lin, ang, soc, volt, cur, bt, ch, comp, sys_, met in columns
        ]

    def to_messages(self) -> list[Telemetry]:
        """The rows as validated Telemetry messages, as a robot would publish them."""
        import json

        messages = []
        for row in self.to_rows():
            (
                tenant,
                robot,
                ts,
                seq,
                status,
                task,
                x,
                y,
                th,
                map_id,
                lin,
                ang,
                soc,
                volt,
                cur,
                bt,
                ch,
                comp,
                sys_,
                met,
            ) = row
            messages.append(
                Telemetry.model_validate(
                    {
                        "tenant_id": tenant,
                        "robot_id": robot,
                        "ts": ts,
                        "seq": seq,
                        "status": status,
                        "task_id": task,
                        "pose": {"x": x, "y": y, "theta": th, "map_id": map_id},
                        "velocity": {"linear": lin, "angular": ang},
                        "battery": {"soc": soc, "voltage": volt, "current": cur, "temp": bt, "charging": ch},
                        "components": json.loads(comp),
                        "system": json.loads(sys_),
                        "metrics": json.loads(met),
                    }
                )
            )
        return messages

    def to_arrow(self):
        """The rows as an Arrow table of the lake's telemetry schema (``fleetray.lake.TELEMETRY_SCHEMA``)."""
        import pyarrow as pa

        from fleetray.lake import TELEMETRY_SCHEMA

        rows, width = len(self), len(COMPONENT_NAMES)
        mask = self.has_component[self.robot] if rows else np.zeros((0, width), bool)
        row_index, part_index = np.nonzero(mask)
        offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int32)
        is_filter = part_index == COMPONENT_NAMES.index("filter")
        part_fields = [
            pa.array(array[row_index, part_index], mask=is_filter if name != "usage_h" else None)
            for name, array in zip(
                COMPONENT_FIELDS,
                (self.component_current, self.component_temp, self.component_rpm, self.component_usage),
                strict=True,
            )
        ]
        components = pa.MapArray.from_arrays(
            pa.array(offsets),
            pa.array(np.asarray(COMPONENT_NAMES, dtype=object)[part_index].tolist(), pa.string()),
            pa.StructArray.from_arrays(part_fields, names=list(COMPONENT_FIELDS)),
        )
        robot_ids = np.asarray(self.robot_ids, dtype=object)
        metric_keys = pa.array(list(METRIC_NAMES) * rows, pa.string())
        metrics = pa.MapArray.from_arrays(
            pa.array(np.arange(rows + 1, dtype=np.int32) * len(METRIC_NAMES)),
            metric_keys,
            pa.array(self.metrics.reshape(-1)),
        )
        system = pa.StructArray.from_arrays(
            [pa.array(self.system[:, k]) for k in range(len(SYSTEM_FIELDS))], names=list(SYSTEM_FIELDS)
        )
        nothing = pa.nulls(rows, pa.string())
        columns = {
            "tenant_id": pa.array([self.tenant_id] * rows, pa.string()),
            "robot_id": pa.array(robot_ids[self.robot].tolist(), pa.string()),
            "ts": pa.array(self.ts * 1_000_000, pa.timestamp("us", tz="UTC")),
            "seq": pa.array(self.seq),
            "status": pa.array(np.asarray(STATUS_NAMES, dtype=object)[self.status].tolist(), pa.string()),
            "task_id": nothing,
            "x": pa.array(self.x),
            "y": pa.array(self.y),
            "theta": pa.array(self.theta),
            "map_id": nothing,
            "linear_velocity": pa.array(self.linear),
            "angular_velocity": pa.array(self.angular),
            "battery_soc": pa.array(self.soc),
            "battery_voltage": pa.array(self.voltage),
            "battery_current": pa.array(self.current),
            "battery_temp": pa.array(self.battery_temp),
            "charging": pa.array(self.charging),
            "components": components,
            "system": system,
            "metrics": metrics,
        }
        return pa.Table.from_pydict(columns).cast(TELEMETRY_SCHEMA)


@dataclass
class WearSamples:
    """Ground truth: every part's wear (0 new, 1 failing) once a minute. Not observable by robots."""

    tenant_id: str
    robot_ids: list[str]
    robot: np.ndarray
    ts: np.ndarray
    component: np.ndarray
    wear: np.ndarray

    @classmethod
    def from_snapshots(
        cls,
        tenant_id: str,
        robot_ids: list[str],
        has: np.ndarray,
        snapshots: list[tuple[np.ndarray, np.ndarray]],
    ) -> WearSamples:
        """Flatten per-minute ``(ts, wear[robot, part + battery])`` snapshots into rows."""
        present = np.column_stack([has, np.ones(len(has), bool)])
        robots, parts = np.nonzero(present)
        if not snapshots:
            empty = np.zeros(0, np.int64)
            return cls(tenant_id, robot_ids, empty, empty, empty, np.zeros(0))
        ts = np.concatenate([stamp[robots] for stamp, _ in snapshots])
        wear = np.concatenate([values[robots, parts] for _, values in snapshots])
        count = len(snapshots)
        return cls(tenant_id, robot_ids, np.tile(robots, count), ts, np.tile(parts, count), wear)

    def to_arrow(self):
        """The samples as an Arrow table."""
        import pyarrow as pa

        names = np.asarray([*COMPONENT_NAMES, "battery"], dtype=object)
        return pa.table(
            {
                "tenant_id": pa.array([self.tenant_id] * len(self.robot), pa.string()),
                "robot_id": pa.array(np.asarray(self.robot_ids, dtype=object)[self.robot].tolist(), pa.string()),
                "ts": pa.array(self.ts * 1_000_000, pa.timestamp("us", tz="UTC")),
                "component": pa.array(names[self.component].tolist(), pa.string()),
                "wear": pa.array(np.round(self.wear, 5)),
            }
        )


def _minute_series(columns: TelemetryColumns) -> list[tuple[str, np.ndarray]]:
    """Every numeric signal under the metric names the SQL rollup uses; NaN where a robot lacks it."""
    series = [
        ("battery.soc", columns.soc),
        ("battery.voltage", columns.voltage),
        ("battery.current", columns.current),
        ("battery.temp", columns.battery_temp),
        ("velocity.linear", columns.linear),
        ("velocity.angular", columns.angular),
    ]
    has = columns.has_component[columns.robot]
    per_part = dict(
        zip(
            COMPONENT_FIELDS,
            (columns.component_current, columns.component_temp, columns.component_rpm, columns.component_usage),
            strict=True,
        )
    )
    for j, part in enumerate(COMPONENT_NAMES):
        for field_name, values in per_part.items():
            if part == "filter" and field_name != "usage_h":
                continue
            series.append((f"components.{part}.{field_name}", np.where(has[:, j], values[:, j], np.nan)))
    series += [(f"metrics.{name}", columns.metrics[:, k]) for k, name in enumerate(METRIC_NAMES)]
    series += [(f"system.{name}", columns.system[:, k]) for k, name in enumerate(SYSTEM_FIELDS)]
    return series


@dataclass(frozen=True)
class MinuteStatistics:
    """Each robot's per-minute statistics of every signal, as arrays (one entry per robot and minute).

    ``robot`` indexes the columns' ``robot_ids``; ``minute`` is minutes since the epoch (the bucket's
    start); ``signals`` maps a signal's name to its ``n``, ``mean``, ``min``, ``max`` and ``last``,
    NaN (n 0) where the robot lacks it.
    """

    robot: np.ndarray
    minute: np.ndarray
    signals: dict[str, dict[str, np.ndarray]]


def minute_statistics(columns: TelemetryColumns) -> MinuteStatistics:
    """The figures of :func:`minute_aggregates`, as arrays: the same numbers the SQL rollup computes."""
    minute = columns.ts // 60
    if len(columns) == 0:
        return MinuteStatistics(np.zeros(0, np.int32), np.zeros(0, np.int64), {})
    key = columns.robot.astype(np.int64) * (int(minute.max() - minute.min()) + 1) + (minute - minute.min())
    order = np.lexsort((columns.ts, key))
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], len(sorted_key)] - 1
    signals: dict[str, dict[str, np.ndarray]] = {}
    for name, values in _minute_series(columns):
        ordered = values[order]
        valid = ~np.isnan(ordered)
        count = np.add.reduceat(valid.astype(np.int64), starts)
        with np.errstate(invalid="ignore"):
            mean = np.add.reduceat(np.where(valid, ordered, 0.0), starts) / count
        none = count == 0
        signals[name] = {
            "n": count,
            "mean": mean,
            "min": np.where(none, np.nan, np.minimum.reduceat(np.where(valid, ordered, np.inf), starts)),
            "max": np.where(none, np.nan, np.maximum.reduceat(np.where(valid, ordered, -np.inf), starts)),
            "last": ordered[ends],
        }
    return MinuteStatistics(columns.robot[order][starts], minute[order][starts], signals)


def minute_aggregates(columns: TelemetryColumns) -> list[tuple]:
    """Per robot, minute and metric: ``(tenant, robot, bucket, metric, n, mean, min, max, last)``.

    Rows for ``fleetray.storage.telemetry.write_minute_aggregates``; the same figures the SQL
    rollup computes from raw telemetry. Give it whole minutes, or partial minutes are stored.
    """
    statistics = minute_statistics(columns)
    robots = np.asarray(columns.robot_ids, dtype=object)[statistics.robot].tolist()
    buckets = [datetime.fromtimestamp(int(m) * 60, UTC) for m in statistics.minute]
    rows: list[tuple] = []
    for name, figures in statistics.signals.items():
        count, mean, low, high, last = (figures[k] for k in ("n", "mean", "min", "max", "last"))
        for g in np.flatnonzero(count > 0).tolist():
            rows.append(
                (
                    columns.tenant_id,
                    robots[g],
                    buckets[g],
                    name,
                    int(count[g]),
                    float(mean[g]),
                    float(low[g]),
                    float(high[g]),
                    float(last[g]),
                )
            )
    return rows
