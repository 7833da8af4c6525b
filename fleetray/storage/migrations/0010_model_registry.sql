-- The model registry: every trained model version with what it was trained on, and its stage.
-- The first draft of `models` was never written to; it is replaced by this one.
DROP TABLE models;

CREATE TABLE models (
    model_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL,
    version         integer NOT NULL CHECK (version > 0),
    tenant_id       text,  -- NULL: fleet-wide, served to every tenant without a production model of its own
    kind            text NOT NULL,
    task            text NOT NULL CHECK (task IN ('failure', 'rul', 'anomaly')),
    stage           text NOT NULL DEFAULT 'none' CHECK (stage IN ('none', 'staging', 'production', 'archived')),
    uri             text NOT NULL,
    feature_version text NOT NULL,
    data_hash       text NOT NULL,
    code_version    text NOT NULL,
    components      text[] NOT NULL,
    metrics         jsonb NOT NULL DEFAULT '{}',
    params          jsonb NOT NULL DEFAULT '{}',
    info            jsonb NOT NULL DEFAULT '{}',
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
CREATE UNIQUE INDEX models_one_production ON models (name, coalesce(tenant_id, '')) WHERE stage = 'production';
CREATE INDEX models_tenant ON models (tenant_id, name);

-- Every change of stage, so a production model can be rolled back to the one before it.
CREATE TABLE model_stage_changes (
    change_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id    bigint NOT NULL REFERENCES models ON DELETE CASCADE,
    from_stage  text NOT NULL,
    to_stage    text NOT NULL,
    changed_by  text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_stage_changes_model ON model_stage_changes (model_id, changed_at);
