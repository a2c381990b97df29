//! What clients send, checked before anything is read or written: every
//! field violation of a request at once (INVALID_ARGUMENT naming each
//! field). Every free-text field goes through `Violations::text` or
//! `optional_text`, which bound its length and refuse control characters
//! (other than tab and line breaks) — a NUL cannot even be stored by
//! PostgreSQL. Dates must be real and within the years 1900–2200.

use bti_proto::caselog::*;
use bti_proto::google::r#type::Date;
use bti_runtime::api::check_date;
use bti_runtime::ids::validate_organization_number;
use bti_runtime::{ApiResult, Violations};
use chrono::NaiveDate;

use super::*;

/// A log to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCaseLog {
    pub subject: PersonName,
    pub unit: UnitName,
    pub concern: String,
    pub degree: ConcernDegree,
    pub area: ConcernArea,
    pub level: Level,
}

pub fn new_case_log(tenant: &str, c: &CaseLog) -> ApiResult<NewCaseLog> {
    let mut v = Violations::new();
    let subject = match PersonName::parse("case_log.subject", &c.subject) {
        Ok(s) if s.tenant == tenant => Some(s),
        Ok(_) => {
            v.add(
                "case_log.subject",
                "must be a person of the same municipality",
            );
            None
        }
        Err(_) => {
            v.add(
                "case_log.subject",
                format!(
                    "must be a resource name of the form {}",
                    PersonName::PATTERN
                ),
            );
            None
        }
    };
    let unit = v.check("case_log.unit", unit_of("case_log.unit", tenant, &c.unit));
    v.text("case_log.concern", &c.concern, MAX_TEXT);
    let level = v.check("case_log.level", level(c.level));
    let degree = v.check("case_log.concern_degree", concern_degree(c.concern_degree));
    let area = v.check("case_log.concern_area", concern_area(c.concern_area));
    v.finish()?;
    Ok(NewCaseLog {
        subject: subject.expect("validated"),
        unit: unit.expect("validated"),
        concern: c.concern.trim().into(),
        degree: degree.expect("validated"),
        area: area.expect("validated"),
        level: level.expect("validated"),
    })
}

pub fn level_change(r: &ChangeLevelRequest) -> ApiResult<Level> {
    let mut v = Violations::new();
    let to = v.check("level", level(r.level));
    v.text("reason", &r.reason, MAX_SHORT);
    v.finish()?;
    Ok(to.expect("validated"))
}

pub fn close_request(r: &CloseCaseLogRequest) -> ApiResult<CloseReason> {
    let mut v = Violations::new();
    let reason = match CloseReason::try_from(r.reason) {
        Ok(CloseReason::Unspecified) | Err(_) => {
            v.add("reason", "required: a close reason");
            None
        }
        Ok(reason) => Some(reason),
    };
    v.optional_text("note", &r.note, MAX_TEXT);
    v.finish()?;
    Ok(reason.expect("validated"))
}

/// An entry to append to `parent`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub kind: EntryKind,
    pub text: String,
    /// The id of the entry it corrects, in the same log.
    pub corrects: String,
}

pub fn new_entry(parent: &CaseLogName, e: &Entry) -> ApiResult<NewEntry> {
    let mut v = Violations::new();
    let kind = v.check("entry.kind", entry_kind(e.kind));
    v.text("entry.text", &e.text, MAX_TEXT);
    let corrects = same_log(
        &mut v,
        "entry.corrects",
        &e.corrects,
        parent,
        "an entry",
        |n| EntryName::parse("entry.corrects", n).map(|x| (x.log(), x.entry)),
    );
    v.finish()?;
    Ok(NewEntry {
        kind: kind.expect("validated"),
        text: e.text.trim().into(),
        corrects,
    })
}

/// The id of the optional resource `name` in `parent`, or a violation.
fn same_log(
    v: &mut Violations,
    field: &str,
    name: &str,
    parent: &CaseLogName,
    what: &str,
    parse: impl Fn(&str) -> ApiResult<(CaseLogName, String)>,
) -> String {
    if name.is_empty() {
        return String::new();
    }
    match parse(name) {
        Ok((log, id)) if log == *parent => id,
        _ => {
            v.add(field, format!("must be {what} of this relay log"));
            String::new()
        }
    }
}

pub fn goal_description(v: &mut Violations, g: &Goal) -> String {
    v.text("goal.description", &g.description, MAX_SHORT);
    g.description.trim().into()
}

/// A measure to add to `parent`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMeasure {
    pub description: String,
    /// The id of its goal in the same log, if any.
    pub goal: String,
    pub responsible_unit: UnitName,
    pub responsible_professional: String,
    pub start: NaiveDate,
    pub evaluate_by: NaiveDate,
}

pub fn new_measure(parent: &CaseLogName, m: &Measure) -> ApiResult<NewMeasure> {
    let mut v = Violations::new();
    v.text("measure.description", &m.description, MAX_SHORT);
    let professional = responsible_professional(&mut v, m);
    let unit = v.check(
        "measure.responsible_unit",
        unit_of(
            "measure.responsible_unit",
            &parent.tenant,
            &m.responsible_unit,
        ),
    );
    let start = v.check("measure.start_date", check_date(m.start_date.as_ref()));
    let by = start.and_then(|s| evaluate_by(&mut v, m.evaluate_by_date.as_ref(), s));
    if start.is_none() {
        v.check(
            "measure.evaluate_by_date",
            check_date(m.evaluate_by_date.as_ref()),
        );
    }
    let goal = same_log(&mut v, "measure.goal", &m.goal, parent, "a goal", |n| {
        GoalName::parse("measure.goal", n).map(|x| (x.log(), x.goal))
    });
    v.finish()?;
    Ok(NewMeasure {
        description: m.description.trim().into(),
        goal,
        responsible_unit: unit.expect("validated"),
        responsible_professional: professional,
        start: start.expect("validated"),
        evaluate_by: by.expect("validated"),
    })
}

pub fn responsible_professional(v: &mut Violations, m: &Measure) -> String {
    v.text(
        "measure.responsible_professional",
        &m.responsible_professional,
        MAX_SUBJECT,
    );
    m.responsible_professional.trim().into()
}

/// The evaluate-by date of a measure that started on `start`.
pub fn evaluate_by(v: &mut Violations, d: Option<&Date>, start: NaiveDate) -> Option<NaiveDate> {
    match v.check("measure.evaluate_by_date", check_date(d)) {
        Some(by) if by < start => {
            v.add("measure.evaluate_by_date", "must not be before start_date");
            None
        }
        by => by,
    }
}

/// A measure's new state: ACTIVE or ENDED.
pub fn measure_state(value: i32) -> Result<MeasureState, String> {
    match MeasureState::try_from(value) {
        Ok(s @ (MeasureState::Active | MeasureState::Ended)) => Ok(s),
        _ => Err("must be ACTIVE or ENDED".into()),
    }
}

/// An evaluation to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvaluation {
    pub decision: EvaluationDecision,
    pub child_experience: String,
    pub summary: String,
    pub date: NaiveDate,
}

pub fn new_evaluation(e: &Evaluation) -> ApiResult<NewEvaluation> {
    let mut v = Violations::new();
    let decision = v.check("evaluation.decision", evaluation_decision(e.decision));
    let date = v.check(
        "evaluation.evaluation_date",
        check_date(e.evaluation_date.as_ref()),
    );
    v.optional_text("evaluation.child_experience", &e.child_experience, MAX_TEXT);
    v.optional_text("evaluation.summary", &e.summary, MAX_TEXT);
    v.finish()?;
    Ok(NewEvaluation {
        decision: decision.expect("validated"),
        child_experience: e.child_experience.trim().into(),
        summary: e.summary.trim().into(),
        date: date.expect("validated"),
    })
}

/// A participant to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewParticipant {
    pub unit: UnitName,
    pub professional: String,
    pub tasks: String,
}

pub fn new_participant(tenant: &str, p: &Participant) -> ApiResult<NewParticipant> {
    let mut v = Violations::new();
    let unit = v.check(
        "participant.unit",
        unit_of("participant.unit", tenant, &p.unit),
    );
    v.optional_text("participant.professional", &p.professional, MAX_SUBJECT);
    let tasks = participant_tasks(&mut v, p);
    v.finish()?;
    Ok(NewParticipant {
        unit: unit.expect("validated"),
        professional: p.professional.trim().into(),
        tasks,
    })
}

pub fn participant_tasks(v: &mut Violations, p: &Participant) -> String {
    v.optional_text("participant.tasks", &p.tasks, MAX_SHORT);
    p.tasks.trim().into()
}

/// An offer of the baton.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHandover {
    pub to: String,
    pub to_unit: UnitName,
    pub message: String,
    pub release_former_holder: bool,
}

pub fn new_handover(tenant: &str, h: &Handover) -> ApiResult<NewHandover> {
    let mut v = Violations::new();
    v.text("handover.to_professional", &h.to_professional, MAX_SUBJECT);
    v.optional_text("handover.message", &h.message, MAX_SHORT);
    let unit = v.check(
        "handover.to_unit",
        unit_of("handover.to_unit", tenant, &h.to_unit),
    );
    v.finish()?;
    Ok(NewHandover {
        to: h.to_professional.trim().into(),
        to_unit: unit.expect("validated"),
        message: h.message.trim().into(),
        release_former_holder: h.release_former_holder,
    })
}

/// Declining an offer: the reason is optional free text (it is not kept).
pub fn decline(r: &DeclineHandoverRequest) -> ApiResult<()> {
    let mut v = Violations::new();
    v.optional_text("reason", &r.reason, MAX_SHORT);
    v.finish()
}

/// A transfer to start.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransfer {
    pub to: String,
    pub to_unit: UnitName,
    pub reason: TransferReason,
    pub note: String,
}

pub fn new_transfer(tenant: &str, tr: &Transfer) -> ApiResult<NewTransfer> {
    let mut v = Violations::new();
    v.text("transfer.to_professional", &tr.to_professional, MAX_SUBJECT);
    let reason = match TransferReason::try_from(tr.reason) {
        Ok(TransferReason::Unspecified) | Err(_) => {
            v.add("transfer.reason", "required");
            None
        }
        Ok(x) => Some(x),
    };
    if reason == Some(TransferReason::Other) && tr.note.trim().is_empty() {
        v.add("transfer.note", "required with reason OTHER");
    } else {
        // The note is also the offer's message to the receiver.
        v.optional_text("transfer.note", &tr.note, MAX_SHORT);
    }
    let unit = v.check(
        "transfer.to_unit",
        unit_of("transfer.to_unit", tenant, &tr.to_unit),
    );
    v.finish()?;
    Ok(NewTransfer {
        to: tr.to_professional.trim().into(),
        to_unit: unit.expect("validated"),
        reason: reason.expect("validated"),
        note: tr.note.trim().into(),
    })
}

/// A reassignment: to whom, for which unit, why.
pub fn reassignment(
    tenant: &str,
    r: &ReassignBatonRequest,
) -> ApiResult<(String, UnitName, String)> {
    let mut v = Violations::new();
    v.text("to_professional", &r.to_professional, MAX_SUBJECT);
    v.text("reason", &r.reason, MAX_SHORT);
    let unit = v.check("to_unit", unit_of("to_unit", tenant, &r.to_unit));
    v.finish()?;
    Ok((
        r.to_professional.trim().into(),
        unit.expect("validated"),
        r.reason.trim().into(),
    ))
}

/// A referral to attach (the gateway's request).
pub fn new_referral(tenant: &str, x: &AttachedReferral) -> ApiResult<ReferralKind> {
    let mut v = Violations::new();
    if GatewayReferralName::parse("referral.referral", &x.referral).is_err() {
        v.add("referral.referral", "must be referrals/{referral}");
    }
    let kind = ReferralKind::try_from(x.kind).unwrap_or_default();
    if kind == ReferralKind::Unspecified {
        v.add("referral.kind", "required");
    }
    if unit_of("referral.from_unit", tenant, &x.from_unit).is_err() {
        v.add(
            "referral.from_unit",
            "must be a unit of the log's municipality",
        );
    }
    if ClientName::parse("referral.client", &x.client).is_err() {
        v.add("referral.client", "must be clients/{client}");
    }
    v.check(
        "referral.from_organization",
        validate_organization_number(&x.from_organization),
    );
    if x.restricted {
        v.text("referral.legal_basis", &x.legal_basis, MAX_SHORT);
    } else {
        v.optional_text("referral.legal_basis", &x.legal_basis, MAX_SHORT);
    }
    v.finish()?;
    Ok(kind)
}

/// A summary request (the gateway's, for an external client).
pub fn summary_request(tenant: &str, r: &GetCaseLogSummaryRequest) -> ApiResult<()> {
    let mut v = Violations::new();
    if unit_of("on_behalf_of_unit", tenant, &r.on_behalf_of_unit).is_err() {
        v.add(
            "on_behalf_of_unit",
            "must be a unit of the log's municipality",
        );
    }
    if ClientName::parse("client", &r.client).is_err() {
        v.add("client", "must be clients/{client}");
    }
    v.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bti_runtime::ApiError;

    const LOG: &str = "tenants/4201/caseLogs/c";

    fn fields(r: ApiResult<impl std::fmt::Debug>) -> Vec<String> {
        match r {
            Err(ApiError::InvalidArgument(v)) => v.into_iter().map(|f| f.field).collect(),
            other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
        }
    }

    fn parent() -> CaseLogName {
        CaseLogName::parse("parent", LOG).unwrap()
    }

    fn date(year: i32, month: i32, day: i32) -> Option<Date> {
        Some(Date { year, month, day })
    }

    #[test]
    fn control_characters_in_entry_text_name_the_field() {
        let e = |text: &str| Entry {
            kind: EntryKind::Note as i32,
            text: text.into(),
            ..Default::default()
        };
        assert_eq!(fields(new_entry(&parent(), &e("a\u{0}b"))), ["entry.text"]);
        assert_eq!(
            fields(new_entry(&parent(), &e("bell\u{7}"))),
            ["entry.text"]
        );
        let ok = new_entry(&parent(), &e("  to linjer\nog\ttabulator  ")).unwrap();
        assert_eq!(ok.text, "to linjer\nog\ttabulator");
        let guardian_contact = Entry {
            kind: EntryKind::GuardianContact as i32,
            ..e("Samtale med mor")
        };
        assert_eq!(
            new_entry(&parent(), &guardian_contact).unwrap().kind,
            EntryKind::GuardianContact
        );
    }

    #[test]
    fn every_free_text_field_refuses_control_characters() {
        let bad = "x\u{1b}[0m";
        let tenant = "4201";
        let unit = "tenants/4201/units/school";
        let c = CaseLog {
            subject: "tenants/4201/persons/p".into(),
            unit: unit.into(),
            concern: bad.into(),
            level: Level::Level1 as i32,
            ..Default::default()
        };
        assert_eq!(fields(new_case_log(tenant, &c)), ["case_log.concern"]);
        let lc = ChangeLevelRequest {
            level: Level::Level2 as i32,
            reason: bad.into(),
            ..Default::default()
        };
        assert_eq!(fields(level_change(&lc)), ["reason"]);
        let cl = CloseCaseLogRequest {
            reason: CloseReason::ConcernResolved as i32,
            note: bad.into(),
            ..Default::default()
        };
        assert_eq!(fields(close_request(&cl)), ["note"]);
        let mut v = Violations::new();
        goal_description(
            &mut v,
            &Goal {
                description: bad.into(),
                ..Default::default()
            },
        );
        assert_eq!(fields(v.finish()), ["goal.description"]);
        let m = Measure {
            description: bad.into(),
            responsible_unit: unit.into(),
            responsible_professional: bad.into(),
            start_date: date(2026, 1, 1),
            evaluate_by_date: date(2026, 6, 1),
            ..Default::default()
        };
        assert_eq!(
            fields(new_measure(&parent(), &m)),
            ["measure.description", "measure.responsible_professional"]
        );
        let e = Evaluation {
            decision: EvaluationDecision::Continue as i32,
            child_experience: bad.into(),
            summary: bad.into(),
            evaluation_date: date(2026, 1, 1),
            ..Default::default()
        };
        assert_eq!(
            fields(new_evaluation(&e)),
            ["evaluation.child_experience", "evaluation.summary"]
        );
        let p = Participant {
            unit: unit.into(),
            professional: bad.into(),
            tasks: bad.into(),
            ..Default::default()
        };
        assert_eq!(
            fields(new_participant(tenant, &p)),
            ["participant.professional", "participant.tasks"]
        );
        let h = Handover {
            to_professional: bad.into(),
            to_unit: unit.into(),
            message: bad.into(),
            ..Default::default()
        };
        assert_eq!(
            fields(new_handover(tenant, &h)),
            ["handover.to_professional", "handover.message"]
        );
        let t = Transfer {
            to_professional: bad.into(),
            to_unit: unit.into(),
            reason: TransferReason::Moving as i32,
            note: bad.into(),
            ..Default::default()
        };
        assert_eq!(
            fields(new_transfer(tenant, &t)),
            ["transfer.to_professional", "transfer.note"]
        );
        let r = ReassignBatonRequest {
            to_professional: bad.into(),
            to_unit: unit.into(),
            reason: bad.into(),
            ..Default::default()
        };
        assert_eq!(
            fields(reassignment(tenant, &r)),
            ["to_professional", "reason"]
        );
        let x = AttachedReferral {
            referral: "referrals/r".into(),
            kind: ReferralKind::ChildWelfareReport as i32,
            restricted: true,
            legal_basis: bad.into(),
            from_organization: "974760673".into(),
            from_unit: unit.into(),
            client: "clients/cw".into(),
            ..Default::default()
        };
        assert_eq!(fields(new_referral(tenant, &x)), ["referral.legal_basis"]);
    }

    #[test]
    fn measure_dates_stay_within_the_years_1900_to_2200() {
        let m = |start, by| Measure {
            description: "Samtalar".into(),
            responsible_unit: "tenants/4201/units/school".into(),
            responsible_professional: "kari".into(),
            start_date: start,
            evaluate_by_date: by,
            ..Default::default()
        };
        assert!(new_measure(&parent(), &m(date(2026, 1, 1), date(2026, 6, 1))).is_ok());
        assert_eq!(
            fields(new_measure(&parent(), &m(date(0, 1, 1), date(2026, 6, 1)))),
            ["measure.start_date"]
        );
        assert_eq!(
            fields(new_measure(&parent(), &m(date(-1, 1, 1), date(2026, 6, 1)))),
            ["measure.start_date"]
        );
        assert_eq!(
            fields(new_measure(
                &parent(),
                &m(date(2026, 1, 1), date(10000, 1, 1))
            )),
            ["measure.evaluate_by_date"]
        );
        assert_eq!(
            fields(new_measure(
                &parent(),
                &m(date(2026, 1, 1), date(2025, 1, 1))
            )),
            ["measure.evaluate_by_date"]
        );
        assert_eq!(
            fields(new_measure(&parent(), &m(None, None))),
            ["measure.start_date", "measure.evaluate_by_date"]
        );
        let mut v = Violations::new();
        assert!(
            evaluate_by(
                &mut v,
                date(2201, 1, 1).as_ref(),
                NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
            )
            .is_none()
        );
        assert!(!v.is_empty());
        let e = Evaluation {
            decision: EvaluationDecision::Continue as i32,
            evaluation_date: date(10000, 1, 1),
            ..Default::default()
        };
        assert_eq!(fields(new_evaluation(&e)), ["evaluation.evaluation_date"]);
    }

    #[test]
    fn a_log_names_its_concern_area_or_none() {
        let c = |area: i32| CaseLog {
            subject: "tenants/4201/persons/p".into(),
            unit: "tenants/4201/units/school".into(),
            concern: "Uro".into(),
            level: Level::Level1 as i32,
            concern_area: area,
            ..Default::default()
        };
        assert_eq!(
            new_case_log("4201", &c(0)).unwrap().area,
            ConcernArea::Unspecified
        );
        assert_eq!(
            new_case_log("4201", &c(ConcernArea::Development as i32))
                .unwrap()
                .area,
            ConcernArea::Development
        );
        assert_eq!(
            fields(new_case_log("4201", &c(42))),
            ["case_log.concern_area"]
        );
        let elsewhere = CaseLog {
            subject: "tenants/4202/persons/p".into(),
            ..c(0)
        };
        assert_eq!(
            fields(new_case_log("4201", &elsewhere)),
            ["case_log.subject"]
        );
    }

    #[test]
    fn corrections_and_goals_must_be_of_the_same_log() {
        let e = |corrects: &str| Entry {
            kind: EntryKind::Note as i32,
            text: "x".into(),
            corrects: corrects.into(),
            ..Default::default()
        };
        assert_eq!(
            new_entry(&parent(), &e(&format!("{LOG}/entries/e1")))
                .unwrap()
                .corrects,
            "e1"
        );
        assert_eq!(
            fields(new_entry(
                &parent(),
                &e("tenants/4201/caseLogs/other/entries/e1")
            )),
            ["entry.corrects"]
        );
        assert_eq!(
            fields(new_entry(&parent(), &e("nonsense"))),
            ["entry.corrects"]
        );
    }
}
