-- Schedule requests solved in the background: a planner polls the job's URL for the plan.
CREATE TABLE schedule_jobs (
    job_id      text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    request     jsonb NOT NULL,
    result      jsonb,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX schedule_jobs_tenant ON schedule_jobs (tenant_id, created_at);
