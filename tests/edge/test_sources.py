"""Log files followed across rotation; a vendor's JSON mapped by path."""

from __future__ import annotations

import threading
from pathlib import Path

from edge.config import LogSource, VendorSource
from edge.readings import EventReading
from edge.sources.logs import LogTail
from edge.sources.vendor import VendorPoller, pick


def test_log_lines_become_events_across_rotation(tmp_path: Path) -> None:
    log = tmp_path / "controller.log"
    log.write_text("2026-12-01 10:00:00 ERROR old news before the agent started\n")
    events: list[EventReading] = []
    stop = threading.Event()
    tail = LogTail(LogSource(kind="logs", paths=[log], poll_s=0.05))
    thread = threading.Thread(target=tail.run, args=(events.append, stop))
    thread.start()
    try:
        stop.wait(0.2)
        with log.open("a") as out:
            out.write("10:00:01 INFO lane 3 done\n10:00:02 WARNING battery low\n10:00:03 ERROR E-BUMP-101 bumper")
        stop.wait(0.3)
        with log.open("a") as out:
            out.write(" pressed\n")
        log.rename(tmp_path / "controller.log.1")  # logrotate
        log.write_text("10:00:04 FATAL E_BRUSH_JAM brush stopped\n")
        for _ in range(100):
            if len(events) >= 3:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join()
    assert [(e.level, e.code) for e in events] == [
        ("WARNING", "LOG_WARNING"),
        ("ERROR", "E_BUMP_101"),
        ("FATAL", "E_BRUSH_JAM"),
    ]
    assert events[1].message == "controller.log: 10:00:03 ERROR E-BUMP-101 bumper pressed"


def test_vendor_fields_by_path() -> None:
    document = {"battery": {"level_pct": 87}, "state": "WORKING", "motors": [{"amps": 1.5}]}
    assert pick(document, "battery.level_pct/100") == 0.87 and pick(document, "motors.0.amps") == 1.5
    assert pick(document, "battery.missing") is None
    poller = VendorPoller(
        VendorSource(
            kind="vendor_http",
            url="http://127.0.0.1:1/state",
            fields={
                "battery.soc": "battery.level_pct/100",
                "status": "state",
                "components.main_brush.current_a": "motors.0.amps",
            },
            status_map={"WORKING": "cleaning"},
        )
    )
    reading = poller.readings(document)
    assert reading.values == {"battery.soc": 0.87, "status": "cleaning", "components.main_brush.current_a": 1.5}
