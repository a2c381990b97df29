-- Registered external systems.
CREATE TABLE clients (
    id                    TEXT PRIMARY KEY,
    display_name          TEXT NOT NULL,
    organization_number   TEXT NOT NULL,
    tenants               TEXT NOT NULL,
    scopes                TEXT NOT NULL,
    unit                  TEXT NOT NULL,
    certificate_sha256    TEXT NOT NULL,
    rate_limit_per_second INTEGER NOT NULL,
    disabled              BOOLEAN NOT NULL,
    version               BIGINT NOT NULL,
    create_time           TIMESTAMPTZ NOT NULL,
    update_time           TIMESTAMPTZ NOT NULL
);

-- Referrals from clients. `placement` is PLACEMENT_UNSPECIFIED while the
-- referral is being routed (claimed, not yet settled).
CREATE TABLE referrals (
    id                     TEXT PRIMARY KEY,
    client                 TEXT NOT NULL REFERENCES clients (id),
    request_id             TEXT NOT NULL,
    tenant                 TEXT NOT NULL,
    person                 TEXT NOT NULL,
    subject_kind           TEXT NOT NULL,
    kind                   TEXT NOT NULL,
    external_reference     TEXT NOT NULL,
    from_organization      TEXT NOT NULL,
    from_unit              TEXT NOT NULL,
    content_kind           TEXT NOT NULL,
    concern                TEXT NOT NULL,
    background             TEXT NOT NULL,
    guardians_informed     BOOLEAN NOT NULL,
    fiks_json              TEXT NOT NULL,
    restricted             BOOLEAN NOT NULL,
    legal_basis            TEXT NOT NULL,
    lift_time              TIMESTAMPTZ,
    status                 TEXT NOT NULL,
    feedback               TEXT NOT NULL,
    placement              TEXT NOT NULL,
    case_log               TEXT NOT NULL,
    attached_referral      TEXT NOT NULL,
    assigned_unit          TEXT NOT NULL,
    investigation_extended BOOLEAN NOT NULL,
    received_time          TIMESTAMPTZ,
    investigation_time     TIMESTAMPTZ,
    closed_time            TIMESTAMPTZ,
    missed                 TEXT NOT NULL,
    version                BIGINT NOT NULL,
    create_time            TIMESTAMPTZ NOT NULL,
    update_time            TIMESTAMPTZ NOT NULL
);
CREATE INDEX referrals_client ON referrals (client, id);
CREATE INDEX referrals_placement ON referrals (tenant, placement, id);
CREATE INDEX referrals_open_reports ON referrals (kind, status, id);

CREATE TABLE referral_attachments (
    referral     TEXT NOT NULL REFERENCES referrals (id),
    position     INTEGER NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (referral, position)
);

-- Every read and write of referral data, committed with it.
CREATE TABLE access_log (
    id          TEXT PRIMARY KEY,
    referral    TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    basis       TEXT NOT NULL,
    create_time TIMESTAMPTZ NOT NULL
);
CREATE INDEX access_log_referral ON access_log (referral, id);
