//! The summary an external system gets through the gateway: levels,
//! measures, evaluations and their decisions, baton holders; no free text.
//! Reasons, who changed the level, and the child's own words stay in the log.

use super::SummaryRows;

/// The summary's rows with every free-text field emptied.
pub fn redact(mut rows: SummaryRows) -> SummaryRows {
    for l in &mut rows.level_changes {
        l.reason.clear();
        l.actor.clear();
    }
    for e in &mut rows.evaluations {
        e.child_experience.clear();
        e.summary.clear();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;

    #[test]
    fn no_reason_actor_or_childs_words_leave_the_log() {
        let rows = SummaryRows {
            log: log(),
            level_changes: vec![LevelChangeRecord {
                tenant: "4201".into(),
                case_log: "c".into(),
                id: "l".into(),
                from_level: "LEVEL_1".into(),
                to_level: "LEVEL_2".into(),
                reason: "Treng PPT".into(),
                actor: "employee:kari".into(),
                create_time: at(),
            }],
            measures: vec![],
            evaluations: vec![EvaluationRecord {
                tenant: "4201".into(),
                case_log: "c".into(),
                measure: "m".into(),
                id: "e".into(),
                decision: "EVALUATION_DECISION_CONTINUE".into(),
                child_experience: "Eg er glad no".into(),
                summary: "Går betre".into(),
                evaluation_date: at().date_naive(),
                author: "kari".into(),
                create_time: at(),
            }],
            holders: vec![("kari".into(), SCHOOL.into(), at())],
        };
        let r = redact(rows);
        assert!(r.level_changes[0].reason.is_empty() && r.level_changes[0].actor.is_empty());
        assert_eq!(r.level_changes[0].to_level, "LEVEL_2");
        let e = &r.evaluations[0];
        assert!(e.child_experience.is_empty() && e.summary.is_empty());
        assert_eq!(e.decision, "EVALUATION_DECISION_CONTINUE");
        assert_eq!(r.holders.len(), 1);
    }
}
