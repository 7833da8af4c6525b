-- Per-minute windows carry the statistics the shards and the bag pipeline compute with the same code
-- (fleetray.features.windows): spread, percentiles, trend, sample rate and the highest anomaly score.
-- Rows written before, and rows from the simulator's vectorised rollup, hold NULL there.
ALTER TABLE telemetry_1m
    ADD COLUMN std         double precision,
    ADD COLUMN p05         double precision,
    ADD COLUMN p50         double precision,
    ADD COLUMN p95         double precision,
    ADD COLUMN slope_per_s double precision,
    ADD COLUMN rate_hz     double precision,
    ADD COLUMN anomaly     double precision;
