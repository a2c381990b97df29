-- Getting a log with its 20 newest entries (GetCaseLog by the log's holder):
-- the authorization read (which also gives the log), the consent check, and
-- the newest entries with the access-log row as one statement, committed
-- before the answer.
SELECT l.*, p.id AS p_id, p.unit AS p_unit, p.professional AS p_professional, p.tasks AS p_tasks,
  p.remove_time AS p_remove_time, p.version AS p_version, p.create_time AS p_create_time
  FROM case_logs l LEFT JOIN participants p ON p.tenant = l.tenant AND p.case_log = l.id AND p.removed = FALSE
  WHERE l.tenant = '4201' AND l.id = 'log' || CAST(:i AS text) ORDER BY p.id;
SELECT c.id, c.revision, c.state, c.valid_from, c.valid_until,
  EXISTS (SELECT 1 FROM consent_units u WHERE u.tenant = c.tenant AND u.consent = c.id
          AND u.unit = 'tenants/4201/units/u' || CAST(:k AS text)) AS covers
  FROM consents c WHERE c.tenant = '4201' AND c.subject = 'tenants/4201/persons/c' || CAST(:i AS text)
  AND c.purpose = 'CONSENT_PURPOSE_RELAY_LOG_COLLABORATION' ORDER BY c.id;
WITH bti_access AS (
  INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, create_time, restricted_referral)
  VALUES ('4201', 'log' || CAST(:i AS text), lpad(to_hex(CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS bigint)), 16, '0') || substr(md5(random()::text), 1, 16),
  'employee' || chr(58) || 'emp' || CAST(:h AS text), 'ACTING_AS_HOLDER', 'tenants/4201/units/u' || CAST(:k AS text),
  'tenants/4201/caseLogs/log' || CAST(:i AS text), 'ACCESS_ACTION_READ',
  'GetCaseLog: follow-up of the relay log', 'tenants/4201/consents/cons' || CAST(:i AS text) || '/revisions/1', now(), ''))
SELECT * FROM entries WHERE tenant = '4201' AND case_log = 'log' || CAST(:i AS text) AND ('' = '' OR id < '')
  ORDER BY id DESC LIMIT 20;
