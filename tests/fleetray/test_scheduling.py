"""Cleaning schedules: hard constraints hold, drops are explained, the optimiser never loses to the baseline."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from fleetray.scheduling import ScheduleRequest, ScheduleRequestError, solve, validate_request
from fleetray.scheduling.instance import charge_item, compile_request, evaluate_route
from fleetray.sim.schedules import schedule_problem


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plans_keep_every_hard_constraint_and_the_optimiser_beats_the_baseline(seed: int) -> None:
    request = schedule_problem(4, 40, seed=seed, time_limit_s=1.0)
    instance = compile_request(request)
    greedy, optimised = solve(request, method="greedy"), solve(request)
    assert "refused" not in optimised.solver  # the optimiser's own plan passed the re-check
    for plan in (greedy, optimised):
        assert plan.kpis.tasks_planned + plan.kpis.tasks_dropped == 40
        index = {task.id: i for i, task in enumerate(request.tasks)}
        for itinerary in plan.itineraries:
            robot = next(i for i, r in enumerate(request.robots) if r.id == itinerary.robot_id)
            route = [
                index[s.task_id] if s.task_id else charge_item(instance.location_index[s.location])
                for s in itinerary.stops
                if s.kind in ("task", "charge")
            ]
            replayed = evaluate_route(instance, robot, route)
            assert replayed.feasible and replayed.stops == itinerary.stops
            for stop in itinerary.stops:
                if stop.task_id:
                    task = request.tasks[index[stop.task_id]]
                    assert task.window.start <= stop.start_s and stop.end_s <= task.window.end
                    assert stop.battery_soc >= request.robots[robot].reserve
                    assert not (stop.start_s < 9000 and stop.end_s > 7200 and robot == 0)  # maintenance
    assert optimised.objective <= greedy.objective
    assert optimised.kpis.tasks_dropped <= greedy.kpis.tasks_dropped or optimised.objective < greedy.objective


def test_unservable_tasks_are_dropped_with_the_reason() -> None:
    request = ScheduleRequest.model_validate(
        {
            "locations": [
                {"id": "dock", "x": 0, "y": 0},
                {"id": "far", "x": 50_000, "y": 0},
                {"id": "near", "x": 5, "y": 0},
            ],
            "robots": [{"id": "r1", "start_location": "dock", "capabilities": ["scrub"], "capacity": 2}],
            "tasks": [
                {"id": "unreachable", "location": "far", "duration_s": 60, "window": {"start": 0, "end": 600}},
                {"id": "heavy", "location": "near", "duration_s": 60, "demand": 5},
                {"id": "fine", "location": "near", "area_m2": 30, "capability": "scrub"},
            ],
            "options": {"time_limit_s": 0.5},
        }
    )
    validation = validate_request(request)
    assert {d.task_id for d in validation.unservable} == {"unreachable", "heavy"}
    plan = solve(request)
    reasons = {d.task_id: d.reason for d in plan.dropped}
    assert "cannot finish within its window" in reasons["unreachable"]
    assert "capacity (2)" in reasons["heavy"]
    assert [s.task_id for s in plan.itineraries[0].stops if s.task_id] == ["fine"]
    assert plan.itineraries[0].stops[1].end_s - plan.itineraries[0].stops[1].start_s == 100  # 30 m2 at 0.3 m2/s


def test_bad_requests_name_the_field() -> None:
    base = {"locations": [{"id": "dock", "x": 0, "y": 0}], "robots": [{"id": "r1", "start_location": "dock"}]}
    with pytest.raises(ValidationError, match=r"end \(50\) is before start \(100\)"):
        ScheduleRequest.model_validate(
            {**base, "tasks": [{"id": "t", "location": "dock", "duration_s": 5, "window": {"start": 100, "end": 50}}]}
        )
    with pytest.raises(ValidationError, match="duration_s"):
        ScheduleRequest.model_validate({**base, "tasks": [{"id": "t", "location": "dock", "duration_s": -5}]})
    request = ScheduleRequest.model_validate(
        {
            **base,
            "tasks": [
                {"id": "t", "location": "nowhere", "duration_s": 5, "capability": "mop"},
                {"id": "t", "location": "dock", "duration_s": 5, "after": ["ghost"]},
            ],
        }
    )
    with pytest.raises(ScheduleRequestError) as raised:
        solve(request)
    fields = {p.field for p in raised.value.problems}
    assert {"tasks", "tasks[0].location", "tasks[0].capability", "tasks[1].after"} <= fields


def test_a_failed_robot_keeps_what_it_finished_and_the_rest_is_replanned() -> None:
    from fleetray.scheduling.repair import ReoptimizeRequest, reoptimize

    request = schedule_problem(3, 20, time_limit_s=1)
    plan = solve(request)
    busiest = max(plan.itineraries, key=lambda i: len(i.stops))
    tasks = [s for s in busiest.stops if s.task_id]
    at = tasks[len(tasks) // 2].start_s + 1  # in the middle of one of its tasks
    repaired = reoptimize(
        ReoptimizeRequest.model_validate(
            {
                "request": request.model_dump(),
                "previous": plan.model_dump(),
                "event": {"type": "robot_failed", "at_s": at, "robot_id": busiest.robot_id},
            }
        )
    )
    placed = [s.task_id for i in repaired.itineraries for s in i.stops if s.task_id]
    assert len(placed) == len(set(placed))  # no task twice
    assert set(placed) | {d.task_id for d in repaired.dropped} == {t.id for t in request.tasks}
    failed = next(i for i in repaired.itineraries if i.robot_id == busiest.robot_id)
    assert [s for s in failed.stops if s.task_id] == [s for s in tasks if s.end_s <= at]  # only finished work stays
    for itinerary in repaired.itineraries:  # others keep what they had started, and start nothing new before `at`
        before = [s for s in itinerary.stops if s.task_id and s.start_s < at]
        original = next((i for i in plan.itineraries if i.robot_id == itinerary.robot_id), None)
        if itinerary.robot_id != busiest.robot_id and original is not None:
            assert before == [s for s in original.stops if s.task_id and s.start_s < at]


def test_the_constant_time_insertion_check_agrees_with_replaying_the_route() -> None:
    """Without chargers the check is exact; with them it is sound (what it accepts replays as planned) and
    refuses little that a replay would accept."""
    from fleetray.scheduling.greedy import greedy_routes
    from fleetray.scheduling.insertion import build_slack, inserted, insertion

    for docks_charge in (False, True):
        instance = compile_request(schedule_problem(6, 60, seed=3, docks_charge=docks_charge))
        routes, _ = greedy_routes(instance)
        checked = disagreed = 0
        for robot, route in enumerate(routes):
            if instance.robots[robot].maintenance:
                continue  # such robots are always checked by replay
            slack = build_slack(instance, robot, route)
            for task in range(len(instance.tasks)):
                if task in route or not instance.compatible[robot][task]:
                    continue
                for position in range(len(route) + 1):
                    found = insertion(instance, slack, task, position)
                    checked += 1
                    if found is not None:
                        planned = inserted(route, task, position, found.charger)
                        replayed = evaluate_route(instance, robot, planned, with_stops=False)
                        assert replayed.feasible and replayed.visits == planned, (robot, task, position)
                    elif evaluate_route(instance, robot, inserted(route, task, position, None)).feasible:
                        disagreed += 1
        assert checked > 1000
        if docks_charge:
            assert any(item < 0 for route in routes for item in route)  # the baseline did plan charging stops
            assert disagreed / checked < 0.05
        else:
            assert disagreed == 0


def test_robots_charge_at_chargers_instead_of_running_below_their_reserve() -> None:
    request = ScheduleRequest.model_validate(
        {
            "locations": [
                {"id": "dock", "x": 0, "y": 0, "charger": True},
                *({"id": f"spot-{i}", "x": 100 + 10 * i, "y": 0} for i in range(6)),
            ],
            "robots": [
                {
                    "id": "r1",
                    "start_location": "dock",
                    "battery_soc": 0.6,
                    "reserve": 0.2,
                    "consumption_per_min_work": 0.01,
                    "consumption_per_m": 0.0001,
                    "charge_rate_per_min": 0.02,
                }
            ],
            "tasks": [{"id": f"t{i}", "location": f"spot-{i}", "duration_s": 1200} for i in range(6)],
            "options": {"time_limit_s": 1},
        }
    )
    for method in ("greedy", "optimize"):
        plan = solve(request, method=method)
        assert plan.kpis.tasks_dropped == 0, plan.dropped  # 120 min of work on 40 % of charge: it must recharge
        stops = plan.itineraries[0].stops
        charges = [s for s in stops if s.kind == "charge"]
        assert charges and plan.kpis.charging_stops == len(charges)
        for charge in charges:
            assert charge.location == "dock" and charge.battery_soc == 1.0
            assert charge.end_s > charge.start_s  # charging takes time
        assert all(s.battery_soc >= 0.2 for s in stops)
        assert all(a.end_s <= b.arrival_s for a, b in itertools.pairwise(stops))


def test_without_a_charger_tasks_beyond_the_charge_are_dropped_with_the_reason() -> None:
    request = ScheduleRequest.model_validate(
        {
            "locations": [{"id": "dock", "x": 0, "y": 0}, {"id": "spot", "x": 10, "y": 0}],
            "robots": [
                {
                    "id": "r1",
                    "start_location": "dock",
                    "battery_soc": 0.5,
                    "reserve": 0.2,
                    "consumption_per_min_work": 0.01,
                }
            ],
            "tasks": [{"id": f"t{i}", "location": "spot", "duration_s": 1200} for i in range(3)],
            "options": {"time_limit_s": 0.5},
        }
    )
    plan = solve(request)
    assert plan.kpis.tasks_planned == 1 and plan.kpis.charging_stops == 0  # 20 min uses 0.2 of the 0.3 above reserve
    assert all("charge" in d.reason for d in plan.dropped)


def test_a_solution_limit_makes_the_plan_the_same_on_every_run() -> None:
    request = schedule_problem(4, 30, seed=5, time_limit_s=30)
    request = request.model_copy(update={"options": request.options.model_copy(update={"solution_limit": 40})})
    first, second = solve(request), solve(request)
    assert first.itineraries == second.itineraries and first.objective == second.objective


def test_the_lower_bound_is_proved_below_the_plan_and_meets_it_on_a_tiny_request() -> None:
    request = ScheduleRequest.model_validate(
        {
            "locations": [{"id": "dock", "x": 0, "y": 0}, *({"id": f"s{i}", "x": 10 * i, "y": 5} for i in range(1, 5))],
            "robots": [{"id": "r1", "start_location": "dock"}, {"id": "r2", "start_location": "dock"}],
            "tasks": [{"id": f"t{i}", "location": f"s{i}", "duration_s": 60} for i in range(1, 5)],
            "options": {"time_limit_s": 1, "lower_bound_s": 5},
        }
    )
    plan = solve(request)
    assert plan.lower_bound is not None and plan.lower_bound <= plan.objective + 1e-6
    assert plan.status == "optimal"  # one robot out along the row and back: nothing shorter exists
    larger = schedule_problem(4, 12, seed=7, time_limit_s=1)
    larger = larger.model_copy(update={"options": larger.options.model_copy(update={"lower_bound_s": 3})})
    plan = solve(larger)
    assert plan.lower_bound is not None and 0 < plan.lower_bound <= plan.objective


def test_routes_are_taken_out_where_a_robot_costs_more_than_the_detour() -> None:
    from fleetray.scheduling.elimination import eliminate_routes
    from fleetray.scheduling.instance import plan_cost

    request = schedule_problem(6, 12, seed=9, time_limit_s=1)
    request = request.model_copy(update={"objective": request.objective.model_copy(update={"robots_used": 5000})})
    instance = compile_request(request)
    # A plan as spread as can be: each task on a robot of its own where one can take it.
    routes: list[list[int]] = [[] for _ in request.robots]
    dropped = {}
    for task in range(len(request.tasks)):
        robot = next((r for r in range(6) if not routes[r] and evaluate_route(instance, r, [task]).feasible), None)
        if robot is None:
            dropped[task] = "no free robot"
        else:
            routes[robot] = evaluate_route(instance, robot, [task], with_stops=False).visits
    fewer, fewer_dropped = eliminate_routes(instance, routes, dropped, deadline=None)

    def cost(plan: list[list[int]], left: dict[int, str]) -> float:
        outcomes = [evaluate_route(instance, r, route, with_stops=False) for r, route in enumerate(plan)]
        assert all(outcome.feasible for outcome in outcomes)
        return plan_cost(instance, outcomes, plan, list(left))

    used = sum(1 for route in fewer if any(item >= 0 for item in route))
    assert used < sum(1 for route in routes if route) and len(fewer_dropped) <= len(dropped)
    assert cost(fewer, fewer_dropped) < cost(routes, dropped)
    assert eliminate_routes(instance, fewer, fewer_dropped, deadline=None)[0] == fewer  # nothing more to take out
