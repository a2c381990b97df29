//! Records to contract messages, and the relay log's summary as an external
//! system gets it.

use bti_proto::caselog::{CaseLogSummary, EvaluationDecision, Level};
use bti_proto::gateway::referral::Content;
use bti_proto::gateway::*;
use bti_runtime::api::{enum_of, etag, timestamp};
use chrono::{DateTime, Utc};

use crate::domain::*;

pub fn client_msg(c: &ClientRecord) -> Client {
    Client {
        name: c.name(),
        display_name: c.display_name.clone(),
        organization_number: c.organization_number.clone(),
        tenants: c.tenant_list().iter().map(|s| s.to_string()).collect(),
        scopes: c.scopes.split_whitespace().map(str::to_string).collect(),
        unit: c.unit.clone(),
        certificate_sha256: c.certificate_sha256.clone(),
        rate_limit_per_second: c.rate_limit_per_second,
        disabled: c.disabled,
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
        etag: etag(c.version),
    }
}

/// The referral as its readers see it at `at` (deadlines are a function of
/// the clock). The subject is input only; attachment bytes too.
pub fn referral_msg(
    r: &ReferralRecord,
    attachments: &[AttachmentRecord],
    at: DateTime<Utc>,
) -> Referral {
    let content = if r.content_kind == FIKS {
        Content::FiksBekymringsmeldingJson(r.fiks_json.clone())
    } else {
        Content::Structured(ReferralContent {
            concern: r.concern.clone(),
            background: r.background.clone(),
            guardians_informed: r.guardians_informed,
        })
    };
    Referral {
        name: r.name(),
        tenant: r.tenant.clone(),
        subject: None,
        kind: enum_of(ReferralKind::from_str_name, &r.kind),
        external_reference: r.external_reference.clone(),
        content: Some(content),
        attachments: attachments
            .iter()
            .map(|a| Attachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                data: Vec::new(),
                sha256: a.sha256.clone(),
                size_bytes: a.size_bytes,
            })
            .collect(),
        restricted: r.is_restricted(),
        legal_basis: r.legal_basis.clone(),
        status: enum_of(ReferralStatus::from_str_name, &r.status),
        feedback: r.feedback.clone(),
        placement: enum_of(Placement::from_str_name, &r.placement),
        case_log: r.case_log.clone(),
        assigned_unit: r.assigned_unit.clone(),
        deadlines: r
            .deadlines(at)
            .into_iter()
            .map(|d| Deadline {
                kind: d.kind.to_string(),
                due_time: Some(timestamp(d.due)),
                met_time: d.met.map(timestamp),
                overdue: d.overdue,
            })
            .collect(),
        client: client_name(&r.client),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
        person: r.person.clone(),
        lift_time: r.lift_time.map(timestamp),
        content_withheld: false,
    }
}

/// Referrals as a list shows them (no attachments).
pub fn referral_msgs(rows: &[ReferralRecord], at: DateTime<Utc>) -> Vec<Referral> {
    rows.iter().map(|r| referral_msg(r, &[], at)).collect()
}

/// The referral without its content and attachments: for those who may know
/// it exists but not read it.
pub fn withheld(mut m: Referral) -> Referral {
    m.content = None;
    m.attachments.clear();
    m.content_withheld = true;
    m
}

/// `m`, or [`withheld`] unless `shown`.
pub fn shown_or_withheld(m: Referral, shown: bool) -> Referral {
    if shown { m } else { withheld(m) }
}

fn level_number(level: i32) -> i32 {
    match Level::try_from(level).unwrap_or_default() {
        Level::Unspecified => 0,
        Level::Level0 => 0,
        Level::Level1 => 1,
        Level::Level2 => 2,
        Level::Level3 => 3,
    }
}

fn iso(d: Option<&bti_proto::google::r#type::Date>) -> String {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_default()
}

/// The relay log's summary, as an external system gets it: no free text but
/// the measures' descriptions, levels as periods, the baton holders' units.
pub fn subject_summary(s: CaseLogSummary) -> SubjectSummary {
    // The level the log was opened at runs from its opening to the first
    // change (or now); each change starts a period.
    let opened_at = s
        .level_changes
        .first()
        .map_or(s.level, |first| first.from_level);
    let mut levels = vec![LevelPeriod {
        level: level_number(opened_at),
        since: s.create_time,
    }];
    levels.extend(s.level_changes.iter().map(|c| LevelPeriod {
        level: level_number(c.to_level),
        since: c.create_time,
    }));
    let measures = s
        .measures
        .iter()
        .map(|m| {
            let prefix = format!("{}/evaluations/", m.name);
            MeasureSummary {
                description: m.description.clone(),
                responsible_unit: m.responsible_unit.clone(),
                start_date: iso(m.start_date.as_ref()),
                evaluate_by_date: iso(m.evaluate_by_date.as_ref()),
                decisions: s
                    .evaluations
                    .iter()
                    .filter(|e| e.name.starts_with(&prefix))
                    .map(|e| {
                        EvaluationDecision::try_from(e.decision)
                            .unwrap_or_default()
                            .as_str_name()
                            .to_string()
                    })
                    .collect(),
            }
        })
        .collect();
    let mut units: Vec<String> = Vec::new();
    for h in &s.holders {
        if units.last() != Some(&h.unit) {
            units.push(h.unit.clone());
        }
    }
    SubjectSummary {
        levels,
        measures,
        baton_holder_units: units,
        opened_time: s.create_time,
    }
}
