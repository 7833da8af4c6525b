"""Simulator throughput: events generated per second, and persisted per second into PostgreSQL.

Prints one JSON object on its last line:
    sim_events_per_s        telemetry samples generated per second (columnar, in memory)
    messages_per_s          samples turned into validated Telemetry messages per second
    persisted_rows_per_s    samples written per second to PostgreSQL (COPY) with minute aggregates
    robot_days_per_s        robot-days of 1 Hz telemetry generated per wall second
Defaults: 1,000 robots for one simulated hour in memory; 50 robots for one hour into PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleetray.sim import FleetSimulator, SimConfig, history_start


def generation(robots: int, seconds: int) -> float:
    sim = FleetSimulator(SimConfig(robots=robots, seed=1, start=history_start(1), wear_rate=20))
    started, samples = time.perf_counter(), 0
    for chunk in sim.run(seconds, chunk_s=600):
        samples += len(chunk.telemetry)
    return samples / (time.perf_counter() - started)


def messages(robots: int, seconds: int) -> float:
    chunk = next(FleetSimulator(SimConfig(robots=robots, seed=1, start=history_start(1))).run(seconds, chunk_s=seconds))
    started = time.perf_counter()
    converted = chunk.telemetry.to_messages()
    return len(converted) / (time.perf_counter() - started)


def persistence(robots: int, seconds: int) -> float:
    from fleetray.sim.persist import write_history
    from fleetray.storage import Database, EmbeddedPostgres, migrate

    url = os.environ.get("FLEETRAY_DATABASE_URL")
    embedded = None
    if url is None:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="fleetray-bench-")))
        url = embedded.start()
    db = Database(url, schema=f"bench_{uuid.uuid4().hex[:8]}")
    try:
        migrate(db)
        sim = FleetSimulator(SimConfig(tenant_id="bench", robots=robots, seed=1, start=history_start(seconds / 86400)))
        started = time.perf_counter()
        report = write_history(sim, db, None, seconds, chunk_s=600)
        return report.telemetry_rows / (time.perf_counter() - started)
    finally:
        db.drop_schema()
        if embedded is not None:
            embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes; finishes in well under a minute")
    parser.add_argument("--robots", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=3600)
    args = parser.parse_args()
    robots, seconds = (100, 600) if args.quick else (args.robots, args.seconds)
    persist_robots, persist_seconds = (10, 600) if args.quick else (50, 3600)

    sim_rate = generation(robots, seconds)
    message_rate = messages(min(robots, 200), 120)
    persist_rate = persistence(persist_robots, persist_seconds)
    print(
        json.dumps(
            {
                "sim_events_per_s": round(sim_rate),
                "messages_per_s": round(message_rate),
                "persisted_rows_per_s": round(persist_rate),
                "robot_days_per_s": round(sim_rate / 86400, 2),
                "robots": robots,
                "simulated_seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
