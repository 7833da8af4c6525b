"""Outgoing webhooks: matched to subscriptions, signed, retried with backoff, every attempt recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from actors.webhooks import MAX_ATTEMPTS, WebhookSender
from fleetray.inventory import TenantRecord
from fleetray.storage import Database
from fleetray.storage.fleet import upsert_tenant
from fleetray.storage.webhooks import create_subscription
from fleetray.webhook_signing import SIGNATURE_HEADER, SignatureError, sign, verify


class Receiver:
    """A customer's endpoint: fails the first ``failures`` calls, then accepts, keeping what it got."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 503 if len(receiver.received) <= receiver.failures else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver(failures=2)
    yield endpoint
    endpoint.server.shutdown()


def _alert(tenant: str, rule: str, severity: str, state: str = "active") -> dict[str, Any]:
    return {
        "kind": "alert",
        "tenant_id": tenant,
        "robot_id": "r1",
        "rule": rule,
        "state": state,
        "severity": severity,
        "message": "battery low",
        "details": {},
        "at": "2026-11-27T08:00:00+00:00",
    }


def test_deliveries_are_signed_retried_and_recorded(db: Database, receiver: Receiver) -> None:
    with db.connect() as conn:
        for tenant in ("acme", "globex"):
            upsert_tenant(conn, TenantRecord(tenant_id=tenant, name=tenant))
        subscription, secret = create_subscription(
            conn, "acme", receiver.url, alert_rules=["battery_low"], min_severity="warning"
        )
        create_subscription(conn, "globex", receiver.url, alert_rules=[], min_severity="info")
    sender = WebhookSender(db)
    queued = sender.enqueue(
        [
            _alert("acme", "battery_low", "warning"),
            _alert("acme", "battery_low", "info"),
            _alert("acme", "motor_hot", "critical"),
            _alert("acme", "battery_low", "warning"),
        ]
    )
    assert queued == 1  # one rule at or above warning; the repeat of the same change is not queued twice

    now = datetime.now(UTC)
    for _ in range(3):  # two failures, then success, each attempt when its backoff has passed
        assert sender.deliver_due(now) == 1
        now += timedelta(hours=2)
    assert sender.deliver_due(now) == 0
    assert len(receiver.received) == 3
    headers, body = receiver.received[-1]
    verify(secret, headers[SIGNATURE_HEADER], body)
    payload = json.loads(body)
    assert payload["type"] == "alert.raised" and payload["data"]["rule"] == "battery_low"
    assert "globex" not in body.decode()
    with db.connect() as conn:
        status, attempts, code = conn.execute(
            "SELECT status, attempts, last_status_code FROM webhook_deliveries WHERE subscription_id = %s",
            (subscription["subscription_id"],),
        ).fetchone()
    assert (status, attempts, code) == ("delivered", 3, 204)


def test_a_delivery_gives_up_after_the_last_attempt(db: Database) -> None:
    with db.connect() as conn:
        upsert_tenant(conn, TenantRecord(tenant_id="acme", name="Acme"))
        create_subscription(conn, "acme", "http://127.0.0.1:9/nothing-listens", alert_rules=[], min_severity="info")
    sender = WebhookSender(db)
    sender.enqueue([_alert("acme", "offline", "warning")])
    now = datetime.now(UTC)
    for _ in range(MAX_ATTEMPTS + 2):
        sender.deliver_due(now)
        now += timedelta(days=1)
    with db.connect() as conn:
        status, attempts, error = conn.execute("SELECT status, attempts, last_error FROM webhook_deliveries").fetchone()
    assert (status, attempts) == ("failed", MAX_ATTEMPTS) and "ConnectError" in error
    assert sender.failed == 1


def test_signatures_refuse_tampering_and_age() -> None:
    body = b'{"x": 1}'
    header = sign("secret", body, timestamp=1_000_000)
    assert verify("secret", header, body, now=1_000_010) == 1_000_000
    for bad_header, bad_body, now in (
        (header, b'{"x": 2}', 1_000_010),
        (header, body, 1_000_400),
        ("t=1,v1=00", body, 1),
        (None, body, 1),
    ):
        with pytest.raises(SignatureError):
            verify("secret", bad_header, bad_body, now=now)
