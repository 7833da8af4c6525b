"""Classic vehicle routing instances (Solomon's text format, VRPLIB) as schedule requests.

The classic problems are a special case of ours: identical robots with a tank, one depot where every
route starts and ends, customers as tasks with a demand, a service time and (with time windows) a
ready time and a due time, travel at speed 1, and the objective "fewest vehicles, then shortest
distance". They are how the optimiser is held against published best-known solutions.

Both formats are read by the ``vrplib`` package. The classic problems count time in real numbers;
ours in whole seconds. Coordinates, distances and times are multiplied by ``SCALE`` so that rounding
travel times up to whole seconds changes them by at most 1/``SCALE`` of a unit; distances in the
answer divide back by it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from fleetray.errors import FleetrayError
from fleetray.scheduling.model import MAX_SECONDS, ScheduleRequest

SCALE = 100
VEHICLE_WEIGHT = 10_000_000  # one robot fewer outweighs any distance (scaled) these problems can have
MUST_SERVE = 1_000_000_000

ClassicFormat = Literal["solomon", "vrplib"]
FORMATS: tuple[ClassicFormat, ...] = ("solomon", "vrplib")


class ClassicFormatError(FleetrayError, ValueError):
    """A file is not a routing instance in a format this reader takes."""


def detect_format(path: Path) -> ClassicFormat:
    """``solomon`` (a name line, then ``VEHICLE``) or ``vrplib`` (``KEY : value`` lines); else a clear error."""
    try:
        with path.open(encoding="utf-8") as file:
            head = [line.strip() for line, _ in zip(file, range(40), strict=False) if line.strip()]
    except UnicodeDecodeError as err:
        raise ClassicFormatError(f"{path}: not a text file ({err})") from None
    if len(head) > 1 and head[1].upper().startswith("VEHICLE"):
        return "solomon"
    if any(line.split(":")[0].strip().upper() in ("NAME", "DIMENSION", "TYPE") and ":" in line for line in head):
        return "vrplib"
    raise ClassicFormatError(
        f"{path}: neither Solomon's format (a name line, then VEHICLE, NUMBER CAPACITY and a CUSTOMER table) "
        "nor VRPLIB (NAME, TYPE, DIMENSION, CAPACITY ... lines, then NODE_COORD_SECTION and the other sections)"
    )


def read_instance(
    path: Path,
    instance_format: ClassicFormat | None = None,
    *,
    vehicles: int | None = None,
    time_limit_s: float = 30.0,
) -> ScheduleRequest:
    """The instance in ``path`` as a request; the format is detected unless given.

    ``vehicles`` overrides the file's fleet size (Solomon's ``NUMBER``, VRPLIB's ``VEHICLES``); a VRPLIB
    file without one gets as many vehicles as customers, the most a plan can use.
    """
    import vrplib

    instance_format = instance_format or detect_format(path)
    if instance_format not in FORMATS:
        raise ClassicFormatError(f"format must be one of {', '.join(FORMATS)}, not {instance_format!r}")
    try:
        instance = vrplib.read_instance(path, instance_format=instance_format, compute_edge_weights=False)
    except (RuntimeError, ValueError, IndexError, KeyError) as err:
        raise ClassicFormatError(f"{path}: not a readable {_TITLE[instance_format]} instance ({err})") from None
    return _request(path, instance, vehicles, time_limit_s)


_TITLE = {"solomon": "Solomon", "vrplib": "VRPLIB"}


def _field(path: Path, instance: dict[str, Any], name: str, section: str) -> Any:
    if name not in instance:
        raise ClassicFormatError(f"{path}: no {section}: a routing instance needs one")
    return instance[name]


def _request(path: Path, instance: dict[str, Any], vehicles: int | None, time_limit_s: float) -> ScheduleRequest:
    import numpy as np

    demand = np.asarray(_field(path, instance, "demand", "DEMAND_SECTION (or demand column)"), dtype=float)
    nodes = len(demand)
    depots = np.asarray(instance.get("depot", [0])).ravel()
    if len(depots) != 1:
        raise ClassicFormatError(f"{path}: {len(depots)} depots; one depot is supported")
    depot = int(depots[0])
    capacity = int(_field(path, instance, "capacity", "CAPACITY"))
    service = np.broadcast_to(np.asarray(instance.get("service_time", 0.0), dtype=float), (nodes,))
    windows = instance.get("time_window")
    customers = [node for node in range(nodes) if node != depot]
    names = [f"c{node}" for node in range(nodes)]
    names[depot] = "depot"

    locations, matrix = _geometry(path, instance, names)
    if windows is not None:
        windows = np.asarray(windows, dtype=float)
        horizon = round(windows[depot][1] * SCALE)
        start = round(windows[depot][0] * SCALE)
    else:  # without windows, a horizon no route can exceed
        start, horizon = 0, min(MAX_SECONDS, math.ceil((service.sum() + nodes * _longest_leg(instance)) * SCALE) + 1)
    count = vehicles or int(instance.get("vehicles") or len(customers))
    if count < 1:
        raise ClassicFormatError(f"{path}: vehicles must be at least 1, got {count}")
    robots = [
        {
            "id": f"v{k}",
            "start_location": "depot",
            "speed_m_s": 1.0,
            "capacity": capacity,
            "availability": {"start": start, "end": horizon},
        }
        for k in range(count)
    ]
    tasks = []
    for node in customers:
        task = {
            "id": names[node],
            "location": names[node],
            "duration_s": round(service[node] * SCALE),
            "demand": int(demand[node]),
            "drop_penalty": MUST_SERVE,
        }
        if windows is not None:
            # The classic due time is the latest start of service; ours is the latest end.
            task["window"] = {
                "start": round(windows[node][0] * SCALE),
                "end": min(horizon, round((windows[node][1] + service[node]) * SCALE)),
            }
        tasks.append(task)
    return ScheduleRequest.model_validate(
        {
            "horizon_s": horizon,
            "locations": locations,
            "matrix": matrix,
            "robots": robots,
            "tasks": tasks,
            "objective": {"dropped": 1.0, "distance_m": 1.0, "robots_used": VEHICLE_WEIGHT},
            "options": {"time_limit_s": time_limit_s},
        }
    )


def _geometry(path: Path, instance: dict[str, Any], names: list[str]) -> tuple[list[dict], dict | None]:
    """Locations from coordinates; with explicit edge weights (VRPLIB), a travel matrix as well."""
    import numpy as np

    coordinates = instance.get("node_coord")
    weights = instance.get("edge_weight")
    if coordinates is None and weights is None:
        raise ClassicFormatError(f"{path}: neither NODE_COORD_SECTION nor EDGE_WEIGHT_SECTION: no distances")
    if coordinates is None:
        coordinates = np.zeros((len(names), 2))
    locations = [
        {"id": name, "x": float(x) * SCALE, "y": float(y) * SCALE}
        for name, (x, y) in zip(names, coordinates, strict=True)
    ]
    if weights is None:
        return locations, None
    distances = (np.asarray(weights, dtype=float) * SCALE).tolist()
    return locations, {"ids": names, "distances_m": distances}


def _longest_leg(instance: dict[str, Any]) -> float:
    import numpy as np

    if instance.get("edge_weight") is not None:
        return float(np.max(instance["edge_weight"]))
    coordinates = np.asarray(instance["node_coord"], dtype=float)
    return float(np.linalg.norm(coordinates.max(axis=0) - coordinates.min(axis=0)))
