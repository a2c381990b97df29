//! The relay log's resource names, typed: parsed once at the edge (naming the
//! field on a mismatch) and displayed back, never indexed or formatted by hand.

bti_runtime::resource_name!(
    /// A municipality, by kommunenummer.
    pub struct TenantName = "tenants/{tenant}" { tenant }
);
bti_runtime::resource_name!(
    /// A person of the directory (the subject of a log).
    pub struct PersonName = "tenants/{tenant}/persons/{person}" { tenant, person }
);
bti_runtime::resource_name!(
    /// A unit of the directory.
    pub struct UnitName = "tenants/{tenant}/units/{unit}" { tenant, unit }
);
bti_runtime::resource_name!(
    /// A relay log.
    pub struct CaseLogName = "tenants/{tenant}/caseLogs/{case_log}" { tenant, case_log }
);
bti_runtime::resource_name!(
    /// An entry of a log.
    pub struct EntryName = "tenants/{tenant}/caseLogs/{case_log}/entries/{entry}"
        { tenant, case_log, entry }
);
bti_runtime::resource_name!(
    /// A level change of a log.
    pub struct LevelChangeName =
        "tenants/{tenant}/caseLogs/{case_log}/levelChanges/{level_change}"
        { tenant, case_log, level_change }
);
bti_runtime::resource_name!(
    /// A goal of a log.
    pub struct GoalName = "tenants/{tenant}/caseLogs/{case_log}/goals/{goal}"
        { tenant, case_log, goal }
);
bti_runtime::resource_name!(
    /// A measure of a log.
    pub struct MeasureName = "tenants/{tenant}/caseLogs/{case_log}/measures/{measure}"
        { tenant, case_log, measure }
);
bti_runtime::resource_name!(
    /// An evaluation of a measure.
    pub struct EvaluationName =
        "tenants/{tenant}/caseLogs/{case_log}/measures/{measure}/evaluations/{evaluation}"
        { tenant, case_log, measure, evaluation }
);
bti_runtime::resource_name!(
    /// A participant of a log.
    pub struct ParticipantName =
        "tenants/{tenant}/caseLogs/{case_log}/participants/{participant}"
        { tenant, case_log, participant }
);
bti_runtime::resource_name!(
    /// An offer of the baton.
    pub struct HandoverName = "tenants/{tenant}/caseLogs/{case_log}/handovers/{handover}"
        { tenant, case_log, handover }
);
bti_runtime::resource_name!(
    /// A transfer of a log to another unit.
    pub struct TransferName = "tenants/{tenant}/caseLogs/{case_log}/transfers/{transfer}"
        { tenant, case_log, transfer }
);
bti_runtime::resource_name!(
    /// A referral attached to a log by the gateway.
    pub struct ReferralName = "tenants/{tenant}/caseLogs/{case_log}/referrals/{referral}"
        { tenant, case_log, referral }
);
bti_runtime::resource_name!(
    /// A row of a log's access log.
    pub struct AccessLogEntryName =
        "tenants/{tenant}/caseLogs/{case_log}/accessLogEntries/{entry}"
        { tenant, case_log, entry }
);
bti_runtime::resource_name!(
    /// The gateway's referral, `referrals/{referral}`.
    pub struct GatewayReferralName = "referrals/{referral}" { referral }
);
bti_runtime::resource_name!(
    /// An external client of the gateway, `clients/{client}`.
    pub struct ClientName = "clients/{client}" { client }
);

/// Names of resources inside a log know the log they belong to.
macro_rules! in_log {
    ($($name:ident),+) => {$(
        impl $name {
            /// The log this resource belongs to.
            pub fn log(&self) -> CaseLogName {
                CaseLogName::new(&self.tenant, &self.case_log)
            }
        }
    )+};
}
in_log!(
    EntryName,
    LevelChangeName,
    GoalName,
    MeasureName,
    EvaluationName,
    ParticipantName,
    HandoverName,
    TransferName,
    ReferralName,
    AccessLogEntryName
);

impl CaseLogName {
    pub fn entry(&self, id: &str) -> EntryName {
        EntryName::new(&self.tenant, &self.case_log, id)
    }
    pub fn goal(&self, id: &str) -> GoalName {
        GoalName::new(&self.tenant, &self.case_log, id)
    }
    pub fn measure(&self, id: &str) -> MeasureName {
        MeasureName::new(&self.tenant, &self.case_log, id)
    }
    pub fn participant(&self, id: &str) -> ParticipantName {
        ParticipantName::new(&self.tenant, &self.case_log, id)
    }
    pub fn handover(&self, id: &str) -> HandoverName {
        HandoverName::new(&self.tenant, &self.case_log, id)
    }
    pub fn transfer(&self, id: &str) -> TransferName {
        TransferName::new(&self.tenant, &self.case_log, id)
    }
    pub fn referral(&self, id: &str) -> ReferralName {
        ReferralName::new(&self.tenant, &self.case_log, id)
    }
    /// `…/{what}` below the log (an export's parts, the access log's collection).
    pub fn part(&self, what: &str) -> String {
        format!("{self}/{what}")
    }
}

impl MeasureName {
    pub fn evaluation(&self, id: &str) -> EvaluationName {
        EvaluationName::new(&self.tenant, &self.case_log, &self.measure, id)
    }
}

impl EvaluationName {
    pub fn measure(&self) -> MeasureName {
        MeasureName::new(&self.tenant, &self.case_log, &self.measure)
    }
}

/// `tenants/{tenant}/caseLogs/{id}`.
pub fn case_log_name(tenant: &str, id: &str) -> String {
    CaseLogName::new(tenant, id).to_string()
}

/// A unit of `tenant`: INVALID_ARGUMENT naming `field` for anything else.
pub fn unit_of(field: &str, tenant: &str, unit: &str) -> Result<UnitName, String> {
    match UnitName::parse(field, unit) {
        Ok(u) if u.tenant == tenant => Ok(u),
        Ok(_) => Err("must be a unit of the same municipality".into()),
        Err(_) => Err(format!(
            "must be a resource name of the form {}",
            UnitName::PATTERN
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_names_know_their_log() {
        let e = EntryName::parse("name", "tenants/4201/caseLogs/c1/entries/e1").unwrap();
        assert_eq!(e.log().to_string(), "tenants/4201/caseLogs/c1");
        assert_eq!(e.log().entry("e1"), e);
        let ev = MeasureName::new("4201", "c1", "m1").evaluation("x");
        assert_eq!(
            ev.to_string(),
            "tenants/4201/caseLogs/c1/measures/m1/evaluations/x"
        );
        assert_eq!(ev.measure().measure, "m1");
    }

    #[test]
    fn units_must_be_of_the_same_municipality() {
        assert!(unit_of("u", "4201", "tenants/4201/units/school").is_ok());
        assert!(unit_of("u", "4201", "tenants/4202/units/school").is_err());
        assert!(unit_of("u", "4201", "school").is_err());
    }
}
