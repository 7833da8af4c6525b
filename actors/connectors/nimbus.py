"""Nimbus Robotics' cloud (``fleetray.sim.vendor_cloud`` simulates it): robots, status, events and jobs.

Nimbus robots are named ``nimbus-{serial}`` in fleetray. A status's ``revision`` increases with
every report, so it is the telemetry ``seq``; an event's id and a job update's id are the ``seq``
of events and task events, which makes a re-read page harmless (stored once by robot and seq).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from actors.connectors.base import CloudConnector, Normalized, PollOutcome, VendorClient, VendorRobot

STATUS = {
    "cleaning": "cleaning",
    "returning": "moving",
    "charging": "charging",
    "idle": "idle",
    "docked": "docked",
    "error": "error",
    "offline": "offline",
}
LEVELS = {"INFO": "INFO", "WARN": "WARNING", "ERROR": "ERROR", "CRITICAL": "FATAL"}
JOB_TYPES = {"queued": "assigned", "running": "started", "done": "completed", "failed": "failed"}
MAX_PAGES = 1000  # a guard against a vendor whose page tokens never end


def robot_id(serial: str) -> str:
    """fleetray's id of a Nimbus robot."""
    return f"nimbus-{serial}"


class NimbusConnector(CloudConnector):
    """The Nimbus Robotics fleet API, version 2."""

    name = "nimbus"
    manufacturer = "Nimbus Robotics"
    signature_header = "X-Nimbus-Signature"

    def poll(self, client: VendorClient, cursors: dict[str, Any]) -> PollOutcome:
        outcome = PollOutcome(cursors=dict(cursors))
        for robot in self._pages(client, "/v2/robots", "robots"):
            outcome.robots.append(
                VendorRobot(robot_id(robot["serial"]), robot["serial"], robot["model"], robot.get("site"))
            )
        revisions = dict(cursors.get("revisions", {}))
        for status in self._pages(client, "/v2/robots/status", "statuses"):
            if status["revision"] > revisions.get(status["serial"], -1):
                outcome.messages.append(self._telemetry(status))
                revisions[status["serial"]] = status["revision"]
        outcome.cursors["revisions"] = revisions
        for feed, key, convert in (("/v2/events", "events", self._event), ("/v2/jobs", "jobs", self._job)):
            cursor = cursors.get(key)
            while True:
                page = client.get(feed, {"cursor": cursor, "limit": 100})
                outcome.messages += [convert(item) for item in page[key]]
                cursor = page["cursor"]
                if not page.get("has_more"):
                    break
            outcome.cursors[key] = cursor
        outcome.requests = client.requests
        return outcome

    @staticmethod
    def _pages(client: VendorClient, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        for _ in range(MAX_PAGES):
            page = client.get(path, {"page_token": token})
            items += page[key]
            token = page.get("next_page_token")
            if not token:
                break
        return items

    def parse_webhook(self, body: bytes) -> list[Normalized]:
        try:
            document = json.loads(body)
            kind, data = document["type"], document["data"]
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"not a Nimbus webhook: {err}") from None
        if kind == "robot.event":
            return [self._event(data)]
        if kind == "robot.status":
            return [self._telemetry(data)]
        if kind == "job.update":
            return [self._job(data)]
        raise ValueError(f"unknown Nimbus webhook type {kind!r}")

    @staticmethod
    def _telemetry(status: dict[str, Any]) -> Normalized:
        position = status.get("position") or {}
        heading = float(position.get("heading", 0.0))
        message = {
            "ts": _timestamp(status["reported_at"]),
            "seq": int(status["revision"]),
            "status": STATUS.get(status["state"], "idle"),
            "task_id": status.get("job_id"),
            "battery": {
                "soc": min(1.0, max(0.0, float(status["battery_pct"]) / 100)),
                "charging": status["state"] == "charging",
            },
            "pose": {
                "x": float(position.get("x", 0.0)),
                "y": float(position.get("y", 0.0)),
                "theta": math.remainder(heading, math.tau),
            },
        }
        return Normalized("telemetry", robot_id(status["serial"]), message)

    @staticmethod
    def _event(event: dict[str, Any]) -> Normalized:
        message = {
            "ts": _timestamp(event["time"]),
            "seq": int(event["id"]),
            "level": LEVELS.get(event["severity"], "WARNING"),
            "code": event["code"],
            "message": event.get("text", ""),
        }
        return Normalized("events", robot_id(event["serial"]), message)

    @staticmethod
    def _job(job: dict[str, Any]) -> Normalized:
        message = {
            "ts": _timestamp(job["updated_at"]),
            "seq": int(job["update_id"]),
            "task_id": job["job_id"],
            "type": JOB_TYPES.get(job["state"], "progress"),
            "area_m2": job.get("area_m2"),
            "progress": min(1.0, float(job.get("progress_pct", 0)) / 100),
            "site_id": job.get("site"),
        }
        return Normalized("tasks", robot_id(job["serial"]), message)


def _timestamp(text: str) -> str:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
