-- Directory: tenants, units, staff, persons and guardianships.
-- Enums are stored by their proto value name (for example 'UNIT_TYPE_SCHOOL')
-- so the data reads without the contract at hand.

CREATE TABLE tenants (
    id                            TEXT PRIMARY KEY,
    display_name                  TEXT NOT NULL,
    youth_consent_age             INTEGER NOT NULL,
    require_all_guardians_consent BOOLEAN NOT NULL,
    version                       BIGINT NOT NULL,
    create_time                   TIMESTAMPTZ NOT NULL,
    update_time                   TIMESTAMPTZ NOT NULL
);

CREATE TABLE units (
    tenant              TEXT NOT NULL REFERENCES tenants (id),
    id                  TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    unit_type           TEXT NOT NULL,
    organization_number TEXT NOT NULL,
    version             BIGINT NOT NULL,
    create_time         TIMESTAMPTZ NOT NULL,
    update_time         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE members (
    tenant       TEXT NOT NULL,
    unit         TEXT NOT NULL,
    id           TEXT NOT NULL,
    subject      TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL,
    absent       BOOLEAN NOT NULL,
    version      BIGINT NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL,
    update_time  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, unit, id),
    UNIQUE (tenant, unit, subject),
    FOREIGN KEY (tenant, unit) REFERENCES units (tenant, id)
);

-- Which units a professional works in, by their identity-provider subject.
CREATE INDEX members_by_subject ON members (tenant, subject);

CREATE TABLE persons (
    tenant      TEXT NOT NULL REFERENCES tenants (id),
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    national_id TEXT NOT NULL,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    birth_date  DATE NOT NULL,
    version     BIGINT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL,
    update_time TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, national_id)
);

CREATE TABLE guardianships (
    tenant                  TEXT NOT NULL,
    person                  TEXT NOT NULL,
    id                      TEXT NOT NULL,
    guardian                TEXT NOT NULL,
    parental_responsibility BOOLEAN NOT NULL,
    version                 BIGINT NOT NULL,
    create_time             TIMESTAMPTZ NOT NULL,
    update_time             TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, person, id),
    UNIQUE (tenant, person, guardian),
    FOREIGN KEY (tenant, person) REFERENCES persons (tenant, id),
    FOREIGN KEY (tenant, guardian) REFERENCES persons (tenant, id)
);

-- A guardian's children (the reverse of the primary key).
CREATE INDEX guardianships_by_guardian ON guardianships (tenant, guardian);
