-- What getting a log with its 20 newest entries costs in SQL: the consent
-- check, the authorization read, and the read transaction with its
-- access-log row.
\set n random(1, 1000000000)
SELECT c.id, c.revision, c.state, c.valid_from, c.valid_until,
  EXISTS (SELECT 1 FROM consent_units u WHERE u.tenant = c.tenant AND u.consent = c.id
          AND u.unit = 'tenants/4201/units/school') AS covers
  FROM consents c WHERE c.tenant = '4201' AND c.subject = 'tenants/4201/persons/child'
  AND c.purpose = 'CONSENT_PURPOSE_RELAY_LOG_COLLABORATION';
SELECT * FROM case_logs WHERE tenant = '4201' AND id = 'log';
SELECT * FROM participants WHERE tenant = '4201' AND case_log = 'log' AND removed = FALSE ORDER BY id;
BEGIN;
SELECT * FROM case_logs WHERE tenant = '4201' AND id = 'log';
SELECT * FROM entries WHERE tenant = '4201' AND case_log = 'log' ORDER BY id DESC LIMIT 20;
INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, create_time)
  VALUES ('4201', 'log', md5('g' || CAST(:n AS text) || CAST(clock_timestamp() AS text)), 'employee' || chr(58) || 'kari', 'ACTING_AS_HOLDER',
  'tenants/4201/units/school', 'tenants/4201/caseLogs/log', 'ACCESS_ACTION_READ',
  'GetCaseLog' || chr(58) || ' follow-up of the relay log', 'tenants/4201/consents/consent/revisions/1', now());
COMMIT;
