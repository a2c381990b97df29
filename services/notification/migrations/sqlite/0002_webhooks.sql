-- Webhook subscriptions of a municipality's systems and their deliveries.

CREATE TABLE webhook_subscriptions (
    tenant          TEXT NOT NULL,
    id              TEXT NOT NULL,
    uri             TEXT NOT NULL,
    -- JSON array of kind names; empty for all.
    kinds           TEXT NOT NULL,
    -- ACTIVE, DISABLED or DELETED.
    state           TEXT NOT NULL,
    secret          TEXT NOT NULL,
    -- The secret rotated out, signing until previous_until.
    previous_secret TEXT,
    previous_until  TEXT,
    -- Start of the current run of failures; NULL while it succeeds.
    failing_since   TEXT,
    create_time     TEXT NOT NULL,
    update_time     TEXT NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL,
    subscription     TEXT NOT NULL,
    kind             TEXT NOT NULL,
    resource         TEXT NOT NULL,
    -- The JSON body, the same on every attempt.
    payload          TEXT NOT NULL,
    -- PENDING, DELIVERED or FAILED.
    state            TEXT NOT NULL,
    due_time         TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    last_http_status INTEGER NOT NULL,
    last_error       TEXT NOT NULL,
    create_time      TEXT NOT NULL,
    update_time      TEXT NOT NULL,
    FOREIGN KEY (tenant, subscription) REFERENCES webhook_subscriptions (tenant, id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_time) WHERE state = 'PENDING';
CREATE INDEX webhook_deliveries_by_subscription ON webhook_deliveries (tenant, subscription, id);
