//! Consents: recording, reading, listing, changing units or validity,
//! withdrawal, and the expiry sweep.

use bti_proto::consent::*;
use bti_runtime::api::{
    PageToken, check_optional_timestamp, check_timestamp, enum_of, new_id, page_size, paginate,
    timestamp, update_paths,
};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::{App, json};
use crate::api::convert::consent_msg;
use crate::domain::access::{can_read, can_record, permission_denied};
use crate::domain::input::{method_of, same_tenant_person, units_of};
use crate::domain::*;

/// Longest withdrawal reason.
const MAX_REASON: usize = 1000;

impl App {
    pub async fn create_consent(
        &self,
        p: &Principal,
        r: CreateConsentRequest,
    ) -> ApiResult<Consent> {
        let idem = Idem::of(&r.request_id, &r)?;
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        let c = r
            .consent
            .ok_or_else(|| ApiError::invalid("consent", "required"))?;
        same_tenant_person("consent.subject", &tenant, &c.subject)?;
        let mut v = Violations::new();
        let purpose = v.check("consent.purpose", purpose(c.purpose));
        let mut grantors = Vec::new();
        for (i, g) in c.grantors.iter().enumerate() {
            if let Err(ApiError::InvalidArgument(e)) =
                same_tenant_person(&format!("consent.grantors[{i}].person"), &tenant, &g.person)
            {
                e.into_iter().for_each(|f| v.add(f.field, f.description));
            }
            let role = GrantorRole::try_from(g.role).unwrap_or(GrantorRole::Unspecified);
            grantors.push(GrantorRecord {
                person: g.person.clone(),
                role: role.as_str_name().to_string(),
            });
        }
        let units = units_of("consent.covered_units", &tenant, &c.covered_units, &mut v);
        let method = method_of("consent.method", c.method.as_ref(), p, &mut v);
        let created = self.now();
        let valid_from = match &c.valid_from {
            Some(t) => v.check("consent.valid_from", check_timestamp(t)),
            None => Some(created),
        };
        let valid_until = v
            .check(
                "consent.valid_until",
                check_optional_timestamp(c.valid_until.as_ref()),
            )
            .flatten();
        if let (Some(from), Some(until)) = (valid_from, valid_until)
            && until <= from
        {
            v.add("consent.valid_until", "must be after valid_from");
        }
        v.finish()?;
        let (method, method_reference) = method.expect("validated");
        let valid_from = valid_from.expect("validated");
        if !can_record(p, &tenant, &units, &grantors) {
            return Err(permission_denied());
        }

        let policy = self.directory.policy(&tenant).await?;
        let subject = self
            .directory
            .subject(&c.subject, created.date_naive())
            .await?
            .ok_or_else(|| {
                ApiError::invalid("consent.subject", "no such person in the directory")
            })?;
        self.check_units_exist(&c.covered_units, &[]).await?;
        check_grantors(policy, &subject, &grantors)?;

        let id = new_id();
        let record = ConsentRecord {
            tenant: tenant.clone(),
            id: id.clone(),
            subject: c.subject.clone(),
            purpose: purpose.expect("validated").as_str_name().to_string(),
            grantors: json(&grantors),
            state: ConsentState::Active.as_str_name().to_string(),
            revision: 1,
            valid_from,
            valid_until,
            withdraw_time: None,
            withdraw_reason: String::new(),
            version: 1,
            create_time: created,
            update_time: created,
        };
        let rev = self.revision(
            &record,
            &units,
            RevisionKind::Granted,
            (method, method_reference),
            p,
            String::new(),
            created,
        );
        let name = record.name();
        let ev = self.event(
            &name,
            &tenant,
            &ConsentGranted {
                consent: name.clone(),
                revision: revision_name(&tenant, &id, 1),
                subject: c.subject.clone(),
                purpose: c.purpose,
                covered_units: units.clone(),
                valid_until: record.valid_until.map(timestamp),
            },
        );
        let saved = self
            .store
            .create_consent(&record, &units, &rev, &idem, ev)
            .await?;
        self.committed(consent_msg(&saved))
    }

    pub async fn get_consent(&self, p: &Principal, r: GetConsentRequest) -> ApiResult<Consent> {
        Ok(consent_msg(&self.readable(p, "name", &r.name).await?))
    }

    pub async fn list_consents(
        &self,
        p: &Principal,
        r: ListConsentsRequest,
    ) -> ApiResult<ListConsentsResponse> {
        let tenant = TenantName::parse("parent", &r.parent)?.tenant;
        if !r.subject.is_empty() {
            same_tenant_person("subject", &tenant, &r.subject)?;
        }
        if !r.grantor.is_empty() {
            same_tenant_person("grantor", &tenant, &r.grantor)?;
        }
        // Families list their own: a guardian their child's (or what they
        // granted), a youth their own. Staff see consents covering their units.
        match p {
            Principal::Guardian { person, .. } => {
                let own_grants = r.grantor == *person;
                let child = !r.subject.is_empty()
                    && self.directory.guardians(&r.subject).await?.contains(person);
                if !own_grants && !child {
                    return Err(ApiError::invalid(
                        "subject",
                        "a guardian lists consents about their own child (subject) or given by themself (grantor)",
                    ));
                }
            }
            Principal::Youth { person, .. } if r.subject != *person => {
                return Err(ApiError::invalid(
                    "subject",
                    "a youth lists consents about themself",
                ));
            }
            Principal::Client { .. } => return Err(permission_denied()),
            _ => {}
        }
        if !(p.is_service() || p.tenant() == Some(&tenant)) {
            return Err(permission_denied());
        }
        let query = [
            "ListConsents",
            r.parent.as_str(),
            r.subject.as_str(),
            r.grantor.as_str(),
        ];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_consents(
                &tenant,
                &r.subject,
                &r.grantor,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |v| v.consent.id.clone(), &query);
        let family = matches!(p, Principal::Guardian { .. } | Principal::Youth { .. });
        let consents = rows
            .iter()
            .filter(|v| family || can_read(p, v, &[]))
            .map(consent_msg)
            .collect();
        Ok(ListConsentsResponse {
            consents,
            next_page_token,
        })
    }

    pub async fn update_consent(
        &self,
        p: &Principal,
        r: UpdateConsentRequest,
    ) -> ApiResult<Consent> {
        let c = r
            .consent
            .ok_or_else(|| ApiError::invalid("consent", "required"))?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["covered_units", "valid_until"],
        )?;
        let view = self.changeable(p, "consent.name", &c.name, &c.etag).await?;
        let tenant = view.consent.tenant.clone();
        let mut record = view.consent.clone();
        let mut units = view.units.clone();
        let mut v = Violations::new();
        let mut method = (String::new(), String::new());
        let now = self.now();
        if paths.iter().any(|x| x == "covered_units") {
            units = units_of("consent.covered_units", &tenant, &c.covered_units, &mut v);
            let adds = units.iter().any(|u| !view.units.contains(u));
            if adds && let Some(m) = method_of("consent.method", c.method.as_ref(), p, &mut v) {
                method = m;
            }
        }
        if paths.iter().any(|x| x == "valid_until") {
            if let Some(until) = v.check(
                "consent.valid_until",
                check_optional_timestamp(c.valid_until.as_ref()),
            ) {
                record.valid_until = until;
            }
            if record
                .valid_until
                .is_some_and(|u| u <= now.max(record.valid_from))
            {
                v.add(
                    "consent.valid_until",
                    "must be in the future and after valid_from",
                );
            }
        }
        v.finish()?;
        if paths.iter().any(|x| x == "covered_units") {
            self.check_units_exist(&c.covered_units, &view.units)
                .await?;
        }

        let added: Vec<String> = units
            .iter()
            .filter(|u| !view.units.contains(u))
            .cloned()
            .collect();
        let removed: Vec<String> = view
            .units
            .iter()
            .filter(|u| !units.contains(u))
            .cloned()
            .collect();
        let kind = if added.is_empty() && removed.is_empty() {
            RevisionKind::ValidityChanged
        } else {
            RevisionKind::UnitsChanged
        };
        record.revision += 1;
        record.update_time = now;
        let rev = self.revision(&record, &units, kind, method, p, String::new(), now);
        let name = record.name();
        let ev = self.event(
            &name,
            &tenant,
            &ConsentChanged {
                consent: name.clone(),
                revision: revision_name(&tenant, &record.id, record.revision),
                subject: record.subject.clone(),
                added_units: added,
                removed_units: removed,
                valid_until: record.valid_until.map(timestamp),
            },
        );
        let saved = self.store.change_consent(&record, &units, &rev, ev).await?;
        self.committed(consent_msg(&saved))
    }

    pub async fn withdraw_consent(
        &self,
        p: &Principal,
        r: WithdrawConsentRequest,
    ) -> ApiResult<Consent> {
        let mut v = Violations::new();
        v.optional_text("reason", &r.reason, MAX_REASON);
        v.finish()?;
        let view = self.changeable(p, "name", &r.name, &r.etag).await?;
        let mut record = view.consent.clone();
        let at = self.now();
        record.state = ConsentState::Withdrawn.as_str_name().to_string();
        record.revision += 1;
        record.withdraw_time = Some(at);
        record.withdraw_reason = r.reason.trim().to_string();
        record.update_time = at;
        let rev = self.revision(
            &record,
            &view.units,
            RevisionKind::Withdrawn,
            Default::default(),
            p,
            record.withdraw_reason.clone(),
            at,
        );
        let ev = self.event(
            &r.name,
            &record.tenant,
            &ConsentWithdrawn {
                consent: r.name.clone(),
                revision: revision_name(&record.tenant, &record.id, record.revision),
                subject: record.subject.clone(),
                purpose: enum_of(ConsentPurpose::from_str_name, &record.purpose),
                removed_units: view.units.clone(),
            },
        );
        // Committed before we answer: the next CheckAccess reads this row.
        let saved = self
            .store
            .change_consent(&record, &view.units, &rev, ev)
            .await?;
        self.committed(consent_msg(&saved))
    }

    /// Records the expiry of every active consent past its valid-until (each
    /// in its own transaction, with a revision and a ConsentExpired event).
    /// A concurrent sweep or change loses on the version check and is
    /// skipped. The round of the expiry task; returns how many it recorded.
    pub async fn expire_due(&self) -> ApiResult<usize> {
        let at = self.now();
        let mut done = 0;
        let system = Principal::Service {
            name: "consent-expiry".into(),
            scopes: vec![],
        };
        for view in self.store.expired_but_active(at, 100).await? {
            let mut record = view.consent.clone();
            record.state = ConsentState::Expired.as_str_name().to_string();
            record.revision += 1;
            record.update_time = at;
            let rev = self.revision(
                &record,
                &view.units,
                RevisionKind::Expired,
                Default::default(),
                &system,
                String::new(),
                at,
            );
            let name = record.name();
            let ev = self.event(
                &name,
                &record.tenant,
                &ConsentExpired {
                    consent: name.clone(),
                    revision: revision_name(&record.tenant, &record.id, record.revision),
                    subject: record.subject.clone(),
                    purpose: enum_of(ConsentPurpose::from_str_name, &record.purpose),
                    removed_units: view.units.clone(),
                },
            );
            match self
                .store
                .change_consent(&record, &view.units, &rev, ev)
                .await
            {
                Ok(_) => done += 1,
                Err(ApiError::EtagMismatch(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if done > 0 {
            self.outbox.wake();
        }
        Ok(done)
    }
}
