//! Records to contract messages.

use bti_proto::caselog::*;
use bti_runtime::api::{date, enum_of, etag, timestamp};

use crate::domain::*;

fn or_empty(id: &str, name: impl FnOnce() -> String) -> String {
    if id.is_empty() { String::new() } else { name() }
}

fn holder_msg(professional: &str, unit: &str, since: chrono::DateTime<chrono::Utc>) -> BatonHolder {
    BatonHolder {
        professional: professional.to_string(),
        unit: unit.to_string(),
        since: Some(timestamp(since)),
    }
}

pub fn case_log_msg(r: &CaseLogRecord, entries: &[EntryRecord]) -> CaseLog {
    let name = r.log_name();
    CaseLog {
        name: name.to_string(),
        subject: r.subject.clone(),
        subject_kind: enum_of(SubjectKind::from_str_name, &r.subject_kind),
        unit: r.unit.clone(),
        concern: r.concern.clone(),
        concern_degree: enum_of(ConcernDegree::from_str_name, &r.concern_degree),
        concern_area: enum_of(ConcernArea::from_str_name, &r.concern_area),
        level: enum_of(Level::from_str_name, &r.level),
        state: enum_of(CaseLogState::from_str_name, &r.state),
        holder: Some(holder_msg(&r.holder, &r.holder_unit, r.holder_since)),
        pending_handover: or_empty(&r.pending_handover, || {
            name.handover(&r.pending_handover).to_string()
        }),
        pending_transfer: or_empty(&r.pending_transfer, || {
            name.transfer(&r.pending_transfer).to_string()
        }),
        consent_revision: r.consent_revision.clone(),
        close_reason: enum_of(CloseReason::from_str_name, &r.close_reason),
        close_time: r.close_time.map(timestamp),
        latest_entries: entries.iter().map(entry_msg).collect(),
        last_activity_time: Some(timestamp(r.last_activity_time)),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

/// A log as the gateway sees it when routing a referral: no content.
pub fn redacted_log_msg(r: &CaseLogRecord) -> CaseLog {
    CaseLog {
        name: r.name(),
        subject: r.subject.clone(),
        subject_kind: enum_of(SubjectKind::from_str_name, &r.subject_kind),
        unit: r.unit.clone(),
        state: enum_of(CaseLogState::from_str_name, &r.state),
        holder: Some(holder_msg(&r.holder, &r.holder_unit, r.holder_since)),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        ..Default::default()
    }
}

pub fn referral_msg(r: &ReferralRecord) -> AttachedReferral {
    AttachedReferral {
        name: r.name(),
        referral: r.referral.clone(),
        kind: enum_of(ReferralKind::from_str_name, &r.kind),
        restricted: r.restricted,
        legal_basis: r.legal_basis.clone(),
        from_organization: r.from_organization.clone(),
        create_time: Some(timestamp(r.create_time)),
        from_unit: r.from_unit.clone(),
        client: r.client.clone(),
    }
}

pub fn entry_msg(e: &EntryRecord) -> Entry {
    Entry {
        name: EntryName::new(&e.tenant, &e.case_log, &e.id).to_string(),
        kind: enum_of(EntryKind::from_str_name, &e.kind),
        text: e.text.clone(),
        corrects: or_empty(&e.corrects, || {
            EntryName::new(&e.tenant, &e.case_log, &e.corrects).to_string()
        }),
        author: e.author.clone(),
        author_unit: e.author_unit.clone(),
        create_time: Some(timestamp(e.create_time)),
    }
}

pub fn level_change_msg(l: &LevelChangeRecord) -> LevelChange {
    LevelChange {
        name: LevelChangeName::new(&l.tenant, &l.case_log, &l.id).to_string(),
        from_level: enum_of(Level::from_str_name, &l.from_level),
        to_level: enum_of(Level::from_str_name, &l.to_level),
        reason: l.reason.clone(),
        actor: l.actor.clone(),
        create_time: Some(timestamp(l.create_time)),
    }
}

pub fn goal_msg(g: &GoalRecord) -> Goal {
    Goal {
        name: GoalName::new(&g.tenant, &g.case_log, &g.id).to_string(),
        description: g.description.clone(),
        achieved: g.achieved,
        create_time: Some(timestamp(g.create_time)),
        update_time: Some(timestamp(g.update_time)),
        etag: etag(g.version),
    }
}

pub fn measure_msg(m: &MeasureRecord) -> Measure {
    Measure {
        name: MeasureName::new(&m.tenant, &m.case_log, &m.id).to_string(),
        description: m.description.clone(),
        goal: or_empty(&m.goal, || {
            GoalName::new(&m.tenant, &m.case_log, &m.goal).to_string()
        }),
        responsible_unit: m.responsible_unit.clone(),
        responsible_professional: m.responsible_professional.clone(),
        start_date: date(m.start_date),
        evaluate_by_date: date(m.evaluate_by_date),
        state: enum_of(MeasureState::from_str_name, &m.state),
        create_time: Some(timestamp(m.create_time)),
        update_time: Some(timestamp(m.update_time)),
        etag: etag(m.version),
    }
}

pub fn evaluation_msg(e: &EvaluationRecord) -> Evaluation {
    Evaluation {
        name: EvaluationName::new(&e.tenant, &e.case_log, &e.measure, &e.id).to_string(),
        decision: enum_of(EvaluationDecision::from_str_name, &e.decision),
        child_experience: e.child_experience.clone(),
        summary: e.summary.clone(),
        evaluation_date: date(e.evaluation_date),
        author: e.author.clone(),
        create_time: Some(timestamp(e.create_time)),
    }
}

pub fn participant_msg(p: &ParticipantRecord) -> Participant {
    Participant {
        name: ParticipantName::new(&p.tenant, &p.case_log, &p.id).to_string(),
        unit: p.unit.clone(),
        professional: p.professional.clone(),
        tasks: p.tasks.clone(),
        create_time: Some(timestamp(p.create_time)),
        remove_time: p.remove_time.map(timestamp),
        etag: etag(p.version),
    }
}

pub fn handover_msg(h: &HandoverRecord) -> Handover {
    Handover {
        name: HandoverName::new(&h.tenant, &h.case_log, &h.id).to_string(),
        to_professional: h.to_professional.clone(),
        to_unit: h.to_unit.clone(),
        from_professional: h.from_professional.clone(),
        message: h.message.clone(),
        state: enum_of(HandoverState::from_str_name, &h.state),
        transfer: or_empty(&h.transfer, || {
            TransferName::new(&h.tenant, &h.case_log, &h.transfer).to_string()
        }),
        create_time: Some(timestamp(h.create_time)),
        decide_time: h.decide_time.map(timestamp),
        etag: etag(h.version),
        release_former_holder: h.release_former_holder,
    }
}

pub fn transfer_msg(t: &TransferRecord) -> Transfer {
    Transfer {
        name: TransferName::new(&t.tenant, &t.case_log, &t.id).to_string(),
        to_unit: t.to_unit.clone(),
        to_professional: t.to_professional.clone(),
        reason: enum_of(TransferReason::from_str_name, &t.reason),
        note: t.note.clone(),
        state: enum_of(TransferState::from_str_name, &t.state),
        handover: HandoverName::new(&t.tenant, &t.case_log, &t.handover).to_string(),
        create_time: Some(timestamp(t.create_time)),
        decide_time: t.decide_time.map(timestamp),
    }
}

pub fn access_msg(a: &AccessRecord) -> AccessLogEntry {
    AccessLogEntry {
        name: AccessLogEntryName::new(&a.tenant, &a.case_log, &a.id).to_string(),
        actor: a.actor.clone(),
        acting_as: enum_of(ActingAs::from_str_name, &a.acting_as),
        unit: a.unit.clone(),
        resource: a.resource.clone(),
        action: enum_of(AccessAction::from_str_name, &a.action),
        purpose: a.purpose.clone(),
        basis: a.basis.clone(),
        create_time: Some(timestamp(a.create_time)),
    }
}

pub fn holders_msg(rows: &[HolderRow]) -> Vec<BatonHolder> {
    rows.iter()
        .map(|(professional, unit, since)| holder_msg(professional, unit, *since))
        .collect()
}

/// The summary for an external system, from its already redacted rows.
pub fn summary_msg(rows: &SummaryRows) -> CaseLogSummary {
    CaseLogSummary {
        case_log: rows.log.name(),
        level: enum_of(Level::from_str_name, &rows.log.level),
        level_changes: rows.level_changes.iter().map(level_change_msg).collect(),
        measures: rows.measures.iter().map(measure_msg).collect(),
        evaluations: rows.evaluations.iter().map(evaluation_msg).collect(),
        holders: holders_msg(&rows.holders),
        create_time: Some(timestamp(rows.log.create_time)),
    }
}
