-- Access at send time: what the relay log's events say about each log (its
-- subject, owning unit, holder and participants), so that a notification
-- goes out only while its recipient may still read the log it concerns.
-- The subject is the directory's opaque person name (as consent is asked
-- about it), never a national id or a name.

CREATE TABLE notification_logs (
    tenant      TEXT NOT NULL,
    case_log    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    unit        TEXT NOT NULL,
    holder      TEXT NOT NULL,
    holder_unit TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, case_log)
);

CREATE TABLE notification_log_participants (
    tenant       TEXT NOT NULL,
    case_log     TEXT NOT NULL,
    participant  TEXT NOT NULL,
    unit         TEXT NOT NULL,
    -- Empty for a unit taking part as a whole.
    professional TEXT NOT NULL,
    removed      BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, case_log, participant)
);

-- The log a notification concerns (empty: none, such as a unit's own
-- meeting), and the unit an offer or transfer was made to (the recipient's
-- standing while it is open).
ALTER TABLE notifications ADD COLUMN case_log TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN via_unit TEXT NOT NULL DEFAULT '';
