//! Gateway domain: registered clients, referral records, statutory deadlines
//! and the status rules, all pure.

use bti_proto::gateway::{Placement, ReferralKind, ReferralStatus};
use chrono::{DateTime, Duration, Months, Utc};

/// Event source of the gateway service.
pub const SOURCE: &str = "//bti.no/gateway";

pub const CLIENT_PATTERN: &str = "clients/{client}";
pub const REFERRAL_PATTERN: &str = "referrals/{referral}";
pub const TENANT_PATTERN: &str = "tenants/{tenant}";
pub const UNIT_PATTERN: &str = "tenants/{tenant}/units/{unit}";

/// Scopes a client may be granted.
pub const SCOPE_REFERRALS_WRITE: &str = "bti:referrals.write";
pub const SCOPE_REFERRALS_READ: &str = "bti:referrals.read";
pub const SCOPE_SUMMARIES_READ: &str = "bti:summaries.read";
pub const KNOWN_SCOPES: [&str; 3] = [
    SCOPE_REFERRALS_WRITE,
    SCOPE_REFERRALS_READ,
    SCOPE_SUMMARIES_READ,
];

/// Requests per second a client gets when its registration says nothing.
pub const DEFAULT_RATE: i32 = 20;
pub const MAX_RATE: i32 = 10_000;
pub const MAX_SHORT: usize = 1_000;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_ATTACHMENTS: usize = 5;

/// Statutory deadline kinds (barnevernsloven §§ 2-1, 2-2, 2-3 in the 2023 act).
pub const REVIEW: &str = "review";
pub const FEEDBACK: &str = "feedback";
pub const INVESTIGATION: &str = "investigation";

/// Placement while the referral is being routed (never listed).
pub const PENDING: &str = "PLACEMENT_UNSPECIFIED";

/// The kommunenummer of a unit resource name (`tenants/{tenant}/units/{unit}`).
pub fn unit_tenant(unit: &str) -> &str {
    unit.strip_prefix("tenants/")
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
}

pub fn client_name(id: &str) -> String {
    format!("clients/{id}")
}

pub fn referral_name(id: &str) -> String {
    format!("referrals/{id}")
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClientRecord {
    pub id: String,
    pub display_name: String,
    pub organization_number: String,
    /// Kommunenummer, space-separated.
    pub tenants: String,
    /// Space-separated.
    pub scopes: String,
    pub unit: String,
    pub certificate_sha256: String,
    pub rate_limit_per_second: i32,
    pub disabled: bool,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl ClientRecord {
    pub fn name(&self) -> String {
        client_name(&self.id)
    }

    pub fn tenant_list(&self) -> Vec<&str> {
        self.tenants.split_whitespace().collect()
    }

    pub fn acts_for(&self, tenant: &str) -> bool {
        self.tenant_list().contains(&tenant)
    }

    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scopes.split_whitespace().any(|s| s == scope)
    }

    /// The kommunenummer of the unit it speaks for.
    pub fn unit_tenant(&self) -> &str {
        unit_tenant(&self.unit)
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReferralRecord {
    pub id: String,
    pub client: String,
    pub request_id: String,
    pub tenant: String,
    /// Directory person (for an unborn child, the mother).
    pub person: String,
    /// `CHILD` or `UNBORN_CHILD`.
    pub subject_kind: String,
    pub kind: String,
    pub external_reference: String,
    pub from_organization: String,
    pub from_unit: String,
    /// `structured` or `fiks`.
    pub content_kind: String,
    pub concern: String,
    pub background: String,
    pub guardians_informed: bool,
    pub fiks_json: String,
    pub restricted: bool,
    pub legal_basis: String,
    pub lift_time: Option<DateTime<Utc>>,
    pub status: String,
    pub feedback: String,
    pub placement: String,
    pub case_log: String,
    pub attached_referral: String,
    pub assigned_unit: String,
    pub investigation_extended: bool,
    pub received_time: Option<DateTime<Utc>>,
    pub investigation_time: Option<DateTime<Utc>>,
    pub closed_time: Option<DateTime<Utc>>,
    /// Deadlines already reported missed (DeadlineMissed sent), space-separated kinds.
    pub missed: String,
    pub version: i64,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

impl ReferralRecord {
    pub fn name(&self) -> String {
        referral_name(&self.id)
    }

    pub fn is_pending(&self) -> bool {
        self.placement == PENDING
    }

    pub fn kind(&self) -> ReferralKind {
        ReferralKind::from_str_name(&self.kind).unwrap_or_default()
    }

    pub fn status(&self) -> ReferralStatus {
        ReferralStatus::from_str_name(&self.status).unwrap_or_default()
    }

    pub fn placement(&self) -> Placement {
        Placement::from_str_name(&self.placement).unwrap_or_default()
    }

    /// Restricted and not lifted.
    pub fn is_restricted(&self) -> bool {
        self.restricted && self.lift_time.is_none()
    }

    /// Statutory deadlines: child-welfare reports only.
    pub fn deadlines(&self, now: DateTime<Utc>) -> Vec<DeadlineView> {
        deadlines(self, now)
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AttachmentRecord {
    pub referral: String,
    pub position: i32,
    pub filename: String,
    pub content_type: String,
    pub sha256: String,
    pub size_bytes: i64,
}

/// One access to referral data.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AccessRecord {
    pub id: String,
    pub referral: String,
    pub actor: String,
    pub action: String,
    pub purpose: String,
    pub basis: String,
    pub create_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineView {
    pub kind: &'static str,
    pub due: DateTime<Utc>,
    pub met: Option<DateTime<Utc>>,
    pub overdue: bool,
}

fn first(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Review within 1 week (met by any acknowledgement), feedback to the
/// reporter within 3 weeks (met when an investigation is opened or the report
/// is closed with feedback), and, once opened, the investigation within
/// 3 months or 6 when extended (met when closed). Counted from receipt by the
/// gateway.
pub fn deadlines(r: &ReferralRecord, now: DateTime<Utc>) -> Vec<DeadlineView> {
    if r.kind() != ReferralKind::ChildWelfareReport {
        return Vec::new();
    }
    let view = |kind, due: DateTime<Utc>, met: Option<DateTime<Utc>>| DeadlineView {
        kind,
        due,
        met,
        overdue: met.is_none() && due < now,
    };
    let after_report = first(r.investigation_time, r.closed_time);
    let mut out = vec![
        view(
            REVIEW,
            r.create_time + Duration::days(7),
            first(r.received_time, after_report),
        ),
        view(FEEDBACK, r.create_time + Duration::days(21), after_report),
    ];
    if r.investigation_time.is_some() {
        let months = if r.investigation_extended { 6 } else { 3 };
        out.push(view(
            INVESTIGATION,
            r.create_time + Months::new(months),
            r.closed_time,
        ));
    }
    out
}

fn rank(s: ReferralStatus) -> u8 {
    match s {
        ReferralStatus::Unspecified => 0,
        ReferralStatus::Submitted => 1,
        ReferralStatus::Received => 2,
        ReferralStatus::InvestigationOpened => 3,
        ReferralStatus::Closed => 4,
    }
}

/// What a status report does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Moves forward (steps may be skipped).
    Advance,
    /// The same status again: a retry, nothing changes.
    Repeat,
}

/// Statuses only move forward: SUBMITTED, RECEIVED, INVESTIGATION_OPENED, CLOSED.
pub fn transition(from: ReferralStatus, to: ReferralStatus) -> Result<Transition, String> {
    if to == ReferralStatus::Unspecified || to == ReferralStatus::Submitted {
        return Err("must be RECEIVED, INVESTIGATION_OPENED or CLOSED".into());
    }
    match rank(to).cmp(&rank(from)) {
        std::cmp::Ordering::Greater => Ok(Transition::Advance),
        std::cmp::Ordering::Equal => Ok(Transition::Repeat),
        std::cmp::Ordering::Less => Err(format!(
            "cannot go back from {} to {}",
            from.as_str_name(),
            to.as_str_name()
        )),
    }
}

/// Applies an advancing status report at `t`.
pub fn apply_status(
    r: &mut ReferralRecord,
    to: ReferralStatus,
    feedback: &str,
    extended: bool,
    t: DateTime<Utc>,
) {
    r.status = to.as_str_name().to_string();
    match to {
        ReferralStatus::Received => r.received_time = r.received_time.or(Some(t)),
        ReferralStatus::InvestigationOpened => {
            r.investigation_time = r.investigation_time.or(Some(t));
        }
        ReferralStatus::Closed => {
            r.closed_time = Some(t);
            r.feedback = feedback.to_string();
        }
        _ => {}
    }
    r.investigation_extended |= extended;
    r.update_time = t;
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    bti_runtime::api::hex(&sha2::Sha256::digest(data))
}

/// `%PDF-` magic: what the attachment claims to be.
pub fn looks_like_pdf(data: &[u8]) -> bool {
    data.starts_with(b"%PDF-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cw(create: DateTime<Utc>) -> ReferralRecord {
        ReferralRecord {
            id: "r".into(),
            client: "c".into(),
            request_id: String::new(),
            tenant: "4201".into(),
            person: String::new(),
            subject_kind: "CHILD".into(),
            kind: ReferralKind::ChildWelfareReport.as_str_name().into(),
            external_reference: "x".into(),
            from_organization: String::new(),
            from_unit: String::new(),
            content_kind: "structured".into(),
            concern: String::new(),
            background: String::new(),
            guardians_informed: false,
            fiks_json: String::new(),
            restricted: false,
            legal_basis: String::new(),
            lift_time: None,
            status: ReferralStatus::Submitted.as_str_name().into(),
            feedback: String::new(),
            placement: Placement::Intake.as_str_name().into(),
            case_log: String::new(),
            attached_referral: String::new(),
            assigned_unit: String::new(),
            investigation_extended: false,
            received_time: None,
            investigation_time: None,
            closed_time: None,
            missed: String::new(),
            version: 1,
            create_time: create,
            update_time: create,
        }
    }

    fn kinds_overdue(r: &ReferralRecord, now: DateTime<Utc>) -> Vec<&'static str> {
        deadlines(r, now)
            .into_iter()
            .filter(|d| d.overdue)
            .map(|d| d.kind)
            .collect()
    }

    #[test]
    fn deadlines_fall_due_one_and_three_weeks_after_receipt() {
        let t0 = Utc::now();
        let mut r = cw(t0);
        assert!(kinds_overdue(&r, t0 + Duration::days(6)).is_empty());
        assert_eq!(kinds_overdue(&r, t0 + Duration::days(8)), vec![REVIEW]);
        assert_eq!(
            kinds_overdue(&r, t0 + Duration::days(22)),
            vec![REVIEW, FEEDBACK]
        );
        apply_status(
            &mut r,
            ReferralStatus::Received,
            "",
            false,
            t0 + Duration::days(2),
        );
        assert_eq!(kinds_overdue(&r, t0 + Duration::days(22)), vec![FEEDBACK]);
    }

    #[test]
    fn investigation_runs_three_months_or_six_when_extended() {
        let t0 = Utc::now();
        let mut r = cw(t0);
        apply_status(
            &mut r,
            ReferralStatus::InvestigationOpened,
            "",
            false,
            t0 + Duration::days(3),
        );
        let d = deadlines(&r, t0);
        assert_eq!(d.len(), 3);
        assert!(d[0].met.is_some() && d[1].met.is_some());
        assert_eq!(d[2].due, t0 + Months::new(3));
        assert_eq!(kinds_overdue(&r, t0 + Months::new(4)), vec![INVESTIGATION]);
        apply_status(&mut r, ReferralStatus::InvestigationOpened, "", true, t0);
        assert!(kinds_overdue(&r, t0 + Months::new(4)).is_empty());
        apply_status(&mut r, ReferralStatus::Closed, "done", false, t0);
        assert!(kinds_overdue(&r, t0 + Months::new(12)).is_empty());
    }

    #[test]
    fn only_child_welfare_reports_have_deadlines() {
        let mut r = cw(Utc::now());
        r.kind = ReferralKind::Ppt.as_str_name().into();
        assert!(deadlines(&r, Utc::now() + Duration::days(400)).is_empty());
    }

    #[test]
    fn statuses_only_move_forward() {
        use ReferralStatus::*;
        assert_eq!(transition(Submitted, Closed), Ok(Transition::Advance));
        assert_eq!(transition(Received, Received), Ok(Transition::Repeat));
        assert!(transition(Closed, Received).is_err());
        assert!(transition(Received, Submitted).is_err());
        assert!(transition(Received, Unspecified).is_err());
    }
}
