"""Polling manufacturer clouds: each tenant's account is read every N seconds and fed to the fleet shards.

A :class:`PollerSupervisor` keeps one :class:`CloudPoller` per account as accounts are added and removed
(from the API or the CLI) while the platform runs.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ray

from actors.connectors import connectors, get_connector
from actors.connectors.base import Normalized, VendorClient, VendorRobot
from actors.intake import RawMessage
from actors.shard_core import IngestReport
from fleetray.errors import ConnectorError, NotFoundError
from fleetray.schemas.topics import MQTT_PREFIX
from fleetray.storage import Database
from fleetray.storage.connectors import get_account, list_accounts, save_poll

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
        self.interval_s = 30.0
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
        self.interval_s = account["poll_interval_s"]
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
    """Polls one account every ``poll_interval_s`` (the account's setting, as it was at the last poll) and feeds
    the shards."""

    def __init__(
        self, database_url: str, schema: str, tenant_id: str, connector: str, shard_count: int, prefix: str = "fleetray"
    ) -> None:
        from actors.router import ShardRouter

        db = Database(database_url, schema=schema)
        self._router = ShardRouter(shard_count, prefix=prefix)
        self._core = CloudPollerCore(db, tenant_id, connector, self._router.deliver)
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="cloud-poller").start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._core.poll_once()
            except ConnectorError as err:
                logger.warning("%s poll for tenant %s failed: %s", self._core.connector.name, self._core.tenant_id, err)
            except NotFoundError:
                logger.info("%s account of tenant %s is gone; waiting to be stopped", *self._key())
            except Exception:
                logger.exception("poller failed; retrying next interval")
            self._stop.wait(self._core.interval_s)

    def _key(self) -> tuple[str, str]:
        return self._core.connector.name, self._core.tenant_id

    def poll_now(self) -> int:
        """Poll at once (besides the schedule)."""
        return self._core.poll_once()

    def stats(self) -> dict[str, Any]:
        """Counters since start."""
        return dict(self._core.stats)

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()


def poller_name(tenant_id: str, connector: str, prefix: str = "fleetray") -> str:
    """The named actor polling one tenant's account."""
    return f"{prefix}-poller-{tenant_id}-{connector}"


@ray.remote(num_cpus=0, max_restarts=-1)
class PollerSupervisor:
    """Keeps one :class:`CloudPoller` per connector account, looking at the accounts every ``sync_s`` seconds.

    An account added while the platform runs is polled within ``sync_s``; a removed one stops being polled.
    Pollers are named actors, so a restarted supervisor finds those already running.
    """

    def __init__(
        self, database_url: str, schema: str, shard_count: int, prefix: str = "fleetray", sync_s: float = 15.0
    ) -> None:
        self._db = Database(database_url, schema=schema)
        self._shard_count, self._prefix, self._sync_s = shard_count, prefix, sync_s
        self._pollers: dict[tuple[str, str], Any] = {}
        self._missing: set[tuple[str, str]] = set()  # accounts of connectors not installed here (said once)
        self._lock = threading.Lock()  # the schedule and sync() must not start the same poller twice
        self._stop = threading.Event()
        self.sync()
        threading.Thread(target=self._run, daemon=True, name="poller-supervisor").start()

    def _run(self) -> None:
        while not self._stop.wait(self._sync_s):
            try:
                self.sync()
            except Exception:
                logger.exception("could not follow the connector accounts; trying again in %g s", self._sync_s)

    def sync(self) -> dict[str, list[str]]:
        """Start pollers for new accounts and stop those of removed ones; say which, as ``tenant/connector``."""
        with self._lock:
            with self._db.connect() as conn:
                accounts = {(a["tenant_id"], a["connector"]) for a in list_accounts(conn)}
            installed = connectors()
            wanted = {(tenant_id, name) for tenant_id, name in accounts if name in installed}
            for tenant_id, name in sorted(accounts - wanted - self._missing):
                logger.warning("tenant %s has a %s account, but no such connector is installed", tenant_id, name)
            self._missing = accounts - wanted
            started = sorted(wanted - set(self._pollers))
            stopped = sorted(set(self._pollers) - wanted)
            for tenant_id, connector in started:
                self._pollers[(tenant_id, connector)] = CloudPoller.options(
                    name=poller_name(tenant_id, connector, self._prefix), get_if_exists=True
                ).remote(self._db.url, self._db.schema, tenant_id, connector, self._shard_count, self._prefix)
            for key in stopped:
                self._end(self._pollers.pop(key))
        return {"started": [f"{t}/{c}" for t, c in started], "stopped": [f"{t}/{c}" for t, c in stopped]}

    def accounts(self) -> list[str]:
        """The accounts being polled, as ``tenant/connector``."""
        return [f"{t}/{c}" for t, c in sorted(self._pollers)]

    def stop(self) -> None:
        """Stop following the accounts, and every poller."""
        self._stop.set()
        with self._lock:
            for poller in self._pollers.values():
                self._end(poller)
            self._pollers.clear()

    @staticmethod
    def _end(poller: Any) -> None:
        try:
            ray.get(poller.stop.remote(), timeout=10)
        except Exception:
            logger.warning("a poller did not stop cleanly", exc_info=True)
        ray.kill(poller, no_restart=True)
