//! gRPC surface of the consent service.

use std::collections::BTreeSet;
use std::sync::Arc;

use bti_proto::consent::consent_method::Method;
use bti_proto::consent::consent_service_server::{ConsentService, ConsentServiceServer};
use bti_proto::consent::*;
use bti_runtime::api::{
    PageToken, check_etag, etag, from_timestamp, new_id, now, page_size, paginate, parse_name,
    timestamp, update_paths,
};
use bti_runtime::auth::{Principal, principal};
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use crate::domain::{self, *};
use crate::store::{ConsentStore, Idem};
use bti_runtime::peers::Directory;

/// The consent service's gRPC API.
#[derive(Clone)]
pub struct ConsentApi {
    store: Arc<dyn ConsentStore>,
    directory: Directory,
    outbox: OutboxSignal,
}

fn reply<T>(result: ApiResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

fn state_of(s: &str) -> i32 {
    ConsentState::from_str_name(s).map_or(0, |v| v as i32)
}

fn consent_msg(v: &ConsentView) -> Consent {
    let c = &v.consent;
    Consent {
        name: c.name(),
        subject: c.subject.clone(),
        purpose: ConsentPurpose::from_str_name(&c.purpose).map_or(0, |p| p as i32),
        grantors: c
            .grantor_list()
            .into_iter()
            .map(|g| Grantor {
                person: g.person,
                role: GrantorRole::from_str_name(&g.role).map_or(0, |r| r as i32),
            })
            .collect(),
        covered_units: v.units.clone(),
        method: None,
        valid_from: Some(timestamp(c.valid_from)),
        valid_until: c.valid_until.map(timestamp),
        state: state_of(&c.state),
        revision: revision_name(&c.tenant, &c.id, c.revision),
        withdraw_time: c.withdraw_time.map(timestamp),
        withdraw_reason: c.withdraw_reason.clone(),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
        etag: etag(c.version),
    }
}

fn revision_msg(r: &RevisionRecord) -> ConsentRevision {
    ConsentRevision {
        name: revision_name(&r.tenant, &r.consent, r.revision),
        kind: RevisionKind::from_str_name(&r.kind).map_or(0, |k| k as i32),
        covered_units: serde_json::from_str(&r.covered_units).unwrap_or_default(),
        state: state_of(&r.state),
        valid_from: Some(timestamp(r.valid_from)),
        valid_until: r.valid_until.map(timestamp),
        method: r.method.clone(),
        method_reference: r.method_reference.clone(),
        actor: r.actor.clone(),
        reason: r.reason.clone(),
        create_time: Some(timestamp(r.create_time)),
    }
}

fn representation_msg(r: &RepresentationRecord) -> Representation {
    Representation {
        name: representation_name(&r.tenant, &r.id),
        guardian: r.guardian.clone(),
        subject: r.subject.clone(),
        representative: r.representative.clone(),
        representative_unit: r.representative_unit.clone(),
        method: None,
        valid_until: r.valid_until.map(timestamp),
        revoked: r.revoked,
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag(r.version),
    }
}

/// How consent was given, as stored: (`signed_form` | `oral`, reference).
fn method_of(
    field: &str,
    m: Option<&ConsentMethod>,
    p: &Principal,
    v: &mut Violations,
) -> Option<(String, String)> {
    match m.and_then(|m| m.method.as_ref()) {
        Some(Method::SignedForm(f)) => {
            v.text(
                &format!("{field}.signed_form.document_reference"),
                &f.document_reference,
                500,
            );
            let hash_ok = f.content_sha256.len() == 64
                && f.content_sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hash_ok {
                v.add(
                    format!("{field}.signed_form.content_sha256"),
                    "must be a hex SHA-256 (64 characters)",
                );
            }
            Some((
                "signed_form".into(),
                format!(
                    "{} sha256:{}",
                    f.document_reference.trim(),
                    f.content_sha256.to_lowercase()
                ),
            ))
        }
        Some(Method::Oral(_)) => match p {
            Principal::Employee { subject, .. } => {
                Some(("oral".into(), format!("recorded by {subject}")))
            }
            _ => {
                v.add(
                    format!("{field}.oral"),
                    "an oral consent is written down by an employee",
                );
                None
            }
        },
        None => {
            v.add(field.to_string(), "required: signed_form or oral");
            None
        }
    }
}

/// Parses unit names of `tenant`, de-duplicated and sorted.
fn units_of(field: &str, tenant: &str, units: &[String], v: &mut Violations) -> Vec<String> {
    let mut out = BTreeSet::new();
    for (i, u) in units.iter().enumerate() {
        match parse_name(field, u, UNIT_PATTERN) {
            Ok(ids) if ids[0] == tenant => {
                out.insert(u.clone());
            }
            Ok(_) => v.add(
                format!("{field}[{i}]"),
                "must be a unit of the same municipality",
            ),
            Err(_) => v.add(
                format!("{field}[{i}]"),
                "must be a unit name tenants/{tenant}/units/{unit}",
            ),
        }
    }
    if units.is_empty() {
        v.add(field.to_string(), "at least one unit is required");
    }
    out.into_iter().collect()
}

fn same_tenant_person(field: &str, tenant: &str, name: &str) -> ApiResult<()> {
    let ids = parse_name(field, name, PERSON_PATTERN)?;
    if ids[0] != tenant {
        return Err(ApiError::invalid(
            field,
            "must be a person of the same municipality",
        ));
    }
    Ok(())
}

impl ConsentApi {
    pub fn new(store: Arc<dyn ConsentStore>, directory: Directory, outbox: OutboxSignal) -> Self {
        ConsentApi {
            store,
            directory,
            outbox,
        }
    }

    pub fn into_server(self) -> ConsentServiceServer<Self> {
        ConsentServiceServer::new(self)
    }

    fn event<M: prost::Name>(&self, subject: &str, tenant: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, tenant, payload)
    }

    /// Asks the directory about each requested unit not already `known`,
    /// reporting unknown ones by their index in the request.
    async fn check_units_exist(&self, requested: &[String], known: &[String]) -> ApiResult<()> {
        let mut v = Violations::new();
        for (i, u) in requested.iter().enumerate() {
            if !known.contains(u) && !self.directory.unit_exists(u).await? {
                v.add(format!("consent.covered_units[{i}]"), "unknown unit");
            }
        }
        v.finish()
    }

    fn committed<T>(&self, value: T) -> ApiResult<T> {
        self.outbox.wake();
        Ok(value)
    }

    /// Guardians with parental responsibility of the consent's subject, fetched
    /// only for a guardian principal (the only one it can matter for).
    async fn guardians_for(&self, p: &Principal, subject: &str) -> ApiResult<Vec<String>> {
        if matches!(p, Principal::Guardian { .. }) {
            self.directory.guardians(subject).await
        } else {
            Ok(Vec::new())
        }
    }

    /// The consent, if `p` may read it; otherwise NOT_FOUND, so that whether a
    /// child has a consent on record does not leak.
    async fn readable(&self, p: &Principal, field: &str, name: &str) -> ApiResult<ConsentView> {
        let ids = parse_name(field, name, CONSENT_PATTERN)?;
        let not_found = || ApiError::NotFound(name.to_string());
        let view = self
            .store
            .get_consent(ids[0], ids[1])
            .await?
            .ok_or_else(not_found)?;
        let guardians = self.guardians_for(p, &view.consent.subject).await?;
        if domain::can_read(p, &view, &guardians) {
            Ok(view)
        } else {
            Err(not_found())
        }
    }

    /// The consent, if `p` may change it; NOT_FOUND if they may not even read it.
    async fn changeable(
        &self,
        p: &Principal,
        field: &str,
        name: &str,
        sent_etag: &str,
    ) -> ApiResult<ConsentView> {
        let view = self.readable(p, field, name).await?;
        let guardians = self.guardians_for(p, &view.consent.subject).await?;
        if !domain::can_change(p, &view, &guardians) {
            return Err(domain::permission_denied());
        }
        check_etag(name, sent_etag, view.consent.version)?;
        if !view.consent.is_active() {
            return Err(ApiError::precondition(
                "CONSENT_NOT_ACTIVE",
                name,
                "the consent is no longer active",
            ));
        }
        Ok(view)
    }

    async fn do_create_consent(&self, req: Request<CreateConsentRequest>) -> ApiResult<Consent> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let tenant = parse_name("parent", &r.parent, TENANT_PATTERN)?[0].to_string();
        let c = r
            .consent
            .ok_or_else(|| ApiError::invalid("consent", "required"))?;
        same_tenant_person("consent.subject", &tenant, &c.subject)?;
        let mut v = Violations::new();
        let purpose = v.check("consent.purpose", domain::purpose(c.purpose));
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
        let method = method_of("consent.method", c.method.as_ref(), &p, &mut v);
        let created = now();
        let valid_from = match &c.valid_from {
            Some(t) => from_timestamp("consent.valid_from", t)?,
            None => created,
        };
        let valid_until = c
            .valid_until
            .as_ref()
            .map(|t| from_timestamp("consent.valid_until", t))
            .transpose()?;
        if valid_until.is_some_and(|u| u <= valid_from) {
            v.add("consent.valid_until", "must be after valid_from");
        }
        v.finish()?;
        let (method, method_reference) = method.expect("validated");

        // Who may record it: an employee of a covered unit, or a grantor
        // signed in (a guardian for their child, a youth for themself).
        let is_grantor =
            domain::signed_in_person(&p).is_some_and(|me| grantors.iter().any(|g| g.person == me));
        let allowed = (p.is_employee_of(&tenant) && domain::works_in_any(&p, &units)) || is_grantor;
        if !allowed {
            return Err(domain::permission_denied());
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
        domain::check_grantors(policy, &subject, &grantors)?;

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
        let rev = RevisionRecord {
            tenant: tenant.clone(),
            consent: id.clone(),
            revision: 1,
            kind: RevisionKind::Granted.as_str_name().to_string(),
            covered_units: json(&units),
            state: record.state.clone(),
            valid_from,
            valid_until,
            method,
            method_reference,
            actor: p.label(),
            reason: String::new(),
            create_time: created,
        };
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

    async fn do_list_consents(
        &self,
        req: Request<ListConsentsRequest>,
    ) -> ApiResult<ListConsentsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let tenant = parse_name("parent", &r.parent, TENANT_PATTERN)?[0].to_string();
        if !r.subject.is_empty() {
            same_tenant_person("subject", &tenant, &r.subject)?;
        }
        if !r.grantor.is_empty() {
            same_tenant_person("grantor", &tenant, &r.grantor)?;
        }
        // Families list their own: a guardian their child's (or what they
        // granted), a youth their own. Staff see consents covering their units.
        match &p {
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
            Principal::Client { .. } => return Err(domain::permission_denied()),
            _ => {}
        }
        if !(p.is_service() || p.tenant() == Some(&tenant)) {
            return Err(domain::permission_denied());
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
            .filter(|v| family || domain::can_read(&p, v, &[]))
            .map(consent_msg)
            .collect();
        Ok(ListConsentsResponse {
            consents,
            next_page_token,
        })
    }

    async fn do_update_consent(&self, req: Request<UpdateConsentRequest>) -> ApiResult<Consent> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let c = r
            .consent
            .ok_or_else(|| ApiError::invalid("consent", "required"))?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &["covered_units", "valid_until"],
        )?;
        let view = self
            .changeable(&p, "consent.name", &c.name, &c.etag)
            .await?;
        let tenant = view.consent.tenant.clone();
        let mut record = view.consent.clone();
        let mut units = view.units.clone();
        let mut v = Violations::new();
        let mut method = (String::new(), String::new());
        if paths.iter().any(|x| x == "covered_units") {
            units = units_of("consent.covered_units", &tenant, &c.covered_units, &mut v);
            let adds = units.iter().any(|u| !view.units.contains(u));
            if adds && let Some(m) = method_of("consent.method", c.method.as_ref(), &p, &mut v) {
                method = m;
            }
        }
        if paths.iter().any(|x| x == "valid_until") {
            record.valid_until = c
                .valid_until
                .as_ref()
                .map(|t| from_timestamp("consent.valid_until", t))
                .transpose()?;
            if record
                .valid_until
                .is_some_and(|u| u <= now().max(record.valid_from))
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
        let changed = now();
        record.revision += 1;
        record.update_time = changed;
        let rev = self.revision(&record, &units, kind, method, &p, String::new(), changed);
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

    #[allow(clippy::too_many_arguments)]
    fn revision(
        &self,
        c: &ConsentRecord,
        units: &[String],
        kind: RevisionKind,
        method: (String, String),
        p: &Principal,
        reason: String,
        at: DateTime<Utc>,
    ) -> RevisionRecord {
        RevisionRecord {
            tenant: c.tenant.clone(),
            consent: c.id.clone(),
            revision: c.revision,
            kind: kind.as_str_name().to_string(),
            covered_units: json(&units),
            state: c.state.clone(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            method: method.0,
            method_reference: method.1,
            actor: p.label(),
            reason,
            create_time: at,
        }
    }

    async fn do_withdraw_consent(
        &self,
        req: Request<WithdrawConsentRequest>,
    ) -> ApiResult<Consent> {
        let p = principal(&req)?;
        let r = req.into_inner();
        if r.reason.chars().count() > 1000 {
            return Err(ApiError::invalid("reason", "at most 1000 characters"));
        }
        let view = self.changeable(&p, "name", &r.name, &r.etag).await?;
        let mut record = view.consent.clone();
        let at = now();
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
            &p,
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
                purpose: ConsentPurpose::from_str_name(&record.purpose).map_or(0, |x| x as i32),
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
    /// A concurrent sweep or change loses on the version check and is skipped.
    pub async fn expire_due(&self) -> ApiResult<usize> {
        let at = now();
        let mut done = 0;
        for view in self.store.expired_but_active(at, 100).await? {
            let mut record = view.consent.clone();
            record.state = ConsentState::Expired.as_str_name().to_string();
            record.revision += 1;
            record.update_time = at;
            let system = Principal::Service {
                name: "consent-expiry".into(),
                scopes: vec![],
            };
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
                    purpose: ConsentPurpose::from_str_name(&record.purpose).map_or(0, |x| x as i32),
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

    /// Runs [`Self::expire_due`] every `every` until `shutdown` resolves.
    pub async fn run_expiry(
        self,
        every: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.expire_due().await {
                tracing::warn!(error = %e, "consent expiry sweep failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = &mut shutdown => return,
            }
        }
    }

    async fn do_check_access(
        &self,
        req: Request<CheckAccessRequest>,
    ) -> ApiResult<CheckAccessResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let subject = parse_name("subject", &r.subject, PERSON_PATTERN)?;
        let unit = parse_name("unit", &r.unit, UNIT_PATTERN)?;
        if subject[0] != unit[0] {
            return Err(ApiError::invalid(
                "unit",
                "must be a unit of the subject's municipality",
            ));
        }
        let purpose = domain::purpose(r.purpose).map_err(|e| ApiError::invalid("purpose", e))?;
        domain::can_check(&p, subject[0])?;
        let candidates = self
            .store
            .access_candidates(subject[0], &r.subject, &r.unit, purpose.as_str_name())
            .await?;
        Ok(match domain::decide(&candidates, now()) {
            Access::Allowed { consent, revision } => CheckAccessResponse {
                allowed: true,
                consent: consent_name(subject[0], &consent),
                revision: revision_name(subject[0], &consent, revision),
                denial_reason: 0,
            },
            Access::Denied(reason) => CheckAccessResponse {
                allowed: false,
                consent: String::new(),
                revision: String::new(),
                denial_reason: reason as i32,
            },
        })
    }

    async fn do_list_revisions(
        &self,
        req: Request<ListConsentRevisionsRequest>,
    ) -> ApiResult<ListConsentRevisionsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let view = self.readable(&p, "parent", &r.parent).await?;
        let query = ["ListConsentRevisions", r.parent.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = match PageToken::decode("page_token", &r.page_token, &query)? {
            Some(t) => t.after.parse().map_err(|_| {
                ApiError::invalid("page_token", "is not a page token of this query")
            })?,
            None => 0,
        };
        let rows = self
            .store
            .list_revisions(&view.consent.tenant, &view.consent.id, after, size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.revision.to_string(), &query);
        Ok(ListConsentRevisionsResponse {
            revisions: rows.iter().map(revision_msg).collect(),
            next_page_token,
        })
    }

    async fn do_get_revision(
        &self,
        req: Request<GetConsentRevisionRequest>,
    ) -> ApiResult<ConsentRevision> {
        let p = principal(&req)?;
        let name = req.get_ref().name.clone();
        let ids = parse_name("name", &name, REVISION_PATTERN)?;
        let view = self
            .readable(&p, "name", &consent_name(ids[0], ids[1]))
            .await?;
        let revision: i64 = ids[2]
            .parse()
            .map_err(|_| ApiError::NotFound(name.clone()))?;
        let r = self
            .store
            .get_revision(&view.consent.tenant, &view.consent.id, revision)
            .await?
            .ok_or(ApiError::NotFound(name))?;
        Ok(revision_msg(&r))
    }

    async fn do_create_representation(
        &self,
        req: Request<CreateRepresentationRequest>,
    ) -> ApiResult<Representation> {
        let p = principal(&req)?;
        let idem = Idem::of(&req.get_ref().request_id, req.get_ref())?;
        let r = req.into_inner();
        let tenant = parse_name("parent", &r.parent, TENANT_PATTERN)?[0].to_string();
        let rep = r
            .representation
            .ok_or_else(|| ApiError::invalid("representation", "required"))?;
        same_tenant_person("representation.guardian", &tenant, &rep.guardian)?;
        same_tenant_person("representation.subject", &tenant, &rep.subject)?;
        let mut v = Violations::new();
        v.text("representation.representative", &rep.representative, 200);
        let unit = units_of(
            "representation.representative_unit",
            &tenant,
            std::slice::from_ref(&rep.representative_unit),
            &mut v,
        );
        let method = method_of("representation.method", rep.method.as_ref(), &p, &mut v);
        let valid_until = rep
            .valid_until
            .as_ref()
            .map(|t| from_timestamp("representation.valid_until", t))
            .transpose()?;
        if valid_until.is_some_and(|u| u <= now()) {
            v.add("representation.valid_until", "must be in the future");
        }
        v.finish()?;
        let is_guardian_self = domain::signed_in_person(&p) == Some(rep.guardian.as_str());
        if !(is_guardian_self || p.is_employee_of(&tenant)) {
            return Err(domain::permission_denied());
        }
        if !self
            .directory
            .guardians(&rep.subject)
            .await?
            .contains(&rep.guardian)
        {
            return Err(ApiError::invalid(
                "representation.guardian",
                "is not a guardian with parental responsibility for the subject",
            ));
        }
        if !self.directory.unit_exists(&unit[0]).await? {
            return Err(ApiError::invalid(
                "representation.representative_unit",
                "unknown unit",
            ));
        }
        let (method, method_reference) = method.expect("validated");
        let at = now();
        let record = RepresentationRecord {
            tenant: tenant.clone(),
            id: new_id(),
            guardian: rep.guardian.clone(),
            subject: rep.subject.clone(),
            representative: rep.representative.trim().to_string(),
            representative_unit: unit[0].clone(),
            method,
            method_reference,
            valid_until,
            revoked: false,
            version: 1,
            create_time: at,
            update_time: at,
        };
        let name = representation_name(&tenant, &record.id);
        let ev = self.event(
            &name,
            &tenant,
            &RepresentationGranted {
                representation: name.clone(),
                subject: record.subject.clone(),
                representative_unit: record.representative_unit.clone(),
                guardian: record.guardian.clone(),
                representative: record.representative.clone(),
            },
        );
        let saved = self.store.create_representation(&record, &idem, ev).await?;
        self.committed(representation_msg(&saved))
    }

    fn may_see_representation(p: &Principal, r: &RepresentationRecord) -> bool {
        p.is_service()
            || p.is_employee_of(&r.tenant)
            || domain::signed_in_person(p) == Some(r.guardian.as_str())
    }

    async fn representation(&self, p: &Principal, name: &str) -> ApiResult<RepresentationRecord> {
        let ids = parse_name("name", name, REPRESENTATION_PATTERN)?;
        match self.store.get_representation(ids[0], ids[1]).await? {
            Some(r) if Self::may_see_representation(p, &r) => Ok(r),
            _ => Err(ApiError::NotFound(name.to_string())),
        }
    }

    async fn do_list_representations(
        &self,
        req: Request<ListRepresentationsRequest>,
    ) -> ApiResult<ListRepresentationsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let tenant = parse_name("parent", &r.parent, TENANT_PATTERN)?[0].to_string();
        if !(p.is_service() || p.tenant() == Some(&tenant)) {
            return Err(domain::permission_denied());
        }
        let query = ["ListRepresentations", r.parent.as_str(), r.subject.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_representations(
                &tenant,
                &r.subject,
                after.as_deref().unwrap_or(""),
                size + 1,
            )
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        Ok(ListRepresentationsResponse {
            representations: rows
                .iter()
                .filter(|r| Self::may_see_representation(&p, r))
                .map(representation_msg)
                .collect(),
            next_page_token,
        })
    }

    async fn do_revoke_representation(
        &self,
        req: Request<RevokeRepresentationRequest>,
    ) -> ApiResult<Representation> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let mut record = self.representation(&p, &r.name).await?;
        if p.is_service() {
            return Err(domain::permission_denied());
        }
        check_etag(&r.name, &r.etag, record.version)?;
        if record.revoked {
            return Err(ApiError::precondition(
                "ALREADY_REVOKED",
                &r.name,
                "the representation is already revoked",
            ));
        }
        record.revoked = true;
        record.update_time = now();
        let ev = self.event(
            &r.name,
            &record.tenant,
            &RepresentationRevoked {
                representation: r.name.clone(),
                subject: record.subject.clone(),
            },
        );
        let saved = self.store.update_representation(&record, ev).await?;
        self.committed(representation_msg(&saved))
    }
}

#[tonic::async_trait]
impl ConsentService for ConsentApi {
    async fn create_consent(
        &self,
        r: Request<CreateConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        reply(self.do_create_consent(r).await)
    }
    async fn get_consent(
        &self,
        r: Request<GetConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        let result = async {
            let p = principal(&r)?;
            Ok(consent_msg(
                &self.readable(&p, "name", &r.get_ref().name).await?,
            ))
        };
        reply(result.await)
    }
    async fn list_consents(
        &self,
        r: Request<ListConsentsRequest>,
    ) -> Result<Response<ListConsentsResponse>, Status> {
        reply(self.do_list_consents(r).await)
    }
    async fn update_consent(
        &self,
        r: Request<UpdateConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        reply(self.do_update_consent(r).await)
    }
    async fn withdraw_consent(
        &self,
        r: Request<WithdrawConsentRequest>,
    ) -> Result<Response<Consent>, Status> {
        reply(self.do_withdraw_consent(r).await)
    }
    async fn get_consent_revision(
        &self,
        r: Request<GetConsentRevisionRequest>,
    ) -> Result<Response<ConsentRevision>, Status> {
        reply(self.do_get_revision(r).await)
    }
    async fn list_consent_revisions(
        &self,
        r: Request<ListConsentRevisionsRequest>,
    ) -> Result<Response<ListConsentRevisionsResponse>, Status> {
        reply(self.do_list_revisions(r).await)
    }
    async fn check_access(
        &self,
        r: Request<CheckAccessRequest>,
    ) -> Result<Response<CheckAccessResponse>, Status> {
        reply(self.do_check_access(r).await)
    }
    async fn create_representation(
        &self,
        r: Request<CreateRepresentationRequest>,
    ) -> Result<Response<Representation>, Status> {
        reply(self.do_create_representation(r).await)
    }
    async fn get_representation(
        &self,
        r: Request<GetRepresentationRequest>,
    ) -> Result<Response<Representation>, Status> {
        let result = async {
            let p = principal(&r)?;
            Ok(representation_msg(
                &self.representation(&p, &r.get_ref().name).await?,
            ))
        };
        reply(result.await)
    }
    async fn list_representations(
        &self,
        r: Request<ListRepresentationsRequest>,
    ) -> Result<Response<ListRepresentationsResponse>, Status> {
        reply(self.do_list_representations(r).await)
    }
    async fn revoke_representation(
        &self,
        r: Request<RevokeRepresentationRequest>,
    ) -> Result<Response<Representation>, Status> {
        reply(self.do_revoke_representation(r).await)
    }
}
