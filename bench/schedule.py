"""Cleaning schedules: the optimiser against the greedy baseline on generated fleets, and against PyVRP on classics.

Generated fleets (robots x tasks over sites), by the same code as the tests (two robot kinds, three
capabilities, time windows, tanks, batteries, a maintenance window), seeded:

    small   10 x 50, one site, 10 s; also a lower bound from CP-SAT (10 deterministic s, 8 workers)
    medium  50 x 500, one site, 30 s
    large   200 x 5,000 over 40 sites: answered within 60 s, site by site on Ray
    xl      2,000 x 50,000 over 400 sites: answered within 5 minutes, as a schedule job solves it (the
            optimizer deployment's Ray fan-out, called directly)

Each size runs in a subprocess with a wall-clock budget, so a size that cannot finish reports as not
feasible rather than holding the benchmark up. Sizes with sites start a local Ray with every core.

Then classic vehicle routing with time windows: Solomon's 100-customer instances, read from the original
text files in bench/data/solomon, within 30 s each, against the best known solutions for "fewest
vehicles, then shortest distance" (SINTEF's VRPTW tables), and PyVRP run on its own on the same
instance with the same time limit, side by side (one after the other, each with the whole machine).
All 56 instances are there; the default runs one or two of each class (C1, C2, R1, R2, RC1, RC2), ``--all``
every one (about an hour).

The last line is JSON:
    {size}_*                     optimiser and greedy objective, dropped tasks, solve seconds
    {size}_improvement_pct       how much lower the optimiser's objective is than the greedy one's, in %
    large_feasible, xl_feasible  1 if the size was answered within its deadline, never worse than greedy
    large_solve_s, xl_solve_s    their wall times, from the request to the checked plan (null: no answer)
    worst_ratio_to_greedy        the largest optimiser / greedy objective ratio over the sizes that answered
    small_lower_bound, small_gap_pct   CP-SAT's proven bound, and (objective - bound) / objective in %
    classic_{name}_*             vehicles, distance and gap of the optimiser, PyVRP, greedy and the best known
    classic_mean_gap_pct         the optimiser's mean distance above the best known, in %
    classic_extra_vehicles       robots used above the best known, summed over the instances
    classic_best_vehicles_share  the share of instances with the best known number of robots
    pyvrp_mean_gap_pct, pyvrp_extra_vehicles   the same for PyVRP alone
    classic_worst_gap_pct, classic_max_solve_s, classic_never_worse_than_greedy
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (robots, tasks, sites, the optimiser's time limit, the deadline for a checked answer; None: no deadline)
SIZES = {
    "small": (10, 50, 1, 10.0, None),
    "medium": (50, 500, 1, 30.0, None),
    "large": (200, 5000, 40, 50.0, 60.0),
    "xl": (2000, 50_000, 400, 240.0, 300.0),
}
SMALL_BOUND_S, BOUND_WORKERS = 10.0, 8  # CP-SAT's deterministic seconds (about 15 s of wall time here)
# Best known (vehicles, distance) for the hierarchical objective, from SINTEF's VRPTW benchmark tables.
BEST_KNOWN = {
    "C101": (10, 828.94),
    "C102": (10, 828.94),
    "C103": (10, 828.06),
    "C104": (10, 824.78),
    "C105": (10, 828.94),
    "C106": (10, 828.94),
    "C107": (10, 828.94),
    "C108": (10, 828.94),
    "C109": (10, 828.94),
    "C201": (3, 591.56),
    "C202": (3, 591.56),
    "C203": (3, 591.17),
    "C204": (3, 590.60),
    "C205": (3, 588.88),
    "C206": (3, 588.49),
    "C207": (3, 588.29),
    "C208": (3, 588.32),
    "R101": (19, 1650.80),
    "R102": (17, 1486.12),
    "R103": (13, 1292.68),
    "R104": (9, 1007.31),
    "R105": (14, 1377.11),
    "R106": (12, 1252.03),
    "R107": (10, 1104.66),
    "R108": (9, 960.88),
    "R109": (11, 1194.73),
    "R110": (10, 1118.84),
    "R111": (10, 1096.72),
    "R112": (9, 982.14),
    "R201": (4, 1252.37),
    "R202": (3, 1191.70),
    "R203": (3, 939.50),
    "R204": (2, 825.52),
    "R205": (3, 994.42),
    "R206": (3, 906.14),
    "R207": (2, 890.61),
    "R208": (2, 726.82),
    "R209": (3, 909.16),
    "R210": (3, 939.37),
    "R211": (2, 885.71),
    "RC101": (14, 1696.95),
    "RC102": (12, 1554.75),
    "RC103": (11, 1261.67),
    "RC104": (10, 1135.48),
    "RC105": (13, 1629.44),
    "RC106": (11, 1424.73),
    "RC107": (11, 1230.48),
    "RC108": (10, 1139.82),
    "RC201": (4, 1406.94),
    "RC202": (3, 1365.64),
    "RC203": (3, 1049.62),
    "RC204": (3, 798.46),
    "RC205": (4, 1297.65),
    "RC206": (3, 1146.32),
    "RC207": (3, 1061.14),
    "RC208": (3, 828.14),
}
# The default run: one instance or two of each class, 8 of the 56 (--all for every one).
DEFAULT_CLASSICS = ["C101", "C201", "R101", "R102", "R201", "RC101", "RC102", "RC201"]
CLASSIC_LIMIT_S = 29.0  # each solver's limit: with reading the file and checking the plan, within 30 s
PYVRP_SCALE = 1000  # PyVRP's own run: distances in thousandths, rounded
SOLOMON_DIR = Path(__file__).resolve().parent / "data" / "solomon"


def _generated(name: str, robots: int, tasks: int, sites: int, time_limit_s: float, bound_s: float) -> dict:
    from fleetray.scheduling import solve
    from fleetray.scheduling.instance import compile_request
    from fleetray.sim.schedules import schedule_problem

    request = schedule_problem(robots, tasks, seed=7, time_limit_s=time_limit_s, sites=sites)
    runner = {}
    if sites > 1:
        import ray

        from serve_apps.schedules.parts import RayPartRunner

        ray.init(include_dashboard=False, log_to_driver=False)
        parts = RayPartRunner(time_limit_s)
        runner = {"runner": parts, "workers": parts.workers}
    figures = {}
    for method in ("greedy", "optimize"):
        started = time.perf_counter()
        plan = solve(request, method=method, **(runner if method == "optimize" else {}))
        figures[method] = {
            "objective": plan.objective,
            "dropped": plan.kpis.tasks_dropped,
            "solve_s": round(time.perf_counter() - started, 2),
        }
    if bound_s:
        from fleetray.scheduling.bound import lower_bound

        figures["bound"] = lower_bound(compile_request(request), bound_s, workers=BOUND_WORKERS)
    return figures


def _classic(name: str, time_limit_s: float) -> dict:
    from fleetray.scheduling import solve
    from fleetray.scheduling.classic import SCALE, read_instance

    request = read_instance(SOLOMON_DIR / f"{name}.txt", time_limit_s=time_limit_s)
    figures = {}
    for method in ("greedy", "optimize"):
        started = time.perf_counter()
        plan = solve(request, method=method)
        figures[method] = {
            "objective": plan.objective,
            "dropped": plan.kpis.tasks_dropped,
            "vehicles": plan.kpis.robots_used,
            "distance": plan.kpis.distance_m / SCALE,
            "solve_s": round(time.perf_counter() - started, 2),
        }
    return figures


def _pyvrp_alone(name: str, time_limit_s: float) -> dict:
    """PyVRP as a user runs it on the file: its vehicles cost far more than any distance, every customer required."""
    import numpy as np
    import pyvrp
    import vrplib
    from pyvrp.stop import MaxRuntime

    started = time.perf_counter()
    instance = vrplib.read_instance(SOLOMON_DIR / f"{name}.txt", instance_format="solomon")
    coords, windows = instance["node_coord"], instance["time_window"]
    exact = np.hypot(*(coords[:, None, :] - coords[None, :, :]).transpose(2, 0, 1))
    scaled = np.rint(exact * PYVRP_SCALE).astype(np.int64)
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in coords]
    clients = [
        pyvrp.Client(
            location=i,
            delivery=[int(instance["demand"][i])],
            service_duration=int(instance["service_time"][i]) * PYVRP_SCALE,
            tw_early=int(windows[i][0]) * PYVRP_SCALE,
            tw_late=int(windows[i][1]) * PYVRP_SCALE,
        )
        for i in range(1, len(coords))
    ]
    depot = pyvrp.Depot(location=0, tw_early=int(windows[0][0]) * PYVRP_SCALE, tw_late=int(windows[0][1]) * PYVRP_SCALE)
    fleet = pyvrp.VehicleType(
        num_available=int(instance["vehicles"]),
        capacity=[int(instance["capacity"])],
        fixed_cost=int(scaled.sum()),  # one vehicle fewer outweighs any distance
        tw_early=int(windows[0][0]) * PYVRP_SCALE,
        tw_late=int(windows[0][1]) * PYVRP_SCALE,
    )
    data = pyvrp.ProblemData(locations, clients, [depot], [fleet], [scaled], [scaled])
    result = pyvrp.solve(data, MaxRuntime(time_limit_s - (time.perf_counter() - started)), seed=0, display=False)
    best = result.best
    routes = [[0, *(a.idx + 1 for a in route if a.is_client()), 0] for route in best.routes()]
    return {
        "feasible": best.is_feasible(),
        "vehicles": best.num_routes(),
        "distance": float(sum(exact[a, b] for route in routes for a, b in itertools.pairwise(route))),
        "solve_s": round(time.perf_counter() - started, 2),
    }


def _run(target: object, args: tuple, out: object) -> None:
    out.put(target(*args))  # type: ignore[attr-defined]


def run_problem(target: object, args: tuple, budget_s: float) -> dict | None:
    """``target(*args)`` in a subprocess, or None when it did not finish within ``budget_s``."""
    import queue

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_run, args=(target, args, results))
    process.start()
    answer, ends = None, time.monotonic() + budget_s
    while answer is None and time.monotonic() < ends and (process.is_alive() or not results.empty()):
        try:  # read while it runs: a large answer would fill the pipe and hold the process up
            answer = results.get(timeout=1)
        except queue.Empty:
            continue
    process.join(timeout=30 if answer is not None else 0)
    if process.is_alive():
        process.kill()
        process.join()
    return answer


def run_sizes(sizes: dict, bound_s: float) -> dict[str, float | int | None]:
    result: dict[str, float | int | None] = {}
    ratios = []
    for name, (robots, tasks, sites, limit, deadline) in sizes.items():
        bound = bound_s if name == "small" else 0.0
        # The budget covers the baseline, the optimiser's limit, the bound, starting Ray and building the model.
        figures = run_problem(_generated, (name, robots, tasks, sites, limit, bound), limit * 2 + bound * 3 + 180)
        optimised = figures["optimize"] if figures else None
        late = deadline is not None and (optimised is None or optimised["solve_s"] > deadline)
        if figures is None or late:
            result.update({f"{name}_feasible": 0, f"{name}_solve_s": optimised["solve_s"] if optimised else None})
            continue
        greedy = figures["greedy"]
        improvement = (greedy["objective"] - optimised["objective"]) / max(greedy["objective"], 1e-9) * 100
        result.update(
            {
                f"{name}_feasible": int(optimised["objective"] <= greedy["objective"]),
                f"{name}_objective": optimised["objective"],
                f"{name}_dropped": optimised["dropped"],
                f"{name}_solve_s": optimised["solve_s"],
                f"{name}_greedy_objective": greedy["objective"],
                f"{name}_greedy_dropped": greedy["dropped"],
                f"{name}_greedy_solve_s": greedy["solve_s"],
                f"{name}_improvement_pct": round(improvement, 2),
            }
        )
        ratios.append(optimised["objective"] / max(greedy["objective"], 1e-9))
        if "bound" in figures:
            result["small_lower_bound"] = round(figures["bound"], 1)
            result["small_gap_pct"] = round(
                (optimised["objective"] - figures["bound"]) / optimised["objective"] * 100, 2
            )
    result["worst_ratio_to_greedy"] = round(max(ratios), 4) if ratios else None
    result.setdefault("small_gap_pct", None)
    return result


def run_classics(names: list[str], time_limit_s: float) -> dict[str, float | int | None]:
    """Solomon's instances: the optimiser and PyVRP alone against the best known solutions."""
    result: dict[str, float | int | None] = {}
    ours: dict[str, list] = {"gaps": [], "extra": [], "times": []}
    theirs: dict[str, list] = {"gaps": [], "extra": []}
    never_worse = True
    for name in names:
        best_vehicles, best_distance = BEST_KNOWN[name]
        figures = run_problem(_classic, (name, time_limit_s), budget_s=time_limit_s * 2 + 60)
        if figures is None:
            result[f"classic_{name}_solved"], never_worse = 0, False
        else:
            optimised, greedy = figures["optimize"], figures["greedy"]
            gap = (optimised["distance"] - best_distance) / best_distance * 100
            ours["gaps"].append(gap)
            ours["extra"].append(optimised["vehicles"] - best_vehicles)
            ours["times"].append(optimised["solve_s"])
            never_worse &= optimised["objective"] <= greedy["objective"] and optimised["dropped"] == 0
            result.update(
                {
                    f"classic_{name}_vehicles": optimised["vehicles"],
                    f"classic_{name}_distance": round(optimised["distance"], 2),
                    f"classic_{name}_gap_pct": round(gap, 2),
                    f"classic_{name}_solve_s": optimised["solve_s"],
                    f"classic_{name}_greedy_vehicles": greedy["vehicles"],
                    f"classic_{name}_greedy_distance": round(greedy["distance"], 2),
                    f"classic_{name}_best_known_vehicles": best_vehicles,
                    f"classic_{name}_best_known_distance": best_distance,
                }
            )
        alone = run_problem(_pyvrp_alone, (name, time_limit_s), budget_s=time_limit_s + 60)
        if alone is not None and alone["feasible"]:
            gap = (alone["distance"] - best_distance) / best_distance * 100
            theirs["gaps"].append(gap)
            theirs["extra"].append(alone["vehicles"] - best_vehicles)
            result.update(
                {
                    f"classic_{name}_pyvrp_vehicles": alone["vehicles"],
                    f"classic_{name}_pyvrp_distance": round(alone["distance"], 2),
                    f"classic_{name}_pyvrp_gap_pct": round(gap, 2),
                }
            )
        figures_so_far = {key: value for key, value in result.items() if f"_{name}_" in key}
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {json.dumps(figures_so_far)}", file=sys.stderr, flush=True)

    def mean(values: list) -> float | None:
        return round(sum(values) / len(values), 2) if values else None

    result.update(
        {
            "classic_mean_gap_pct": mean(ours["gaps"]),
            "classic_extra_vehicles": sum(ours["extra"]) if ours["extra"] else None,
            "classic_best_vehicles_share": mean([float(extra <= 0) for extra in ours["extra"]]),
            "pyvrp_mean_gap_pct": mean(theirs["gaps"]),
            "pyvrp_extra_vehicles": sum(theirs["extra"]) if theirs["extra"] else None,
            "classic_worst_gap_pct": round(max(ours["gaps"]), 2) if ours["gaps"] else None,
            "classic_max_solve_s": max(ours["times"]) if ours["times"] else None,
            "classic_never_worse_than_greedy": int(never_worse) if ours["gaps"] else None,
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small size and C101 only, 5 s each; under a minute")
    parser.add_argument("--all", action="store_true", help="every classic instance in bench/data/solomon")
    parser.add_argument("--sizes", default=",".join(SIZES), help="the generated sizes to run, comma-separated")
    parser.add_argument(
        "--classics", default=",".join(DEFAULT_CLASSICS), help="the classic instances to run, comma-separated"
    )
    args = parser.parse_args()
    if args.quick:
        sizes, classics, limit = {"small": (10, 50, 1, 5.0, None)}, ["C101"], 5.0
    else:
        sizes = {name: SIZES[name] for name in args.sizes.split(",") if name}
        available = sorted(path.stem for path in SOLOMON_DIR.glob("*.txt") if path.stem in BEST_KNOWN)
        chosen = [name for name in args.classics.split(",") if name]
        classics, limit = (available if args.all else chosen), CLASSIC_LIMIT_S
    result = run_sizes(sizes, 3.0 if args.quick else SMALL_BOUND_S)
    result.update(run_classics(classics, limit))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
