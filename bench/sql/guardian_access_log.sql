-- A guardian reading who read their child's log (ListAccessLogEntries, a
-- page of 50): the authorization read, the directory's guardianships of the
-- child, and one statement that logs the reader's own row and lists it
-- beside the table's.
SELECT l.*, p.id AS p_id, p.unit AS p_unit, p.professional AS p_professional, p.tasks AS p_tasks,
  p.remove_time AS p_remove_time, p.version AS p_version, p.create_time AS p_create_time
  FROM case_logs l LEFT JOIN participants p ON p.tenant = l.tenant AND p.case_log = l.id AND p.removed = FALSE
  WHERE l.tenant = '4201' AND l.id = 'log' || CAST(:i AS text) ORDER BY p.id;
SELECT * FROM guardianships WHERE tenant = '4201' AND person = 'c' || CAST(:i AS text) AND id > '' ORDER BY id LIMIT 101;
WITH bti_access AS (
  INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, create_time, restricted_referral)
  VALUES ('4201', 'log' || CAST(:i AS text), lpad(to_hex(CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS bigint)), 16, '0') || substr(md5(random()::text), 1, 16),
  'guardian' || chr(58) || 'guardian-' || CAST(:i AS text), 'ACTING_AS_GUARDIAN', '',
  'tenants/4201/caseLogs/log' || CAST(:i AS text) || '/accessLogEntries', 'ACCESS_ACTION_READ',
  'ListAccessLogEntries: follow-up of the relay log', 'parental responsibility', now(), '') RETURNING *)
SELECT * FROM (SELECT * FROM bti_access UNION ALL SELECT * FROM access_log
    WHERE tenant = '4201' AND case_log = 'log' || CAST(:i AS text)) access_log
  WHERE tenant = '4201' AND case_log = 'log' || CAST(:i AS text) AND ('' = '' OR id < '')
  AND (NOT TRUE OR (acting_as <> 'ACTING_AS_SERVICE' AND (restricted_referral = '' OR NOT EXISTS (
      SELECT 1 FROM attached_referrals r WHERE r.tenant = access_log.tenant
      AND r.case_log = access_log.case_log AND r.id = access_log.restricted_referral AND r.restricted))))
  ORDER BY id DESC LIMIT 51;
