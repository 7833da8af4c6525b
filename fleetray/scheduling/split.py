"""Large requests as independent parts: one per site, and within a large site one per cluster of tasks.

Robots never travel between sites (a location's ``site``), so a request spanning many sites is that
many problems. Sites that share a robot (it starts at one and ends at another) or a constraint
between tasks (``after``, ``same_robot_as``) stay one part. Within a site of more than ``PART_TASKS``
tasks, the tasks are clustered by place and each cluster gets robots in proportion to its tasks,
nearest first; a site whose tasks are linked by constraints, or whose distances come from a matrix,
stays whole.

Parts are solved by a :data:`PartRunner` (one after another in this process, or as Ray tasks across a
cluster: ``serve_apps.schedules.parts``), each within its share of the request's time limit, and the
plans are recombined: every route re-checked by the evaluator of its part, no task or robot planned
twice, the objective priced for the whole request.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from fleetray.scheduling.model import DroppedTask, Kpis, ScheduleRequest, ScheduleResult

if TYPE_CHECKING:
    import numpy as np

PART_TASKS = 600  # above this many tasks, a site is split into clusters (the engines' sweet spot is below)
RESERVE_SHARE = 0.1  # of the time limit, kept for splitting, shipping parts and recombining
MIN_PART_S = 0.2
NO_ROBOT = "no robot starts at this task's site ({site})"
NO_CAPABILITY = "no robot planned with it (its site, or its cluster of the site) has capability {capability!r}"

Method = Literal["optimize", "greedy"]
PartRunner = Callable[[Sequence[ScheduleRequest], Method, Sequence[dict[str, list[str]] | None]], list[ScheduleResult]]


@dataclass
class Split:
    """The parts of a request, and the tasks no part can take."""

    parts: list[ScheduleRequest]
    stranded: list[DroppedTask] = field(default_factory=list)


class _Sites:
    """Union-find over site names: sites that share a robot or a constraint are planned together."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, site: str) -> str:
        self.parent.setdefault(site, site)
        while self.parent[site] != site:
            self.parent[site] = self.parent[self.parent[site]]
            site = self.parent[site]
        return site

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def split_request(request: ScheduleRequest, part_tasks: int = PART_TASKS) -> Split:
    """The request's independent parts (one part: the request itself)."""
    site_of = {location.id: location.site or "" for location in request.locations}
    sites = _Sites()
    for robot in request.robots:
        sites.join(site_of[robot.start_location], site_of[robot.end_location or robot.start_location])
    task_site = {task.id: site_of[task.location] for task in request.tasks}
    linked = set()
    for task in request.tasks:
        for other in (*task.after, *task.same_robot_as):
            sites.join(task_site[task.id], task_site[other])
            linked.add(sites.find(task_site[task.id]))
    linked = {sites.find(site) for site in linked}
    robots_at: dict[str, list] = {}
    for robot in request.robots:
        robots_at.setdefault(sites.find(site_of[robot.start_location]), []).append(robot)
    tasks_at: dict[str, list] = {}
    for task in request.tasks:
        tasks_at.setdefault(sites.find(task_site[task.id]), []).append(task)
    places_at: dict[str, list] = {}
    for location in request.locations:
        places_at.setdefault(sites.find(site_of[location.id]), []).append(location)
    split = Split([])
    for site, tasks in tasks_at.items():
        if site not in robots_at:
            reason = NO_ROBOT.format(site=site or "none given")
            split.stranded += [DroppedTask(task_id=task.id, reason=reason) for task in tasks]
    for site, robots in robots_at.items():
        tasks = tasks_at.get(site, [])
        if not tasks:
            continue
        if len(tasks) > part_tasks and site not in linked and request.matrix is None and len(robots) > 1:
            groups = _clusters(request, robots, tasks, part_tasks)
        else:
            groups = [(robots, tasks)]
        for members, work in groups:
            kept, stranded = _servable(members, work)
            split.stranded += stranded
            if kept:
                split.parts.append(_part(request, places_at[site], members, kept))
    whole = len(split.parts) == 1 and not split.stranded and len(split.parts[0].robots) == len(request.robots)
    return Split([request]) if whole or (not split.parts and not split.stranded) else split


def _servable(robots: list, tasks: list) -> tuple[list, list[DroppedTask]]:
    """The tasks some of ``robots`` can serve, and the others dropped with why (with the tasks tied to them)."""
    capabilities = {capability for robot in robots for capability in robot.capabilities}
    out = {
        task.id: NO_CAPABILITY.format(capability=task.capability)
        for task in tasks
        if task.capability is not None and task.capability not in capabilities
    }
    changed = bool(out)
    while changed:  # a task after or beside one that is dropped cannot be planned either
        changed = False
        for task in tasks:
            tied = next((other for other in (*task.after, *task.same_robot_as) if other in out), None)
            if task.id not in out and tied is not None:
                out[task.id], changed = f"tied to task {tied}, which cannot be served here", True
    stranded = [DroppedTask(task_id=task.id, reason=out[task.id]) for task in tasks if task.id in out]
    return [task for task in tasks if task.id not in out], stranded


def _part(request: ScheduleRequest, places: list, robots: list, tasks: list) -> ScheduleRequest:
    """A request for some robots and tasks of one site (``places``), with the places they need and its chargers."""
    needed = {task.location for task in tasks}
    needed |= {robot.start_location for robot in robots}
    needed |= {robot.end_location for robot in robots if robot.end_location}
    locations = [location for location in places if location.id in needed or location.charger]
    matrix = None
    if request.matrix is not None:
        ids = [location.id for location in locations]
        rows = {name: i for i, name in enumerate(request.matrix.ids)}
        distances = [[request.matrix.distances_m[rows[a]][rows[b]] for b in ids] for a in ids]
        matrix = request.matrix.model_validate({"ids": ids, "distances_m": distances})
    return request.model_copy(update={"locations": locations, "robots": robots, "tasks": tasks, "matrix": matrix})


def _clusters(request: ScheduleRequest, robots: list, tasks: list, part_tasks: int) -> list[tuple[list, list]]:
    """Tasks clustered by place (scikit-learn's k-means, seeded), robots shared out in proportion to the tasks,
    nearest first."""
    import numpy as np

    where = {loc.id: (loc.x, loc.y) for loc in request.locations}
    points = np.array([where[task.location] for task in tasks], dtype=np.float64)
    from sklearn.cluster import KMeans

    k = min(len(robots), math.ceil(len(tasks) / part_tasks))
    clusters = KMeans(n_clusters=k, n_init=1, random_state=0).fit(points)
    label, centres = clusters.labels_, clusters.cluster_centers_
    counts = np.bincount(label, minlength=k)
    members: list[list] = [[] for _ in range(k)]
    kinds: dict[tuple, list] = {}
    for robot in robots:  # each kind of robot (its capabilities) is shared out on its own
        kinds.setdefault(tuple(sorted(robot.capabilities)), []).append(robot)
    for kind in kinds.values():
        starts = np.array([where[robot.start_location] for robot in kind], dtype=np.float64)
        distance = np.hypot(*(starts[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
        quota = _quota(counts, len(kind))
        for flat in np.argsort(distance, axis=None, kind="stable"):
            r, c = divmod(int(flat), k)
            if kind[r] is not None and quota[c] > 0:
                members[c].append(kind[r])
                kind[r], quota[c] = None, quota[c] - 1
    staffed = np.array([bool(m) for m in members])
    work: list[list] = [[] for _ in range(k)]
    for task, point, cluster in zip(tasks, points, label, strict=True):
        # A cluster too small for a robot of its own joins the nearest one with robots.
        nearest = np.flatnonzero(staffed)[np.argmin(((centres[staffed] - point) ** 2).sum(axis=1))]
        work[int(cluster if staffed[cluster] else nearest)].append(task)
    return [(members[c], work[c]) for c in range(k) if work[c]]


def _quota(counts: np.ndarray, robots: int) -> np.ndarray:
    """Robots per cluster in proportion to its tasks (largest remainders)."""
    import numpy as np

    share = counts / counts.sum() * robots
    quota = np.floor(share).astype(int)
    for c in np.argsort(-(share - quota), kind="stable")[: robots - quota.sum()]:
        quota[c] += 1
    return quota


def part_time_limits(split: Split, time_limit_s: float, workers: int) -> list[float]:
    """Each part's share of the time: in proportion to its tasks, so that ``workers`` in parallel finish in time."""
    budget = max(MIN_PART_S, time_limit_s * (1 - RESERVE_SHARE) - 1.0)
    total = sum(len(part.tasks) for part in split.parts) or 1
    return [round(min(budget, max(MIN_PART_S, budget * workers * len(part.tasks) / total)), 3) for part in split.parts]


def solve_split(
    request: ScheduleRequest,
    split: Split,
    method: Method,
    runner: PartRunner,
    workers: int,
    seed: dict[str, list[str]] | None = None,
) -> ScheduleResult:
    """Solve the parts with ``runner`` (``workers`` at a time), then recombine them into one checked plan."""
    started = time.perf_counter()
    limits = part_time_limits(split, request.options.time_limit_s, workers)
    parts = [
        part.model_copy(update={"options": part.options.model_copy(update={"time_limit_s": limit})})
        for part, limit in zip(split.parts, limits, strict=True)
    ]
    seeds = [{r.id: seed[r.id] for r in part.robots if r.id in seed} if seed else None for part in parts]
    results = runner(parts, method, seeds)
    return combine(request, split, results, time.perf_counter() - started)


def run_in_process(
    parts: Sequence[ScheduleRequest], method: Method, seeds: Sequence[dict[str, list[str]] | None]
) -> list[ScheduleResult]:
    """The parts one after another, in this process."""
    from fleetray.scheduling import solve

    return [solve(part, method=method, seed=seed) for part, seed in zip(parts, seeds, strict=True)]


class SplitPlanError(ValueError):
    """Recombined parts plan a task or a robot twice (a defect in splitting, never the request's fault)."""


def _recheck(part: ScheduleRequest, result: ScheduleResult) -> None:
    """Replay each itinerary on its part's evaluator: a plan that came back from elsewhere must hold here too."""
    from fleetray.scheduling.instance import charge_item, compile_request, evaluate_route

    instance = compile_request(part)
    robot_index = {robot.id: r for r, robot in enumerate(part.robots)}
    task_index = {task.id: t for t, task in enumerate(part.tasks)}
    for itinerary in result.itineraries:
        strangers = {stop.task_id for stop in itinerary.stops if stop.task_id} - task_index.keys()
        if itinerary.robot_id not in robot_index or strangers:
            raise SplitPlanError(f"robot {itinerary.robot_id}'s plan does not hold: not all of it is in its part")
        route = [
            task_index[stop.task_id] if stop.task_id else charge_item(instance.location_index[stop.location])
            for stop in itinerary.stops
            if stop.kind in ("task", "charge")
        ]
        replayed = evaluate_route(instance, robot_index[itinerary.robot_id], route)
        if not replayed.feasible or replayed.stops != itinerary.stops:
            raise SplitPlanError(
                f"robot {itinerary.robot_id}'s plan does not hold: {replayed.reason or 'stops differ'}"
            )


def combine(
    request: ScheduleRequest, split: Split, results: Sequence[ScheduleResult], seconds: float
) -> ScheduleResult:
    """One plan from the parts' plans: checked for tasks and robots planned twice, priced for the whole request."""
    from fleetray.scheduling.instance import drop_penalty

    for part, result in zip(split.parts, results, strict=True):
        _recheck(part, result)
    weights = request.objective
    planned = [stop.task_id for result in results for i in result.itineraries for stop in i.stops if stop.task_id]
    robots = [itinerary.robot_id for result in results for itinerary in result.itineraries]
    if len(set(planned)) != len(planned) or len(set(robots)) != len(robots):
        raise SplitPlanError("recombined parts plan a task or a robot twice")
    penalty = {task.id: drop_penalty(task) for task in request.tasks}
    makespan = max((result.kpis.makespan_s for result in results), default=0)
    # Each part priced its own latest end; the whole request has one.
    objective = sum(result.objective - weights.makespan_s * result.kpis.makespan_s for result in results)
    objective += weights.makespan_s * makespan + weights.dropped * sum(penalty[d.task_id] for d in split.stranded)
    solvers = Counter(result.solver for result in results).most_common()
    return ScheduleResult(
        status="feasible",
        solver=f"{len(results)} parts: " + "; ".join(f"{count} x {solver}" for solver, count in solvers),
        objective=round(objective, 3),
        solve_time_s=round(seconds, 3),
        itineraries=[itinerary for result in results for itinerary in result.itineraries],
        dropped=[*split.stranded, *(dropped for result in results for dropped in result.dropped)],
        kpis=Kpis(
            tasks_planned=len(planned),
            tasks_dropped=len(request.tasks) - len(planned),
            robots_used=len(robots),
            charging_stops=sum(result.kpis.charging_stops for result in results),
            distance_m=round(sum(result.kpis.distance_m for result in results), 1),
            travel_s=sum(result.kpis.travel_s for result in results),
            makespan_s=makespan,
        ),
    )
