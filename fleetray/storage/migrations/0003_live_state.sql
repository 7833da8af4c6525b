-- Live state: how robots are spread over shards, and per-tenant alert thresholds.

-- The shard count robots were assigned with. Changing it moves robots between shards, so it is
-- done explicitly (fleetray shards reshard), never by starting with another count.
CREATE TABLE shard_layout (
    layout_id    integer PRIMARY KEY CHECK (layout_id = 1),
    shard_count  integer NOT NULL CHECK (shard_count > 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Overrides of the default alert thresholds, for all of a tenant's robots (model '*') or one model.
CREATE TABLE alert_policies (
    tenant_id  text NOT NULL,
    model      text NOT NULL DEFAULT '*',
    overrides  jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, model)
);
