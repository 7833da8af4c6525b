"""Live ingestion as a platform component: what ``fleetray up`` starts and ``fleetray status`` shows."""

from __future__ import annotations

import itertools

import ray

from actors.ingestion import Ingestion, start_ingestion
from actors.shard import shard_name
from fleetray.plugins import PlatformComponent, PlatformContext, RunningComponent


class RunningIngestion(RunningComponent):
    """Handles on the shards and ingestors."""

    def __init__(self, ingestion: Ingestion) -> None:
        self.ingestion = ingestion

    def describe(self) -> str:
        ingestion = self.ingestion
        return (f"{ingestion.shard_count} shards, {len(ingestion.mqtt)} MQTT and "
                f"{len(ingestion.kafka)} Kafka ingestors")  # fmt: skip

    def stop(self) -> None:
        self.ingestion.stop()


class IngestionComponent(PlatformComponent):
    """Fleet shards fed by MQTT (and Kafka when configured)."""

    name = "ingestion"

    def start(self, context: PlatformContext) -> RunningIngestion:
        settings = context.settings
        if settings.object_store_url is None or settings.object_store_url.startswith("file://"):
            from fleetray.objectstore.signing import load_or_create_signing_key

            store = {"url": settings.resolved_object_store_url,
                     "signing_key": load_or_create_signing_key(settings.data_dir)}  # fmt: skip
        else:
            store = {"url": settings.object_store_url, "s3_endpoint_url": settings.s3_endpoint_url,
                     "s3_region": settings.s3_region}  # fmt: skip
        return RunningIngestion(start_ingestion(
            context.db, shards=settings.shards, mqtt_url=context.mqtt_url, mqtt_ingestors=settings.mqtt_ingestors,
            shared_subscriptions=context.mqtt_shared_subscriptions, kafka_bootstrap=settings.kafka_bootstrap,
            kafka_ingestors=settings.kafka_ingestors, retention_days=settings.telemetry_retention_days,
            object_store=store,
        ))  # fmt: skip

    def status_rows(self) -> list[tuple[str, str, str]]:
        rows = []
        for index in itertools.count():
            try:
                shard = ray.get_actor(shard_name(index))
            except ValueError:
                break
            stats = ray.get(shard.stats.remote(), timeout=10)
            totals = stats["totals"]
            rows.append((f"shard {index}", f"{stats['robots']} robots",
                         f"{totals.get('new_telemetry', 0):,} samples, {totals.get('duplicates', 0):,} duplicates, "
                         f"{sum(stats['dead_letters'].values()):,} dead letters"))  # fmt: skip
        for kind in ("mqtt", "kafka"):
            for number in itertools.count():
                try:
                    ingestor = ray.get_actor(f"fleetray-{kind}-{number}")
                except ValueError:
                    break
                stats = ray.get(ingestor.stats.remote(), timeout=10)
                rows.append((f"{kind} ingestor {number}", "",
                             f"{stats['received']:,} received, {stats.get('buffered', 0)} buffered"))  # fmt: skip
        return rows or [("ingestion", "", "no shards running")]
