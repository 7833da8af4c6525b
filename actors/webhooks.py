"""Delivering alerts to customers' webhooks: signed, retried with backoff, every attempt recorded.

Alert changes reach the dispatcher through the hub; each is written to the ``webhook_deliveries``
outbox first, so a dispatcher that restarts picks up where the last one stopped.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import ray

from actors.hub import ALL_TENANTS, get_hub
from fleetray.storage import Database
from fleetray.storage.webhooks import DueDelivery, claim_due, enqueue_alerts, record_attempt
from fleetray.webhook_signing import SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
FIRST_RETRY_S = 2.0
MAX_RETRY_S = 3600.0
REQUEST_TIMEOUT_S = 10.0
POLL_S = 1.0


def retry_delay_s(attempts: int) -> float:
    """Exponential backoff with jitter after ``attempts`` failures: 2 s, 4 s, 8 s... up to an hour."""
    base = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (attempts - 1))
    return base * random.uniform(0.8, 1.2)


class WebhookSender:
    """Works through the outbox (no Ray: tests drive it directly)."""

    def __init__(self, db: Database, *, client: httpx.Client | None = None) -> None:
        self.db = db
        self.client = client or httpx.Client(timeout=REQUEST_TIMEOUT_S, follow_redirects=False)
        self.sent = 0
        self.failed = 0

    def enqueue(self, alerts: list[dict[str, Any]]) -> int:
        """Queue deliveries of alert changes to the subscriptions that want them."""
        with self.db.connect() as conn:
            return enqueue_alerts(conn, alerts)

    def deliver_due(self, now: datetime | None = None) -> int:
        """Attempt every delivery that is due; return how many were attempted."""
        moment = now or datetime.now(UTC)
        with self.db.connect() as conn:
            due = claim_due(conn, moment)
        for delivery in due:
            self._attempt(delivery, moment)
        return len(due)

    def _attempt(self, delivery: DueDelivery, now: datetime) -> None:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(delivery.secret, body),
            "X-Fleetray-Delivery": str(delivery.delivery_id),
            "User-Agent": "fleetray-webhooks/1",
        }
        status_code: int | None = None
        error: str | None = None
        try:
            response = self.client.post(delivery.url, content=body, headers=headers)
            status_code = response.status_code
            delivered = 200 <= status_code < 300
            if not delivered:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as err:
            delivered = False
            error = f"{type(err).__name__}: {err}"[:500]
        attempts = delivery.attempts + 1
        retry_at = None
        if not delivered and attempts < MAX_ATTEMPTS:
            retry_at = now + timedelta(seconds=retry_delay_s(attempts))
        with self.db.connect() as conn:
            record_attempt(
                conn, delivery.delivery_id, delivered=delivered, status_code=status_code, error=error, retry_at=retry_at
            )
        if delivered:
            self.sent += 1
        elif retry_at is None:
            self.failed += 1
            logger.warning(
                "webhook delivery %s failed for good after %s attempts (%s)", delivery.delivery_id, attempts, error
            )


@ray.remote(num_cpus=0, max_restarts=-1)
class WebhookDispatcher:
    """The Ray actor: takes alert changes from the hub into the outbox and sends what is due."""

    def __init__(self, database_url: str, schema: str) -> None:
        self._sender = WebhookSender(Database(database_url, schema=schema))
        self._hub = get_hub()
        self._subscriber = f"webhooks-{uuid.uuid4().hex[:8]}"
        self._hub.subscribe.remote(self._subscriber, ALL_TENANTS, ["alert"])
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="webhooks").start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                taken = ray.get(self._hub.poll.remote(self._subscriber, 500, POLL_S))
                if not taken["subscribed"]:  # the hub restarted
                    ray.get(self._hub.subscribe.remote(self._subscriber, ALL_TENANTS, ["alert"]))
                if taken["dropped"]:
                    logger.warning("the webhook dispatcher fell behind and lost %s alert changes", taken["dropped"])
                if taken["items"]:
                    self._sender.enqueue(taken["items"])
                self._sender.deliver_due()
            except Exception:
                logger.exception("webhook dispatch failed; retrying")
                self._stop.wait(POLL_S)

    def stats(self) -> dict[str, int]:
        """Deliveries sent and failed for good since start."""
        return {"sent": self._sender.sent, "failed": self._sender.failed}

    def stop(self) -> None:
        """Stop the loop."""
        self._stop.set()
