-- A municipality's own e-mail templates, by kind and language.
CREATE TABLE notification_templates (
    tenant      TEXT NOT NULL,
    -- `<kind>/<language>`, for example `handover.offered/nn`.
    id          TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    update_time TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
