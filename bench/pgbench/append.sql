-- What appending an entry costs in SQL: the consent service's access check,
-- the relay log's authorization read, and the write transaction (activity,
-- entry, access-log row, outbox event).
\set n random(1, 1000000000)
SELECT c.id, c.revision, c.state, c.valid_from, c.valid_until,
  EXISTS (SELECT 1 FROM consent_units u WHERE u.tenant = c.tenant AND u.consent = c.id
          AND u.unit = 'tenants/4201/units/school') AS covers
  FROM consents c WHERE c.tenant = '4201' AND c.subject = 'tenants/4201/persons/child'
  AND c.purpose = 'CONSENT_PURPOSE_RELAY_LOG_COLLABORATION';
SELECT * FROM case_logs WHERE tenant = '4201' AND id = 'log';
SELECT * FROM participants WHERE tenant = '4201' AND case_log = 'log' AND removed = FALSE ORDER BY id;
BEGIN;
UPDATE case_logs SET last_activity_time = now() WHERE tenant = '4201' AND id = 'log'
  AND state = 'CASE_LOG_STATE_ACTIVE';
INSERT INTO entries (tenant, case_log, id, kind, text, corrects, author, author_unit, create_time)
  SELECT '4201', 'log', md5(CAST(:n AS text) || CAST(clock_timestamp() AS text)), 'ENTRY_KIND_NOTE', 'Kort notat frå samtale.', '',
  'kari', 'tenants/4201/units/school', now() WHERE '' = '' OR EXISTS (SELECT 1 FROM entries e
  WHERE e.tenant = '4201' AND e.case_log = 'log' AND e.id = '');
INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, create_time)
  VALUES ('4201', 'log', md5('a' || CAST(:n AS text) || CAST(clock_timestamp() AS text)), 'employee' || chr(58) || 'kari', 'ACTING_AS_HOLDER',
  'tenants/4201/units/school', 'tenants/4201/caseLogs/log/entries/x', 'ACCESS_ACTION_CREATE',
  'CreateEntry' || chr(58) || ' follow-up of the relay log', 'tenants/4201/consents/consent/revisions/1', now());
INSERT INTO bti_outbox (id, source, event_type, subject, tenant, time, data, traceparent)
  VALUES (md5('o' || CAST(:n AS text) || CAST(clock_timestamp() AS text)), '//bti.no/caselog', 'bti.caselog.v1.EntryAppended',
  'tenants/4201/caseLogs/log/entries/x', '4201', now(), '\x0a00', '');
COMMIT;
