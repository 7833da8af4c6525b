"""The REST API under load: live state and a 1-hour history query at 100 concurrent clients, on Ray Serve
and, for comparison, the same application in a plain uvicorn process.

Runs on one machine: PostgreSQL (FLEETRAY_DATABASE_URL, else an embedded pgserver), a local Ray with
2 CPUs, the fleet shards holding the fleet's live state (rebuilt from a simulated hour of history),
the API on Ray Serve (one replica) behind the platform's default ingress (HAProxy with Serve's
throughput-optimised data plane; ``--ingress proxy`` for Serve's own proxy), and a load generator in its
own process: 100 clients, each sending its next request as soon as the last one is answered (a closed
loop: it measures saturation), then requests at a fixed offered rate (an open loop: it measures
latency below saturation), every request with an API key.

- state:   GET /v1/robots/{id}/state, a random robot each time (served from the shards).
- history: GET /v1/robots/{id}/telemetry, the last hour at 1-minute resolution of four signals
           (battery charge and temperature, main brush and vacuum current: a dashboard's chart),
           240 rows from PostgreSQL's minute rollups.

The last line is JSON:
    state_rps, state_p50_ms, state_p99_ms         live state on Serve
    history_rps, history_p50_ms, history_p99_ms   1-hour history on Serve
    uvicorn_state_rps, uvicorn_state_p99_ms       live state, same app in plain uvicorn
    serve_to_uvicorn_rps_ratio                    state_rps / uvicorn_state_rps
    state_p50_ms_at_200rps, state_p99_ms_at_200rps       live state on Serve at a fixed offered rate
    history_p50_ms_at_100rps, history_p99_ms_at_100rps   history on Serve at a fixed offered rate
    open_loop_rps                                 the rates the open-loop phases achieved
    errors                                        non-200 answers over all phases
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TENANT = "bench"
RAY_WORKER_NICENESS = 15  # Ray starts its worker processes (Serve replicas, the proxy, shards) at nice 15
CLIENTS = 100
HISTORY_METRICS = ("battery.soc", "battery.temp", "components.main_brush.current_a", "components.vacuum.current_a")


async def _clients(base_url: str, paths: list[str], token: str, seconds: float, clients: int) -> dict:
    import aiohttp

    from bench.open_loop import latency_figures

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers) as session:

        async def client(seed: int) -> None:
            nonlocal errors
            rnd = random.Random(seed)
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.get(rnd.choice(paths)) as answer:
                    await answer.read()
                    if answer.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.monotonic()
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.monotonic() - began
    return latency_figures(latencies, elapsed, errors)


async def _open_loop(base_url: str, paths: list[str], token: str, seconds: float, rate: float) -> dict:
    """Requests for random paths at a fixed rate (``bench/open_loop.py``)."""
    import aiohttp

    from bench.open_loop import offer

    rnd = random.Random(0)
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base_url, connector=connector, headers=headers) as session:

        async def one() -> bool:
            async with session.get(rnd.choice(paths)) as answer:
                await answer.read()
                return answer.status == 200

        return await offer(rate, seconds, one)


def _load_process(
    base_url: str, paths: list[str], token: str, seconds: float, clients: int, rate: float | None, out: object
) -> None:
    os.nice(RAY_WORKER_NICENESS)  # the same priority as the servers it loads, on Serve and uvicorn alike
    if rate is None:
        result = asyncio.run(_clients(base_url, paths, token, seconds, clients))
    else:
        result = asyncio.run(_open_loop(base_url, paths, token, seconds, rate))
    out.put(result)  # type: ignore[attr-defined]


def load(
    base_url: str, paths: list[str], token: str, seconds: float, *, warmup_s: float, rate: float | None = None
) -> dict:
    """Run the clients in a process of their own (warm-up first, not counted); return rate and latencies.

    Closed loop (``CLIENTS`` clients, each sending when answered) by default; with ``rate``, an open loop.
    """
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    for duration in (warmup_s, seconds):
        process = context.Process(target=_load_process, args=(base_url, paths, token, duration, CLIENTS, rate, results))
        process.start()
        result = results.get(timeout=duration + 120)
        process.join()
    return result


def wait_until_up(url: str, timeout_s: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the API at {url} did not come up")


def serve_uvicorn(port: int, database_url: str, schema: str, ray_address: str, namespace: str) -> None:
    """The child process: the same application in plain uvicorn, reaching the shards as a Ray driver."""
    import ray
    import uvicorn

    from fleetray.config import load_settings
    from fleetray.storage import Database
    from serve_apps.api.app import create_app
    from serve_apps.api.context import ApiContext

    os.nice(RAY_WORKER_NICENESS)  # as a Serve replica runs
    logging.basicConfig(level=logging.INFO, filename=os.devnull)  # access lines are formatted, as on Serve
    ray.init(address=ray_address, namespace=namespace, log_to_driver=False)
    settings = load_settings(database_url=database_url, database_schema=schema, api_rate_limit="1000000/second")
    app = create_app(ApiContext(settings, Database(database_url, schema=schema)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    from fleetray.services.serve_ingress import HAPROXY, INGRESSES, apply_serve_environment

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robots", type=int, default=500)
    parser.add_argument("--history-minutes", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--state-rate", type=float, default=200.0, help="open-loop live state requests per second")
    parser.add_argument("--history-rate", type=float, default=100.0, help="open-loop history requests per second")
    parser.add_argument(
        "--ingress", choices=INGRESSES, default=HAPROXY, help="Serve's data plane (the platform's default: haproxy)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="100 robots, 10 minutes of history, 4 s phases; under a minute"
    )
    parser.add_argument(
        "--uvicorn-child", nargs=5, metavar=("PORT", "DB", "SCHEMA", "RAY", "NS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.uvicorn_child:
        port, db_url, schema, address, namespace = args.uvicorn_child
        serve_uvicorn(int(port), db_url, schema, address, namespace)
        return
    if args.quick:
        args.robots, args.history_minutes, args.seconds = 100, 10, 4
    warmup_s = 1 if args.quick else 5

    import httpx
    import ray
    from ray import serve

    from actors.ingestion import start_ingestion
    from bench.database import bench_database
    from fleetray.config import load_settings
    from fleetray.services.ports import free_port
    from fleetray.sim import FleetSimulator, SimConfig, history_start
    from fleetray.sim.persist import write_history
    from fleetray.storage.api_keys import create_key
    from serve_apps.api.deployment import build_application

    work = Path(tempfile.mkdtemp(prefix="fleetray-bench-api-"))
    database = contextlib.ExitStack()
    db = database.enter_context(bench_database(work))
    db_url = db.url
    child = None
    result: dict[str, float | int | str] = {"robots": args.robots, "clients": CLIENTS, "replicas": args.replicas}
    try:
        started = time.monotonic()
        start = history_start(args.history_minutes / 1440)
        sim = FleetSimulator(SimConfig(tenant_id=TENANT, robots=args.robots, seed=1, start=start))
        write_history(sim, db, None, int((datetime.now(UTC) - start).total_seconds()) // 60 * 60)
        with db.connect() as conn:
            token = create_key(conn, TENANT, "viewer", description="bench").token
        result["seed_s"] = round(time.monotonic() - started, 1)

        namespace = "fleetray-bench-api"
        serve_environment = apply_serve_environment(args.ingress)  # before Ray starts, as `fleetray up` does
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=namespace)
        ingestion = start_ingestion(db, shards=2)
        settings = load_settings(
            database_url=db_url,
            database_schema=db.schema,
            api_rate_limit="1000000/second",
            api_replicas=args.replicas,
            log_level="WARNING",
        )
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_application(settings), name="bench-api", route_prefix="/")
        serve_url = f"http://127.0.0.1:{port}"
        wait_until_up(serve_url)

        robots = sim.robot_ids
        state_paths = [f"/v1/robots/{robot}/state" for robot in robots]
        now = datetime.now(UTC)
        window = f"start={(now - timedelta(hours=1)).isoformat()}&end={now.isoformat()}".replace("+", "%2B")
        metrics = "&".join(f"metric={name}" for name in HISTORY_METRICS)
        history_paths = [f"/v1/robots/{robot}/telemetry?resolution=1m&{metrics}&{window}" for robot in robots]
        auth = {"Authorization": f"Bearer {token}"}
        result["state_source"] = httpx.get(serve_url + state_paths[0], headers=auth).json()["source"]
        result["history_rows"] = len(httpx.get(serve_url + history_paths[0], headers=auth).json()["items"])

        state = load(serve_url, state_paths, token, args.seconds, warmup_s=warmup_s)
        history = load(serve_url, history_paths, token, args.seconds, warmup_s=warmup_s)
        state_open = load(serve_url, state_paths, token, args.seconds, warmup_s=warmup_s, rate=args.state_rate)
        history_open = load(serve_url, history_paths, token, args.seconds, warmup_s=warmup_s, rate=args.history_rate)
        serve.delete("bench-api")
        serve.shutdown()

        uvicorn_port = free_port()
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--uvicorn-child",
                str(uvicorn_port),
                db_url,
                db.schema,
                ray.get_runtime_context().gcs_address,
                namespace,
            ],
            env={**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")},
        )
        uvicorn_url = f"http://127.0.0.1:{uvicorn_port}"
        wait_until_up(uvicorn_url)
        plain = load(uvicorn_url, state_paths, token, args.seconds, warmup_s=warmup_s)
        result.update(
            state_rps=round(state["rps"]),
            state_p50_ms=round(state["p50_ms"], 1),
            state_p99_ms=round(state["p99_ms"], 1),
            history_rps=round(history["rps"]),
            history_p50_ms=round(history["p50_ms"], 1),
            history_p99_ms=round(history["p99_ms"], 1),
            uvicorn_state_rps=round(plain["rps"]),
            uvicorn_state_p99_ms=round(plain["p99_ms"], 1),
            serve_to_uvicorn_rps_ratio=round(state["rps"] / max(plain["rps"], 1e-9), 2),
            **{
                f"state_p50_ms_at_{args.state_rate:g}rps": round(state_open["p50_ms"], 1),
                f"state_p99_ms_at_{args.state_rate:g}rps": round(state_open["p99_ms"], 1),
                f"history_p50_ms_at_{args.history_rate:g}rps": round(history_open["p50_ms"], 1),
                f"history_p99_ms_at_{args.history_rate:g}rps": round(history_open["p99_ms"], 1),
            },
            open_loop_rps={"state": round(state_open["rps"]), "history": round(history_open["rps"])},
            errors=sum(phase["errors"] for phase in (state, history, state_open, history_open, plain)),
            seconds_per_phase=args.seconds,
            ingress=args.ingress,
            serve_environment=serve_environment,
        )
        ingestion.stop()
    finally:
        if child is not None:
            child.terminate()
            child.wait(timeout=30)
        ray.shutdown()
        database.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
