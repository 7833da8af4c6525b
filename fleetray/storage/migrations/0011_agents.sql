-- Edge agents: each robot's last heartbeat, the commands operators sent it (and how they ended), the
-- remote config it should run; bag uploads carry the checksum the robot computed.
CREATE TABLE robot_agents (
    tenant_id   text NOT NULL,
    robot_id    text NOT NULL,
    heartbeat   jsonb NOT NULL,
    reported_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, robot_id)
);

CREATE TABLE robot_commands (
    command_id  text PRIMARY KEY,
    tenant_id   text NOT NULL,
    robot_id    text NOT NULL,
    type        text NOT NULL,
    args        jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sent', 'accepted', 'succeeded', 'failed', 'rejected', 'expired')),
    detail      text NOT NULL DEFAULT '',
    result      jsonb NOT NULL DEFAULT '{}',
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX robot_commands_robot ON robot_commands (tenant_id, robot_id, created_at DESC);

CREATE TABLE robot_configs (
    tenant_id  text NOT NULL,
    robot_id   text NOT NULL,
    version    integer NOT NULL CHECK (version >= 1),
    config     jsonb NOT NULL,
    updated_by text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, robot_id)
);

ALTER TABLE bag_uploads ADD COLUMN sha256 text CHECK (sha256 ~ '^[0-9a-f]{64}$');
