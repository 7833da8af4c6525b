-- The REST API: robots' MQTT credentials, outgoing webhooks, manufacturer-cloud connectors.

-- One MQTT login per robot. The hash is in Mosquitto's PBKDF2-SHA512 password-file format, so the
-- broker's password file can be written from this table; the ACL confines each login to its robot's
-- topic prefix.
CREATE TABLE robot_credentials (
    tenant_id     text NOT NULL,
    robot_id      text NOT NULL,
    username      text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, robot_id),
    FOREIGN KEY (tenant_id, robot_id) REFERENCES robots ON DELETE CASCADE
);

-- Customers' URLs, called when alerts of the rules they chose are raised or resolved.
CREATE TABLE webhook_subscriptions (
    subscription_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    url             text NOT NULL,
    alert_rules     text[] NOT NULL DEFAULT '{}',  -- empty: every rule
    min_severity    text NOT NULL DEFAULT 'info' CHECK (min_severity IN ('info', 'warning', 'critical')),
    secret          text NOT NULL,                 -- kept in clear: it signs every delivery
    description     text NOT NULL DEFAULT '',
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id) WHERE active;

-- Every delivery and its outcome: an outbox the dispatcher works through, retrying with backoff.
CREATE TABLE webhook_deliveries (
    delivery_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id  bigint NOT NULL REFERENCES webhook_subscriptions ON DELETE CASCADE,
    tenant_id        text NOT NULL,
    event_id         text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_tenant ON webhook_deliveries (tenant_id, subscription_id, delivery_id);

-- A tenant's account with a manufacturer's cloud: where to poll, how fast, and how far it got.
CREATE TABLE connector_accounts (
    tenant_id       text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    connector       text NOT NULL,
    base_url        text NOT NULL,
    api_token       text NOT NULL,
    webhook_secret  text NOT NULL,
    poll_interval_s double precision NOT NULL DEFAULT 30 CHECK (poll_interval_s > 0),
    requests_per_s  double precision NOT NULL DEFAULT 5 CHECK (requests_per_s > 0),
    site_id         text,
    cursors         jsonb NOT NULL DEFAULT '{}',
    last_polled_at  timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, connector)
);

-- Signatures of accepted incoming webhooks, kept for the replay window: a replay is refused.
CREATE TABLE webhook_receipts (
    connector   text NOT NULL,
    tenant_id   text NOT NULL,
    signature   text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector, tenant_id, signature)
);
CREATE INDEX webhook_receipts_age ON webhook_receipts (received_at);
