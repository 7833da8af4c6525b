"""``ScheduleOptimizer``: solves schedule requests on a CPU of its own; the REST API calls it by handle."""

from __future__ import annotations

from typing import Any

from ray import serve

from fleetray.scheduling import ScheduleRequest, solve
from fleetray.scheduling.repair import ReoptimizeRequest, reoptimize


@serve.deployment(name="ScheduleOptimizer", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=2)
class ScheduleOptimizer:
    """One solve at a time per CPU; more replicas solve more requests at once."""

    def optimize(self, request: dict[str, Any]) -> dict[str, Any]:
        """Solve a request (already validated by the API) and return the plan as JSON."""
        return solve(ScheduleRequest.model_validate(request)).model_dump(mode="json")

    def reoptimize(self, body: dict[str, Any]) -> dict[str, Any]:
        """Repair a plan after an event and return it as JSON."""
        return reoptimize(ReoptimizeRequest.model_validate(body)).model_dump(mode="json")
