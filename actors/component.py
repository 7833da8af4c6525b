"""Live ingestion as a platform component: what ``fleetray up`` starts and ``fleetray status`` shows."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import ray

from actors.ingestion import Ingestion, start_ingestion
from actors.shard import shard_name
from fleetray.plugins import PlatformComponent, PlatformContext, RunningComponent

logger = logging.getLogger(__name__)


class RunningIngestion(RunningComponent):
    """Handles on the shards and ingestors."""

    def __init__(self, ingestion: Ingestion) -> None:
        self.ingestion = ingestion

    def describe(self) -> str:
        ingestion = self.ingestion
        return f"{ingestion.shard_count} shards, {len(ingestion.mqtt)} MQTT and {len(ingestion.kafka)} Kafka ingestors"

    def stop(self) -> None:
        self.ingestion.stop()


class IngestionComponent(PlatformComponent):
    """Fleet shards fed by MQTT (and Kafka when configured)."""

    name = "ingestion"

    def start(self, context: PlatformContext) -> RunningIngestion:
        from fleetray.objectstore import ObjectStore

        settings = context.settings
        store = ObjectStore.arguments(settings)
        return RunningIngestion(
            start_ingestion(
                context.db,
                shards=settings.shards,
                mqtt_url=context.mqtt_url,
                mqtt_ingestors=settings.mqtt_ingestors,
                shared_subscriptions=context.mqtt_shared_subscriptions,
                kafka_bootstrap=settings.kafka_bootstrap,
                kafka_ingestors=settings.kafka_ingestors,
                retention_days=settings.telemetry_retention_days,
                object_store=store,
            )
        )

    def status_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for index in itertools.count():
            try:
                shard = ray.get_actor(shard_name(index))
            except ValueError:
                break
            stats = ray.get(shard.stats.remote(), timeout=10)
            totals = stats["totals"]
            rows.append(
                (
                    f"shard {index}",
                    f"{stats['robots']} robots",
                    f"{totals.get('new_telemetry', 0):,} samples, {totals.get('duplicates', 0):,} duplicates, "
                    f"{sum(stats['dead_letters'].values()):,} dead letters",
                )
            )
        for kind in ("mqtt", "kafka"):
            for number in itertools.count():
                try:
                    ingestor = ray.get_actor(f"fleetray-{kind}-{number}")
                except ValueError:
                    break
                stats = ray.get(ingestor.stats.remote(), timeout=10)
                rows.append(
                    (
                        f"{kind} ingestor {number}",
                        "",
                        f"{stats['received']:,} received, {stats.get('buffered', 0)} buffered",
                    )
                )
        return rows or [("ingestion", "", "no shards running")]


class RunningIntegrations(RunningComponent):
    """The webhook dispatcher and the supervisor of the manufacturer-cloud pollers."""

    def __init__(self, dispatcher: Any, supervisor: Any, sync_s: float) -> None:
        self.dispatcher = dispatcher
        self.supervisor = supervisor
        self.sync_s = sync_s

    def describe(self) -> str:
        accounts = ", ".join(ray.get(self.supervisor.accounts.remote())) or "none configured yet"
        return f"webhook dispatcher; manufacturer-cloud pollers (accounts followed every {self.sync_s:g} s): {accounts}"

    def stop(self) -> None:
        for actor in [self.dispatcher, self.supervisor]:
            try:
                ray.get(actor.stop.remote(), timeout=10)
            except Exception:
                logger.warning("an integration actor did not stop cleanly", exc_info=True)
            ray.kill(actor, no_restart=True)


class IntegrationsComponent(PlatformComponent):
    """Outgoing webhooks, and a poller per tenant account with a manufacturer's cloud (after ingestion), following
    the accounts as admins add and remove them."""

    name = "integrations"

    def start(self, context: PlatformContext) -> RunningIntegrations:
        from actors.cloud_poller import PollerSupervisor
        from actors.webhooks import WebhookDispatcher

        db, sync_s = context.db, context.settings.connector_sync_s
        dispatcher = WebhookDispatcher.options(name="fleetray-webhooks", get_if_exists=True).remote(db.url, db.schema)
        with db.connect() as conn:
            (shard_count,) = conn.execute("SELECT shard_count FROM shard_layout WHERE layout_id = 1").fetchone()
        supervisor = PollerSupervisor.options(name="fleetray-poller-supervisor", get_if_exists=True).remote(
            db.url, db.schema, shard_count, sync_s=sync_s
        )
        ray.get([dispatcher.stats.remote(), supervisor.accounts.remote()])
        return RunningIntegrations(dispatcher, supervisor, sync_s)

    def status_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        try:
            stats = ray.get(ray.get_actor("fleetray-webhooks").stats.remote(), timeout=10)
            rows.append(("webhooks", "", f"{stats['sent']:,} delivered, {stats['failed']:,} failed for good"))
        except ValueError:
            rows.append(("webhooks", "", "dispatcher not running"))
        return rows


REPORT_JOB = "fleetray-report-job"


class RunningReportJob(RunningComponent):
    """The weekly report job actor."""

    def __init__(self, job: Any, interval_s: float) -> None:
        self.job, self.interval_s = job, interval_s

    def describe(self) -> str:
        return f"weekly reports: last week's made for every tenant, looked for every {self.interval_s:g} s"

    def stop(self) -> None:
        ray.kill(self.job, no_restart=True)


class ReportsComponent(PlatformComponent):
    """Makes each tenant's weekly fleet report once the week has ended."""

    name = "reports"

    def start(self, context: PlatformContext) -> RunningReportJob:
        from actors.reports import ReportJob
        from fleetray.objectstore import ObjectStore

        settings, db = context.settings, context.db
        job = ReportJob.options(name=REPORT_JOB, get_if_exists=True).remote(
            db.url, db.schema, ObjectStore.arguments(settings), settings.report_check_s
        )
        ray.get(job.stats.remote())
        return RunningReportJob(job, settings.report_check_s)

    def status_rows(self) -> list[tuple[str, str, str]]:
        try:
            stats = ray.get(ray.get_actor(REPORT_JOB).stats.remote(), timeout=10)
        except ValueError:
            return [("reports", "", "job not running")]
        problem = f"; last error: {stats['last_error']}" if stats["last_error"] else ""
        return [("reports", f"{stats['rounds']} rounds", f"{stats['made']} weekly reports made{problem}")]
