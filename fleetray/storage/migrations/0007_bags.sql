-- Bags: every recording the pipeline has seen, processed exactly once per tenant and content hash,
-- with what it holds (topics and their statistics, warnings and errors) for search.
-- 0001 laid out the bags table; processing needs its status history, outputs and metadata, and the
-- topics move to a table of their own so they can be searched.
ALTER TABLE bags
    DROP COLUMN topics,
    ADD COLUMN received_via text,  -- how the pipeline got it: upload, scan, manual (trigger: what made the robot record)
    ADD COLUMN metadata     jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN attempts     integer NOT NULL DEFAULT 0,
    ADD COLUMN output_uri   text,
    ADD COLUMN decode_s     double precision,
    ADD COLUMN started_at   timestamptz;
ALTER TABLE bags RENAME COLUMN processed_at TO finished_at;
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
