"""``ScheduleOptimizer``: solves schedule requests on a CPU of its own (large ones in parts, as Ray tasks); the REST
API calls it by handle."""

from __future__ import annotations

from typing import Any

from ray import serve

from fleetray.scheduling import ScheduleRequest, solve
from fleetray.scheduling.repair import ReoptimizeRequest, reoptimize
from serve_apps.schedules.parts import RayPartRunner


@serve.deployment(name="ScheduleOptimizer", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=2)
class ScheduleOptimizer:
    """One solve at a time per CPU; more replicas solve more requests at once."""

    def optimize(self, request: dict[str, Any]) -> dict[str, Any]:
        """Solve a request (already validated by the API) and return the plan as JSON.

        A request spanning several sites (or one very large site) is solved in parts, as Ray tasks on the
        cluster's free CPUs; where none is free, the parts are solved here one after another.
        """
        schedule = ScheduleRequest.model_validate(request)
        runner = RayPartRunner(schedule.options.time_limit_s)
        if runner.workers < 1:
            return solve(schedule).model_dump(mode="json")
        return solve(schedule, runner=runner, workers=runner.workers).model_dump(mode="json")

    def reoptimize(self, body: dict[str, Any]) -> dict[str, Any]:
        """Repair a plan after an event and return it as JSON."""
        return reoptimize(ReoptimizeRequest.model_validate(body)).model_dump(mode="json")
