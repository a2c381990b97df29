-- Every webhook attempt with what came back, for operators.
CREATE TABLE webhook_attempts (
    seq          BIGSERIAL PRIMARY KEY,
    tenant       TEXT NOT NULL,
    delivery     TEXT NOT NULL REFERENCES webhook_deliveries (id),
    -- 0 when no response came.
    http_status  BIGINT NOT NULL,
    error        TEXT NOT NULL,
    attempt_time TIMESTAMPTZ NOT NULL
);

CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery, seq);
