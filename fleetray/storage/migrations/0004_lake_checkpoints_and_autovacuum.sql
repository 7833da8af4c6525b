-- Lake checkpoints, and autovacuum thresholds for the tables ingestion fills fastest.

-- How far each shard's share of the Parquet lake is written: every row its robots received before
-- written_through is in a lake file. A restarted shard re-reads the rest from telemetry, so rows
-- that were only buffered when it died still reach the lake. The BRIN index keeps that range scan
-- on received_at cheap at almost no cost to inserts (rows arrive in received_at order).
CREATE TABLE lake_checkpoints (
    shard_index     integer NOT NULL,
    shard_count     integer NOT NULL,
    written_through timestamptz NOT NULL,
    PRIMARY KEY (shard_index, shard_count)
);

CREATE INDEX telemetry_received_at ON telemetry USING brin (received_at);

-- The minute aggregates take thousands of rows a second too: the same autovacuum thresholds as the
-- telemetry partitions (fleetray.storage.partitions.PARTITION_AUTOVACUUM), also for partitions made
-- before those thresholds existed.
ALTER TABLE telemetry_1m SET (
    autovacuum_vacuum_insert_threshold = 500000, autovacuum_analyze_threshold = 200000,
    autovacuum_analyze_scale_factor = 0.05
);
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'telemetry'::regclass LOOP
        EXECUTE format('ALTER TABLE %s SET (autovacuum_vacuum_insert_threshold = 500000, '
                       'autovacuum_analyze_threshold = 200000, autovacuum_analyze_scale_factor = 0.05)', part);
    END LOOP;
END
$$;
