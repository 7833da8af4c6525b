"""Large requests in parts: one per site, clusters within a large site, recombined into one checked plan."""

from __future__ import annotations

from collections import Counter

import pytest

from fleetray.scheduling import ScheduleRequest, solve
from fleetray.scheduling.split import Split, SplitPlanError, combine, run_in_process, split_request
from fleetray.sim.schedules import schedule_problem


def test_a_request_over_several_sites_is_planned_site_by_site_and_never_crosses_between_them() -> None:
    request = schedule_problem(12, 90, seed=3, time_limit_s=3, sites=4)
    split = split_request(request)
    assert len(split.parts) == 4 and not split.stranded
    assert sorted(len(part.tasks) for part in split.parts) == [22, 22, 23, 23]
    site_of = {location.id: location.site for location in request.locations}
    for part in split.parts:  # each part holds one site's robots, tasks and chargers
        assert len({site_of[loc.id] for loc in part.locations}) == 1
    greedy, plan = solve(request, method="greedy"), solve(request)
    assert plan.solver.startswith("4 parts") and plan.objective <= greedy.objective
    assert plan.kpis.tasks_planned + plan.kpis.tasks_dropped == 90
    robot_site = {robot.id: site_of[robot.start_location] for robot in request.robots}
    for itinerary in plan.itineraries:
        assert {site_of[stop.location] for stop in itinerary.stops} == {robot_site[itinerary.robot_id]}
    planned = [stop.task_id for i in plan.itineraries for stop in i.stops if stop.task_id]
    assert len(planned) == len(set(planned)) == plan.kpis.tasks_planned


def test_tasks_at_a_site_without_robots_are_dropped_with_the_reason() -> None:
    body = schedule_problem(4, 20, seed=2, time_limit_s=1, sites=2).model_dump()
    body["locations"].append({"id": "annex", "x": 50_000, "y": 0, "site": "annex"})
    body["tasks"].append({"id": "annex-floor", "location": "annex", "duration_s": 600})
    plan = solve(ScheduleRequest.model_validate(body))
    assert {d.task_id: d.reason for d in plan.dropped}["annex-floor"] == "no robot starts at this task's site (annex)"


def test_sites_linked_by_a_robot_or_a_constraint_stay_one_part() -> None:
    body = schedule_problem(6, 30, seed=4, sites=3).model_dump()
    body["robots"][0]["end_location"] = "dock-a-1"  # robot r0 starts at site-0 and ends at site-1
    body["tasks"][2]["after"] = ["t3"]  # site-2's task t2 after site-0's task t3
    split = split_request(ScheduleRequest.model_validate(body))
    assert len(split.parts) == 1 and len(split.parts[0].tasks) == 30


def test_a_large_site_is_clustered_and_each_cluster_gets_robots_of_every_kind() -> None:
    request = schedule_problem(12, 300, seed=5)
    split = split_request(request, part_tasks=100)
    assert len(split.parts) == 3
    tasks = Counter(task.id for part in split.parts for task in part.tasks)
    robots = Counter(robot.id for part in split.parts for robot in part.robots)
    assert len(tasks) == 300 and set(tasks.values()) == {1} and len(robots) == 12 and set(robots.values()) == {1}
    for part in split.parts:
        assert {tuple(robot.capabilities) for robot in part.robots} == {("vacuum",), ("vacuum", "scrub")}


def test_a_matrix_is_cut_to_each_part() -> None:
    body = schedule_problem(4, 12, seed=6, sites=2).model_dump()
    ids = [location["id"] for location in body["locations"]]
    where = {location["id"]: (location["x"], location["y"]) for location in body["locations"]}
    body["matrix"] = {
        "ids": ids,
        "distances_m": [[abs(where[a][0] - where[b][0]) + abs(where[a][1] - where[b][1]) for b in ids] for a in ids],
    }
    request = ScheduleRequest.model_validate(body)
    split = split_request(request)
    assert len(split.parts) == 2
    for part in split.parts:
        assert part.matrix.ids == [location.id for location in part.locations]
        first, last = part.locations[0].id, part.locations[-1].id
        assert part.matrix.distances_m[0][-1] == body["matrix"]["distances_m"][ids.index(first)][ids.index(last)]
    plan = solve(request.model_copy(update={"options": request.options.model_copy(update={"time_limit_s": 1})}))
    assert plan.kpis.tasks_planned > 0


def test_recombining_refuses_a_part_plan_that_does_not_hold() -> None:
    request = schedule_problem(4, 16, seed=7, time_limit_s=1, sites=2)
    split = split_request(request)
    results = run_in_process(split.parts, "greedy", [None, None])
    stops = results[0].itineraries[0].stops
    moved = [stop.model_copy(update={"start_s": stop.start_s - 60}) if stop.task_id else stop for stop in stops]
    tampered = results[0].model_copy(
        update={"itineraries": [results[0].itineraries[0].model_copy(update={"stops": moved})]}
    )
    with pytest.raises(SplitPlanError, match="does not hold"):
        combine(request, split, [tampered, results[1]], 0.1)
    with pytest.raises(SplitPlanError, match="does not hold: not all of it is in its part"):
        combine(request, split, [results[0], results[0]], 0.1)
    same_part_twice = Split([split.parts[0]] * 2)
    with pytest.raises(SplitPlanError, match="twice"):
        combine(request, same_part_twice, [results[0], results[0]], 0.1)


def test_tasks_needing_a_capability_no_robot_of_their_site_has_are_dropped_with_the_tasks_tied_to_them() -> None:
    body = schedule_problem(4, 24, seed=8, time_limit_s=1, sites=2).model_dump()
    for robot in body["robots"]:
        if robot["start_location"].endswith("-1"):
            robot["capabilities"] = ["vacuum"]  # site-1 has no scrubber; site-0 has
    scrub = [t for t in body["tasks"] if t["capability"] == "scrub" and t["location"] in _site(body, "site-1")]
    follower = next(t for t in body["tasks"] if t["location"] in _site(body, "site-1") and t not in scrub)
    follower["after"] = [scrub[0]["id"]]
    plan = solve(ScheduleRequest.model_validate(body))
    reasons = {dropped.task_id: dropped.reason for dropped in plan.dropped}
    assert all("has capability 'scrub'" in reasons[task["id"]] for task in scrub)
    assert reasons[follower["id"]] == f"tied to task {scrub[0]['id']}, which cannot be served here"


def _site(body: dict, site: str) -> set[str]:
    return {location["id"] for location in body["locations"] if location.get("site") == site}
