-- Appending an entry (CreateEntry by the log's holder), statement by
-- statement as the services run it: the relay log's authorization read (the
-- log with its participants, one statement), the consent service's check, and the write
-- as one statement (activity, entry, access-log row, outbox event; no
-- BEGIN/COMMIT, as the service sends it without an idempotency key). Ids are
-- time-ordered like the services' UUIDv7s. bti-bench puts the draws in front:
-- :i the log, :k its unit, :h its holder.
SELECT l.*, p.id AS p_id, p.unit AS p_unit, p.professional AS p_professional, p.tasks AS p_tasks,
  p.remove_time AS p_remove_time, p.version AS p_version, p.create_time AS p_create_time
  FROM case_logs l LEFT JOIN participants p ON p.tenant = l.tenant AND p.case_log = l.id AND p.removed = FALSE
  WHERE l.tenant = '4201' AND l.id = 'log' || CAST(:i AS text) ORDER BY p.id;
SELECT c.id, c.revision, c.state, c.valid_from, c.valid_until,
  EXISTS (SELECT 1 FROM consent_units u WHERE u.tenant = c.tenant AND u.consent = c.id
          AND u.unit = 'tenants/4201/units/u' || CAST(:k AS text)) AS covers
  FROM consents c WHERE c.tenant = '4201' AND c.subject = 'tenants/4201/persons/c' || CAST(:i AS text)
  AND c.purpose = 'CONSENT_PURPOSE_RELAY_LOG_COLLABORATION' ORDER BY c.id;
WITH corrects AS (
  SELECT '' = '' OR EXISTS (SELECT 1 FROM entries e WHERE e.tenant = '4201' AND e.case_log = 'log' || CAST(:i AS text)
  AND e.id = '') AS found),
touched AS (
  UPDATE case_logs SET last_activity_time = now() WHERE tenant = '4201' AND id = 'log' || CAST(:i AS text)
  AND state = 'CASE_LOG_STATE_ACTIVE' AND (SELECT found FROM corrects) RETURNING 1),
entry AS (
  INSERT INTO entries (tenant, case_log, id, kind, text, corrects, author, author_unit, create_time)
  SELECT '4201', 'log' || CAST(:i AS text), lpad(to_hex(CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS bigint)), 16, '0') || substr(md5(random()::text), 1, 16),
  'ENTRY_KIND_NOTE', 'Kort notat frå samtale med føresette.', '', 'emp' || CAST(:h AS text),
  'tenants/4201/units/u' || CAST(:k AS text), now() WHERE EXISTS (SELECT 1 FROM touched) RETURNING 1),
access AS (
  INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, create_time, restricted_referral)
  SELECT '4201', 'log' || CAST(:i AS text), lpad(to_hex(CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS bigint)), 16, '0') || substr(md5(random()::text), 1, 16),
  'employee' || chr(58) || 'emp' || CAST(:h AS text), 'ACTING_AS_HOLDER', 'tenants/4201/units/u' || CAST(:k AS text),
  'tenants/4201/caseLogs/log' || CAST(:i AS text) || '/entries/x', 'ACCESS_ACTION_CREATE',
  'CreateEntry: follow-up of the relay log', 'tenants/4201/consents/cons' || CAST(:i AS text) || '/revisions/1', now(), ''
  WHERE EXISTS (SELECT 1 FROM entry)),
event AS (
  INSERT INTO bti_outbox (id, source, event_type, subject, tenant, time, data, traceparent)
  SELECT md5(random()::text), '//bti.no/caselog', 'bti.caselog.v1.EntryAppended',
  'tenants/4201/caseLogs/log' || CAST(:i AS text) || '/entries/x', '4201', now(), '\x0a3c74656e616e7473', ''
  WHERE EXISTS (SELECT 1 FROM entry))
SELECT (SELECT found FROM corrects), EXISTS (SELECT 1 FROM touched);
