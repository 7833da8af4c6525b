"""Bag decoding throughput: the pipeline on Ray with 1 and 2 workers, against a plain rosbags loop.

Bags come from the simulator (fleetray.sim.bags): ROS1 (lz4 chunks), rosbag2 with MCAP and with
SQLite storage, and bare MCAP, each a robot recording IMU at 100 Hz, odometry, battery, laser scans,
cameras, point clouds, diagnostics, rosout and a custom type.

Measured, on the same files:
- plain: one process, rosbags' AnyReader, deserialising every message and nothing else (the floor);
- the pipeline (decode into Parquet tables and events; media off) as Ray tasks, with 1 and with 2
  workers, on the many bags and on one large bag split into parts; then once with every image and
  point cloud written, for what media cost;
- ray.data.read_mcap over the MCAP files (a peer: it reads messages but does not deserialise them);
- the machine's ceiling: two plain processes (no Ray) decoding half the many bags each, against one
  process decoding all of them (speedup_2_processes_without_ray);
- the peak RSS of a worker (the large bag's size is --large-mb).

Per-worker rates come from the workers' own decoding time, speedups from wall time. Each of five
rounds (--rounds) measures everything back to back, each comparison in the order one, two, two, one
(so that a drift in the machine's speed weighs on both sides alike), and the figures are the rounds'
medians.

The last line is JSON: plain_msgs_per_s, one_worker_msgs_per_s, per_worker_ratio_to_plain,
speedup_2_workers, speedup_2_workers_single_bag, peak_rss_mb_per_worker, mb_per_s,
ray_read_mcap_msgs_per_s, and the sizes used.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MANY_PART = 64 * 1024 * 1024  # each of the many bags in one part: a part has fixed costs (opening, files)
FORMATS = [
    ("ros1", "bag-{i}.bag", "lz4"),
    ("ros2-mcap", "bag-{i}-mcap", None),
    ("ros2-sqlite3", "bag-{i}-db3", None),
    ("mcap", "bag-{i}.mcap", None),
]


def generate(root: Path, bags: int, duration_s: float, large_mb: int) -> tuple[Path, Path]:
    """``bags`` bags under root/many, and one bag of about ``large_mb`` MB under root/large."""
    from fleetray.sim.bags import BagSpec, write_bag

    many = root / "many" / "bags" / "bench" / "robot-1" / "2026-01-01"
    for i in range(bags):
        fmt, name, compression = FORMATS[i % len(FORMATS)]
        write_bag(
            many / name.format(i=i),
            fmt,
            BagSpec(duration_s=duration_s, seed=i, image_width=160, image_height=120),
            compression=compression,
        )
    # 320 x 240 RGB at 5 Hz is about 1.2 MB/s of camera: the large bag's length follows from its size.
    large = root / "large" / "bags" / "bench" / "robot-2" / "2026-01-01" / "large.mcap"
    write_bag(
        large,
        "mcap",
        BagSpec(duration_s=max(10.0, large_mb / 1.2), image_width=320, image_height=240, cloud_points=4096),
        compression="zstd",
    )
    return many.parents[3], large


def plain_loop(root: Path) -> tuple[int, float]:
    """Messages and seconds of deserialising every message with rosbags' AnyReader, in this process."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    from pipelines.bags.location import find_bags

    count, started = 0, time.perf_counter()
    for bag in find_bags(str(root)):
        with AnyReader([Path(bag.uri)], default_typestore=get_typestore(Stores.LATEST)) as reader:
            for connection, _, raw in reader.messages():
                reader.deserialize(raw, connection.msgtype)
                count += 1
    return count, time.perf_counter() - started


@dataclass
class Run:
    messages: int
    wall_s: float  # from submitting the parts to the last result
    worker_s: float  # the workers' own decoding time, summed
    peak_rss_mb: float
    raw_bytes: int

    @property
    def per_worker_msgs_per_s(self) -> float:
        return self.messages / self.worker_s


def pipeline(root: Path, out: Path, workers: int, part_bytes: int, options: object) -> Run:
    """Decode every bag under ``root`` with ``workers`` Ray workers."""
    from pipelines.bags.dataset import decode_parts, split_bags

    units = split_bags(str(root), part_bytes, workers)
    shutil.rmtree(out, ignore_errors=True)
    outputs = [str(out / f"{i:04d}") for i in range(len(units))]
    started = time.perf_counter()
    results = decode_parts(units, outputs, options, concurrency=workers)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    return Run(
        sum(sum(r.messages.values()) for r in results),
        wall,
        sum(r.seconds for r in results),
        max(r.peak_rss_mb for r in results),
        sum(r.raw_bytes for r in results),
    )


def _decode_in_process(units: list, out: str, options: object) -> float:
    """Seconds to decode ``units`` one after another in this process (what a worker does, without Ray)."""
    from pipelines.bags.decode import decode_part

    started = time.perf_counter()
    for i, (bag, part) in enumerate(units):
        decode_part(Path(bag.uri), bag.format, part, f"{out}/{i:04d}", options)  # type: ignore[arg-type]
    return time.perf_counter() - started


def _one_thread() -> None:
    """Arrow's thread pool as in a Ray worker with one CPU (Ray sets OMP_NUM_THREADS=1, which Arrow follows)."""
    import pyarrow

    pyarrow.set_cpu_count(1)


def machine_ceiling(root: Path, out: Path, options: object) -> float:
    """How much faster two plain processes (no Ray) decode the bags than one: what two cores give this work.

    On a shared two-core machine two busy processes each run slower than one alone (caches, memory
    bandwidth, clock boost, the machine's other services); no scheduler can beat this figure.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from pipelines.bags.dataset import split_bags

    units = split_bags(str(root), MANY_PART)
    # Formats decode at different speeds: each half gets every other bag of each format.
    by_format = sorted(units, key=lambda unit: unit[0].format)
    halves = [by_format[0::2], by_format[1::2]]
    spawn = multiprocessing.get_context("spawn")  # not a fork of a process running Ray
    with ProcessPoolExecutor(2, mp_context=spawn, initializer=_one_thread) as pool:
        # Both processes see every bag first, so neither pays for building a type store while measured.
        list(pool.map(_decode_in_process, [units, units], [str(out / "warm-a"), str(out / "warm-b")], [options] * 2))
        one, two = 0.0, 0.0
        for processes in (1, 2, 2, 1):  # as the pipeline's comparisons run
            started = time.perf_counter()
            if processes == 1:
                pool.submit(_decode_in_process, units, str(out / "one"), options).result()
                one += time.perf_counter() - started
            else:
                list(pool.map(_decode_in_process, halves, [str(out / "a"), str(out / "b")], [options] * 2))
                two += time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return one / two


def read_mcap_peer(root: Path) -> tuple[int, float]:
    """Messages and seconds of ray.data.read_mcap over the bags' MCAP files."""
    import ray.data

    files = sorted(str(p) for p in root.rglob("*.mcap"))
    started = time.perf_counter()
    count = ray.data.read_mcap(files).count()
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small bags, a 40 MB large bag; under a minute")
    parser.add_argument("--bags", type=int, default=16, help="how many bags (default 16)")
    parser.add_argument("--duration-s", type=float, default=60.0, help="length of each of them")
    parser.add_argument("--large-mb", type=int, default=1024, help="size of the single large bag")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of measurements (default 5)")
    args = parser.parse_args()
    if args.quick:
        args.bags, args.duration_s, args.large_mb, args.rounds = 4, 15.0, 40, 2
    import ray

    workdir = Path(tempfile.mkdtemp(prefix="fleetray-bench-bags-"))
    try:
        many, large = generate(workdir / "in", args.bags, args.duration_s, args.large_mb)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        from pipelines.bags.decode import DecodeOptions

        tables = DecodeOptions(image_every=0, cloud_every=0)
        pipeline(many, workdir / "out", 2, MANY_PART, tables)  # warm both workers up (imports, type stores)
        large_part = max(4 * 1024 * 1024, args.large_mb * 1024 * 1024 // 16)
        rounds = []
        ceilings = []
        # The figures are the rounds' medians, and within a round each comparison runs one, two, two, one:
        # on two shared cores the machine's speed drifts, and a drift then weighs on both sides alike.
        for _ in range(args.rounds):
            plain_messages, plain_s = plain_loop(many)
            ceilings.append(machine_ceiling(many, workdir / "ceiling", tables))
            measured: dict = {"plain": plain_messages / plain_s}
            for name, root, part in (("many", many, MANY_PART), ("large", large.parent, large_part)):
                one_a, two_a, two_b, one_b = (
                    pipeline(root, workdir / "out", workers, part, tables) for workers in (1, 2, 2, 1)
                )
                measured[name, 1], measured[name, 2] = [one_a, one_b], [two_a, two_b]
            rounds.append(measured)
            print(
                json.dumps(
                    {
                        "round": len(rounds),
                        "speedup_2_processes_without_ray": round(ceilings[-1], 2),
                        **{
                            f"{name}_{workers}_worker_s": [round(run.wall_s, 2) for run in measured[name, workers]]
                            for name in ("many", "large")
                            for workers in (1, 2)
                        },
                    }
                ),
                flush=True,
            )
        media = pipeline(many, workdir / "out", 1, MANY_PART, DecodeOptions())
        peer_messages, peer_s = read_mcap_peer(many)
    finally:
        ray.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)

    def median(figure: Callable[[dict], float]) -> float:
        return statistics.median(figure(r) for r in rounds)

    def wall(runs: list[Run]) -> float:
        return sum(run.wall_s for run in runs)

    def per_worker(runs: list[Run], of: str = "messages") -> float:
        return sum(getattr(run, of) for run in runs) / sum(run.worker_s for run in runs)

    runs = [run for r in rounds for key, pair in r.items() if key != "plain" for run in pair]
    print(
        json.dumps(
            {
                "plain_msgs_per_s": round(median(lambda r: r["plain"])),
                "one_worker_msgs_per_s": round(median(lambda r: per_worker(r["many", 1]))),
                "per_worker_ratio_to_plain": round(median(lambda r: per_worker(r["many", 1]) / r["plain"]), 3),
                "two_workers_msgs_per_s": round(median(lambda r: r["many", 2][0].messages * 2 / wall(r["many", 2]))),
                "speedup_2_workers": round(median(lambda r: wall(r["many", 1]) / wall(r["many", 2])), 2),
                "speedup_2_workers_single_bag": round(median(lambda r: wall(r["large", 1]) / wall(r["large", 2])), 2),
                "speedup_2_processes_without_ray": round(statistics.median(ceilings), 2),
                "peak_rss_mb_per_worker": round(max(run.peak_rss_mb for run in runs)),
                "mb_per_s": round(median(lambda r: per_worker(r["many", 1], "raw_bytes") / 1e6), 1),
                "with_media_msgs_per_s": round(media.per_worker_msgs_per_s),
                "large_bag_mb": round(rounds[0]["large", 1][0].raw_bytes / 1e6),
                "large_one_worker_s": round(median(lambda r: wall(r["large", 1]) / 2), 1),
                "large_two_workers_s": round(median(lambda r: wall(r["large", 2]) / 2), 1),
                "ray_read_mcap_msgs_per_s": round(peer_messages / peer_s),
                "rounds": args.rounds,
                "bags": args.bags,
                "messages": rounds[0]["many", 1][0].messages,
            }
        )
    )


if __name__ == "__main__":
    main()
