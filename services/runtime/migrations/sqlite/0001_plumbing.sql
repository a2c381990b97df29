-- Runtime-owned tables every service database has: the transactional outbox
-- and the idempotency keys of creates. Tracked in _bti_runtime_migrations.

CREATE TABLE bti_outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    source       TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    subject      TEXT NOT NULL,
    tenant       TEXT NOT NULL DEFAULT '',
    time         TEXT NOT NULL,
    data         BLOB NOT NULL,
    traceparent  TEXT NOT NULL DEFAULT '',
    published_at TEXT
);

CREATE INDEX bti_outbox_unpublished ON bti_outbox (seq) WHERE published_at IS NULL;

CREATE TABLE bti_idempotency (
    scope       TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    resource    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (scope, request_id)
);
