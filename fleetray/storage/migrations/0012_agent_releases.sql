-- Agent releases: signed wheels of the edge agent, per tenant (its robots trust its release key),
-- offered to its robots by rollouts (update commands).
CREATE TABLE agent_releases (
    tenant_id   text NOT NULL,
    version     text NOT NULL,
    filename    text NOT NULL,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    signature   text NOT NULL CHECK (signature ~ '^[0-9a-f]{128}$'),
    object_key  text NOT NULL,
    size_bytes  bigint NOT NULL,
    uploaded_by text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);
