"""Any run-to-failure file as a training table, by naming its columns in a small spec (YAML or Python).

Example, NASA's C-MAPSS turbofan set as published (whitespace-separated, no header)::

    source: train_FD001.txt
    columns: [unit, cycle, setting1, setting2, setting3, s1, s2, ..., s21]
    separator: '\\s+'
    unit: unit
    time: cycle
    time_unit: cycle
    sensors: [s2, s3, s4, s7, s8, s9, s11, s12, s13, s14, s15, s17, s20, s21]
    conditions: [setting1, setting2]
    labels: {end_of_life: true, component: engine}
    rul_cap: 125
    horizon: 30
    half_lives: [5, 20]

Failures can instead come as a column naming the failed component, or a separate file of
``unit, component, time`` rows (with an optional file of renewals without failure). Where several
components fail, ``informs`` says which sensors speak of which (a component's model then learns from
those only; sensors not named inform every component), and ``counters`` names sensors that only count
up (hours of use), which anomaly detectors leave out::

    informs: {brush_current: [brush], pump_flow: [pump]}
    counters: [hours]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleetray.errors import DataSpecError, TrainingDataError
from fleetray.features.featureset import FeatureSet, SignalFeature
from fleetray.features.windows import STATISTICS, window_summary
from fleetray.learning.table import Events, LabelPolicy, TrainingTable, assemble_table


class EventFile(BaseModel):
    """A file of events: which unit's component, and when."""

    model_config = ConfigDict(extra="forbid")

    source: str
    unit: str
    time: str
    component: str | None = None
    separator: str = ","


class LabelSpec(BaseModel):
    """Where failures come from: exactly one of ``end_of_life``, ``failure_column`` and ``failures``."""

    model_config = ConfigDict(extra="forbid")

    end_of_life: bool = False
    failure_column: str | None = None
    failures: EventFile | None = None
    renewals: EventFile | None = None
    component: str = "unit"

    @model_validator(mode="after")
    def _one_source(self) -> LabelSpec:
        chosen = [self.end_of_life, self.failure_column is not None, self.failures is not None]
        if sum(chosen) != 1:
            raise ValueError("labels need exactly one of end_of_life: true, failure_column or failures")
        return self


class DataSpec(BaseModel):
    """Names the columns of a run-to-failure table; see the module's docstring for an example."""

    model_config = ConfigDict(extra="forbid")

    source: str
    columns: list[str] | None = None
    separator: str = ","
    unit: str
    time: str
    time_unit: str = "step"
    sensors: list[str] = Field(min_length=1)
    conditions: list[str] = Field(default_factory=list)
    labels: LabelSpec
    horizon: float = Field(gt=0)
    rul_cap: float = Field(gt=0)
    window: float | None = Field(default=None, gt=0)
    statistic: str = "mean"
    half_lives: list[float] = Field(default_factory=lambda: [5.0, 20.0])
    sample_every: float | None = Field(default=None, gt=0)
    drop_constant: bool = False
    informs: dict[str, list[str]] = Field(default_factory=dict)
    counters: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _statistic(self) -> DataSpec:
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic {self.statistic!r} is not one of {', '.join(STATISTICS)}")
        return self

    @model_validator(mode="after")
    def _known_sensors(self) -> DataSpec:
        for option, named in (("informs", list(self.informs)), ("counters", self.counters)):
            unknown = [name for name in named if name not in self.sensors]
            if unknown:
                raise ValueError(f"{option} names {', '.join(map(repr, unknown))}, not among the sensors")
        return self


def load_spec(path: str | Path, **overrides: Any) -> DataSpec:
    """A spec from a YAML file; relative ``source`` paths are taken from the file's folder.

    Raises:
        DataSpecError: the file is missing, not YAML, or names an unknown option or a bad value.
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise DataSpecError(f"cannot read the data spec {str(path)!r}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise DataSpecError(f"the data spec {str(path)!r} is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise DataSpecError(f"the data spec {str(path)!r} must be a mapping of options, got {type(raw).__name__}")
    raw.update(overrides)
    spec = parse_spec(raw)
    for holder in (spec, spec.labels.failures, spec.labels.renewals):
        if holder is not None and "://" not in holder.source and not Path(holder.source).is_absolute():
            holder.source = str(path.parent / holder.source)
    return spec


def parse_spec(raw: dict[str, Any]) -> DataSpec:
    """A spec from a mapping, with errors that name the option."""
    try:
        return DataSpec.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}" for e in err.errors())
        raise DataSpecError(f"bad data spec: {problems}") from err


def read_frame(source: str, *, columns: list[str] | None = None, separator: str = ","):
    """A CSV or Parquet file (path or URL pyarrow reads) as a pandas DataFrame."""
    import pandas as pd

    suffix = source.lower().rsplit(".", 1)[-1]
    try:
        if suffix in {"parquet", "pq"}:
            frame = pd.read_parquet(source)
        else:
            header = None if columns else "infer"
            frame = pd.read_csv(source, sep=separator, header=header, engine="python" if len(separator) > 1 else "c")
    except FileNotFoundError as err:
        raise DataSpecError(f"the data file {source!r} does not exist") from err
    except (ValueError, OSError) as err:
        raise DataSpecError(
            f"cannot read {source!r} as {'Parquet' if suffix in {'parquet', 'pq'} else 'CSV'}: {err}"
        ) from err
    if columns:
        if len(columns) != frame.shape[1]:
            raise DataSpecError(
                f"the spec names {len(columns)} columns but {source!r} has {frame.shape[1]}: list one name per column"
            )
        frame.columns = columns
    return frame


def _require(frame, names: list[str], what: str, source: str) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        available = ", ".join(map(str, frame.columns[:40]))
        raise DataSpecError(f"{what} {', '.join(map(repr, missing))} not in {source!r}; its columns: {available}")


def feature_set_of(spec: DataSpec, sensors: list[str] | None = None) -> FeatureSet:
    """The feature set a spec defines: each sensor's window statistic, smoothed over the half-lives."""
    return FeatureSet(
        name=Path(spec.source).stem,
        signals=tuple(
            SignalFeature(
                signal=s,
                statistic=spec.statistic,
                informs=tuple(spec.informs.get(s, ())),
                cumulative=s in spec.counters,
            )
            for s in (sensors or spec.sensors)
        ),
        half_lives=tuple(spec.half_lives),
        conditions=tuple(spec.conditions),
    )


def load_training_table(spec: DataSpec | str | Path) -> TrainingTable:
    """The training table a spec describes: read, checked, windowed, featured and labelled.

    Raises:
        DataSpecError: a named column or file is missing.
        TrainingDataError: the data cannot train (no failures; a sensor empty or constant; times missing).
    """
    if not isinstance(spec, DataSpec):
        spec = load_spec(spec)
    frame = read_frame(spec.source, columns=spec.columns, separator=spec.separator)
    label_column = [spec.labels.failure_column] if spec.labels.failure_column else []
    _require(frame, [spec.unit, spec.time], "unit/time column", spec.source)
    _require(frame, spec.sensors, "sensor column", spec.source)
    _require(frame, spec.conditions, "condition column", spec.source)
    _require(frame, label_column, "failure column", spec.source)
    sensors = _usable_sensors(frame, spec)
    if frame[spec.unit].isna().any():
        raise TrainingDataError(f"{int(frame[spec.unit].isna().sum())} rows have no unit ({spec.unit!r} is empty)")
    times = _numeric_time(frame[spec.time], spec.time)
    units = frame[spec.unit].astype(str).to_numpy()
    values = frame[sensors].to_numpy(dtype=np.float64)
    if spec.window is not None:
        units, times, values, kept = _windows(units, times, values, spec.window, spec.statistic)
        frame = frame.iloc[kept]
    conditions = {name: frame[name].to_numpy() for name in spec.conditions}
    failures, renewals = _events(spec, frame, units, times)
    component_names = sorted(set(failures.component.tolist())) or [spec.labels.component]
    table = assemble_table(
        feature_set_of(spec, sensors),
        units,
        times,
        values,
        conditions=conditions,
        components=component_names,
        failures=failures,
        renewals=renewals,
        policy=LabelPolicy(
            horizon=spec.horizon,
            rul_cap=spec.rul_cap,
            sample_every=spec.sample_every,
            repairs_recorded=spec.labels.renewals is not None,
        ),
        time_unit=spec.time_unit,
    )
    table.meta["source"] = spec.source
    return table


def _usable_sensors(frame, spec: DataSpec) -> list[str]:
    usable = []
    for name in spec.sensors:
        column = frame[name]
        if column.dtype.kind not in "biuf":
            raise TrainingDataError(f"sensor {name!r} is not numeric (its values look like {column.iloc[0]!r})")
        finite = np.isfinite(column.to_numpy(dtype=np.float64))
        if not finite.any():
            raise TrainingDataError(f"sensor {name!r} has no values: every row is NaN or infinite")
        if np.isinf(column.to_numpy(dtype=np.float64)).any():
            raise TrainingDataError(f"sensor {name!r} holds infinite values; replace them with NaN or leave it out")
        if column[finite].nunique() == 1:
            if spec.drop_constant:
                continue
            raise TrainingDataError(
                f"sensor {name!r} is constant ({column[finite].iloc[0]!r} in every row): it carries no "
                "information; leave it out of `sensors` or set `drop_constant: true`"
            )
        usable.append(name)
    if not usable:
        raise TrainingDataError("every sensor is constant: nothing to learn from")
    return usable


def _numeric_time(column, name: str) -> np.ndarray:
    import pandas as pd

    if column.dtype.kind in "biuf":
        return column.to_numpy(dtype=np.float64)
    parsed = pd.to_datetime(column, utc=True, errors="coerce")
    if parsed.isna().any():
        raise TrainingDataError(f"time column {name!r} is neither numeric nor a timestamp in every row")
    return parsed.astype("int64").to_numpy() / 60e9  # minutes since the epoch


def _windows(units: np.ndarray, times: np.ndarray, values: np.ndarray, window: float, statistic: str):
    """Rows aggregated per unit into windows of ``window`` time units with ``window_summary``."""
    slot = np.floor(times / window)
    order = np.lexsort((times, slot, units))
    units, times, values, slot = units[order], times[order], values[order], slot[order]
    starts = np.flatnonzero(np.r_[True, (units[1:] != units[:-1]) | (slot[1:] != slot[:-1])])
    ends = np.r_[starts[1:], len(units)]
    out = np.empty((len(starts), values.shape[1]))
    for k, (first, last) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        out[k] = window_summary(times[first:last], values[first:last])[statistic]
    # A window stands at its end, when its statistics are known.
    return units[starts], (slot[starts] + 1) * window, out, order[ends - 1]


def _events(spec: DataSpec, frame, units: np.ndarray, times: np.ndarray) -> tuple[Events, Events]:
    labels = spec.labels
    if labels.end_of_life:
        ends: dict[str, float] = {}
        for unit, t in zip(units.tolist(), times.tolist(), strict=True):
            ends[unit] = max(t, ends.get(unit, t))
        names = np.array(list(ends), dtype=object)
        failures = Events(names, np.full(len(names), labels.component, dtype=object), np.array(list(ends.values())))
        return failures, Events.empty()
    if labels.failure_column is not None:
        named = frame[labels.failure_column]
        failed = (named.notna() & (named.astype(str) != "")).to_numpy()
        column = named.to_numpy()
        if not failed.any():
            raise TrainingDataError(f"failure column {labels.failure_column!r} names no failure in any row")
        failures = Events(units[failed], column[failed].astype(str).astype(object), times[failed])
        return failures, Events.empty()
    assert labels.failures is not None  # the validator allows no other case
    failures = _event_file(labels.failures, labels.component, "failures")
    renewals = _event_file(labels.renewals, labels.component, "renewals") if labels.renewals else Events.empty()
    return failures, renewals


def _event_file(spec: EventFile, default_component: str, what: str) -> Events:
    frame = read_frame(spec.source, separator=spec.separator)
    _require(frame, [c for c in (spec.unit, spec.time, spec.component) if c], f"{what} column", spec.source)
    if not len(frame):
        raise TrainingDataError(f"the {what} file {spec.source!r} has no rows")
    components = (
        frame[spec.component].astype(str).to_numpy(dtype=object)
        if spec.component
        else np.full(len(frame), default_component, dtype=object)
    )
    return Events(
        frame[spec.unit].astype(str).to_numpy(dtype=object), components, _numeric_time(frame[spec.time], spec.time)
    )
