-- Consents, their immutable revisions, the units each currently covers, and
-- representations. Enums are stored by their proto value name.

CREATE TABLE consents (
    tenant          TEXT NOT NULL,
    id              TEXT NOT NULL,
    subject         TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    -- JSON array of {"person": name, "role": GRANTOR_ROLE_…}; immutable.
    grantors        TEXT NOT NULL,
    state           TEXT NOT NULL,
    revision        INTEGER NOT NULL,
    valid_from      TEXT NOT NULL,
    valid_until     TEXT,
    withdraw_time   TEXT,
    withdraw_reason TEXT NOT NULL,
    version         INTEGER NOT NULL,
    create_time     TEXT NOT NULL,
    update_time     TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- CheckAccess: a subject's consents for a purpose.
CREATE INDEX consents_by_subject ON consents (tenant, subject, purpose);
-- The expiry sweep.
CREATE INDEX consents_expiring ON consents (valid_until) WHERE state = 'CONSENT_STATE_ACTIVE' AND valid_until IS NOT NULL;

-- Units a consent covers now (history is in consent_revisions).
CREATE TABLE consent_units (
    tenant  TEXT NOT NULL,
    consent TEXT NOT NULL,
    unit    TEXT NOT NULL,
    PRIMARY KEY (tenant, consent, unit),
    FOREIGN KEY (tenant, consent) REFERENCES consents (tenant, id)
);

-- Who gave each consent, to list a grantor's consents.
CREATE TABLE consent_grantors (
    tenant  TEXT NOT NULL,
    consent TEXT NOT NULL,
    person  TEXT NOT NULL,
    PRIMARY KEY (tenant, consent, person),
    FOREIGN KEY (tenant, consent) REFERENCES consents (tenant, id)
);

CREATE INDEX consent_grantors_by_person ON consent_grantors (tenant, person);

CREATE TABLE consent_revisions (
    tenant           TEXT NOT NULL,
    consent          TEXT NOT NULL,
    revision         INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    -- JSON array of unit names after the change.
    covered_units    TEXT NOT NULL,
    state            TEXT NOT NULL,
    valid_from       TEXT NOT NULL,
    valid_until      TEXT,
    method           TEXT NOT NULL,
    method_reference TEXT NOT NULL,
    actor            TEXT NOT NULL,
    reason           TEXT NOT NULL,
    create_time      TEXT NOT NULL,
    PRIMARY KEY (tenant, consent, revision),
    FOREIGN KEY (tenant, consent) REFERENCES consents (tenant, id)
);

CREATE TABLE representations (
    tenant              TEXT NOT NULL,
    id                  TEXT NOT NULL,
    guardian            TEXT NOT NULL,
    subject             TEXT NOT NULL,
    representative      TEXT NOT NULL,
    representative_unit TEXT NOT NULL,
    method              TEXT NOT NULL,
    method_reference    TEXT NOT NULL,
    valid_until         TEXT,
    revoked             BOOLEAN NOT NULL,
    version             INTEGER NOT NULL,
    create_time         TEXT NOT NULL,
    update_time         TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE INDEX representations_by_subject ON representations (tenant, subject);
