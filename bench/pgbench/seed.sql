-- One consented relay log with 200 entries, as after some months of use.
INSERT INTO consents (tenant, id, subject, purpose, grantors, state, revision, valid_from, valid_until,
    withdraw_time, withdraw_reason, version, create_time, update_time)
VALUES ('4201', 'consent', 'tenants/4201/persons/child', 'CONSENT_PURPOSE_RELAY_LOG_COLLABORATION', '[]',
    'CONSENT_STATE_ACTIVE', 1, now(), NULL, NULL, '', 1, now(), now());
INSERT INTO consent_units (tenant, consent, unit) VALUES ('4201', 'consent', 'tenants/4201/units/school');
INSERT INTO case_logs (tenant, id, subject, subject_kind, unit, concern, concern_degree, level, state, holder,
    holder_unit, holder_since, pending_handover, pending_transfer, consent_revision, close_reason, close_time,
    last_activity_time, version, create_time, update_time)
VALUES ('4201', 'log', 'tenants/4201/persons/child', 'SUBJECT_KIND_CHILD', 'tenants/4201/units/school', 'bench',
    'CONCERN_DEGREE_UNEASE', 'LEVEL_1', 'CASE_LOG_STATE_ACTIVE', 'kari', 'tenants/4201/units/school', now(), '', '',
    'tenants/4201/consents/consent/revisions/1', '', NULL, now(), 1, now(), now());
INSERT INTO entries (tenant, case_log, id, kind, text, corrects, author, author_unit, create_time)
SELECT '4201', 'log', lpad(i::text, 32, '0'), 'ENTRY_KIND_NOTE', 'Kort notat frå samtale.', '', 'kari',
    'tenants/4201/units/school', now()
FROM generate_series(1, 200) AS i;
