"""What every request handler shares: the settings, a connection pool, the live state and the rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from psycopg_pool import ConnectionPool, PoolTimeout

from actors.intake import RawMessage
from actors.router import ShardRouter
from actors.shard_core import IngestReport
from fleetray.config import Settings
from fleetray.errors import DatabaseUnreachableError, ServiceError
from fleetray.objectstore import ObjectStore
from fleetray.scheduling import ScheduleRequest, ScheduleResult, solve
from fleetray.scheduling.repair import ReoptimizeRequest, reoptimize
from fleetray.storage import Database
from fleetray.storage.schedule_jobs import finish_job, mark_running
from serve_apps.api.keycache import KeyCache
from serve_apps.api.live import LiveStateReader
from serve_apps.api.ratelimit import KeyRateLimiter
from serve_apps.scoring.service import PredictionService

logger = logging.getLogger(__name__)


class IngestionUnavailableError(ServiceError):
    """No fleet shards take messages here (answered as 503)."""


@dataclass
class ApiContext:
    """Built once per process (a Serve replica, or a plain uvicorn worker) and closed with it."""

    settings: Settings
    db: Database
    shard_prefix: str = "fleetray"
    shard_namespace: str | None = None  # the Ray namespace the shards run in; None: this process's own
    optimizer: Any = None  # a handle on the ScheduleOptimizer deployment; None: solve in this process
    scorer: Any = None  # a handle on the Scorer deployment; None: score in this process
    pool: ConnectionPool = field(init=False)
    keys: KeyCache = field(init=False)
    limiter: KeyRateLimiter = field(init=False)
    live: LiveStateReader = field(init=False)

    def __post_init__(self) -> None:
        # PostgreSQL cancels a statement that outlives the request's timeout, rather than let it run on.
        statement_timeout_ms = round(self.settings.api_request_timeout_s * 1000)
        self.pool = ConnectionPool(
            self.db.url,
            min_size=1,
            max_size=16,
            open=True,
            timeout=10,
            kwargs={
                "autocommit": True,
                "application_name": "fleetray-api",
                "options": f"-c search_path={self.db.schema} -c statement_timeout={statement_timeout_ms}",
            },
        )
        self.keys = KeyCache(self.settings.api_key_cache_s)
        self.limiter = KeyRateLimiter(self.settings.api_rate_limit)
        self.live = LiveStateReader(self.connection, self.shard_prefix, self.shard_namespace)
        self._router: ShardRouter | None = None
        self._router_lock = threading.Lock()
        self._jobs: set[asyncio.Task] = set()  # background solves, held so they are not garbage-collected
        self._mqtt: Any = None  # connected on first use: commands and configs down to robots
        self._mqtt_lock = threading.Lock()

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled autocommit connection; wrap writes that belong together in ``conn.transaction()``.

        Raises:
            DatabaseUnreachableError: no connection could be had in time.
        """
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.errors.QueryCanceled:
            raise  # the statement timeout: answered 504, the database is fine
        except (PoolTimeout, psycopg.OperationalError) as err:
            raise DatabaseUnreachableError(f"cannot reach PostgreSQL at {self.db.host}: {err}") from err

    def deliver(self, messages: list[RawMessage]) -> list[IngestReport]:
        """Hand messages to the fleet shards and wait until they are durable (call from a worker thread).

        Raises:
            IngestionUnavailableError: no shards are running (the platform runs without live ingestion).
        """
        with self._router_lock:
            if self._router is None:
                self._router = self._connect_router()
        try:
            return self._router.deliver(messages)
        except RuntimeError as err:
            self._router = None
            raise IngestionUnavailableError(f"the fleet shards did not take the messages: {err}") from err

    def _connect_router(self) -> ShardRouter:
        import ray

        if not ray.is_initialized():
            raise IngestionUnavailableError("live ingestion is not running here (no Ray); start `fleetray up`")
        with self.connection() as conn:
            row = conn.execute("SELECT shard_count FROM shard_layout WHERE layout_id = 1").fetchone()
        try:
            if row is None:
                raise ValueError("no shard layout")
            return ShardRouter(row[0], prefix=self.shard_prefix, namespace=self.shard_namespace)
        except ValueError as err:
            raise IngestionUnavailableError("the fleet shards are not running; start `fleetray up`") from err

    async def optimize(self, request: ScheduleRequest) -> ScheduleResult:
        """Plan a schedule on the optimizer deployment, or in a worker thread where there is none."""
        if self.optimizer is not None:
            return ScheduleResult.model_validate(await self.optimizer.optimize.remote(request.model_dump(mode="json")))
        return await run_in_threadpool(solve, request)

    async def reoptimize(self, body: ReoptimizeRequest) -> ScheduleResult:
        """Repair a plan after an event, where :meth:`optimize` would solve."""
        if self.optimizer is not None:
            return ScheduleResult.model_validate(await self.optimizer.reoptimize.remote(body.model_dump(mode="json")))
        return await run_in_threadpool(reoptimize, body)

    def start_job(self, job_id: str, request: ScheduleRequest) -> None:
        """Solve a stored job in the background; its row says how it went."""
        task = asyncio.get_running_loop().create_task(self._run_job(job_id, request))
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)

    async def _run_job(self, job_id: str, request: ScheduleRequest) -> None:
        def record(action: Callable[[psycopg.Connection], None]) -> None:
            with self.connection() as conn:
                action(conn)

        await run_in_threadpool(record, lambda conn: mark_running(conn, job_id))
        result, error = None, None
        try:
            result = (await self.optimize(request)).model_dump(mode="json")
        except Exception as err:  # the job records the failure; the platform goes on
            logger.exception("schedule job %s failed", job_id)
            error = f"{type(err).__name__}: {err}"
        await run_in_threadpool(record, lambda conn: finish_job(conn, job_id, result=result, error=error))

    @functools.cached_property
    def predictions(self) -> PredictionService:
        """Scoring in this process, where no Scorer deployment runs."""
        return PredictionService(self.db, self.store, self.live.shards)

    async def robot_predictions(self, tenant_id: str, robot_id: str) -> dict[str, Any] | None:
        """One robot's predictions, with every component's reasons."""
        if self.scorer is not None:
            return await self.scorer.options(multiplexed_model_id=tenant_id).robot.remote(tenant_id, robot_id)
        service = self.predictions
        answers = await service.score(await service.models(tenant_id), tenant_id, [robot_id], explain="all")
        return answers[0] if answers else None

    async def fleet_predictions(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every robot's predictions, with reasons for the components predicted to fail."""
        if self.scorer is not None:
            return await self.scorer.options(multiplexed_model_id=tenant_id).fleet.remote(tenant_id)
        service = self.predictions
        return await service.score(await service.models(tenant_id), tenant_id, None, explain="risky")

    @functools.cached_property
    def store(self) -> ObjectStore:
        """The platform's object store (bags land there)."""
        return ObjectStore.from_settings(self.settings)

    def notify_bag(self, uri: str, tenant_id: str, trigger: str | None) -> bool:
        """Tell the bag watcher a bag landed, without waiting for it; False where no watcher runs here
        (the bag then waits for the watcher's next scan of the store)."""
        import ray

        from pipelines.component import WATCHER

        if not ray.is_initialized():
            return False
        try:
            watcher = ray.get_actor(WATCHER, namespace=self.shard_namespace)
        except ValueError:
            return False
        watcher.notify.remote(uri, tenant_id, trigger)
        return True

    def publish_to_robot(
        self, tenant_id: str, robot_id: str, channel: str, payload: bytes, *, retain: bool = False
    ) -> None:
        """Publish on a robot's ``cmd`` or ``config`` topic at QoS 1 and wait for the broker (call from a thread).

        Raises:
            ServiceError: no broker is configured, or it did not take the message.
        """
        from fleetray.schemas import mqtt_topic

        with self._mqtt_lock:
            if self._mqtt is None:
                if not self.settings.mqtt_url:
                    raise ServiceError(
                        "no MQTT broker is configured here (FLEETRAY_MQTT_URL); robots cannot be reached"
                    )
                from fleetray.mqtt import connect

                self._mqtt = connect(self.settings.mqtt_url, f"fleetray-api-{uuid.uuid4().hex[:12]}")
            client = self._mqtt
        info = client.publish(mqtt_topic(tenant_id, robot_id, channel), payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(5.0)
        except (RuntimeError, ValueError) as err:
            raise ServiceError(f"the MQTT broker did not take the message: {err}") from err
        if not info.is_published():
            raise ServiceError("the MQTT broker did not acknowledge the message within 5 s")

    def close(self) -> None:
        """Close the pool (and the MQTT connection, if one was made)."""
        self.pool.close()
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()


async def get_context(request: Request) -> ApiContext:
    """The context of the application serving ``request`` (async: FastAPI would run a plain function in a thread)."""
    return request.app.state.context


Context = Annotated[ApiContext, Depends(get_context)]
