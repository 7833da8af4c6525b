"""What a manufacturer-cloud connector provides, and the HTTP client it calls the cloud with.

A connector turns a vendor's API into fleetray's wire format (Telemetry, RobotEvent, TaskEvent):
``poll`` reads what changed since the cursors it returned last time, ``parse_webhook`` reads what
the vendor pushes. Rate limiting, retries and persistence of cursors are the poller's business,
so a new manufacturer is one small module.
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from fleetray.errors import ConnectorError
from fleetray.webhook_signing import verify

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Normalized:
    """One message in fleetray's wire format (without tenant: the account supplies it)."""

    channel: str  # telemetry, events or tasks
    robot_id: str
    message: dict[str, Any]


@dataclass(frozen=True)
class VendorRobot:
    """A robot as the vendor lists it, to register it in fleetray."""

    robot_id: str
    serial: str
    model: str
    site_id: str | None = None


@dataclass
class PollOutcome:
    """What one poll found: robots, messages, and the cursors to continue from next time."""

    robots: list[VendorRobot] = field(default_factory=list)
    messages: list[Normalized] = field(default_factory=list)
    cursors: dict[str, Any] = field(default_factory=dict)
    requests: int = 0


class TokenBucket:
    """A token bucket: bursts of up to ``capacity`` requests, ``rate_per_s`` on average; ``acquire`` waits.

    Written here rather than taken from a library: ``limits`` offers windows and ``pyrate-limiter``
    a leaky bucket, and neither blocks a thread until its turn, which is all a poller needs.
    """

    def __init__(
        self,
        rate_per_s: float,
        *,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        self.rate_per_s = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token, waiting until one is there; return the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
            self._tokens -= 1  # below zero: a token reserved from the refill to come
            wait_s = -self._tokens / self.rate_per_s if self._tokens < 0 else 0.0
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s


class VendorClient:
    """GET requests to a vendor API: bearer token, a token-bucket rate limit, retries with backoff.

    Requests wait for a token rather than provoke 429s; ``burst`` is the bucket's capacity, 1 by
    default, since vendors count requests per window and a burst at a window's edge trips them.
    A 429 or 5xx answer (or a transport error) is retried with exponential backoff and jitter,
    honouring Retry-After; other 4xx answers are not.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        requests_per_s: float,
        burst: float = 1.0,
        attempts: int = 6,
        timeout_s: float = 10.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, headers=headers)
        self._bucket = TokenBucket(requests_per_s, capacity=burst)
        self.requests = 0
        self.retries = 0
        self._get = retry(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(attempts),
            wait=_RetryAfterOr(wait_exponential_jitter(initial=0.5, max=max_backoff_s)),
            before_sleep=self._count_retry,
            reraise=True,
        )(self._get_once)

    def _count_retry(self, state: Any) -> None:
        self.retries += 1

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer to ``GET path``.

        Raises:
            ConnectorError: the cloud refused (4xx) or kept failing after the retries.
        """
        return self._get(path, params)

    def _get_once(self, path: str, params: Mapping[str, Any] | None) -> Any:
        self._bucket.acquire()
        self.requests += 1
        try:
            answer = self._http.get(path, params={k: v for k, v in (params or {}).items() if v is not None})
        except httpx.TransportError as err:
            raise ConnectorError(f"GET {path}: {type(err).__name__}: {err}") from err
        if answer.status_code >= 400:
            retry_after = answer.headers.get("Retry-After", "")
            raise ConnectorError(
                f"GET {path} answered {answer.status_code}: {answer.text[:200]}",
                status=answer.status_code,
                retry_after_s=float(retry_after) if retry_after.isdigit() else None,
            )
        return answer.json()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _is_transient(err: BaseException) -> bool:
    return isinstance(err, ConnectorError) and (err.status is None or err.status in RETRIED_STATUSES)


class _RetryAfterOr:
    """Wait what the server asked for (Retry-After), else the fallback's backoff."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback

    def __call__(self, state: Any) -> float:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, ConnectorError) and err.retry_after_s is not None:
            return err.retry_after_s
        return self._fallback(state)


class CloudConnector(abc.ABC):
    """One manufacturer's cloud."""

    name: str
    manufacturer: str
    signature_header: str = "X-Fleetray-Signature"

    @abc.abstractmethod
    def poll(self, client: VendorClient, cursors: dict[str, Any]) -> PollOutcome:
        """Read what changed since ``cursors`` (empty on the first poll)."""

    @abc.abstractmethod
    def parse_webhook(self, body: bytes) -> list[Normalized]:
        """The messages in a webhook the vendor pushed.

        Raises:
            ValueError: the body is not a webhook of this vendor; the message says why.
        """

    def verify_webhook(self, secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: float) -> str:
        """Check a pushed webhook's signature and age; return the signature (remembered to refuse replays).

        Raises:
            SignatureError: missing, wrong or too old.
        """
        header = headers.get(self.signature_header)
        verify(secret, header, body, tolerance_s=tolerance_s)
        assert header is not None
        return header
