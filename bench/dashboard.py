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
import shutil
import sys
import tempfile
import time
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


def _watch(url: str, token: str, robots: list[str], deliver: Any, args: argparse.Namespace, chromium: str) -> dict:
    """Open the fleet page, wait for every robot, then trace the page while the robots report."""
    from playwright.sync_api import sync_playwright

    figures: dict[str, Any] = {}
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
        figures["first_paint_ms"] = round(page.evaluate("performance.now()"))
        page.get_by_text(f"{len(robots)} of {len(robots)} robots").wait_for(timeout=120_000)
        figures["all_robots_listed_ms"] = round(page.evaluate("performance.now()"))
        page.wait_for_timeout(6000)  # the shards see the tenant watched within a tick
        browser.start_tracing(page=page, categories=["toplevel", "devtools.timeline"])
        before = sum(received)
        began, sent, offset = time.monotonic(), 0, 0
        per_second = max(1, int(len(robots) / args.every_s))
        while time.monotonic() - began < args.seconds:
            second = time.monotonic()
            batch = [robots[(offset + k) % len(robots)] for k in range(per_second)]
            offset += per_second
            deliver(_samples(batch, 2 + offset // len(robots), datetime.now(UTC)))
            sent += len(batch)
            page.wait_for_timeout(max(0.0, 1000 * (1.0 - (time.monotonic() - second))))  # frames counted meanwhile
        elapsed = time.monotonic() - began
        page.wait_for_timeout(1000)
        busy_ms, span_s = main_thread_ms(json.loads(browser.stop_tracing()))
        browser.close()
    figures["updates_sent_per_s"] = round(sent / elapsed)
    figures["ws_updates_per_s"] = round((sum(received) - before) / elapsed)
    figures["update_main_thread_ms_per_s"] = round(busy_ms / max(span_s, elapsed), 1)
    figures["traced_s"] = round(max(span_s, elapsed), 1)
    figures["ws_dropped"] = sum(dropped)
    return figures


def measure(db: Any, args: argparse.Namespace, chromium: str) -> dict[str, Any]:
    """The fleet registered and reporting once, the API up, then the page watched."""
    import ray

    from actors.ingestion import start_ingestion
    from actors.router import ShardRouter
    from bench.api import wait_until_up
    from fleetray.services.ports import free_port
    from fleetray.sim import FleetSimulator, SimConfig
    from fleetray.sim.persist import register_fleet
    from fleetray.storage.api_keys import create_key

    sim = FleetSimulator(SimConfig(tenant_id=TENANT, robots=args.robots, seed=3))
    register_fleet(db, sim)
    with db.connect() as conn:
        token = create_key(conn, TENANT, "viewer", description="bench").token
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    server = None
    try:
        ingestion = start_ingestion(db, shards=2)
        router = ShardRouter(2)
        router.deliver(_samples(sim.robot_ids, 1, datetime.now(UTC)))
        port = free_port()
        address = ray.get_runtime_context().gcs_address
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(port, db.url, db.schema, address), daemon=True
        )
        server.start()
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        figures = _watch(url, token, sim.robot_ids, router.deliver, args, chromium)
        ingestion.stop()
        return {"robots": args.robots, "every_s": args.every_s, **figures}
    finally:
        if server is not None:
            server.terminate()
        ray.shutdown()


def main() -> None:
    from bench.database import bench_database

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
    with bench_database(Path(tempfile.mkdtemp(prefix="fleetray-bench-dashboard-"))) as db:
        result = measure(db, args, chromium)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
