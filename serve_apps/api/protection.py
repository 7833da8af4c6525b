"""Request-level protection and visibility: body size limit, timeout, metrics and access logs.

Plain ASGI middleware (not Starlette's BaseHTTPMiddleware), so streaming responses and WebSockets
pass through untouched and each layer costs microseconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_apps.api.problems import ApiProblem, problem_response

access_log = logging.getLogger("fleetray.api.access")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ApiMetrics:
    """Prometheus series of the API, in a registry of the app's own (served at /metrics)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "fleetray_api_requests", "API requests", ("method", "route", "status"), registry=self.registry
        )
        self.latency = Histogram(
            "fleetray_api_request_seconds",
            "API request latency",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class _BodyTooLarge(Exception):
    pass


class ProtectionMiddleware:
    """Refuses bodies over ``max_body_bytes`` (413), answers 504 after ``timeout_s``, counts and logs each request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        timeout_s: float,
        metrics: ApiMetrics,
        long_requests: dict[str, float] | None = None,
        large_bodies: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.long_requests = long_requests or {}  # path prefix -> its own timeout
        self.large_bodies = large_bodies or {}  # path prefix -> its own body limit
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}
        request = Request(scope)
        path = scope["path"]
        limit = next((b for prefix, b in self.large_bodies.items() if path.startswith(prefix)), self.max_body_bytes)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, status, limit)
            self._observe(scope, started, status["code"])
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        response_started = False

        async def recording_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status["code"] = message["status"]
            await send(message)

        timeout_s = next((t for prefix, t in self.long_requests.items() if path.startswith(prefix)), self.timeout_s)
        try:
            await asyncio.wait_for(self.app(scope, limited_receive, recording_send), timeout_s)
        except _BodyTooLarge:
            if not response_started:
                await self._refuse(scope, receive, send, status, limit)
        except TimeoutError:
            if not response_started:
                problem = ApiProblem(
                    504,
                    "Timeout",
                    f"the request took longer than {timeout_s:g} s; "
                    "narrow it (a shorter time range, a smaller limit) or retry",
                )
                await problem_response(request, problem)(scope, receive, recording_send)
        finally:
            self._observe(scope, started, status["code"])

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: dict[str, int], limit: int) -> None:
        status["code"] = 413
        problem = ApiProblem(
            413,
            "Request body too large",
            f"request bodies are limited to {limit:,} bytes; send less per request",
        )
        await problem_response(Request(scope), problem)(scope, receive, send)

    def _observe(self, scope: Scope, started: float, status: int) -> None:
        elapsed = time.perf_counter() - started
        route = _route_of(scope)
        method = scope["method"]
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.latency.labels(method, route).observe(elapsed)
        if access_log.isEnabledFor(logging.INFO):
            state: dict[str, Any] = scope.get("state") or {}
            client = scope.get("client")
            # The path without its query string, and the key's id, never the key: nothing secret is logged.
            access_log.info(
                json.dumps(
                    {
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "key_id": state.get("key_id"),
                        "client": client[0] if client else None,
                    }
                )
            )
