from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from fleetray.errors import LakeError
from fleetray.lake import TELEMETRY_SCHEMA, LakeWriter, read_lake, telemetry_table
from fleetray.objectstore import ObjectStore
from fleetray.schemas import Telemetry
from fleetray.storage.telemetry import TELEMETRY_COLUMNS, telemetry_row
from fleetray.wire import TELEMETRY

START = datetime(2026, 11, 27, 23, 59, tzinfo=UTC)


def samples(count: int, tenant_id: str = "t1") -> list[Telemetry]:
    return [
        Telemetry.model_validate(
            {
                "tenant_id": tenant_id,
                "robot_id": f"r{n % 3}",
                "ts": START + timedelta(seconds=n),
                "seq": n,
                "status": "cleaning",
                "pose": {"x": n, "y": 2.0, "theta": 0.5},
                "battery": {"soc": 0.5, "voltage": 25.0, "current": -3.0, "temp": 30.0, "charging": n % 2 == 0},
                "components": {"vacuum": {"current_a": 6.0, "rpm": 17000}, "main_brush": {"temp_c": 40.0 + n}},
                "system": {"cpu": 0.2, "mem": 0.4} if n % 2 else None,
                "metrics": {"wheel_vibration_g": n / 100},
            }
        )
        for n in range(count)
    ]


def test_a_table_carries_every_field_of_the_samples() -> None:
    bare = Telemetry.model_validate({**samples(1)[0].model_dump(), "seq": 9, "components": {}, "metrics": {}})
    messages = [*samples(2), bare, *samples(4)[2:]]
    rows = telemetry_table(messages).to_pylist()
    first, second = rows[0], rows[1]
    assert rows[2]["components"] == [] and rows[2]["metrics"] == []  # empty maps between full ones
    assert dict(rows[3]["components"])["main_brush"]["temp_c"] == 42.0 and dict(rows[3]["metrics"]) == {
        "wheel_vibration_g": 0.02
    }
    picked = ("robot_id", "seq", "x", "battery_soc", "charging")
    assert [first[name] for name in picked] == ["r0", 0, 0, 0.5, True]
    components = dict(first["components"])
    assert components["vacuum"] == {"current_a": 6.0, "temp_c": None, "rpm": 17000.0, "usage_h": None}
    assert components["main_brush"]["temp_c"] == 40.0
    assert first["system"] is None and second["system"] == {"cpu": 0.2, "mem": 0.4, "disk": None, "net": None}
    assert dict(second["metrics"]) == {"wheel_vibration_g": 0.01}
    assert first["ts"] == START and first["linear_velocity"] is None


def test_a_table_from_the_rows_a_shard_stored_is_the_same_table() -> None:
    """A shard hands over the rows it copied into PostgreSQL: their scalar columns are the table's."""
    messages = [*samples(6), Telemetry.model_validate({**samples(1)[0].model_dump(), "pose": None, "battery": None})]
    structs = [TELEMETRY.from_model(message) for message in messages]
    rows = [telemetry_row(message) for message in structs]
    assert TELEMETRY_COLUMNS[:17] == tuple(TELEMETRY_SCHEMA.names[:17])
    assert telemetry_table(structs, rows).equals(telemetry_table(messages))
    assert telemetry_table([], []).equals(telemetry_table([]))


def test_files_have_the_target_size_and_are_partitioned_by_day(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri(), signing_key=b"k" * 32)
    writer = LakeWriter(store, "telemetry", target_rows=50)
    messages = samples(130)  # crosses midnight after 60 s
    for start in range(0, 130, 10):
        writer.append(telemetry_table(messages[start : start + 10]))
    files = writer.flush()
    assert len(files) == 4  # 60 rows on day one: 50 + 10; 70 on day two: 50 + 20
    assert {f.split("/")[3] for f in files} == {"date=2026-11-27", "date=2026-11-28"}
    table = read_lake(store, "telemetry", tenant_id="t1")
    assert sorted(table["seq"].to_pylist()) == list(range(130))


def test_rows_of_a_file_that_could_not_be_written_are_kept_and_written_later(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path.as_uri(), signing_key=b"k" * 32)
    blocker = tmp_path / "lake"
    blocker.write_text("a file where the lake's folder should be")
    writer = LakeWriter(store, "telemetry", target_rows=1000)
    writer.append(telemetry_table(samples(20)))
    with pytest.raises(LakeError, match="stay buffered"):
        writer.flush()
    blocker.unlink()
    writer.flush()
    assert pc.sum(read_lake(store, "telemetry")["seq"]).as_py() == sum(range(20))
