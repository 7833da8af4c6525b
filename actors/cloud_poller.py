"""Polling manufacturer clouds: each tenant's account is read every N seconds and fed to the fleet shards."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ray

from actors.connectors import get_connector
from actors.connectors.base import Normalized, VendorClient, VendorRobot
from actors.intake import RawMessage
from actors.shard_core import IngestReport
from fleetray.errors import ConnectorError
from fleetray.schemas.topics import MQTT_PREFIX
from fleetray.storage import Database
from fleetray.storage.connectors import get_account, save_poll

logger = logging.getLogger(__name__)


def to_raw(tenant_id: str, connector: str, messages: Sequence[Normalized]) -> list[RawMessage]:
    """Normalised messages as the shards take them (the topic names the connector as the source)."""
    return [
        RawMessage(
            m.channel,
            tenant_id,
            m.robot_id,
            json.dumps({"tenant_id": tenant_id, "robot_id": m.robot_id, **m.message}).encode(),
            f"{MQTT_PREFIX}/{tenant_id}/{m.robot_id}/{m.channel}",
            f"connector:{connector}",
        )
        for m in messages
    ]


def register_vendor_robots(
    db: Database, tenant_id: str, manufacturer: str, robots: Sequence[VendorRobot], default_site: str | None
) -> int:
    """Register robots the vendor lists and fleetray does not know yet; return how many were new."""
    if not robots:
        return 0
    with db.connect() as conn:
        sites = {row[0] for row in conn.execute("SELECT site_id FROM sites WHERE tenant_id = %s", (tenant_id,))}
        inserted = conn.cursor()
        inserted.executemany(
            """
            INSERT INTO robots (tenant_id, robot_id, manufacturer, model, serial, site_id)
            VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING
            """,
            [
                (
                    tenant_id,
                    r.robot_id,
                    manufacturer,
                    r.model,
                    r.serial,
                    r.site_id if r.site_id in sites else default_site,
                )
                for r in robots
            ],
        )
        return inserted.rowcount


class CloudPollerCore:
    """One tenant's account with one manufacturer's cloud (no Ray: tests drive it directly).

    Cursors move only after the shards have persisted what a poll read, so a crash re-reads a page
    rather than losing it; re-read messages are stored once (by robot and seq).
    """

    def __init__(
        self, db: Database, tenant_id: str, connector: str, deliver: Callable[[list[RawMessage]], list[IngestReport]]
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.connector = get_connector(connector)
        self._deliver = deliver
        self._lock = threading.Lock()  # the schedule and poll_now must not poll at once
        self.stats: dict[str, Any] = {
            "polls": 0,
            "failures": 0,
            "messages": 0,
            "requests": 0,
            "retries": 0,
            "robots_registered": 0,
            "last_error": None,
        }

    def poll_once(self) -> int:
        """Read what changed, register new robots, deliver, save cursors; return the messages delivered.

        Raises:
            ConnectorError: the cloud failed after the client's retries (recorded on the account too).
        """
        with self._lock:
            return self._poll()

    def _poll(self) -> int:
        with self.db.connect() as conn:
            account = get_account(conn, self.tenant_id, self.connector.name)
        client = VendorClient(account["base_url"], account["api_token"], requests_per_s=account["requests_per_s"])
        try:
            outcome = self.connector.poll(client, account["cursors"])
        except ConnectorError as err:
            self.stats["failures"] += 1
            self.stats["last_error"] = str(err)
            with self.db.connect() as conn:
                save_poll(conn, self.tenant_id, self.connector.name, cursors=None, error=str(err))
            raise
        finally:
            self.stats["requests"] += client.requests
            self.stats["retries"] += client.retries
            client.close()
        self.stats["robots_registered"] += register_vendor_robots(
            self.db, self.tenant_id, self.connector.manufacturer, outcome.robots, account["site_id"]
        )
        raw = to_raw(self.tenant_id, self.connector.name, outcome.messages)
        if raw:
            self._deliver(raw)
        with self.db.connect() as conn:
            save_poll(conn, self.tenant_id, self.connector.name, cursors=outcome.cursors, error=None)
        self.stats["polls"] += 1
        self.stats["messages"] += len(raw)
        self.stats["last_error"] = None
        return len(raw)


@ray.remote(num_cpus=0, max_restarts=-1)
class CloudPoller:
    """Polls one account every ``poll_interval_s`` (the account's setting) and feeds the shards."""

    def __init__(
        self, database_url: str, schema: str, tenant_id: str, connector: str, shard_count: int, prefix: str = "fleetray"
    ) -> None:
        from actors.router import ShardRouter

        db = Database(database_url, schema=schema)
        self._router = ShardRouter(shard_count, prefix=prefix)
        self._core = CloudPollerCore(db, tenant_id, connector, self._router.deliver)
        with db.connect() as conn:
            self._interval_s = get_account(conn, tenant_id, connector)["poll_interval_s"]
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="cloud-poller").start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._core.poll_once()
            except ConnectorError as err:
                logger.warning("%s poll for tenant %s failed: %s", self._core.connector.name, self._core.tenant_id, err)
            except Exception:
                logger.exception("poller failed; retrying next interval")
            self._stop.wait(self._interval_s)

    def poll_now(self) -> int:
        """Poll at once (besides the schedule)."""
        return self._core.poll_once()

    def stats(self) -> dict[str, Any]:
        """Counters since start."""
        return dict(self._core.stats)

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
