-- Inboxes, preferences, the e-mail delivery queue and the events already
-- handled. Nothing here identifies a child: recipients are identity-provider
-- subjects or directory resource names, resources are opaque names.

CREATE TABLE notifications (
    tenant       TEXT NOT NULL,
    id           TEXT NOT NULL,
    -- `subject:<idp subject>` or `person:<directory person name>`.
    recipient    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    resource     TEXT NOT NULL,
    link         TEXT NOT NULL,
    -- What settles it (an offer, a meeting, a deadline).
    cause        TEXT NOT NULL,
    -- UNREAD, SEEN, READ or ARCHIVED.
    state        TEXT NOT NULL,
    resolve_time TEXT,
    create_time  TEXT NOT NULL,
    update_time  TEXT NOT NULL,
    version      INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- A recipient's inbox, newest first (ids are time-ordered).
CREATE INDEX notifications_inbox ON notifications (tenant, recipient, id);
-- Settling by cause.
CREATE INDEX notifications_by_cause ON notifications (tenant, cause, kind);

CREATE TABLE notification_preferences (
    tenant        TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    email_address TEXT NOT NULL,
    language_code TEXT NOT NULL,
    -- JSON array of "<kind>/<channel>".
    muted         TEXT NOT NULL,
    -- HH:MM, Europe/Oslo.
    digest_time   TEXT,
    quiet_start   TEXT,
    quiet_end     TEXT,
    version       INTEGER NOT NULL,
    update_time   TEXT NOT NULL,
    PRIMARY KEY (tenant, recipient)
);

-- Events turned into notifications, so a redelivery does nothing.
CREATE TABLE processed_events (
    event_id       TEXT PRIMARY KEY,
    processed_time TEXT NOT NULL
);

-- Messages to send. A worker claims due ones by moving `due_time` to the end
-- of its claim; a claim that lapses (a crashed worker) makes them due again.
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    notification TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    channel      TEXT NOT NULL,
    -- PENDING, SENT, FAILED or CANCELLED.
    state        TEXT NOT NULL,
    due_time     TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT NOT NULL,
    create_time  TEXT NOT NULL,
    update_time  TEXT NOT NULL,
    FOREIGN KEY (tenant, notification) REFERENCES notifications (tenant, id)
);

CREATE INDEX deliveries_due ON deliveries (due_time) WHERE state = 'PENDING';
CREATE INDEX deliveries_by_notification ON deliveries (tenant, notification);
