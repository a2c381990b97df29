-- Listing my logs (ListCaseLogs, a page of 50, by employee :e of unit :ek):
-- the candidate logs (held, taken part in, offered) found by index, their
-- participants at once, consent's batch check of every candidate unit, and
-- one access-log row per listed log in one statement (no BEGIN/COMMIT).
-- \aset keeps the page's ids and subjects (the last row's running lists)
-- for the statements after it, as the service keeps them in memory.
SELECT *, CAST(json_agg(id) OVER w AS text) AS page_ids, CAST(json_agg(subject) OVER w AS text) AS page_subjects
  FROM case_logs WHERE tenant = '4201' AND id > '' AND ('' = '' OR subject = '') AND ('' = '' OR state = '') AND id IN (
    SELECT id FROM case_logs WHERE tenant = '4201' AND holder = 'emp' || CAST(:e AS text)
    UNION SELECT case_log FROM participants WHERE tenant = '4201' AND removed = FALSE
      AND unit = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST('["tenants/4201/units/u' || CAST(:ek AS text) || '"]' AS jsonb))))
      AND (professional = '' OR professional = 'emp' || CAST(:e AS text))
    UNION SELECT case_log FROM handovers WHERE tenant = '4201' AND to_professional = 'emp' || CAST(:e AS text)
      AND state = 'HANDOVER_STATE_OFFERED')
  WINDOW w AS (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
  ORDER BY id LIMIT 51 \aset
SELECT * FROM participants WHERE tenant = '4201' AND removed = FALSE
  AND case_log = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(:page_ids AS jsonb)))) ORDER BY case_log, id;
SELECT c.subject, c.purpose, c.id, c.revision, c.state, c.valid_from, c.valid_until, COALESCE(u.unit, '') AS unit
  FROM consents c LEFT JOIN consent_units u ON u.tenant = c.tenant AND u.consent = c.id
  AND u.unit = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST('["tenants/4201/units/u' || CAST(:ek AS text) || '"]' AS jsonb))))
  WHERE c.tenant = '4201' AND c.subject = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(:page_subjects AS jsonb))))
  AND c.purpose = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST('["CONSENT_PURPOSE_RELAY_LOG_COLLABORATION"]' AS jsonb))))
  ORDER BY c.id;
INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, create_time, restricted_referral)
  SELECT '4201', l, lpad(to_hex(CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS bigint)), 16, '0') || substr(md5(random()::text), 1, 16),
  'employee' || chr(58) || 'emp' || CAST(:e AS text), 'ACTING_AS_PARTICIPANT', 'tenants/4201/units/u' || CAST(:ek AS text),
  'tenants/4201/caseLogs/' || l, 'ACCESS_ACTION_READ', 'ListCaseLogs: follow-up of the relay log',
  'tenants/4201/consents/cons/revisions/1', now(), ''
  FROM jsonb_array_elements_text(CAST(:page_ids AS jsonb)) AS l;
