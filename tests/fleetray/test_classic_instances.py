"""Classic routing instances (Solomon's original text format, VRPLIB) read as schedule requests."""

from __future__ import annotations

from pathlib import Path

import pytest
import vrplib

from fleetray.scheduling import solve
from fleetray.scheduling.classic import SCALE, ClassicFormatError, detect_format, read_instance

SOLOMON = Path(__file__).resolve().parents[2] / "bench" / "data" / "solomon"


def test_an_original_solomon_file_solves_with_every_customer_served() -> None:
    request = read_instance(SOLOMON / "C101.txt", time_limit_s=3)
    assert len(request.tasks) == 100 and len(request.robots) == 25 and request.robots[0].capacity == 200
    first = request.tasks[0]  # customer 1: (45, 68), demand 10, ready 912, due 967, service 90
    assert (first.id, first.demand, first.duration_s) == ("c1", 10, 90 * SCALE)
    assert (first.window.start, first.window.end) == (912 * SCALE, (967 + 90) * SCALE)
    assert request.horizon_s == 1236 * SCALE
    greedy, plan = solve(request, method="greedy"), solve(request)
    assert plan.kpis.tasks_dropped == 0 and plan.objective <= greedy.objective
    assert plan.kpis.robots_used >= 10  # the best known solution needs 10
    assert plan.kpis.distance_m / SCALE >= 828.9  # and is 828.94 long


def test_a_vrplib_file_reads_as_the_same_request_as_its_solomon_original(tmp_path: Path) -> None:
    solomon = vrplib.read_instance(SOLOMON / "R101.txt", instance_format="solomon", compute_edge_weights=False)
    converted = tmp_path / "R101.vrp"
    vrplib.write_instance(
        converted,
        {
            "NAME": "R101",
            "TYPE": "VRPTW",
            "DIMENSION": len(solomon["demand"]),
            "VEHICLES": solomon["vehicles"],
            "CAPACITY": solomon["capacity"],
            "EDGE_WEIGHT_TYPE": "EUC_2D",
            "NODE_COORD_SECTION": solomon["node_coord"],
            "DEMAND_SECTION": solomon["demand"],
            "TIME_WINDOW_SECTION": solomon["time_window"],
            "SERVICE_TIME_SECTION": solomon["service_time"],
            "DEPOT_SECTION": [1, -1],
        },
    )
    assert detect_format(converted) == "vrplib" and detect_format(SOLOMON / "R101.txt") == "solomon"
    assert read_instance(converted) == read_instance(SOLOMON / "R101.txt")


def test_explicit_distances_and_no_time_windows_in_vrplib(tmp_path: Path) -> None:
    # Four customers on a line at distances 1..4 from the depot (node 1), two vehicles of capacity 5.
    instance = tmp_path / "line.vrp"
    instance.write_text(
        "NAME : line\nTYPE : CVRP\nDIMENSION : 5\nCAPACITY : 5\nVEHICLES : 2\n"
        "EDGE_WEIGHT_TYPE : EXPLICIT\nEDGE_WEIGHT_FORMAT : FULL_MATRIX\nEDGE_WEIGHT_SECTION\n"
        "0 1 2 3 4\n1 0 1 2 3\n2 1 0 1 2\n3 2 1 0 1\n4 3 2 1 0\n"
        "DEMAND_SECTION\n1 0\n2 2\n3 2\n4 2\n5 2\nDEPOT_SECTION\n1\n-1\nEOF\n"
    )
    request = read_instance(instance, time_limit_s=1)
    assert request.matrix is not None and request.matrix.distances_m[0][4] == 4 * SCALE
    assert all(task.window is None for task in request.tasks) and request.robots[0].capacity == 5
    plan = solve(request)
    # Two loads of two customers: out to 2 and back, out to 4 and back.
    assert plan.kpis.tasks_dropped == 0 and plan.kpis.robots_used == 2
    assert plan.kpis.distance_m == pytest.approx(12 * SCALE)


def test_anything_else_is_refused_with_what_was_expected(tmp_path: Path) -> None:
    stripped = tmp_path / "stripped.txt"
    stripped.write_text("200\n0 40 50 0 0 1236 0\n1 45 68 10 912 967 90\n")
    with pytest.raises(ClassicFormatError, match=r"neither Solomon's format .* nor VRPLIB"):
        read_instance(stripped)
    truncated = tmp_path / "C101.txt"
    truncated.write_text("C101\n\nVEHICLE\nNUMBER     CAPACITY\n  25   200\n\nCUSTOMERS ARE HERE\n")
    with pytest.raises(ClassicFormatError, match="not a readable Solomon instance"):
        read_instance(truncated)
    two_depots = tmp_path / "two.vrp"
    two_depots.write_text(
        "NAME : two\nTYPE : CVRP\nDIMENSION : 3\nCAPACITY : 5\nEDGE_WEIGHT_TYPE : EUC_2D\n"
        "NODE_COORD_SECTION\n1 0 0\n2 1 0\n3 2 0\nDEMAND_SECTION\n1 0\n2 0\n3 1\nDEPOT_SECTION\n1\n2\n-1\nEOF\n"
    )
    with pytest.raises(ClassicFormatError, match="2 depots; one depot is supported"):
        read_instance(two_depots)
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ClassicFormatError, match="not a text file"):
        read_instance(binary)
