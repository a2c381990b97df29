//! PostgreSQL backend of the relay log store.

use sqlx::postgres::PgPool;

// Claim, Plumbing, Work and ApiResult come in with `caselog_sql_store!`.
use super::Op;

/// Relay log store on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// Appending an entry as one statement: the activity touch, the entry, its
/// access row and its event, each written only if the one before it was, and
/// the touch only if the corrected entry (if any) is in the log: a closed log
/// or a missing corrected entry writes nothing. Answers whether the corrected
/// entry was found and the log touched.
const APPEND_ENTRY: &str = "WITH corrects AS ( \
       SELECT $9 = '' OR EXISTS (SELECT 1 FROM entries e WHERE e.tenant = $4 AND e.case_log = $5 \
       AND e.id = $9) AS found), \
     touched AS ( \
       UPDATE case_logs SET last_activity_time = $1 WHERE tenant = $2 AND id = $3 \
       AND state = 'CASE_LOG_STATE_ACTIVE' AND (SELECT found FROM corrects) RETURNING 1), \
     entry AS ( \
       INSERT INTO entries (tenant, case_log, id, kind, text, corrects, author, author_unit, create_time) \
       SELECT $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE EXISTS (SELECT 1 FROM touched) RETURNING 1), \
     access AS ( \
       INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, \
       create_time, restricted_referral) \
       SELECT $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24 WHERE EXISTS (SELECT 1 FROM entry)), \
     event AS ( \
       INSERT INTO bti_outbox (id, source, event_type, subject, tenant, time, data, traceparent) \
       SELECT $25, $26, $27, $28, $29, $30, $31, $32 WHERE EXISTS (SELECT 1 FROM entry)) \
     SELECT (SELECT found FROM corrects), EXISTS (SELECT 1 FROM touched)";

impl PgStore {
    /// Logged reads run as one statement with their access row
    /// (`ops::with_access`), single-statement writes without BEGIN/COMMIT.
    const ONE_STATEMENT: bool = true;

    pub fn new(pool: PgPool) -> Self {
        PgStore { pool }
    }

    async fn begin(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await
    }

    /// CreateEntry's write (the hottest one) in one round trip instead of
    /// six, or two more around it when an idempotency key is claimed first.
    /// `None` for any other work.
    async fn append_entry(&self, work: &Work) -> ApiResult<Option<Claim>> {
        let ([Op::Touch { tenant, id, at }, Op::InsertEntry(r)], [a], [e]) = (
            work.ops.as_slice(),
            work.access.as_slice(),
            work.events.as_slice(),
        ) else {
            return Ok(None);
        };
        let q = sqlx::query_as::<_, (bool, bool)>(APPEND_ENTRY)
            .bind(*at)
            .bind(tenant)
            .bind(id)
            .bind(&r.tenant)
            .bind(&r.case_log)
            .bind(&r.id)
            .bind(&r.kind)
            .bind(&r.text)
            .bind(&r.corrects)
            .bind(&r.author)
            .bind(&r.author_unit)
            .bind(r.create_time);
        let q = ops::bind_access(q, a)
            .bind(&e.id)
            .bind(&e.source)
            .bind(&e.event_type)
            .bind(&e.subject)
            .bind(&e.tenant)
            .bind(e.time)
            .bind(&e.data)
            .bind(&e.traceparent);
        let judge = |(found, touched): (bool, bool)| match (found, touched) {
            (false, _) => Err(ops::no_corrected_entry()),
            (true, false) => Err(ops::log_closed(tenant, id)),
            (true, true) => Ok(Claim::New),
        };
        match &work.idem {
            Some((scope, idem, name)) if idem.request_id.is_some() => {
                let mut tx = self.begin().await?;
                if let Claim::Replay(existing) = tx.claim(scope, idem, name).await? {
                    return Ok(Some(Claim::Replay(existing)));
                }
                // An error drops the transaction: the key is not kept.
                let claim = judge(q.fetch_one(&mut *tx).await?)?;
                tx.commit().await?;
                Ok(Some(claim))
            }
            _ => Ok(Some(judge(q.fetch_one(&self.pool).await?)?)),
        }
    }
}

super::sql::caselog_sql_store!(PgStore, sqlx::Postgres);
