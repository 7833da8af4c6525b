"""The rolling recorder: segments on disk, bags cut around triggers, a killed agent's work finished."""

from __future__ import annotations

from pathlib import Path

from mcap.reader import make_reader

from edge.recorder import Recorder, Trigger, read_segment
from edge.sampler import NS
from edge.sources.bag import BagReplay
from fleetray.schemas import RecorderPolicy
from tests.edge.conftest import agent_config

START = 1_700_000_000 * NS


def _messages(bag: Path, tmp_path: Path) -> list:
    config = agent_config(tmp_path / "cfg", "mqtt://127.0.0.1:1", bag)
    return [message for _, message in BagReplay(config.sources[0], set()).messages()]


def _recorder(directory: Path, bags: list, **policy: float) -> Recorder:
    settings = RecorderPolicy(**{"before_s": 20, "after_s": 10, "segment_s": 5, **policy})
    return Recorder(
        directory,
        lambda: settings,
        lambda path, trigger: bags.append((path, trigger)),
        tenant_id="acme",
        robot_id="acme-r1",
    )


def test_a_trigger_keeps_the_minutes_around_it_as_one_bag(robot_bag: Path, tmp_path: Path) -> None:
    bags: list[tuple[Path, Trigger]] = []
    recorder = _recorder(tmp_path / "rec", bags)
    for message in _messages(robot_bag, tmp_path):
        recorder.add(message)
        if message.topic == "/rosout" and b"E_BRUSH_JAM" in message.raw:
            recorder.trigger("error", "E_BRUSH_JAM", message.timestamp_ns)
        recorder.poll(message.timestamp_ns)
    ((path, trigger),) = bags
    assert trigger.label == "error:E_BRUSH_JAM" and path.name.startswith("acme-r1_") and "e_brush_jam" in path.name
    with path.open("rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        times = [message.log_time for _, _, message in reader.iter_messages()]
        (metadata,) = [m for m in reader.iter_metadata()]
    at = START + 90 * NS
    assert min(times) <= at - 19 * NS and max(times) >= at + 9 * NS  # 20 s before, 10 s after
    assert min(times) >= at - 20 * NS and max(times) <= at + 10 * NS
    topics = {channel.topic for channel in summary.channels.values()}
    assert {"/imu", "/scan", "/camera/image/compressed", "/rosout", "/odom"} <= topics
    assert summary.statistics.message_count == len(times) > 100 * 30  # every message, at full rate
    assert metadata.metadata["trigger"] == "error:E_BRUSH_JAM" and metadata.metadata["robot_id"] == "acme-r1"
    assert {chunk.compression for chunk in summary.chunk_indexes} == {"zstd"}


def test_the_disk_budget_drops_the_oldest_segments(robot_bag: Path, tmp_path: Path) -> None:
    recorder = _recorder(tmp_path / "rec", [], budget_mb=3.0)
    for message in _messages(robot_bag, tmp_path):
        recorder.add(message)
    recorder.close()
    segments = sorted((tmp_path / "rec/segments").glob("*.mcap"))
    assert sum(p.stat().st_size for p in segments) <= 3 * 1024 * 1024
    assert len(segments) < 24  # two minutes of 5 s segments: the oldest went
    assert int(segments[-1].stem.split("-")[1]) >= START + 119 * NS  # the newest stayed


def test_a_killed_agent_leaves_readable_segments_and_finishes_the_bag(robot_bag: Path, tmp_path: Path) -> None:
    messages = _messages(robot_bag, tmp_path)
    recorder = _recorder(tmp_path / "rec", [])
    error_at = START + 90 * NS
    for message in messages:
        if message.timestamp_ns > error_at + 4 * NS:
            break
        recorder.add(message)
        if message.timestamp_ns == error_at and message.topic == "/rosout":
            recorder.trigger("error", "E_BRUSH_JAM", error_at)
    open_segment = recorder._open.path  # killed here: the open segment has no footer, its last chunk half written
    recorder._open._file.flush()
    size = open_segment.stat().st_size
    with open_segment.open("r+b") as stream:
        stream.truncate(size - 1000)
    assert list(read_segment(open_segment))  # what came before the damage reads

    bags: list[tuple[Path, Trigger]] = []
    restarted = _recorder(tmp_path / "rec", bags)
    assert [t.code for t in restarted.pending] == ["E_BRUSH_JAM"]
    for message in messages:
        if message.timestamp_ns > error_at + 4 * NS:
            restarted.add(message)
            restarted.poll(message.timestamp_ns)
    ((path, _),) = bags
    with path.open("rb") as stream:
        times = [message.log_time for _, _, message in make_reader(stream).iter_messages()]
    assert min(times) <= error_at - 19 * NS and max(times) >= error_at + 9 * NS


def test_overlapping_triggers_make_one_bag_and_a_task_window_waits_for_the_task(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path / "rec", [])
    first = recorder.trigger("error", "E_ONE", START)
    second = recorder.trigger("warning", "W_TWO", START + 5 * NS)
    assert first is second and first.reasons == ["error:E_ONE", "warning:W_TWO"]
    assert first.end_ns == START + 15 * NS
    task = recorder.trigger("command", "OPERATOR", START + 100 * NS, before_s=0, until_task_end=True)
    assert task.end_ns is None and recorder.poll(START + 200 * NS) == []
    recorder.task_ended(START + 300 * NS)
    assert task.end_ns == START + 300 * NS
