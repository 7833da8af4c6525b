"""The dashboard's fleet page with a large fleet reporting live, in Debian's Chromium.

Runs on one machine: PostgreSQL (FLEETRAY_DATABASE_URL, else an embedded pgserver), a local Ray with
2 CPUs and the fleet shards, the API (and so the dashboard) in a plain uvicorn process, and headless
Chromium driven by Playwright. ``--robots`` robots are registered and report once; the page is opened
logged in, and once every robot is listed, each robot reports every ``--every-s`` seconds (new status,
battery and pose) for ``--seconds`` while Chromium records a trace of the page's main thread.

The last line is JSON:
    first_paint_ms                 navigation start to the first robots' rows drawn
    all_robots_listed_ms           navigation start to every robot loaded and counted
    update_main_thread_ms_per_s    the page's main-thread work (Chromium's RunTask events) per second of updates
    ws_updates_per_s               state updates the page received per second over the WebSocket
    updates_sent_per_s             what the robots reported per second
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TENANT = "bench"
NAMESPACE = "fleetray-bench-dashboard"
STATUSES = ("cleaning", "moving", "charging", "docked", "idle")
TOP_LEVEL_TASKS = {"RunTask", "ThreadControllerImpl::RunTask"}  # the name differs between Chromium versions


def _samples(robot_ids: list[str], seq: int, now: datetime) -> list[Any]:
    """One report per robot: the status turns over, the battery drains, the robot moves."""
    from actors.intake import RawMessage
    from fleetray.schemas import Telemetry, mqtt_topic

    out = []
    for k, robot_id in enumerate(robot_ids):
        telemetry = Telemetry.model_validate(
            {
                "tenant_id": TENANT,
                "robot_id": robot_id,
                "ts": now,
                "seq": seq,
                "status": STATUSES[(k + seq) % len(STATUSES)],
                "battery": {"soc": round(((k * 7 + seq) % 100) / 100, 2)},
                "pose": {"x": float(k % 100) + seq % 7, "y": float(k // 100), "theta": 0.0},
            }
        )
        payload = telemetry.model_dump_json(exclude_none=True).encode()
        out.append(RawMessage("telemetry", TENANT, robot_id, payload, mqtt_topic(TENANT, robot_id, "telemetry")))
    return out


def _serve(port: int, database_url: str, schema: str, ray_address: str) -> None:
    """The child process: the API and the dashboard in uvicorn, reaching the shards as a Ray driver."""
    import ray
    import uvicorn

    from fleetray.config import load_settings
    from fleetray.storage import Database
    from serve_apps.api.app import create_app
    from serve_apps.api.context import ApiContext

    ray.init(address=ray_address, namespace=NAMESPACE, log_to_driver=False)
    settings = load_settings(database_url=database_url, database_schema=schema, api_rate_limit="1000000/second")
    uvicorn.run(create_app(ApiContext(settings, Database(database_url, schema=schema))), port=port, log_level="warning")


def main_thread_ms(trace: dict[str, Any]) -> tuple[float, float]:
    """Busy milliseconds of the page's main thread (its top-level RunTask events) and the span they cover, s."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    mains = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"
    }
    busy: dict[tuple[int, int], float] = {}
    times: dict[tuple[int, int], list[float]] = {}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key in mains and e.get("ph") == "X" and e.get("name") in TOP_LEVEL_TASKS:
            busy[key] = busy.get(key, 0.0) + e.get("dur", 0) / 1000.0
            times.setdefault(key, []).append(e["ts"] / 1e6)
    if not busy:
        return 0.0, 0.0
    page = max(busy, key=busy.get)  # the renderer of the page, not an idle one
    return busy[page], max(times[page]) - min(times[page])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robots", type=int, default=10_000)
    parser.add_argument("--every-s", type=float, default=5.0, help="each robot reports this often while measured")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the updates are traced")
    parser.add_argument("--quick", action="store_true", help="1,000 robots, 6 s of updates: under a minute")
    args = parser.parse_args()
    if args.quick:
        args.robots, args.seconds = 1000, 6.0
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("bench/dashboard.py needs Debian's chromium: apt-get install chromium")

    import httpx
    import ray
    from playwright.sync_api import sync_playwright

    from actors.ingestion import start_ingestion
    from actors.router import ShardRouter
    from fleetray.services.ports import free_port
    from fleetray.sim import FleetSimulator, SimConfig
    from fleetray.sim.persist import register_fleet
    from fleetray.storage import Database, EmbeddedPostgres, migrate
    from fleetray.storage.api_keys import create_key

    work = Path(tempfile.mkdtemp(prefix="fleetray-bench-dashboard-"))
    embedded = None
    db_url = os.environ.get("FLEETRAY_DATABASE_URL")
    if db_url is None:
        embedded = EmbeddedPostgres(work / "pg")
        db_url = embedded.start()
    db = Database(db_url, schema=f"bench_{uuid.uuid4().hex[:8]}")
    migrate(db)
    server = None
    result: dict[str, Any] = {"robots": args.robots, "every_s": args.every_s}
    try:
        sim = FleetSimulator(SimConfig(tenant_id=TENANT, robots=args.robots, seed=3))
        register_fleet(db, sim)
        with db.connect() as conn:
            token = create_key(conn, TENANT, "viewer", description="bench").token
        robots = sim.robot_ids
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
        ingestion = start_ingestion(db, shards=2)
        router = ShardRouter(2)
        router.deliver(_samples(robots, 1, datetime.now(UTC)))
        port = free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(port, db_url, db.schema, ray.get_runtime_context().gcs_address), daemon=True
        )
        server.start()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)

        received: list[int] = []
        dropped: list[int] = []  # what the hub let go of because the page read too slowly

        def count(frame: str | bytes) -> None:
            message = json.loads(frame)
            if message["type"] == "dropped":
                dropped.append(message["count"])
            items = message["items"] if message["type"] == "batch" else [message]
            received.append(sum(item["type"] == "state" for item in items))

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(f"sessionStorage.setItem('fleetray.token', {json.dumps(token)})")
            page.on("websocket", lambda socket: socket.on("framereceived", count))
            page.goto(f"{url}/#/fleet")
            page.wait_for_selector(".grid-row", timeout=60_000)
            result["first_paint_ms"] = round(page.evaluate("performance.now()"))
            page.get_by_text(f"{args.robots} of {args.robots} robots").wait_for(timeout=120_000)
            result["all_robots_listed_ms"] = round(page.evaluate("performance.now()"))
            time.sleep(6)  # the shards see the tenant watched within a tick
            browser.start_tracing(page=page, categories=["toplevel", "devtools.timeline"])
            page.evaluate("0")  # Playwright hands over the frames received so far
            before = sum(received)
            began, sent, seq = time.monotonic(), 0, 2
            per_round = max(1, int(len(robots) / args.every_s))  # robots reporting each second
            offset = 0
            while time.monotonic() - began < args.seconds:
                second = time.monotonic()
                batch = [robots[(offset + k) % len(robots)] for k in range(per_round)]
                offset += per_round
                router.deliver(_samples(batch, seq + offset // len(robots), datetime.now(UTC)))
                sent += len(batch)
                page.wait_for_timeout(max(0.0, 1000 * (1.0 - (time.monotonic() - second))))  # frames counted meanwhile
            elapsed = time.monotonic() - began
            page.wait_for_timeout(1000)
            trace = json.loads(browser.stop_tracing())
            busy_ms, span_s = main_thread_ms(trace)
            result["updates_sent_per_s"] = round(sent / elapsed)
            result["ws_updates_per_s"] = round((sum(received) - before) / elapsed)
            result["update_main_thread_ms_per_s"] = round(busy_ms / max(span_s, elapsed), 1)
            result["traced_s"] = round(max(span_s, elapsed), 1)
            result["ws_dropped"] = sum(dropped)
            browser.close()
        ingestion.stop()
    finally:
        if server is not None:
            server.terminate()
        ray.shutdown()
        db.drop_schema()
        if embedded is not None:
            embedded.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
