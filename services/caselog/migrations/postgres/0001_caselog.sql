-- Relay logs and everything in them, plus the access log. Enums are stored
-- by their proto value name. Entries, evaluations, level changes and access
-- log rows are append-only.

CREATE TABLE case_logs (
    tenant             TEXT NOT NULL,
    id                 TEXT NOT NULL,
    subject            TEXT NOT NULL,
    subject_kind       TEXT NOT NULL,
    unit               TEXT NOT NULL,
    concern            TEXT NOT NULL,
    concern_degree     TEXT NOT NULL,
    level              TEXT NOT NULL,
    state              TEXT NOT NULL,
    holder             TEXT NOT NULL,
    holder_unit        TEXT NOT NULL,
    holder_since       TIMESTAMPTZ NOT NULL,
    pending_handover   TEXT NOT NULL,
    pending_transfer   TEXT NOT NULL,
    consent_revision   TEXT NOT NULL,
    close_reason       TEXT NOT NULL,
    close_time         TIMESTAMPTZ,
    last_activity_time TIMESTAMPTZ NOT NULL,
    version            BIGINT NOT NULL,
    create_time        TIMESTAMPTZ NOT NULL,
    update_time        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE INDEX case_logs_by_subject ON case_logs (tenant, subject);
-- One shared plan per child: at most one active log per subject.
CREATE UNIQUE INDEX case_logs_one_active ON case_logs (tenant, subject) WHERE state = 'CASE_LOG_STATE_ACTIVE';
CREATE INDEX case_logs_by_unit ON case_logs (tenant, unit, state);
CREATE INDEX case_logs_by_holder ON case_logs (tenant, holder);

CREATE TABLE level_changes (
    tenant      TEXT NOT NULL,
    case_log    TEXT NOT NULL,
    id          TEXT NOT NULL,
    from_level  TEXT NOT NULL,
    to_level    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

CREATE TABLE goals (
    tenant      TEXT NOT NULL,
    case_log    TEXT NOT NULL,
    id          TEXT NOT NULL,
    description TEXT NOT NULL,
    achieved    BOOLEAN NOT NULL,
    version     BIGINT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    update_time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

CREATE TABLE measures (
    tenant                   TEXT NOT NULL,
    case_log                 TEXT NOT NULL,
    id                       TEXT NOT NULL,
    description              TEXT NOT NULL,
    goal                     TEXT NOT NULL,
    responsible_unit         TEXT NOT NULL,
    responsible_professional TEXT NOT NULL,
    start_date               DATE NOT NULL,
    evaluate_by_date         DATE NOT NULL,
    state                    TEXT NOT NULL,
    version                  BIGINT NOT NULL,
    create_time              TIMESTAMPTZ NOT NULL,
    update_time              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

CREATE TABLE evaluations (
    tenant           TEXT NOT NULL,
    case_log         TEXT NOT NULL,
    measure          TEXT NOT NULL,
    id               TEXT NOT NULL,
    decision         TEXT NOT NULL,
    child_experience TEXT NOT NULL,
    summary          TEXT NOT NULL,
    evaluation_date  DATE NOT NULL,
    author           TEXT NOT NULL,
    create_time      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, measure, id),
    FOREIGN KEY (tenant, case_log, measure) REFERENCES measures (tenant, case_log, id)
);

-- Append entries and read the newest first: the hot path.
CREATE TABLE entries (
    tenant      TEXT NOT NULL,
    case_log    TEXT NOT NULL,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    corrects    TEXT NOT NULL,
    author      TEXT NOT NULL,
    author_unit TEXT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

CREATE TABLE participants (
    tenant       TEXT NOT NULL,
    case_log     TEXT NOT NULL,
    id           TEXT NOT NULL,
    unit         TEXT NOT NULL,
    professional TEXT NOT NULL,
    tasks        TEXT NOT NULL,
    removed      BOOLEAN NOT NULL,
    remove_time  TIMESTAMPTZ,
    version      BIGINT NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

CREATE TABLE handovers (
    tenant            TEXT NOT NULL,
    case_log          TEXT NOT NULL,
    id                TEXT NOT NULL,
    to_professional   TEXT NOT NULL,
    to_unit           TEXT NOT NULL,
    from_professional TEXT NOT NULL,
    message           TEXT NOT NULL,
    state             TEXT NOT NULL,
    transfer          TEXT NOT NULL,
    version           BIGINT NOT NULL,
    create_time       TIMESTAMPTZ NOT NULL,
    decide_time       TIMESTAMPTZ,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

-- Who held the baton when (acceptances, reassignments and the first holder).
CREATE TABLE holder_history (
    tenant       TEXT NOT NULL,
    case_log     TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    professional TEXT NOT NULL,
    unit         TEXT NOT NULL,
    since        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, seq),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

CREATE TABLE transfers (
    tenant          TEXT NOT NULL,
    case_log        TEXT NOT NULL,
    id              TEXT NOT NULL,
    to_unit         TEXT NOT NULL,
    to_professional TEXT NOT NULL,
    reason          TEXT NOT NULL,
    note            TEXT NOT NULL,
    state           TEXT NOT NULL,
    handover        TEXT NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL,
    decide_time     TIMESTAMPTZ,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

CREATE TABLE attached_referrals (
    tenant            TEXT NOT NULL,
    case_log          TEXT NOT NULL,
    id                TEXT NOT NULL,
    referral          TEXT NOT NULL,
    kind              TEXT NOT NULL,
    restricted        BOOLEAN NOT NULL,
    legal_basis       TEXT NOT NULL,
    from_organization TEXT NOT NULL,
    create_time       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, id),
    UNIQUE (tenant, case_log, referral),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);

-- Every read and write of case data. Rows commit with the change they
-- describe; for reads, before the response is returned.
CREATE TABLE access_log (
    tenant      TEXT NOT NULL,
    case_log    TEXT NOT NULL,
    id          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    acting_as   TEXT NOT NULL,
    unit        TEXT NOT NULL,
    resource    TEXT NOT NULL,
    action      TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    basis       TEXT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log, id),
    FOREIGN KEY (tenant, case_log) REFERENCES case_logs (tenant, id)
);
