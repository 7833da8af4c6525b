"""The parts of a large schedule request solved as Ray tasks across the cluster's free CPUs."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import ray

from fleetray.scheduling import ScheduleRequest, ScheduleResult, solve
from fleetray.scheduling.split import Method

logger = logging.getLogger(__name__)

DEADLINE_MARGIN = 1.2  # parts may overrun their limits a little (building models); beyond this they are late
DEADLINE_SLACK_S = 5.0


@ray.remote(num_cpus=1, max_retries=1)
def _solve_part(request: ScheduleRequest, method: Method, seed: dict[str, list[str]] | None) -> ScheduleResult:
    return solve(request, method=method, seed=seed)


class RayPartRunner:
    """Solves parts as Ray tasks, one CPU each, as many at once as the cluster has CPUs free.

    A part not back by the deadline (its workers lost, or the cluster busier than it looked) is cancelled
    and planned greedily here, so the request is answered in time and never worse than the greedy plan.
    """

    def __init__(self, time_limit_s: float) -> None:
        self.deadline_s = time_limit_s * DEADLINE_MARGIN + DEADLINE_SLACK_S
        self.workers = int(ray.available_resources().get("CPU", 0))

    def __call__(
        self, parts: Sequence[ScheduleRequest], method: Method, seeds: Sequence[dict[str, list[str]] | None]
    ) -> list[ScheduleResult]:
        started = time.monotonic()
        # The largest parts first, so that the last to finish are the short ones.
        order = sorted(range(len(parts)), key=lambda i: -len(parts[i].tasks))
        refs = {i: _solve_part.remote(parts[i], method, seeds[i]) for i in order}
        ready, late = ray.wait(list(refs.values()), num_returns=len(refs), timeout=self.deadline_s)
        results: dict[int, ScheduleResult] = {}
        done = set(ready)
        for i, ref in refs.items():
            if ref in done:
                results[i] = ray.get(ref)
        if late:
            logger.warning(
                "%d of %d schedule parts were not back after %.0f s; planned greedily instead",
                len(late),
                len(parts),
                time.monotonic() - started,
            )
            for i, ref in refs.items():
                if i not in results:
                    ray.cancel(ref, force=True)
                    results[i] = solve(parts[i], method="greedy", seed=seeds[i])
        return [results[i] for i in range(len(parts))]
