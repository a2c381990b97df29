//! The benchmark's municipality, written straight into each service's
//! database after its own migrations ran: 50 units with four employees each,
//! 10,000 children with a guardian, a consent, a relay log (held by an
//! employee of its unit, with one participant from the next unit) and
//! entries to a chosen total. The same statements run on PostgreSQL and
//! SQLite; only the series, the padding and the clock differ.
//!
//! Who is who, so that the load client and the pgbench scripts (`bench/sql`)
//! compute the same names from a log number `i`:
//! - unit `k` is `tenants/4201/units/u{k}`, `k` in 0..50; employee `e` works
//!   in unit `e % 50` (`emp{e}`, `e` in 0..200);
//! - log `i` (`log{i}`) is child `c{i}`'s, guardian `g{i}`, consent
//!   `cons{i}`; unit `i % 50`; holder `emp{holder(i)}`; participant: unit
//!   `(i + 1) % 50`, professional `emp{participant(i)}`.

use bti_runtime::db::Db;

pub const TENANT: &str = "4201";
pub const UNITS: u64 = 50;
pub const EMPLOYEES: u64 = 200;
pub const LOGS: u64 = 10_000;
/// Access-log rows each log starts with (earlier reads and writes).
pub const ACCESS_ROWS_PER_LOG: u64 = 20;

/// The employee who holds log `i`'s baton.
pub fn holder(i: u64) -> u64 {
    i % UNITS + UNITS * ((i / UNITS) % 4)
}

pub fn unit_name(k: u64) -> String {
    format!("tenants/{TENANT}/units/u{k}")
}

/// The units employee `e` works in.
pub fn employee_unit(e: u64) -> u64 {
    e % UNITS
}

pub fn log_name(i: u64) -> String {
    format!("tenants/{TENANT}/caseLogs/log{i}")
}

pub fn guardian_name(i: u64) -> String {
    format!("tenants/{TENANT}/persons/g{i}")
}

/// How one backend spells the few things SQL does not agree on.
struct Dialect {
    pg: bool,
}

impl Dialect {
    /// A CTE `s(i)` of 0..n.
    fn series(&self, n: u64) -> String {
        if self.pg {
            format!("WITH s(i) AS (SELECT generate_series(0, {n} - 1))")
        } else {
            format!(
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n} - 1)"
            )
        }
    }

    /// `expr` left-padded with zeros to `width` characters.
    fn pad(&self, expr: &str, width: usize) -> String {
        if self.pg {
            format!("lpad(CAST({expr} AS TEXT), {width}, '0')")
        } else {
            let zeros = "0".repeat(width);
            format!("substr('{zeros}' || ({expr}), -{width}, {width})")
        }
    }

    fn now(&self) -> &'static str {
        if self.pg {
            "now()"
        } else {
            "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
        }
    }
}

async fn exec(db: &Db, sql: &str) -> anyhow::Result<()> {
    match db {
        Db::Postgres(p) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await?;
        }
        Db::Sqlite(p) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await?;
        }
    }
    Ok(())
}

fn dialect(db: &Db) -> Dialect {
    Dialect {
        pg: matches!(db, Db::Postgres(_)),
    }
}

/// The municipality, its units and staff, children and guardians.
pub async fn directory(db: &Db) -> anyhow::Result<()> {
    let d = dialect(db);
    let now = d.now();
    let t = TENANT;
    exec(db, &format!(
        "INSERT INTO tenants (id, display_name, youth_consent_age, require_all_guardians_consent, version, create_time, update_time) \
         VALUES ('{t}', 'Benchmark', 15, FALSE, 1, {now}, {now})"
    )).await?;
    exec(db, &format!(
        "{s} INSERT INTO units (tenant, id, display_name, unit_type, organization_number, version, create_time, update_time) \
         SELECT '{t}', 'u' || i, 'Eining ' || i, CASE WHEN i % 2 = 0 THEN 'UNIT_TYPE_SCHOOL' ELSE 'UNIT_TYPE_KINDERGARTEN' END, \
         '', 1, {now}, {now} FROM s",
        s = d.series(UNITS)
    )).await?;
    exec(db, &format!(
        "{s} INSERT INTO members (tenant, unit, id, subject, display_name, role, absent, version, create_time, update_time) \
         SELECT '{t}', 'u' || (i % {UNITS}), 'm' || i, 'emp' || i, 'Tilsett', \
         CASE WHEN i < {UNITS} THEN 'MEMBER_ROLE_UNIT_LEADER' ELSE 'MEMBER_ROLE_EMPLOYEE' END, FALSE, 1, {now}, {now} FROM s",
        s = d.series(EMPLOYEES)
    )).await?;
    for (prefix, kind, born) in [
        ("c", "PERSON_KIND_CHILD", "2016-04-04"),
        ("g", "PERSON_KIND_GUARDIAN", "1985-04-04"),
    ] {
        exec(db, &format!(
            "{s} INSERT INTO persons (tenant, id, kind, national_id, given_name, family_name, birth_date, version, create_time, update_time) \
             SELECT '{t}', '{prefix}' || i, '{kind}', '{prefix}' || {pad}, 'A', 'B', '{born}', 1, {now}, {now} FROM s",
            s = d.series(LOGS),
            pad = d.pad("i", 10),
        )).await?;
    }
    exec(db, &format!(
        "{s} INSERT INTO guardianships (tenant, person, id, guardian, parental_responsibility, version, create_time, update_time) \
         SELECT '{t}', 'c' || i, 'gs' || i, 'g' || i, TRUE, 1, {now}, {now} FROM s",
        s = d.series(LOGS)
    )).await?;
    analyze(db).await
}

/// Fresh statistics, as autovacuum would have after such a load.
async fn analyze(db: &Db) -> anyhow::Result<()> {
    if dialect(db).pg {
        exec(db, "VACUUM ANALYZE").await?;
    }
    Ok(())
}

/// One consent per child, for its log's unit and the participant's.
pub async fn consent(db: &Db) -> anyhow::Result<()> {
    let d = dialect(db);
    let now = d.now();
    let t = TENANT;
    let p = format!("tenants/{t}/persons/");
    let u = format!("tenants/{t}/units/u");
    exec(db, &format!(
        "{s} INSERT INTO consents (tenant, id, subject, purpose, grantors, state, revision, valid_from, valid_until, \
         withdraw_time, withdraw_reason, version, create_time, update_time) \
         SELECT '{t}', 'cons' || i, '{p}c' || i, 'CONSENT_PURPOSE_RELAY_LOG_COLLABORATION', \
         '[{{\"person\":\"{p}g' || i || '\",\"role\":\"GRANTOR_ROLE_GUARDIAN\"}}]', 'CONSENT_STATE_ACTIVE', 1, {now}, NULL, \
         NULL, '', 1, {now}, {now} FROM s",
        s = d.series(LOGS)
    )).await?;
    exec(
        db,
        &format!(
            "{s} INSERT INTO consent_units (tenant, consent, unit) \
         SELECT '{t}', 'cons' || (i / 2), '{u}' || (((i / 2) + (i % 2)) % {UNITS}) FROM s",
            s = d.series(2 * LOGS)
        ),
    )
    .await?;
    exec(db, &format!(
        "{s} INSERT INTO consent_grantors (tenant, consent, person) SELECT '{t}', 'cons' || i, '{p}g' || i FROM s",
        s = d.series(LOGS)
    )).await?;
    exec(db, &format!(
        "{s} INSERT INTO consent_revisions (tenant, consent, revision, kind, covered_units, state, valid_from, valid_until, \
         method, method_reference, actor, reason, create_time) \
         SELECT '{t}', 'cons' || i, 1, 'REVISION_KIND_GRANTED', \
         '[\"{u}' || (i % {UNITS}) || '\",\"{u}' || ((i + 1) % {UNITS}) || '\"]', 'CONSENT_STATE_ACTIVE', {now}, NULL, \
         'oral', '', 'employee:emp0', '', {now} FROM s",
        s = d.series(LOGS)
    )).await?;
    analyze(db).await
}

/// The relay logs, their holders and participants, `entries` entries spread
/// evenly over them, and earlier access-log rows.
pub async fn caselog(db: &Db, entries: u64) -> anyhow::Result<()> {
    let d = dialect(db);
    let now = d.now();
    let t = TENANT;
    let u = format!("tenants/{t}/units/u");
    let holder = format!("(i % {UNITS}) + {UNITS} * ((i / {UNITS}) % 4)");
    let participant = format!("((i + 1) % {UNITS}) + {UNITS} * ((i / {UNITS}) % 4)");
    exec(db, &format!(
        "{s} INSERT INTO case_logs (tenant, id, subject, subject_kind, unit, concern, concern_degree, level, state, holder, \
         holder_unit, holder_since, pending_handover, pending_transfer, consent_revision, close_reason, close_time, \
         last_activity_time, version, create_time, update_time) \
         SELECT '{t}', 'log' || i, 'tenants/{t}/persons/c' || i, 'SUBJECT_KIND_CHILD', '{u}' || (i % {UNITS}), 'Uro.', \
         'CONCERN_DEGREE_UNEASE', 'LEVEL_1', 'CASE_LOG_STATE_ACTIVE', 'emp' || ({holder}), '{u}' || (i % {UNITS}), {now}, \
         '', '', 'tenants/{t}/consents/cons' || i || '/revisions/1', '', NULL, {now}, 1, {now}, {now} FROM s",
        s = d.series(LOGS)
    )).await?;
    exec(
        db,
        &format!(
            "{s} INSERT INTO holder_history (tenant, case_log, seq, professional, unit, since) \
         SELECT '{t}', 'log' || i, 1, 'emp' || ({holder}), '{u}' || (i % {UNITS}), {now} FROM s",
            s = d.series(LOGS)
        ),
    )
    .await?;
    exec(db, &format!(
        "{s} INSERT INTO participants (tenant, case_log, id, unit, professional, tasks, removed, remove_time, version, create_time) \
         SELECT '{t}', 'log' || i, 'p' || i, '{u}' || ((i + 1) % {UNITS}), 'emp' || ({participant}), 'Oppfølging.', FALSE, NULL, 1, {now} FROM s",
        s = d.series(LOGS)
    )).await?;
    // In chunks, so that no one statement holds millions of rows in memory.
    let chunk = 1_000_000u64;
    let mut done = 0;
    while done < entries {
        let n = chunk.min(entries - done);
        let j = format!("(i + {done})");
        exec(db, &format!(
            "{s} INSERT INTO entries (tenant, case_log, id, kind, text, corrects, author, author_unit, create_time) \
             SELECT '{t}', 'log' || ({j} % {LOGS}), {pad}, 'ENTRY_KIND_NOTE', 'Kort notat frå samtale med føresette.', '', \
             'emp' || ((({j} % {LOGS}) % {UNITS}) + {UNITS} * ((({j} % {LOGS}) / {UNITS}) % 4)), '{u}' || (({j} % {LOGS}) % {UNITS}), {now} FROM s",
            s = d.series(n),
            pad = d.pad(&j, 32),
        )).await?;
        done += n;
    }
    exec(db, &format!(
        "{s} INSERT INTO access_log (tenant, case_log, id, actor, acting_as, unit, resource, action, purpose, basis, create_time) \
         SELECT '{t}', 'log' || (i % {LOGS}), {pad}, 'employee:emp' || (((i % {LOGS}) % {UNITS}) + {UNITS} * (((i % {LOGS}) / {UNITS}) % 4)), \
         'ACTING_AS_HOLDER', '{u}' || ((i % {LOGS}) % {UNITS}), 'tenants/{t}/caseLogs/log' || (i % {LOGS}), 'ACCESS_ACTION_READ', \
         'GetCaseLog: follow-up of the relay log', 'tenants/{t}/consents/cons' || (i % {LOGS}) || '/revisions/1', {now} FROM s",
        s = d.series(LOGS * ACCESS_ROWS_PER_LOG),
        pad = d.pad("i", 32),
    )).await?;
    analyze(db).await
}
