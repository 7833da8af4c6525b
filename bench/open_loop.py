"""Load at a fixed offered rate (an open loop): requests go out on schedule whatever the answers' pace, so
latency is measured below saturation rather than at it. Shared by the benchmarks."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable


def latency_figures(latencies: list[float], elapsed: float, errors: int) -> dict:
    """Rate, median and 99th percentile (ms), errors and count of requests that took ``latencies`` seconds."""
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "errors": errors,
        "requests": len(latencies),
    }


async def offer(rate: float, seconds: float, request: Callable[[], Awaitable[bool]]) -> dict:
    """Start ``request()`` ``rate`` times a second for ``seconds``; each says whether it succeeded (an
    exception counts as an error). Returns :func:`latency_figures` over every request."""
    latencies: list[float] = []
    errors = 0

    async def timed() -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            succeeded = await request()
        except Exception:
            succeeded = False
        errors += not succeeded
        latencies.append(time.perf_counter() - started)

    began = time.perf_counter()
    sent = []
    for k in range(int(rate * seconds)):
        delay = began + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(asyncio.ensure_future(timed()))
    await asyncio.gather(*sent)
    return latency_figures(latencies, time.perf_counter() - began, errors)
