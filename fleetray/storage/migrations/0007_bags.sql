-- Bags: every recording the pipeline has seen, processed exactly once per tenant and content hash,
-- with what it holds (topics and their statistics, warnings and errors) for search.
CREATE TABLE bags (
    bag_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id     text NOT NULL,
    robot_id      text,
    uri           text NOT NULL,
    content_hash  text NOT NULL,
    format        text,
    size_bytes    bigint,
    start_time    timestamptz,
    end_time      timestamptz,
    duration_s    double precision,
    message_count bigint,
    trigger       text,   -- what made the robot record it (error, manual, schedule...)
    received_via  text,   -- how the pipeline got it: upload, scan, manual
    metadata      jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    error         text,
    attempts      integer NOT NULL DEFAULT 0,
    output_uri    text,
    decode_s      double precision,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz,
    UNIQUE (tenant_id, content_hash)
);
CREATE INDEX bags_robot_time ON bags (tenant_id, robot_id, start_time);
CREATE INDEX bags_trigger ON bags (tenant_id, trigger);

CREATE TABLE bag_topics (
    bag_id        bigint NOT NULL REFERENCES bags ON DELETE CASCADE,
    topic         text NOT NULL,
    msgtype       text NOT NULL,
    message_count bigint NOT NULL,
    frequency_hz  double precision,
    decoded_rows  bigint,
    problem       text,
    stats         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (bag_id, topic)
);
CREATE INDEX bag_topics_topic ON bag_topics (topic);
CREATE INDEX bag_topics_msgtype ON bag_topics (msgtype);

CREATE TABLE bag_events (
    bag_id  bigint NOT NULL REFERENCES bags ON DELETE CASCADE,
    ts      timestamptz NOT NULL,
    level   text NOT NULL,
    source  text NOT NULL,
    code    text NOT NULL,
    message text NOT NULL,
    topic   text NOT NULL
);
CREATE INDEX bag_events_bag ON bag_events (bag_id);
CREATE INDEX bag_events_code ON bag_events (code);

-- Message definitions bags carried, for later bags of the same types that carry none
-- (rosbag2 SQLite bags before Iron).
CREATE TABLE message_definitions (
    msgtype    text PRIMARY KEY,
    definition text NOT NULL,
    encoding   text NOT NULL,
    seen_at    timestamptz NOT NULL DEFAULT now()
);
