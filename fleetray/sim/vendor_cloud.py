"""A manufacturer's cloud, simulated: the "Nimbus Robotics" fleet API that the ``nimbus`` connector reads.

It behaves the way vendor APIs do: bearer-token auth, paginated listings, incremental feeds with
opaque cursors, a per-token rate limit answered with 429 and Retry-After, occasional 503s, and
signed webhooks pushed to a subscriber. Robots advance on a clock of their own (one revision per
``tick_s``), so a poller sees status change, events appear and jobs progress.

Endpoints (all JSON, under ``/v2``):

- ``GET /robots?page_token=&page_size=``: the fleet (serial, model, name, site).
- ``GET /robots/status?page_token=&page_size=``: every robot's current status and its ``revision``.
- ``GET /events?cursor=&limit=``: events after a cursor, oldest first, and the next cursor.
- ``GET /jobs?cursor=&limit=``: job updates after a cursor, and the next cursor.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fleetray.webhook_signing import sign

STATES = ("cleaning", "cleaning", "cleaning", "returning", "charging", "idle")
EVENT_CODES = (
    ("INFO", "JOB_STARTED", "job started"),
    ("WARN", "BRUSH_WEAR", "main brush worn"),
    ("ERROR", "BUMPER_HIT", "bumper pressed"),
    ("WARN", "LOW_BATTERY", "battery below 20%"),
)
WEBHOOK_SIGNATURE_HEADER = "X-Nimbus-Signature"


@dataclass
class _Robot:
    serial: str
    model: str
    site: str
    revision: int = 0
    battery_pct: float = 100.0
    x: float = 0.0
    y: float = 0.0
    heading: float = 0.0
    state: str = "idle"
    job_id: str | None = None
    job_progress: float = 0.0
    reported_at: str = ""


@dataclass
class VendorCloudConfig:
    """How the simulated cloud behaves."""

    robots: int = 5
    token: str = "nimbus-test-token"
    tick_s: float = 0.2
    requests_per_s: int = 20
    failure_rate: float = 0.05
    page_size: int = 50
    seed: int = 1
    sites: tuple[str, ...] = ("north", "south")


@dataclass
class _World:
    config: VendorCloudConfig
    robots: list[_Robot] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, list[float]] = field(default_factory=dict)


class VendorCloud:
    """The simulated cloud as an HTTP server on ``127.0.0.1:port``; use it as a context manager."""

    def __init__(self, config: VendorCloudConfig | None = None, *, port: int = 0) -> None:
        self.config = config or VendorCloudConfig()
        self._random = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._world = _World(
            self.config,
            [
                _Robot(
                    f"NB-{i:04d}", "Nimbus S2" if i % 2 else "Nimbus M1", self.config.sites[i % len(self.config.sites)]
                )
                for i in range(1, self.config.robots + 1)
            ],
        )
        self.served = {"ok": 0, "rate_limited": 0, "failed": 0, "unauthorized": 0}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._stop = threading.Event()
        self._pushed = 0

    @property
    def url(self) -> str:
        """The API's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> VendorCloud:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Serve and advance the robots in background threads."""
        self.advance()
        threading.Thread(target=self._server.serve_forever, daemon=True, name="vendor-cloud").start()
        threading.Thread(target=self._clock, daemon=True, name="vendor-cloud-clock").start()

    def stop(self) -> None:
        """Stop serving."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _clock(self) -> None:
        while not self._stop.wait(self.config.tick_s):
            self.advance()

    def advance(self) -> None:
        """Move every robot one revision on: battery, position, state, events and jobs."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rnd = self._random
        with self._lock:
            world = self._world
            for robot in world.robots:
                robot.revision += 1
                robot.reported_at = now
                if robot.revision % 25 == 1:
                    robot.state = rnd.choice(STATES)
                    if robot.state == "cleaning":
                        robot.job_id = f"job-{robot.serial}-{robot.revision}"
                        robot.job_progress = 0.0
                        self._job(robot, "running", now)
                if robot.state == "cleaning":
                    robot.battery_pct = max(5.0, robot.battery_pct - rnd.uniform(0.05, 0.2))
                    robot.x += rnd.uniform(-0.5, 0.5)
                    robot.y += rnd.uniform(-0.5, 0.5)
                    robot.heading = (robot.heading + rnd.uniform(-0.3, 0.3)) % 6.28
                    robot.job_progress = min(1.0, robot.job_progress + 0.04)
                    if robot.job_id and robot.job_progress >= 1.0:
                        self._job(robot, "done", now)
                        robot.job_id, robot.state = None, "returning"
                elif robot.state == "charging":
                    robot.battery_pct = min(100.0, robot.battery_pct + 0.5)
                if rnd.random() < 0.05:
                    severity, code, text = rnd.choice(EVENT_CODES)
                    world.events.append(
                        {
                            "id": len(world.events) + 1,
                            "serial": robot.serial,
                            "time": now,
                            "severity": severity,
                            "code": code,
                            "text": text,
                        }
                    )

    def _job(self, robot: _Robot, state: str, now: str) -> None:
        jobs = self._world.jobs
        jobs.append(
            {
                "update_id": len(jobs) + 1,
                "job_id": robot.job_id,
                "serial": robot.serial,
                "state": state,
                "area_m2": 400.0,
                "progress_pct": round(robot.job_progress * 100, 1),
                "updated_at": now,
                "site": robot.site,
            }
        )

    def push_webhooks(self, url: str, secret: str, *, client: Any = None) -> int:
        """POST each event not pushed yet to ``url``, signed with ``secret``; return how many were accepted."""
        import httpx

        with self._lock:
            pending = self._world.events[self._pushed :]
        accepted = 0
        with client or httpx.Client(timeout=10) as http:
            for event in pending:
                body = json.dumps({"type": "robot.event", "data": event}).encode()
                headers = {"Content-Type": "application/json", WEBHOOK_SIGNATURE_HEADER: sign(secret, body)}
                answer = http.post(url, content=body, headers=headers)
                accepted += answer.status_code < 300
                self._pushed += 1
        return accepted

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, body, headers = cloud._answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        config = self.config
        token = authorization.removeprefix("Bearer ").strip()
        if token != config.token:
            self.served["unauthorized"] += 1
            return 401, {"error": "invalid_token"}, {}
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._world.requests.get(token, []) if now - t < 1.0]
            if len(recent) >= config.requests_per_s:
                self._world.requests[token] = recent
                self.served["rate_limited"] += 1
                return 429, {"error": "rate_limited"}, {"Retry-After": "1"}
            self._world.requests[token] = [*recent, now]
            if self._random.random() < config.failure_rate:
                self.served["failed"] += 1
                return 503, {"error": "temporarily_unavailable"}, {}
            parts = urlsplit(path)
            query = {name: values[0] for name, values in parse_qs(parts.query).items()}
            try:
                body = self._route(parts.path, query)
            except (KeyError, ValueError) as err:
                return 400, {"error": "bad_request", "detail": str(err)}, {}
        if body is None:
            return 404, {"error": "not_found"}, {}
        self.served["ok"] += 1
        return 200, body, {}

    def _route(self, path: str, query: dict[str, str]) -> dict[str, Any] | None:
        world = self._world
        size = min(int(query.get("page_size", self.config.page_size)), self.config.page_size)
        if path == "/v2/robots":
            rows, token = _paginate(world.robots, query.get("page_token"), size)
            return {
                "robots": [{"serial": r.serial, "model": r.model, "site": r.site} for r in rows],
                "next_page_token": token,
            }
        if path == "/v2/robots/status":
            rows, token = _paginate(world.robots, query.get("page_token"), size)
            return {
                "statuses": [
                    {
                        "serial": r.serial,
                        "revision": r.revision,
                        "reported_at": r.reported_at,
                        "state": r.state,
                        "battery_pct": round(r.battery_pct, 2),
                        "position": {"x": round(r.x, 3), "y": round(r.y, 3), "heading": round(r.heading, 3)},
                        "job_id": r.job_id,
                    }
                    for r in rows
                ],
                "next_page_token": token,
            }
        if path in ("/v2/events", "/v2/jobs"):
            feed = world.events if path == "/v2/events" else world.jobs
            after = int(query.get("cursor") or 0)
            limit = min(int(query.get("limit", 100)), 100)
            rows = feed[after : after + limit]
            return {
                "events" if path == "/v2/events" else "jobs": rows,
                "cursor": str(after + len(rows)),
                "has_more": after + len(rows) < len(feed),
            }
        return None


def _paginate(rows: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
    end = start + size
    return rows[start:end], base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(rows) else None
