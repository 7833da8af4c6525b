-- Raw telemetry, range-partitioned by day (fleetray.storage.partitions creates them ahead and
-- drops them past retention). The key includes ts because a partitioned table's unique keys must
-- contain the partition key; a re-sent message carries the same ts, so (robot, seq) stays the
-- dedup key in practice.

CREATE TABLE telemetry (
    tenant_id         text NOT NULL,
    robot_id          text NOT NULL,
    ts                timestamptz NOT NULL,
    seq               bigint NOT NULL,
    status            text NOT NULL,
    task_id           text,
    x                 double precision,
    y                 double precision,
    theta             double precision,
    map_id            text,
    linear_velocity   double precision,
    angular_velocity  double precision,
    battery_soc       double precision,
    battery_voltage   double precision,
    battery_current   double precision,
    battery_temp      double precision,
    charging          boolean,
    components        jsonb NOT NULL DEFAULT '{}',
    system            jsonb,
    metrics           jsonb NOT NULL DEFAULT '{}',
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, robot_id, ts, seq)
) PARTITION BY RANGE (ts);
