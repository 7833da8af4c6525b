-- Bags robots upload through presigned URLs: who started each upload, where it goes, and how it ended.
-- A device key may complete or abort only the uploads its own robot started.
CREATE TABLE bag_uploads (
    upload_id    text PRIMARY KEY,
    tenant_id    text NOT NULL,
    robot_id     text NOT NULL,
    object_key   text NOT NULL,
    parts        integer NOT NULL CHECK (parts BETWEEN 1 AND 10000),
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    trigger      text,
    status       text NOT NULL DEFAULT 'uploading' CHECK (status IN ('uploading', 'completed', 'aborted')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX bag_uploads_robot ON bag_uploads (tenant_id, robot_id, created_at);
