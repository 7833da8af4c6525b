"""Generated schedule problems, for tests and benchmarks: docks, cleaning spots, robots of two kinds."""

from __future__ import annotations

import random

from fleetray.scheduling.model import ScheduleRequest

SITE_SPACING_M = 10_000  # far enough that no robot could cross between sites within a day's horizon


def schedule_problem(
    robots: int,
    tasks: int,
    seed: int = 1,
    time_limit_s: float = 2.0,
    docks_charge: bool = True,
    sites: int = 1,
) -> ScheduleRequest:
    """A seeded fleet: ``tasks`` spots around two docks per site (chargers unless ``docks_charge`` is false), two
    kinds of robot, windows, tanks, batteries that last about four hours of work, a maintenance window.

    With ``sites`` above one, robots and tasks are dealt to the sites in turn, and the sites lie 10 km apart
    (each location names its site): a request spanning many buildings.
    """
    rnd = random.Random(seed)
    locations = []
    for site in range(sites):
        named = {"site": f"site-{site}"} if sites > 1 else {}
        suffix = f"-{site}" if sites > 1 else ""
        locations += [
            {"id": f"dock-a{suffix}", "x": SITE_SPACING_M * site, "y": 0, "charger": docks_charge, **named},
            {"id": f"dock-b{suffix}", "x": SITE_SPACING_M * site + 400, "y": 300, "charger": docks_charge, **named},
        ]
    for i in range(tasks):
        site = i % sites
        named = {"site": f"site-{site}"} if sites > 1 else {}
        x, y = SITE_SPACING_M * site + rnd.uniform(0, 400), rnd.uniform(0, 300)
        locations.append({"id": f"spot-{i}", "x": x, "y": y, **named})
    fleet = [
        {
            "id": f"r{i}",
            "start_location": ("dock-a" if _kind(i, sites) else "dock-b") + (f"-{i % sites}" if sites > 1 else ""),
            "speed_m_s": 0.8,
            "capabilities": ["vacuum", "scrub"] if _kind(i, sites) else ["vacuum"],
            "capacity": 40,
            "battery_soc": 0.9,
            "consumption_per_min_work": 0.004,
            "consumption_per_m": 0.00005,
            "reserve": 0.2,
            "maintenance": [{"start": 7200, "end": 9000}] if i == 0 else [],
        }
        for i in range(robots)
    ]
    work = []
    for i in range(tasks):
        start = rnd.choice([0, 3600, 14400])
        work.append(
            {
                "id": f"t{i}",
                "location": f"spot-{i}",
                "duration_s": rnd.randint(300, 1500),
                "capability": rnd.choice([None, "vacuum", "scrub"]),
                "demand": rnd.randint(0, 4),
                "window": {"start": start, "end": start + rnd.randint(3600, 21600)},
                "priority": rnd.randint(0, 3),
            }
        )
    return ScheduleRequest.model_validate(
        {
            "horizon_s": 43200,
            "locations": locations,
            "robots": fleet,
            "tasks": work,
            "options": {"time_limit_s": time_limit_s},
        }
    )


def _kind(robot: int, sites: int) -> int:
    """Robot ``robot``'s kind (1: scrubs too): the kinds alternate within each site and from one site to the next."""
    return (robot // sites + robot % sites) % 2
