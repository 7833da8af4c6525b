-- Tenants, access, the fleet's inventory and everything that is not raw telemetry.

CREATE TABLE tenants (
    tenant_id   text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_id       text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    key_hash     text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'operator', 'planner', 'viewer', 'device')),
    robot_id     text,
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE sites (
    tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    site_id     text NOT NULL,
    name        text NOT NULL,
    timezone    text NOT NULL DEFAULT 'UTC',
    latitude    double precision,
    longitude   double precision,
    area_m2     double precision CHECK (area_m2 IS NULL OR area_m2 >= 0),
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, site_id)
);

CREATE TABLE robots (
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    robot_id      text NOT NULL,
    manufacturer  text NOT NULL,
    model         text NOT NULL,
    serial        text NOT NULL,
    site_id       text,
    capabilities  text[] NOT NULL DEFAULT '{}',
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, robot_id),
    UNIQUE (tenant_id, manufacturer, serial),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, site_id)
);
CREATE INDEX robots_site ON robots (tenant_id, site_id);

-- Per-minute rollups of every numeric signal; they outlive the raw telemetry's retention.
CREATE TABLE telemetry_1m (
    tenant_id  text NOT NULL,
    robot_id   text NOT NULL,
    bucket     timestamptz NOT NULL,
    metric     text NOT NULL,
    n          integer NOT NULL CHECK (n > 0),
    mean       double precision NOT NULL,
    min        double precision NOT NULL,
    max        double precision NOT NULL,
    last       double precision NOT NULL,
    PRIMARY KEY (tenant_id, robot_id, bucket, metric)
);
CREATE INDEX telemetry_1m_bucket ON telemetry_1m (bucket);

CREATE TABLE events (
    tenant_id  text NOT NULL,
    robot_id   text NOT NULL,
    seq        bigint NOT NULL,
    ts         timestamptz NOT NULL,
    level      text NOT NULL CHECK (level IN ('INFO', 'WARNING', 'ERROR', 'FATAL')),
    code       text NOT NULL,
    message    text NOT NULL DEFAULT '',
    component  text,
    state      jsonb NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, robot_id, seq)
);
CREATE INDEX events_time ON events (tenant_id, ts);
CREATE INDEX events_code ON events (tenant_id, code, ts);

CREATE TABLE alerts (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text NOT NULL,
    robot_id        text NOT NULL,
    rule            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'acknowledged', 'resolved')),
    message         text NOT NULL DEFAULT '',
    details         jsonb NOT NULL DEFAULT '{}',
    raised_at       timestamptz NOT NULL,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz
);
-- At most one open alert per robot and rule: raising it again while open is deduplicated.
CREATE UNIQUE INDEX alerts_open ON alerts (tenant_id, robot_id, rule) WHERE state <> 'resolved';
CREATE INDEX alerts_time ON alerts (tenant_id, raised_at);

CREATE TABLE tasks (
    tenant_id     text NOT NULL,
    task_id       text NOT NULL,
    robot_id      text,
    site_id       text,
    area_id       text,
    status        text NOT NULL,
    area_m2       double precision,
    cleaned_m2    double precision,
    progress      double precision,
    efficiency    double precision,
    reason        text,
    assigned_at   timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, task_id)
);
CREATE INDEX tasks_robot ON tasks (tenant_id, robot_id, updated_at);

CREATE TABLE task_events (
    tenant_id   text NOT NULL,
    robot_id    text NOT NULL,
    seq         bigint NOT NULL,
    ts          timestamptz NOT NULL,
    task_id     text NOT NULL,
    type        text NOT NULL,
    payload     jsonb NOT NULL,
    PRIMARY KEY (tenant_id, robot_id, seq)
);

CREATE TABLE maintenance_records (
    record_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    robot_id      text NOT NULL,
    component     text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('replacement', 'repair', 'cleaning', 'inspection')),
    reason        text NOT NULL DEFAULT 'preventive' CHECK (reason IN ('preventive', 'failure', 'inspection')),
    performed_at  timestamptz NOT NULL,
    usage_h       double precision,
    notes         text NOT NULL DEFAULT '',
    UNIQUE (tenant_id, robot_id, component, performed_at)
);
CREATE INDEX maintenance_robot ON maintenance_records (tenant_id, robot_id, performed_at);

CREATE TABLE bags (
    bag_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    robot_id      text,
    uri           text NOT NULL,
    content_hash  text NOT NULL,
    format        text,
    size_bytes    bigint,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    error         text,
    trigger       text,
    start_time    timestamptz,
    end_time      timestamptz,
    duration_s    double precision,
    message_count bigint,
    topics        jsonb NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    UNIQUE (tenant_id, content_hash)
);
CREATE INDEX bags_robot_time ON bags (tenant_id, robot_id, start_time);

CREATE TABLE models (
    name        text NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    stage       text NOT NULL DEFAULT 'none' CHECK (stage IN ('none', 'staging', 'production', 'archived')),
    kind        text NOT NULL,
    uri         text NOT NULL,
    metrics     jsonb NOT NULL DEFAULT '{}',
    params      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX models_one_production ON models (name) WHERE stage = 'production';

CREATE TABLE dead_letters (
    dead_letter_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at    timestamptz NOT NULL DEFAULT now(),
    source         text NOT NULL,
    reason         text NOT NULL,
    detail         text NOT NULL DEFAULT '',
    tenant_id      text,
    robot_id       text,
    topic          text,
    payload        bytea
);
CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at);
