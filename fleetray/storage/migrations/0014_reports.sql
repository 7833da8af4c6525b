-- Fleet reports: the figures as JSON here, the HTML and PDF in the object store.
CREATE TABLE reports (
    tenant_id     text NOT NULL REFERENCES tenants ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('weekly')),
    period        text NOT NULL,
    complete      boolean NOT NULL,
    generated_at  timestamptz NOT NULL,
    generated_by  text NOT NULL,
    html_key      text NOT NULL,
    pdf_key       text NOT NULL,
    figures       jsonb NOT NULL,
    PRIMARY KEY (tenant_id, kind, period)
);
