"""Classic vehicle routing with time windows (Solomon's instances) as schedule requests.

The classic problem is a special case of ours: identical robots with a tank, one depot where every
route starts and ends, customers as tasks with a demand, a ready time, a due time and a service time,
Euclidean distances at speed 1, and the objective "fewest vehicles, then shortest distance". It is
how the optimiser is held against published best-known solutions.

The classic problems count time in real numbers; ours in whole seconds. Coordinates and times are
multiplied by ``SCALE`` so that rounding travel times up to whole seconds changes them by at most
1/``SCALE`` of a unit; distances in the answer divide back by it.
"""

from __future__ import annotations

from pathlib import Path

from fleetray.errors import FleetrayError
from fleetray.scheduling.model import ScheduleRequest

SCALE = 100
VEHICLE_WEIGHT = 10_000_000  # one robot fewer outweighs any distance (scaled) these problems can have
MUST_SERVE = 1_000_000_000


class SolomonFormatError(FleetrayError, ValueError):
    """A file is not a VRPTW instance in the format this reader takes."""


def read_solomon(path: Path, vehicles: int = 25, time_limit_s: float = 30.0) -> ScheduleRequest:
    """The instance in ``path`` as a request.

    The format: a first line with the vehicles' capacity, then one line per node with id, x, y,
    demand, ready time, due time (the latest start of service) and service time; node 0 is the depot.
    """
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    try:
        capacity = int(lines[0][0])
        rows = [[float(value) for value in line[:7]] for line in lines[1:]]
    except (IndexError, ValueError) as err:
        raise SolomonFormatError(
            f"{path}: expected a capacity line, then 'id x y demand ready due service' lines ({err})"
        ) from err
    if not rows or any(len(row) != 7 for row in rows):
        raise SolomonFormatError(f"{path}: every node line needs 7 numbers: id x y demand ready due service")
    depot, customers = rows[0], rows[1:]
    horizon = round(depot[5] * SCALE)
    locations = [{"id": "depot", "x": depot[1] * SCALE, "y": depot[2] * SCALE}]
    locations += [{"id": f"c{int(row[0])}", "x": row[1] * SCALE, "y": row[2] * SCALE} for row in customers]
    available = {"start": round(depot[4] * SCALE), "end": horizon}
    robots = [
        {"id": f"v{k}", "start_location": "depot", "speed_m_s": 1.0, "capacity": capacity, "availability": available}
        for k in range(vehicles)
    ]
    tasks = [
        {
            "id": f"c{int(row[0])}",
            "location": f"c{int(row[0])}",
            "duration_s": round(row[6] * SCALE),
            "demand": int(row[3]),
            "drop_penalty": MUST_SERVE,
            "window": {"start": round(row[4] * SCALE), "end": min(horizon, round((row[5] + row[6]) * SCALE))},
        }
        for row in customers
    ]
    return ScheduleRequest.model_validate(
        {
            "horizon_s": horizon,
            "locations": locations,
            "robots": robots,
            "tasks": tasks,
            "objective": {"dropped": 1.0, "distance_m": 1.0, "robots_used": VEHICLE_WEIGHT},
            "options": {"time_limit_s": time_limit_s},
        }
    )
