//! The scheduling service's SQL, written once for both backends.

macro_rules! scheduling_sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use bti_runtime::db::{Claim, Plumbing, check_versioned, write_error};
        use bti_runtime::events::OutboxEvent;
        use bti_runtime::{ApiError, ApiResult};
        use chrono::{DateTime, Utc};

        use super::{DeadlineQuery, Idem, MeetingQuery, NewMeeting, SchedulingStore};
        use crate::domain::*;

        type Tx = sqlx::Transaction<'static, $db>;

        const OPEN: &str = "DEADLINE_STATE_OPEN";

        impl $store {
            async fn participants(&self, tenant: &str, meeting: &str) -> ApiResult<Vec<ParticipantRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_participants WHERE tenant = $1 AND meeting = $2 ORDER BY id",
                )
                .bind(tenant)
                .bind(meeting)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn views(&self, rows: Vec<MeetingRecord>) -> ApiResult<Vec<MeetingView>> {
                let mut out = Vec::with_capacity(rows.len());
                for meeting in rows {
                    let participants = self.participants(&meeting.tenant, &meeting.id).await?;
                    out.push(MeetingView { meeting, participants });
                }
                Ok(out)
            }

            async fn finish(mut tx: Tx, access: &[AccessRow], events: &[OutboxEvent]) -> ApiResult<()> {
                for a in access {
                    Self::insert_access(&mut tx, a).await?;
                }
                for e in events {
                    tx.enqueue(e).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_access(tx: &mut Tx, a: &AccessRow) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO scheduling_access (tenant, subject, id, actor, resource, action, purpose, create_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&a.tenant)
                .bind(&a.subject)
                .bind(&a.id)
                .bind(&a.actor)
                .bind(&a.resource)
                .bind(&a.action)
                .bind(&a.purpose)
                .bind(a.create_time)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn insert_meeting(tx: &mut Tx, m: &MeetingRecord) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO scheduling_meetings (tenant, unit, id, kind, case_log, subject, series, slot, \
                     start_time, duration_secs, location, video_link, agenda, organizer, organizer_unit, state, \
                     minutes_entry, sequence, version, create_time, update_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
                )
                .bind(&m.tenant)
                .bind(&m.unit)
                .bind(&m.id)
                .bind(&m.kind)
                .bind(&m.case_log)
                .bind(&m.subject)
                .bind(&m.series)
                .bind(&m.slot)
                .bind(m.start_time)
                .bind(m.duration_secs)
                .bind(&m.location)
                .bind(&m.video_link)
                .bind(&m.agenda)
                .bind(&m.organizer)
                .bind(&m.organizer_unit)
                .bind(&m.state)
                .bind(&m.minutes_entry)
                .bind(m.sequence)
                .bind(m.version)
                .bind(m.create_time)
                .bind(m.update_time)
                .execute(&mut **tx)
                .await
                .map_err(|e| write_error(e, &m.name()))?;
                Ok(())
            }

            async fn replace_participants(tx: &mut Tx, tenant: &str, meeting: &str, ps: &[ParticipantRecord]) -> ApiResult<()> {
                sqlx::query("DELETE FROM scheduling_participants WHERE tenant = $1 AND meeting = $2")
                    .bind(tenant)
                    .bind(meeting)
                    .execute(&mut **tx)
                    .await?;
                for p in ps {
                    sqlx::query(
                        "INSERT INTO scheduling_participants (tenant, meeting, id, role, unit, professional, person, \
                         representation, response, removed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(tenant)
                    .bind(meeting)
                    .bind(&p.id)
                    .bind(&p.role)
                    .bind(&p.unit)
                    .bind(&p.professional)
                    .bind(&p.person)
                    .bind(&p.representation)
                    .bind(&p.response)
                    .bind(p.removed)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(())
            }

            async fn insert_slot(tx: &mut Tx, s: &SlotRecord) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO scheduling_slots (tenant, unit, meeting, id, start_time, duration_secs, capacity, booked) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&s.tenant)
                .bind(&s.unit)
                .bind(&s.meeting)
                .bind(&s.id)
                .bind(s.start_time)
                .bind(s.duration_secs)
                .bind(s.capacity)
                .bind(s.booked)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// The place a booking holds in its slot (`slot` is the slot's name).
            async fn move_slot(tx: &mut Tx, slot: &str, by: i64) -> ApiResult<bool> {
                let n = SlotName::parse("slot", slot)?;
                let rows = sqlx::query(
                    "UPDATE scheduling_slots SET booked = booked + $1 \
                     WHERE tenant = $2 AND unit = $3 AND meeting = $4 AND id = $5 \
                     AND booked + $1 <= capacity AND booked + $1 >= 0",
                )
                .bind(by)
                .bind(&n.tenant)
                .bind(&n.unit)
                .bind(&n.meeting)
                .bind(&n.slot)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                Ok(rows == 1)
            }
        }

        #[async_trait]
        impl SchedulingStore for $store {
            async fn create_series(
                &self,
                s: &SeriesRecord,
                meetings: &[MeetingView],
                slots: &[SlotRecord],
                idem: &Idem,
            ) -> ApiResult<SeriesRecord> {
                let name = s.name();
                let mut tx = self.begin().await?;
                if let Claim::Replay(existing) = tx.claim("CreateMeetingSeries", idem, &name).await? {
                    drop(tx);
                    let n = SeriesName::parse("name", &existing)?;
                    return self.get_series(&n.tenant, &n.unit, &n.series).await?.ok_or(ApiError::NotFound(existing));
                }
                sqlx::query(
                    "INSERT INTO scheduling_series (tenant, unit, id, display_name, time_zone, first_start, recurrence, \
                     start_times, duration_secs, slot_secs, slot_capacity, location, standing_units, version, create_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(&s.tenant)
                .bind(&s.unit)
                .bind(&s.id)
                .bind(&s.display_name)
                .bind(&s.time_zone)
                .bind(&s.first_start)
                .bind(&s.recurrence)
                .bind(&s.start_times)
                .bind(s.duration_secs)
                .bind(s.slot_secs)
                .bind(s.slot_capacity)
                .bind(&s.location)
                .bind(&s.standing_units)
                .bind(s.version)
                .bind(s.create_time)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(e, &name))?;
                for v in meetings {
                    Self::insert_meeting(&mut tx, &v.meeting).await?;
                    Self::replace_participants(&mut tx, &v.meeting.tenant, &v.meeting.id, &v.participants).await?;
                }
                for slot in slots {
                    Self::insert_slot(&mut tx, slot).await?;
                }
                tx.commit().await?;
                Ok(s.clone())
            }

            async fn get_series(&self, tenant: &str, unit: &str, id: &str) -> ApiResult<Option<SeriesRecord>> {
                Ok(sqlx::query_as("SELECT * FROM scheduling_series WHERE tenant = $1 AND unit = $2 AND id = $3")
                    .bind(tenant)
                    .bind(unit)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_series(&self, tenant: &str, unit: &str, offset: i64, limit: i64) -> ApiResult<Vec<SeriesRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_series WHERE tenant = $1 AND unit = $2 \
                     ORDER BY create_time, id LIMIT $3 OFFSET $4",
                )
                .bind(tenant)
                .bind(unit)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn series_meetings(&self, tenant: &str, series: &str) -> ApiResult<Vec<String>> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT unit, id FROM scheduling_meetings WHERE tenant = $1 AND series = $2 \
                     AND case_log = '' ORDER BY start_time, id",
                )
                .bind(tenant)
                .bind(series)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(u, m)| MeetingName::new(tenant, u, m).to_string()).collect())
            }

            async fn create_meeting(&self, m: NewMeeting<'_>, scope: &str, idem: &Idem) -> ApiResult<MeetingView> {
                let name = m.view.meeting.name();
                let mut tx = self.begin().await?;
                if let Claim::Replay(existing) = tx.claim(scope, idem, &name).await? {
                    drop(tx);
                    let n = MeetingName::parse("name", &existing)?;
                    return self.get_meeting(&n.tenant, &n.meeting).await?.ok_or(ApiError::NotFound(existing));
                }
                if let Some(slot) = m.takes {
                    if !Self::move_slot(&mut tx, &slot.name(), 1).await? {
                        return Err(ApiError::precondition(
                            "SLOT_FULL",
                            slot.name(),
                            "the slot has no place left; choose another",
                        ));
                    }
                }
                Self::insert_meeting(&mut tx, &m.view.meeting).await?;
                let v = &m.view.meeting;
                Self::replace_participants(&mut tx, &v.tenant, &v.id, &m.view.participants).await?;
                for slot in m.slots {
                    Self::insert_slot(&mut tx, slot).await?;
                }
                Self::finish(tx, m.access, m.events).await?;
                Ok(m.view.clone())
            }

            async fn get_meeting(&self, tenant: &str, id: &str) -> ApiResult<Option<MeetingView>> {
                let row: Option<MeetingRecord> =
                    sqlx::query_as("SELECT * FROM scheduling_meetings WHERE tenant = $1 AND id = $2")
                        .bind(tenant)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                match row {
                    Some(m) => Ok(self.views(vec![m]).await?.pop()),
                    None => Ok(None),
                }
            }

            async fn list_meetings(&self, q: &MeetingQuery) -> ApiResult<Vec<MeetingView>> {
                let mine = q.mine.clone().unwrap_or_default();
                let rows: Vec<MeetingRecord> = sqlx::query_as(
                    "SELECT * FROM scheduling_meetings m WHERE m.tenant = $1 \
                     AND ($2 = '' OR m.unit = $2) \
                     AND ($3 = '' OR m.case_log = $3) \
                     AND ($4 = '' OR m.subject = $4) \
                     AND ($5 = '' OR m.state = $5) \
                     AND ($6 = '' OR m.kind = $6) \
                     AND ($7 IS NULL OR m.start_time >= $7) \
                     AND ($8 IS NULL OR m.start_time < $8) \
                     AND ($9 = 0 OR m.organizer = $10 OR EXISTS (SELECT 1 FROM scheduling_participants p \
                          WHERE p.tenant = m.tenant AND p.meeting = m.id AND p.removed = $11 \
                          AND ((p.professional <> '' AND p.professional = $10) \
                               OR (p.person <> '' AND p.person = $12) \
                               OR (p.unit <> '' AND p.role = 'PARTICIPANT_ROLE_UNIT' AND $13 LIKE '%,' || p.unit || ',%')))) \
                     ORDER BY m.start_time, m.id LIMIT $14 OFFSET $15",
                )
                .bind(&q.tenant)
                .bind(&q.unit)
                .bind(&q.case_log)
                .bind(&q.subject)
                .bind(&q.state)
                .bind(&q.kind)
                .bind(q.from)
                .bind(q.until)
                .bind(i64::from(q.mine.is_some()))
                .bind(&mine.professional)
                .bind(false)
                .bind(&mine.person)
                .bind(&mine.units)
                .bind(q.limit)
                .bind(q.offset)
                .fetch_all(&self.pool)
                .await?;
                self.views(rows).await
            }

            async fn save_meeting(
                &self,
                v: &MeetingView,
                frees: bool,
                access: &[AccessRow],
                events: &[OutboxEvent],
            ) -> ApiResult<MeetingView> {
                let m = &v.meeting;
                let name = m.name();
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE scheduling_meetings SET start_time = $1, duration_secs = $2, location = $3, \
                     video_link = $4, agenda = $5, state = $6, minutes_entry = $7, sequence = $8, \
                     update_time = $9, organizer = $13, organizer_unit = $14, version = version + 1 \
                     WHERE tenant = $10 AND id = $11 AND version = $12",
                )
                .bind(m.start_time)
                .bind(m.duration_secs)
                .bind(&m.location)
                .bind(&m.video_link)
                .bind(&m.agenda)
                .bind(&m.state)
                .bind(&m.minutes_entry)
                .bind(m.sequence)
                .bind(m.update_time)
                .bind(&m.tenant)
                .bind(&m.id)
                .bind(m.version)
                .bind(&m.organizer)
                .bind(&m.organizer_unit)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                check_versioned(rows, true, &name)?;
                Self::replace_participants(&mut tx, &m.tenant, &m.id, &v.participants).await?;
                if frees && !m.slot.is_empty() {
                    Self::move_slot(&mut tx, &m.slot, -1).await?;
                }
                Self::finish(tx, access, events).await?;
                let mut out = v.clone();
                out.meeting.version += 1;
                Ok(out)
            }

            async fn set_response(&self, tenant: &str, participant: &str, response: &str, access: &[AccessRow]) -> ApiResult<()> {
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE scheduling_participants SET response = $1 WHERE tenant = $2 AND id = $3")
                    .bind(response)
                    .bind(tenant)
                    .bind(participant)
                    .execute(&mut *tx)
                    .await?;
                Self::finish(tx, access, &[]).await
            }

            async fn list_slots(&self, tenant: &str, unit: &str, meeting: &str) -> ApiResult<Vec<SlotRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_slots WHERE tenant = $1 AND unit = $2 AND meeting = $3 ORDER BY start_time, id",
                )
                .bind(tenant)
                .bind(unit)
                .bind(meeting)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn get_slot(&self, tenant: &str, unit: &str, meeting: &str, id: &str) -> ApiResult<Option<SlotRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_slots WHERE tenant = $1 AND unit = $2 AND meeting = $3 AND id = $4",
                )
                .bind(tenant)
                .bind(unit)
                .bind(meeting)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn upsert_deadline(&self, d: &DeadlineRecord) -> ApiResult<DeadlineRecord> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO scheduling_deadlines (tenant, id, kind, cause, case_log, subject, resource, unit, \
                     responsible, due_time, remind_time, escalate_time, state, stage, close_time, version, \
                     create_time, update_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                     ON CONFLICT (tenant, cause) DO UPDATE SET due_time = excluded.due_time, \
                     remind_time = excluded.remind_time, escalate_time = excluded.escalate_time, \
                     responsible = excluded.responsible, unit = excluded.unit, stage = excluded.stage, \
                     update_time = excluded.update_time, version = scheduling_deadlines.version + 1 \
                     WHERE scheduling_deadlines.state = $19 AND (scheduling_deadlines.due_time <> excluded.due_time \
                     OR scheduling_deadlines.responsible <> excluded.responsible OR scheduling_deadlines.unit <> excluded.unit)",
                )
                .bind(&d.tenant)
                .bind(&d.id)
                .bind(&d.kind)
                .bind(&d.cause)
                .bind(&d.case_log)
                .bind(&d.subject)
                .bind(&d.resource)
                .bind(&d.unit)
                .bind(&d.responsible)
                .bind(d.due_time)
                .bind(d.remind_time)
                .bind(d.escalate_time)
                .bind(&d.state)
                .bind(&d.stage)
                .bind(d.close_time)
                .bind(d.version)
                .bind(d.create_time)
                .bind(d.update_time)
                .bind(OPEN)
                .execute(&mut *tx)
                .await?;
                let stored: DeadlineRecord =
                    sqlx::query_as("SELECT * FROM scheduling_deadlines WHERE tenant = $1 AND cause = $2")
                        .bind(&d.tenant)
                        .bind(&d.cause)
                        .fetch_one(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(stored)
            }

            async fn get_deadline(&self, tenant: &str, id: &str) -> ApiResult<Option<DeadlineRecord>> {
                Ok(sqlx::query_as("SELECT * FROM scheduling_deadlines WHERE tenant = $1 AND id = $2")
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn deadline_by_cause(&self, tenant: &str, cause: &str) -> ApiResult<Option<DeadlineRecord>> {
                Ok(sqlx::query_as("SELECT * FROM scheduling_deadlines WHERE tenant = $1 AND cause = $2")
                    .bind(tenant)
                    .bind(cause)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_deadlines(&self, q: &DeadlineQuery) -> ApiResult<Vec<DeadlineRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_deadlines d WHERE d.tenant = $1 \
                     AND ((d.responsible <> '' AND d.responsible = $2) OR $3 LIKE '%,' || d.unit || ',%') \
                     AND ($4 = '' OR d.unit = $4) AND ($5 = '' OR d.state = $5) AND ($6 = '' OR d.stage = $6) \
                     AND ($7 = '' OR d.kind = $7) AND ($8 = '' OR d.case_log = $8) \
                     ORDER BY d.due_time, d.id LIMIT $9 OFFSET $10",
                )
                .bind(&q.tenant)
                .bind(&q.responsible)
                .bind(&q.led_units)
                .bind(&q.unit)
                .bind(&q.state)
                .bind(&q.stage)
                .bind(&q.kind)
                .bind(&q.case_log)
                .bind(q.limit)
                .bind(q.offset)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn save_deadline(&self, d: &DeadlineRecord, access: &[AccessRow], events: &[OutboxEvent]) -> ApiResult<DeadlineRecord> {
                let mut tx = self.begin().await?;
                let rows = sqlx::query(
                    "UPDATE scheduling_deadlines SET responsible = $1, state = $2, stage = $3, close_time = $4, \
                     update_time = $5, version = version + 1 WHERE tenant = $6 AND id = $7 AND version = $8",
                )
                .bind(&d.responsible)
                .bind(&d.state)
                .bind(&d.stage)
                .bind(d.close_time)
                .bind(d.update_time)
                .bind(&d.tenant)
                .bind(&d.id)
                .bind(d.version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                check_versioned(rows, true, &d.name())?;
                Self::finish(tx, access, events).await?;
                Ok(DeadlineRecord {
                    version: d.version + 1,
                    ..d.clone()
                })
            }

            async fn due_deadlines(&self, now: DateTime<Utc>, limit: i64) -> ApiResult<Vec<DeadlineRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_deadlines WHERE state = $1 AND remind_time <= $2 AND \
                     ((stage = 'DEADLINE_STAGE_PENDING') \
                      OR (stage = 'DEADLINE_STAGE_REMINDED' AND due_time <= $2) \
                      OR (stage = 'DEADLINE_STAGE_OVERDUE' AND escalate_time <= $2)) \
                     ORDER BY remind_time, id LIMIT $3",
                )
                .bind(OPEN)
                .bind(now)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn open_deadlines_of(&self, tenant: &str, case_log: &str) -> ApiResult<Vec<DeadlineRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_deadlines WHERE tenant = $1 AND case_log = $2 AND state = $3 ORDER BY id",
                )
                .bind(tenant)
                .bind(case_log)
                .bind(OPEN)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn upsert_log(&self, l: &LogRecord) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO scheduling_logs (tenant, case_log, subject, unit, holder, holder_unit, active, open_time) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant, case_log) DO UPDATE SET \
                     unit = excluded.unit, holder = excluded.holder, holder_unit = excluded.holder_unit, \
                     active = excluded.active",
                )
                .bind(&l.tenant)
                .bind(&l.case_log)
                .bind(&l.subject)
                .bind(&l.unit)
                .bind(&l.holder)
                .bind(&l.holder_unit)
                .bind(l.active)
                .bind(l.open_time)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn get_log(&self, tenant: &str, case_log: &str) -> ApiResult<Option<LogRecord>> {
                Ok(sqlx::query_as("SELECT * FROM scheduling_logs WHERE tenant = $1 AND case_log = $2")
                    .bind(tenant)
                    .bind(case_log)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn active_logs_of(&self, tenant: &str, subject: &str) -> ApiResult<Vec<LogRecord>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_logs WHERE tenant = $1 AND subject = $2 AND active = $3 ORDER BY case_log",
                )
                .bind(tenant)
                .bind(subject)
                .bind(true)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn upsert_consent(&self, c: &ConsentValidity) -> ApiResult<()> {
                sqlx::query(
                    "INSERT INTO scheduling_consents (tenant, consent, subject, valid_until, active) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, consent) DO UPDATE SET \
                     valid_until = excluded.valid_until, active = excluded.active",
                )
                .bind(&c.tenant)
                .bind(&c.consent)
                .bind(&c.subject)
                .bind(c.valid_until)
                .bind(c.active)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn consents_of(&self, tenant: &str, subject: &str) -> ApiResult<Vec<ConsentValidity>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_consents WHERE tenant = $1 AND subject = $2 AND active = $3 ORDER BY consent",
                )
                .bind(tenant)
                .bind(subject)
                .bind(true)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn log_access(&self, rows: &[AccessRow]) -> ApiResult<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                let tx = self.begin().await?;
                Self::finish(tx, rows, &[]).await
            }

            async fn list_access(&self, tenant: &str, subject: &str, offset: i64, limit: i64) -> ApiResult<Vec<AccessRow>> {
                Ok(sqlx::query_as(
                    "SELECT * FROM scheduling_access WHERE tenant = $1 AND subject = $2 \
                     ORDER BY create_time DESC, id DESC LIMIT $3 OFFSET $4",
                )
                .bind(tenant)
                .bind(subject)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn handled(&self, event: &str) -> ApiResult<bool> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scheduling_events WHERE id = $1")
                    .bind(event)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n > 0)
            }

            async fn mark_handled(&self, event: &str, at: DateTime<Utc>) -> ApiResult<()> {
                sqlx::query("INSERT INTO scheduling_events (id, handled_time) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
                    .bind(event)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use scheduling_sql_store;
