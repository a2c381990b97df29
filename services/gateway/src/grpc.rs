//! gRPC surface of the gateway.

use std::sync::Arc;

use bti_proto::caselog::{AttachedReferral, CaseLogSummary, Level};
use bti_proto::gateway::gateway_service_server::{GatewayService, GatewayServiceServer};
use bti_proto::gateway::referral::Content;
use bti_proto::gateway::referral_subject::Identity;
use bti_proto::gateway::*;
use bti_runtime::api::{
    PageToken, check_etag, etag, new_id, now, page_size, paginate, parse_name, timestamp,
    update_paths, validate_resource_id,
};
use bti_runtime::auth::{Principal, Role, SCOPE_ADMIN, principal};
use bti_runtime::db::{Claim, Idem};
use bti_runtime::events::{OutboxEvent, OutboxSignal};
use bti_runtime::ids::{
    parse_national_id, validate_municipality_number, validate_organization_number,
};
use bti_runtime::peers::{ConsentChecker, Directory};
use bti_runtime::{ApiError, ApiResult, Violations};
use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use crate::domain::*;
use crate::fiks;
use crate::limit::{ClientLimit, Limits};
use crate::store::{Begun, GatewayStore, NewAttachment};
use bti_runtime::peers::CaseLog as RelayLog;
use bti_runtime::peers::caselog::Attach;

/// Limits of the gateway, from the `[gateway]` configuration section.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Largest PDF attachment accepted.
    pub max_attachment_bytes: usize,
    /// Largest request message decoded (attachments included).
    pub max_request_bytes: usize,
    /// Requests per second for a client registered without a rate.
    pub default_rate_per_second: u32,
    /// Calls in flight per client.
    pub max_in_flight_per_client: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_attachment_bytes: 10 * 1024 * 1024,
            max_request_bytes: 32 * 1024 * 1024,
            default_rate_per_second: DEFAULT_RATE as u32,
            max_in_flight_per_client: 8,
        }
    }
}

/// The peers the gateway asks.
#[derive(Clone)]
pub struct Peers {
    pub directory: Directory,
    pub consent: ConsentChecker,
    pub relay: RelayLog,
}

/// The gateway's gRPC API.
#[derive(Clone)]
pub struct GatewayApi {
    store: Arc<dyn GatewayStore>,
    peers: Peers,
    limits: Arc<Limits>,
    outbox: OutboxSignal,
    cfg: GatewayConfig,
}

fn reply<T>(result: ApiResult<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

fn enum_of<E: Copy + Into<i32>>(parse: fn(&str) -> Option<E>, s: &str) -> i32 {
    parse(s).map_or(0, Into::into)
}

fn client_msg(c: &ClientRecord) -> Client {
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

fn referral_msg(
    r: &ReferralRecord,
    attachments: &[AttachmentRecord],
    at: DateTime<Utc>,
) -> Referral {
    let content = if r.content_kind == "fiks" {
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

/// The referral without its content and attachments: for those who may know
/// it exists but not read it.
fn withheld(mut m: Referral) -> Referral {
    m.content = None;
    m.attachments.clear();
    m.content_withheld = true;
    m
}

/// Whether intake staff see a waiting referral's content: unit leaders do,
/// unless it is restricted (then only the leader of the unit it is assigned
/// to, or the relay log's holder and leaders, read it); the municipal
/// administrator follows the flow without reading content.
fn intake_content_visible(p: &Principal, r: &ReferralRecord) -> bool {
    p.is_tenant_role(&r.tenant, Role::UnitLeader) && !r.is_restricted()
}

/// The basis an access to `r` rests on: its legal basis while it is
/// restricted, else `otherwise` (why this caller may see it at all).
fn basis(r: &ReferralRecord, otherwise: &str) -> String {
    if r.is_restricted() {
        format!("legal basis: {}", r.legal_basis)
    } else {
        otherwise.to_string()
    }
}

/// Why a client reads its own referral.
fn own_basis(r: &ReferralRecord) -> String {
    basis(r, "own referral")
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

/// The relay log's summary, as an external system gets it.
fn subject_summary(s: CaseLogSummary) -> SubjectSummary {
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
                        bti_proto::caselog::EvaluationDecision::try_from(e.decision)
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

fn access(
    referral: &str,
    actor: &Principal,
    action: &str,
    purpose: &str,
    basis: &str,
) -> AccessRecord {
    AccessRecord {
        id: new_id(),
        referral: referral.to_string(),
        actor: actor.label(),
        action: action.to_string(),
        purpose: purpose.to_string(),
        basis: basis.to_string(),
        create_time: now(),
    }
}

fn client_label(id: &str) -> String {
    format!("client:{id}")
}

/// The municipality of an employee who runs intake: a unit leader or the
/// municipal administrator.
fn intake_staff(p: &Principal, tenant: &str) -> bool {
    p.is_tenant_role(tenant, Role::UnitLeader) || p.is_tenant_role(tenant, Role::MunicipalAdmin)
}

/// Who may administer client registrations: the operator, or a municipal
/// administrator for a client that acts for their municipality only.
fn may_administer(p: &Principal, c: &ClientRecord) -> bool {
    if p.is_service() && p.has_scope(SCOPE_ADMIN) {
        return true;
    }
    match p.tenant() {
        Some(t) if p.has_role(Role::MunicipalAdmin) => {
            c.tenant_list() == [t] && c.unit_tenant() == t
        }
        _ => false,
    }
}

fn may_see_client(p: &Principal, c: &ClientRecord) -> bool {
    (p.is_service() && p.has_scope(SCOPE_ADMIN))
        || p.tenant()
            .is_some_and(|t| p.has_role(Role::MunicipalAdmin) && c.acts_for(t))
}

impl GatewayApi {
    pub fn new(
        store: Arc<dyn GatewayStore>,
        peers: Peers,
        outbox: OutboxSignal,
        cfg: GatewayConfig,
    ) -> Self {
        let limits = Limits::new(cfg.default_rate_per_second, cfg.max_in_flight_per_client);
        GatewayApi {
            store,
            peers,
            limits,
            outbox,
            cfg,
        }
    }

    /// The service with its per-client quotas and request size limit.
    pub fn into_server(self) -> ClientLimit<GatewayServiceServer<Self>> {
        let limits = self.limits.clone();
        let max = self.cfg.max_request_bytes;
        ClientLimit::new(
            GatewayServiceServer::new(self).max_decoding_message_size(max),
            limits,
        )
    }

    pub fn store(&self) -> &Arc<dyn GatewayStore> {
        &self.store
    }

    /// The registered client behind a client token with `scope`, checked
    /// against its registration (organisation, scopes, disabled, pinned
    /// certificate). Sets its rate on the quota layer.
    async fn caller<T>(&self, req: &Request<T>, scope: &str) -> ApiResult<ClientRecord> {
        let p = principal(req)?;
        let Principal::Client {
            client_id,
            organization_number,
            scopes,
        } = &p
        else {
            return Err(ApiError::PermissionDenied(
                "only registered external systems call this method".into(),
            ));
        };
        let c = self
            .store
            .client(client_id)
            .await?
            .ok_or_else(|| ApiError::PermissionDenied("the client is not registered".into()))?;
        if c.disabled {
            return Err(ApiError::PermissionDenied("the client is disabled".into()));
        }
        if &c.organization_number != organization_number {
            return Err(ApiError::PermissionDenied(
                "the token's organisation is not the registered client's".into(),
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            return Err(ApiError::PermissionDenied(format!(
                "the token lacks the scope {scope}"
            )));
        }
        if !c.allows_scope(scope) {
            return Err(ApiError::PermissionDenied(format!(
                "the client is not granted the scope {scope}"
            )));
        }
        if !c.certificate_sha256.is_empty() {
            let presented = req
                .peer_certs()
                .and_then(|certs| certs.first().map(|c| sha256_hex(c.as_ref())));
            if presented.as_deref() != Some(c.certificate_sha256.as_str()) {
                return Err(ApiError::PermissionDenied(
                    "the client certificate is not the registered one".into(),
                ));
            }
        }
        self.limits
            .set_rate(&c.id, c.rate_limit_per_second.max(1) as u32);
        Ok(c)
    }

    fn event<M: prost::Name>(&self, subject: &str, tenant: &str, payload: &M) -> OutboxEvent {
        OutboxEvent::new(SOURCE, subject, tenant, payload)
    }

    // ---- client registry ----

    async fn validate_client(&self, c: &Client, v: &mut Violations) -> ClientRecord {
        v.text("client.display_name", &c.display_name, 200);
        v.check(
            "client.organization_number",
            validate_organization_number(&c.organization_number),
        );
        if c.tenants.is_empty() {
            v.add("client.tenants", "at least one municipality");
        }
        for (i, t) in c.tenants.iter().enumerate() {
            v.check(
                &format!("client.tenants[{i}]"),
                validate_municipality_number(t),
            );
        }
        if c.scopes.is_empty() {
            v.add("client.scopes", "at least one scope");
        }
        for (i, s) in c.scopes.iter().enumerate() {
            if !KNOWN_SCOPES.contains(&s.as_str()) {
                v.add(
                    format!("client.scopes[{i}]"),
                    format!("must be one of {}", KNOWN_SCOPES.join(", ")),
                );
            }
        }
        match parse_name("client.unit", &c.unit, UNIT_PATTERN) {
            Ok(ids) if !c.tenants.iter().any(|t| t == ids[0]) => {
                v.add("client.unit", "must be a unit of one of its municipalities")
            }
            Ok(_) => {}
            Err(_) => v.add("client.unit", "must be tenants/{tenant}/units/{unit}"),
        }
        let cert = c.certificate_sha256.to_ascii_lowercase();
        if !cert.is_empty() && (cert.len() != 64 || !cert.bytes().all(|b| b.is_ascii_hexdigit())) {
            v.add("client.certificate_sha256", "must be 64 hex digits");
        }
        if !(0..=MAX_RATE).contains(&c.rate_limit_per_second) {
            v.add(
                "client.rate_limit_per_second",
                format!("must be 0 (default) to {MAX_RATE}"),
            );
        }
        let mut tenants: Vec<&str> = c.tenants.iter().map(String::as_str).collect();
        tenants.dedup();
        let mut scopes: Vec<&str> = c.scopes.iter().map(String::as_str).collect();
        scopes.sort_unstable();
        scopes.dedup();
        let t = now();
        ClientRecord {
            id: String::new(),
            display_name: c.display_name.trim().to_string(),
            organization_number: c.organization_number.clone(),
            tenants: tenants.join(" "),
            scopes: scopes.join(" "),
            unit: c.unit.clone(),
            certificate_sha256: cert,
            rate_limit_per_second: if c.rate_limit_per_second == 0 {
                self.cfg.default_rate_per_second as i32
            } else {
                c.rate_limit_per_second
            },
            disabled: c.disabled,
            version: 1,
            create_time: t,
            update_time: t,
        }
    }

    async fn require_unit(&self, unit: &str) -> ApiResult<()> {
        if self.peers.directory.unit_exists(unit).await? {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "client.unit",
                "no such unit in the directory",
            ))
        }
    }

    async fn do_create_client(&self, req: Request<CreateClientRequest>) -> ApiResult<Client> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let c = r
            .client
            .ok_or_else(|| ApiError::invalid("client", "required"))?;
        let mut v = Violations::new();
        v.check("client_id", validate_resource_id(&r.client_id));
        let mut record = self.validate_client(&c, &mut v).await;
        v.finish()?;
        record.id = r.client_id.clone();
        if !may_administer(&p, &record) {
            return Err(ApiError::PermissionDenied(
                "clients are registered by the operator, or by a municipal administrator for their own municipality".into(),
            ));
        }
        self.require_unit(&record.unit).await?;
        let event = self.event(
            &record.name(),
            record.unit_tenant(),
            &ClientChanged {
                client: record.name(),
            },
        );
        self.store.create_client(&record, event).await?;
        self.outbox.wake();
        Ok(client_msg(&record))
    }

    async fn visible_client(
        &self,
        p: &Principal,
        field: &str,
        name: &str,
    ) -> ApiResult<ClientRecord> {
        let id = parse_name(field, name, CLIENT_PATTERN)?[0].to_string();
        match self.store.client(&id).await? {
            Some(c) if may_see_client(p, &c) => Ok(c),
            _ => Err(ApiError::NotFound(name.to_string())),
        }
    }

    async fn do_list_clients(
        &self,
        req: Request<ListClientsRequest>,
    ) -> ApiResult<ListClientsResponse> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let operator = p.is_service() && p.has_scope(SCOPE_ADMIN);
        let tenant = match p.tenant() {
            _ if operator => r.tenant.clone(),
            Some(t)
                if p.has_role(Role::MunicipalAdmin) && (r.tenant.is_empty() || r.tenant == t) =>
            {
                t.to_string()
            }
            _ => {
                return Err(ApiError::PermissionDenied(
                    "clients are listed by the operator or a municipal administrator of the municipality".into(),
                ));
            }
        };
        let query = ["ListClients", tenant.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let after = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .list_clients(&tenant, after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |c| c.id.clone(), &query);
        Ok(ListClientsResponse {
            clients: rows.iter().map(client_msg).collect(),
            next_page_token,
        })
    }

    async fn do_update_client(&self, req: Request<UpdateClientRequest>) -> ApiResult<Client> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let c = r
            .client
            .ok_or_else(|| ApiError::invalid("client", "required"))?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &[
                "display_name",
                "tenants",
                "scopes",
                "unit",
                "certificate_sha256",
                "rate_limit_per_second",
                "disabled",
            ],
        )?;
        let current = self.visible_client(&p, "client.name", &c.name).await?;
        if !may_administer(&p, &current) {
            return Err(ApiError::PermissionDenied(
                "only the operator may change a client acting for several municipalities".into(),
            ));
        }
        check_etag(&c.name, &c.etag, current.version)?;
        // Validate the merged registration as a whole.
        let mut merged = client_msg(&current);
        for path in &paths {
            match path.as_str() {
                "display_name" => merged.display_name = c.display_name.clone(),
                "tenants" => merged.tenants = c.tenants.clone(),
                "scopes" => merged.scopes = c.scopes.clone(),
                "unit" => merged.unit = c.unit.clone(),
                "certificate_sha256" => merged.certificate_sha256 = c.certificate_sha256.clone(),
                "rate_limit_per_second" => merged.rate_limit_per_second = c.rate_limit_per_second,
                "disabled" => merged.disabled = c.disabled,
                _ => {}
            }
        }
        let mut v = Violations::new();
        let mut record = self.validate_client(&merged, &mut v).await;
        v.finish()?;
        record.id = current.id.clone();
        record.create_time = current.create_time;
        record.version = current.version + 1;
        if !may_administer(&p, &record) {
            return Err(ApiError::PermissionDenied(
                "a municipal administrator registers clients for their own municipality only"
                    .into(),
            ));
        }
        if record.unit != current.unit {
            self.require_unit(&record.unit).await?;
        }
        let event = self.event(
            &record.name(),
            record.unit_tenant(),
            &ClientChanged {
                client: record.name(),
            },
        );
        self.store
            .update_client(&record, current.version, event)
            .await?;
        self.outbox.wake();
        Ok(client_msg(&record))
    }

    // ---- referrals ----

    /// Checks the attachments and moves their bytes out of `r` (a request
    /// may carry tens of MiB: no copies).
    fn validate_attachments(
        &self,
        attachments: &mut [Attachment],
        v: &mut Violations,
    ) -> Vec<NewAttachment> {
        if attachments.len() > MAX_ATTACHMENTS {
            v.add(
                "referral.attachments",
                format!("at most {MAX_ATTACHMENTS} attachments"),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for (i, a) in attachments.iter_mut().enumerate() {
            let f = |name: &str| format!("referral.attachments[{i}].{name}");
            v.text(&f("filename"), &a.filename, 255);
            if a.filename.contains(['/', '\\']) {
                v.add(f("filename"), "must not contain a path");
            }
            if a.content_type != "application/pdf" {
                v.add(f("content_type"), "must be application/pdf");
            }
            if a.data.len() > self.cfg.max_attachment_bytes {
                v.add(
                    f("data"),
                    format!(
                        "larger than the limit of {} bytes",
                        self.cfg.max_attachment_bytes
                    ),
                );
                continue;
            }
            if !looks_like_pdf(&a.data) {
                v.add(f("data"), "is not a PDF document");
                continue;
            }
            let sum = sha256_hex(&a.data);
            if a.sha256.to_ascii_lowercase() != sum {
                v.add(f("sha256"), "does not match the SHA-256 of data");
                continue;
            }
            out.push(NewAttachment {
                meta: AttachmentRecord {
                    referral: String::new(),
                    position: i as i32,
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    sha256: sum,
                    size_bytes: a.data.len() as i64,
                },
                data: std::mem::take(&mut a.data),
            });
        }
        out
    }

    async fn do_create_referral(&self, req: Request<CreateReferralRequest>) -> ApiResult<Referral> {
        let c = self.caller(&req, SCOPE_REFERRALS_WRITE).await?;
        let p = principal(&req)?;
        if req.get_ref().request_id.is_empty() {
            return Err(ApiError::invalid("request_id", "required: a UUID"));
        }
        let mut q = req.into_inner();
        // The fingerprint leaves the attachments' bytes out (encoding them
        // again would copy tens of MiB); their SHA-256 fields stand for them.
        // A first create checks them against the bytes before it claims the
        // key, so a replay answers with what was stored for matching bytes.
        let bytes: Vec<Vec<u8>> = q
            .referral
            .iter_mut()
            .flat_map(|r| r.attachments.iter_mut())
            .map(|a| std::mem::take(&mut a.data))
            .collect();
        let idem = Idem::of(&q.request_id, &q)?;
        let mut r = q
            .referral
            .ok_or_else(|| ApiError::invalid("referral", "required"))?;
        for (a, data) in r.attachments.iter_mut().zip(bytes) {
            a.data = data;
        }
        let scope = format!("CreateReferral/{}", c.id);
        // A retry answers with the first result before anything it was
        // checked against (the registration, the directory) is asked again.
        if let Some(request_id) = &idem.request_id {
            let stored = self.store.idempotency_key(&scope, request_id).await?;
            if let Claim::Replay(existing) = idem.judge(stored)? {
                return self.created(self.stored(&existing).await?, &p).await;
            }
        }

        let mut v = Violations::new();
        v.check("referral.tenant", validate_municipality_number(&r.tenant));
        let kind = ReferralKind::try_from(r.kind).unwrap_or_default();
        if kind == ReferralKind::Unspecified {
            v.add("referral.kind", "required");
        }
        v.text("referral.external_reference", &r.external_reference, 200);
        let (national_id, unborn) = match r.subject.as_ref().and_then(|s| s.identity.as_ref()) {
            Some(Identity::NationalId(id)) => (Some(id.as_str()), false),
            Some(Identity::UnbornChildOf(id)) => (Some(id.as_str()), true),
            None => {
                v.add(
                    "referral.subject",
                    "required: national_id or unborn_child_of",
                );
                (None, false)
            }
        };
        let id_field = if unborn {
            "referral.subject.unborn_child_of"
        } else {
            "referral.subject.national_id"
        };
        if let Some(nid) = national_id
            && parse_national_id(nid).is_err()
        {
            // Never echo the value.
            v.add(
                id_field,
                "not a valid national id (fødselsnummer or D-number)",
            );
        }
        let mut content = (
            "structured",
            String::new(),
            String::new(),
            false,
            String::new(),
        );
        match &r.content {
            Some(Content::Structured(s)) => {
                v.text("referral.structured.concern", &s.concern, MAX_TEXT);
                if s.background.chars().count() > MAX_TEXT {
                    v.add(
                        "referral.structured.background",
                        format!("at most {MAX_TEXT} characters"),
                    );
                }
                content.1 = s.concern.trim().to_string();
                content.2 = s.background.trim().to_string();
                content.3 = s.guardians_informed;
            }
            Some(Content::FiksBekymringsmeldingJson(doc)) => {
                const FIELD: &str = "referral.fiks_bekymringsmelding_json";
                if kind != ReferralKind::ChildWelfareReport && kind != ReferralKind::Unspecified {
                    v.add(
                        "referral.kind",
                        "a Fiks bekymringsmelding is a child-welfare report",
                    );
                }
                match fiks::validate(doc) {
                    Err(violations) => {
                        for f in violations {
                            v.add(format!("{FIELD}#{}", f.pointer), f.description);
                        }
                    }
                    Ok(facts) => {
                        if facts.kommunenummer != r.tenant {
                            v.add(
                                format!("{FIELD}#/kommunenummer"),
                                "does not match referral.tenant",
                            );
                        }
                        if let Some(nid) = national_id
                            && !unborn
                            && !facts.child_national_ids.iter().any(|f| f == nid)
                        {
                            v.add(
                                format!("{FIELD}#/offentligBarn"),
                                "no child in the document has the national id of referral.subject",
                            );
                        }
                        if unborn && !facts.unborn {
                            v.add(
                                format!("{FIELD}#/offentligBarn"),
                                "the subject is an unborn child but no child in the document is unborn",
                            );
                        }
                        content = (
                            "fiks",
                            String::new(),
                            String::new(),
                            facts.guardians_informed,
                            doc.clone(),
                        );
                    }
                }
            }
            None => v.add(
                "referral.content",
                "required: structured or fiks_bekymringsmelding_json",
            ),
        }
        if r.restricted {
            v.text("referral.legal_basis", &r.legal_basis, MAX_SHORT);
        } else if !r.legal_basis.is_empty() {
            v.add("referral.legal_basis", "only for a restricted referral");
        }
        let mut attachments = self.validate_attachments(&mut r.attachments, &mut v);
        v.finish()?;
        if !c.acts_for(&r.tenant) {
            return Err(ApiError::PermissionDenied(
                "the client may not act for this municipality".into(),
            ));
        }
        let national_id = national_id.unwrap_or_default();
        let person = self
            .peers
            .directory
            .lookup_person(&r.tenant, national_id)
            .await?
            .ok_or_else(|| {
                ApiError::precondition(
                    "SUBJECT_NOT_IN_DIRECTORY",
                    id_field,
                    "the municipality's directory has no person with this national id",
                )
            })?;
        let t = now();
        let record = ReferralRecord {
            id: new_id(),
            client: c.id.clone(),
            request_id: idem.request_id.clone().unwrap_or_default(),
            tenant: r.tenant.clone(),
            person,
            subject_kind: if unborn { "UNBORN_CHILD" } else { "CHILD" }.into(),
            kind: kind.as_str_name().into(),
            external_reference: r.external_reference.trim().into(),
            from_organization: c.organization_number.clone(),
            from_unit: c.unit.clone(),
            content_kind: content.0.into(),
            concern: content.1,
            background: content.2,
            guardians_informed: content.3,
            fiks_json: content.4,
            restricted: r.restricted,
            legal_basis: r.legal_basis.trim().into(),
            lift_time: None,
            status: ReferralStatus::Submitted.as_str_name().into(),
            feedback: String::new(),
            placement: PENDING.into(),
            case_log: String::new(),
            attached_referral: String::new(),
            assigned_unit: String::new(),
            investigation_extended: false,
            received_time: None,
            investigation_time: None,
            closed_time: None,
            missed: String::new(),
            version: 1,
            create_time: t,
            update_time: t,
        };
        for a in &mut attachments {
            a.meta.referral = record.id.clone();
        }
        let row = access(
            &record.id,
            &p,
            "CREATE",
            "CreateReferral: received",
            &basis(&record, "sent by the client"),
        );
        let record = match self
            .store
            .begin_referral(&scope, &idem, &record, &attachments, &row)
            .await?
        {
            Begun::New => record,
            // A racing retry claimed the key first.
            Begun::Replay(existing) => self.stored(&existing).await?,
        };
        self.created(record, &p).await
    }

    /// The referral a claimed request id names.
    async fn stored(&self, id: &str) -> ApiResult<ReferralRecord> {
        self.store
            .referral(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(referral_name(id)))
    }

    /// The answer to a create: the referral, settled if still pending.
    async fn created(&self, record: ReferralRecord, p: &Principal) -> ApiResult<Referral> {
        let settled = if record.is_pending() {
            self.settle(record).await?
        } else {
            record
        };
        let attachments = self.attachment_meta(&settled, p).await?;
        Ok(referral_msg(&settled, &attachments, now()))
    }

    async fn attachment_meta(
        &self,
        r: &ReferralRecord,
        p: &Principal,
    ) -> ApiResult<Vec<AttachmentRecord>> {
        let row = access(
            &r.id,
            p,
            "READ",
            "CreateReferral: the stored result",
            &own_basis(r),
        );
        Ok(self
            .store
            .read_referral(&r.id, &row)
            .await?
            .map(|(_, a)| a)
            .unwrap_or_default())
    }

    /// Routes a pending referral: onto the subject's active relay log when
    /// it is restricted (no consent needed) or consent covers the sender's
    /// unit, else into the municipality's intake. Safe to run twice: the
    /// relay log's attach is idempotent by the referral's id, and only one
    /// settle is recorded.
    pub async fn settle(&self, mut r: ReferralRecord) -> ApiResult<ReferralRecord> {
        // A client speaks on a relay log through a unit of the log's own
        // municipality; one registered for several (an inter-municipal
        // service) sends the others' referrals to their intake.
        let log = if unit_tenant(&r.from_unit) == r.tenant {
            self.peers.relay.active_log(&r.tenant, &r.person).await?
        } else {
            None
        };
        let mut placed = None;
        if let Some(log) = log {
            let eligible = r.restricted
                || self
                    .peers
                    .consent
                    .relay_log_revision(&r.person, &r.from_unit)
                    .await?
                    .is_some();
            if eligible {
                let attached = AttachedReferral {
                    referral: r.name(),
                    kind: enum_of(bti_proto::caselog::ReferralKind::from_str_name, &r.kind),
                    restricted: r.restricted,
                    legal_basis: r.legal_basis.clone(),
                    from_organization: r.from_organization.clone(),
                    from_unit: r.from_unit.clone(),
                    client: client_name(&r.client),
                    ..Default::default()
                };
                if let Attach::Attached(a) =
                    self.peers.relay.attach(&log.name, attached, &r.id).await?
                {
                    placed = Some((log.name, a.name));
                }
            }
        }
        let (placement, purpose) = match placed {
            Some((log, attached)) => {
                r.case_log = log;
                r.attached_referral = attached;
                (
                    Placement::CaseLog,
                    "CreateReferral: attached to the relay log",
                )
            }
            None => (Placement::Intake, "CreateReferral: placed in intake"),
        };
        r.placement = placement.as_str_name().into();
        r.update_time = now();
        let row = AccessRecord {
            id: new_id(),
            referral: r.id.clone(),
            actor: client_label(&r.client),
            action: "UPDATE".into(),
            purpose: purpose.into(),
            basis: basis(&r, "sent by the client"),
            create_time: now(),
        };
        let event = self.event(
            &r.name(),
            &r.tenant,
            &ReferralReceived {
                referral: r.name(),
                tenant: r.tenant.clone(),
                kind: enum_of(ReferralKind::from_str_name, &r.kind),
                placement: placement as i32,
                case_log: r.case_log.clone(),
                restricted: r.restricted,
            },
        );
        if self.store.settle_referral(&r, &row, event).await? {
            self.outbox.wake();
            r.version += 1;
            Ok(r)
        } else {
            // A racing retry settled it first: that is the result.
            self.store
                .referral(&r.id)
                .await?
                .ok_or_else(|| ApiError::NotFound(r.name()))
        }
    }

    /// Settles referrals left pending (a create that failed half-way and was
    /// not retried) and reports deadlines newly missed. Returns how many
    /// referrals it changed.
    pub async fn sweep(&self) -> ApiResult<usize> {
        let mut changed = 0;
        let stale = now() - chrono::Duration::seconds(30);
        // One referral that cannot be settled now must not hold up the rest.
        for r in self.store.pending(stale, 100).await? {
            let id = r.id.clone();
            match self.settle(r).await {
                Ok(_) => changed += 1,
                Err(e) => {
                    tracing::warn!(referral = %id, error = %e, "settling a pending referral failed")
                }
            }
        }
        let at = now();
        let mut after = String::new();
        loop {
            let batch = self.store.open_reports("", &after, 200).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            for r in batch {
                let missed: Vec<&str> = r
                    .deadlines(at)
                    .iter()
                    .filter(|d| d.overdue && !r.missed.split_whitespace().any(|m| m == d.kind))
                    .map(|d| d.kind)
                    .collect();
                if missed.is_empty() {
                    continue;
                }
                let mut updated = r.clone();
                updated.missed = r
                    .missed
                    .split_whitespace()
                    .chain(missed.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" ");
                let events = missed
                    .iter()
                    .map(|k| {
                        self.event(
                            &r.name(),
                            &r.tenant,
                            &DeadlineMissed {
                                referral: r.name(),
                                kind: k.to_string(),
                            },
                        )
                    })
                    .collect();
                match self
                    .store
                    .update_referral(&updated, r.version, None, events)
                    .await
                {
                    // A concurrent change: the next sweep sees the new version.
                    Err(ApiError::EtagMismatch(_)) => continue,
                    other => other?,
                }
                changed += 1;
            }
        }
        if changed > 0 {
            self.outbox.wake();
        }
        Ok(changed)
    }

    /// A client's call that changes nothing still shows it the referral: a
    /// read, logged as one.
    async fn unchanged(
        &self,
        p: &Principal,
        current: &ReferralRecord,
        purpose: &str,
    ) -> ApiResult<Referral> {
        self.log_reads(p, std::slice::from_ref(current), purpose, own_basis)
            .await?;
        Ok(referral_msg(current, &[], now()))
    }

    /// Stores a change to `current` (at its version) with its access row and
    /// event, and answers with the stored result.
    async fn save(
        &self,
        current: &ReferralRecord,
        mut updated: ReferralRecord,
        row: AccessRecord,
        event: OutboxEvent,
    ) -> ApiResult<Referral> {
        updated.version = current.version + 1;
        updated.update_time = now();
        self.store
            .update_referral(&updated, current.version, Some(&row), vec![event])
            .await?;
        self.outbox.wake();
        Ok(referral_msg(&updated, &[], now()))
    }

    /// The caller's own referral, settled first if a create left it pending.
    async fn own_settled(&self, c: &ClientRecord, name: &str) -> ApiResult<ReferralRecord> {
        let r = self.own_referral(c, "name", name).await?;
        if r.is_pending() {
            self.settle(r).await
        } else {
            Ok(r)
        }
    }

    /// The caller's own referral, or NOT_FOUND.
    async fn own_referral(
        &self,
        c: &ClientRecord,
        field: &str,
        name: &str,
    ) -> ApiResult<ReferralRecord> {
        let id = parse_name(field, name, REFERRAL_PATTERN)?[0].to_string();
        match self.store.referral(&id).await? {
            Some(r) if r.client == c.id => Ok(r),
            _ => Err(ApiError::NotFound(name.to_string())),
        }
    }

    /// Why an employee may read a referral, if they may: intake staff while
    /// it waits in intake, the assigned unit, or the relay log's holder and
    /// the leaders of its units. Restricted referrals: leaders and the holder
    /// only.
    async fn employee_basis(&self, p: &Principal, r: &ReferralRecord) -> ApiResult<Option<String>> {
        let Principal::Employee { subject, .. } = p else {
            return Ok(None);
        };
        if !p.is_employee_of(&r.tenant) || r.is_pending() {
            return Ok(None);
        }
        let leader = p.has_role(Role::UnitLeader);
        let allowed = match r.placement() {
            Placement::Intake => intake_staff(p, &r.tenant),
            Placement::Assigned => p.works_in(&r.assigned_unit) && (leader || !r.is_restricted()),
            Placement::CaseLog => match self.peers.relay.active_log(&r.tenant, &r.person).await? {
                Some(log) if log.name == r.case_log => {
                    (log.holder == *subject && p.works_in(&log.holder_unit))
                        || (leader && (p.works_in(&log.unit) || p.works_in(&log.holder_unit)))
                }
                _ => false,
            },
            Placement::Unspecified => false,
        };
        Ok(allowed.then(|| basis(r, "receiving service")))
    }

    async fn do_get_referral(&self, req: Request<GetReferralRequest>) -> ApiResult<Referral> {
        let p = principal(&req)?;
        let name = req.get_ref().name.clone();
        let id = parse_name("name", &name, REFERRAL_PATTERN)?[0].to_string();
        let (basis, withhold) = if matches!(p, Principal::Client { .. }) {
            let c = self.caller(&req, SCOPE_REFERRALS_READ).await?;
            (
                own_basis(&self.own_referral(&c, "name", &name).await?),
                false,
            )
        } else {
            let r = self
                .store
                .referral(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(name.clone()))?;
            let basis = self
                .employee_basis(&p, &r)
                .await?
                .ok_or_else(|| ApiError::NotFound(name.clone()))?;
            let withhold = r.placement() == Placement::Intake && !intake_content_visible(&p, &r);
            (basis, withhold)
        };
        let purpose = if withhold {
            "GetReferral (content withheld)"
        } else {
            "GetReferral"
        };
        let row = access(&id, &p, "READ", purpose, &basis);
        let (r, attachments) = self
            .store
            .read_referral(&id, &row)
            .await?
            .ok_or_else(|| ApiError::NotFound(name.clone()))?;
        let msg = referral_msg(&r, &attachments, now());
        Ok(if withhold { withheld(msg) } else { msg })
    }

    async fn do_list_referrals(
        &self,
        req: Request<ListReferralsRequest>,
    ) -> ApiResult<ListReferralsResponse> {
        let c = self.caller(&req, SCOPE_REFERRALS_READ).await?;
        let p = principal(&req)?;
        let r = req.into_inner();
        let query = ["ListReferrals", c.id.as_str()];
        let size = page_size("page_size", r.page_size)?;
        let before = PageToken::decode("page_token", &r.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .client_referrals(&c.id, before.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        self.log_reads(&p, &rows, "ListReferrals", own_basis)
            .await?;
        let at = now();
        Ok(ListReferralsResponse {
            referrals: rows.iter().map(|r| referral_msg(r, &[], at)).collect(),
            next_page_token,
        })
    }

    async fn log_reads(
        &self,
        p: &Principal,
        rows: &[ReferralRecord],
        method: &str,
        basis: impl Fn(&ReferralRecord) -> String,
    ) -> ApiResult<()> {
        let access: Vec<AccessRecord> = rows
            .iter()
            .map(|r| access(&r.id, p, "READ", method, &basis(r)))
            .collect();
        self.store.log_access(&access).await
    }

    async fn do_report_status(
        &self,
        req: Request<ReportReferralStatusRequest>,
    ) -> ApiResult<Referral> {
        let c = self.caller(&req, SCOPE_REFERRALS_WRITE).await?;
        let p = principal(&req)?;
        let q = req.into_inner();
        let current = self.own_settled(&c, &q.name).await?;
        check_etag(&q.name, &q.etag, current.version)?;
        let to = ReferralStatus::try_from(q.status).unwrap_or_default();
        let step = domain_transition(current.status(), to)?;
        let mut v = Violations::new();
        if to == ReferralStatus::Closed {
            v.text("feedback", &q.feedback, MAX_TEXT);
        } else if !q.feedback.is_empty() {
            v.add("feedback", "only with REFERRAL_STATUS_CLOSED");
        }
        if q.investigation_extended
            && !matches!(
                to,
                ReferralStatus::InvestigationOpened | ReferralStatus::Closed
            )
        {
            v.add(
                "investigation_extended",
                "only once an investigation is opened",
            );
        }
        v.finish()?;
        let extends = q.investigation_extended && !current.investigation_extended;
        if step == Transition::Repeat && !extends {
            return self
                .unchanged(&p, &current, "ReportReferralStatus: unchanged")
                .await;
        }
        let mut updated = current.clone();
        apply_status(
            &mut updated,
            to,
            q.feedback.trim(),
            q.investigation_extended,
            now(),
        );
        let row = access(
            &current.id,
            &p,
            "UPDATE",
            &format!("ReportReferralStatus: {}", to.as_str_name()),
            &own_basis(&current),
        );
        let event = self.event(
            &current.name(),
            &current.tenant,
            &ReferralStatusReported {
                referral: current.name(),
                status: to as i32,
            },
        );
        self.save(&current, updated, row, event).await
    }

    async fn do_lift(&self, req: Request<LiftRestrictionRequest>) -> ApiResult<Referral> {
        let c = self.caller(&req, SCOPE_REFERRALS_WRITE).await?;
        let p = principal(&req)?;
        let q = req.into_inner();
        let current = self.own_settled(&c, &q.name).await?;
        if !current.restricted {
            return Err(ApiError::precondition(
                "NOT_RESTRICTED",
                &q.name,
                "the referral is not restricted",
            ));
        }
        if current.lift_time.is_some() {
            return self
                .unchanged(&p, &current, "LiftRestriction: already lifted")
                .await;
        }
        check_etag(&q.name, &q.etag, current.version)?;
        if !current.attached_referral.is_empty() {
            self.peers.relay.lift(&current.attached_referral).await?;
        }
        let mut updated = current.clone();
        updated.lift_time = Some(now());
        let row = access(
            &current.id,
            &p,
            "UPDATE",
            "LiftRestriction",
            &own_basis(&current),
        );
        let event = self.event(
            &current.name(),
            &current.tenant,
            &RestrictionLifted {
                referral: current.name(),
            },
        );
        self.save(&current, updated, row, event).await
    }

    async fn do_overdue(
        &self,
        req: Request<ListOverdueReferralsRequest>,
    ) -> ApiResult<ListOverdueReferralsResponse> {
        let c = self.caller(&req, SCOPE_REFERRALS_READ).await?;
        let p = principal(&req)?;
        let q = req.into_inner();
        let query = ["ListOverdueReferrals", c.id.as_str()];
        let size = page_size("page_size", q.page_size)?;
        let mut after = PageToken::decode("page_token", &q.page_token, &query)?
            .map(|t| t.after)
            .unwrap_or_default();
        let at = now();
        let mut rows = Vec::new();
        // Overdue is a function of the clock, so it is filtered here over the
        // client's open reports, in id order, until a page and one more is found.
        while rows.len() as i64 <= size {
            let batch = self.store.open_reports(&c.id, &after, 200).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            rows.extend(
                batch
                    .into_iter()
                    .filter(|r| r.deadlines(at).iter().any(|d| d.overdue)),
            );
        }
        rows.truncate(size as usize + 1);
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        self.log_reads(&p, &rows, "ListOverdueReferrals", own_basis)
            .await?;
        Ok(ListOverdueReferralsResponse {
            referrals: rows.iter().map(|r| referral_msg(r, &[], at)).collect(),
            next_page_token,
        })
    }

    async fn do_intake(
        &self,
        req: Request<ListIntakeReferralsRequest>,
    ) -> ApiResult<ListIntakeReferralsResponse> {
        let p = principal(&req)?;
        let q = req.into_inner();
        let tenant = parse_name("parent", &q.parent, TENANT_PATTERN)?[0].to_string();
        if !intake_staff(&p, &tenant) {
            return Err(ApiError::PermissionDenied(
                "the intake list is for the municipality's unit leaders and administrator".into(),
            ));
        }
        let query = ["ListIntakeReferrals", q.parent.as_str()];
        let size = page_size("page_size", q.page_size)?;
        let after = PageToken::decode("page_token", &q.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .intake(&tenant, after.as_deref().unwrap_or(""), size + 1)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        let shown: Vec<bool> = rows.iter().map(|r| intake_content_visible(&p, r)).collect();
        let access: Vec<AccessRecord> = rows
            .iter()
            .zip(&shown)
            .map(|(r, &shown)| {
                let purpose = if shown {
                    "ListIntakeReferrals"
                } else {
                    "ListIntakeReferrals (content withheld)"
                };
                access(&r.id, &p, "READ", purpose, &basis(r, "intake triage"))
            })
            .collect();
        self.store.log_access(&access).await?;
        let at = now();
        Ok(ListIntakeReferralsResponse {
            referrals: rows
                .iter()
                .zip(shown)
                .map(|(r, shown)| {
                    let msg = referral_msg(r, &[], at);
                    if shown { msg } else { withheld(msg) }
                })
                .collect(),
            next_page_token,
        })
    }

    async fn do_list_assigned(
        &self,
        req: Request<ListAssignedReferralsRequest>,
    ) -> ApiResult<ListAssignedReferralsResponse> {
        let p = principal(&req)?;
        let q = req.into_inner();
        let ids = parse_name("parent", &q.parent, UNIT_PATTERN)?;
        if !(p.is_employee_of(ids[0]) && p.works_in(&q.parent)) {
            return Err(ApiError::PermissionDenied(
                "a unit's referrals are listed by those who work in it".into(),
            ));
        }
        let leader = p.has_role(Role::UnitLeader);
        let query = ["ListAssignedReferrals", q.parent.as_str()];
        let size = page_size("page_size", q.page_size)?;
        let after = PageToken::decode("page_token", &q.page_token, &query)?.map(|t| t.after);
        let rows = self
            .store
            .assigned(&q.parent, after.as_deref().unwrap_or(""), size + 1, leader)
            .await?;
        let (rows, next_page_token) = paginate(rows, size, |r| r.id.clone(), &query);
        self.log_reads(&p, &rows, "ListAssignedReferrals", |r| {
            basis(r, "receiving service")
        })
        .await?;
        let at = now();
        Ok(ListAssignedReferralsResponse {
            referrals: rows.iter().map(|r| referral_msg(r, &[], at)).collect(),
            next_page_token,
        })
    }

    async fn do_assign(&self, req: Request<AssignReferralRequest>) -> ApiResult<Referral> {
        let p = principal(&req)?;
        let q = req.into_inner();
        let id = parse_name("name", &q.name, REFERRAL_PATTERN)?[0].to_string();
        let current = match self.store.referral(&id).await? {
            Some(r) if p.is_employee_of(&r.tenant) && !r.is_pending() => r,
            _ => return Err(ApiError::NotFound(q.name.clone())),
        };
        if !intake_staff(&p, &current.tenant) {
            return Err(ApiError::PermissionDenied(
                "referrals are assigned by a unit leader or the municipal administrator".into(),
            ));
        }
        let unit_ids = parse_name("unit", &q.unit, UNIT_PATTERN)?;
        if unit_ids[0] != current.tenant {
            return Err(ApiError::invalid(
                "unit",
                "must be a unit of the referral's municipality",
            ));
        }
        if current.placement() != Placement::Intake {
            return Err(ApiError::precondition(
                "NOT_IN_INTAKE",
                &q.name,
                "only a referral waiting in intake can be assigned",
            ));
        }
        check_etag(&q.name, &q.etag, current.version)?;
        if !self.peers.directory.unit_exists(&q.unit).await? {
            return Err(ApiError::invalid("unit", "no such unit in the directory"));
        }
        let mut updated = current.clone();
        updated.placement = Placement::Assigned.as_str_name().into();
        updated.assigned_unit = q.unit.clone();
        let row = access(
            &id,
            &p,
            "UPDATE",
            "AssignReferral",
            &basis(&current, "intake triage"),
        );
        let event = self.event(
            &current.name(),
            &current.tenant,
            &ReferralAssigned {
                referral: current.name(),
                unit: q.unit.clone(),
            },
        );
        let reads = intake_content_visible(&p, &current)
            || (p.works_in(&q.unit) && p.has_role(Role::UnitLeader));
        let msg = self.save(&current, updated, row, event).await?;
        Ok(if reads { msg } else { withheld(msg) })
    }

    async fn do_summary(
        &self,
        req: Request<GetSubjectSummaryRequest>,
    ) -> ApiResult<SubjectSummary> {
        let c = self.caller(&req, SCOPE_SUMMARIES_READ).await?;
        let q = req.into_inner();
        let mut v = Violations::new();
        v.check("tenant", validate_municipality_number(&q.tenant));
        let nid = match q.subject.as_ref().and_then(|s| s.identity.as_ref()) {
            Some(Identity::NationalId(id)) | Some(Identity::UnbornChildOf(id)) => {
                if parse_national_id(id).is_err() {
                    v.add(
                        "subject",
                        "not a valid national id (fødselsnummer or D-number)",
                    );
                }
                id.clone()
            }
            None => {
                v.add("subject", "required: national_id or unborn_child_of");
                String::new()
            }
        };
        v.finish()?;
        if !c.acts_for(&q.tenant) {
            return Err(ApiError::PermissionDenied(
                "the client may not act for this municipality".into(),
            ));
        }
        // One answer for every way of not having a basis, so the client
        // learns nothing about a subject it may not see.
        let not_found = || ApiError::NotFound("subject summary".into());
        // Consent covers units of the subject's own municipality, and a
        // referral from a unit elsewhere goes to intake, never onto the log.
        if c.unit_tenant() != q.tenant {
            return Err(not_found());
        }
        let person = self
            .peers
            .directory
            .lookup_person(&q.tenant, &nid)
            .await?
            .ok_or_else(not_found)?;
        let log = self
            .peers
            .relay
            .active_log(&q.tenant, &person)
            .await?
            .ok_or_else(not_found)?;
        let basis = self
            .store
            .basis_referral(&c.id, &person, &log.name)
            .await?
            .map(|r| r.name())
            .unwrap_or_default();
        let summary = self
            .peers
            .relay
            .summary(&log.name, &c.unit, &c.name(), &basis)
            .await?
            .ok_or_else(not_found)?;
        Ok(subject_summary(summary))
    }
}

fn domain_transition(from: ReferralStatus, to: ReferralStatus) -> ApiResult<Transition> {
    transition(from, to).map_err(|m| {
        if to == ReferralStatus::Unspecified || to == ReferralStatus::Submitted {
            ApiError::invalid("status", m)
        } else {
            ApiError::precondition("STATUS_CANNOT_GO_BACK", "status", m)
        }
    })
}

#[tonic::async_trait]
impl GatewayService for GatewayApi {
    async fn create_client(
        &self,
        r: Request<CreateClientRequest>,
    ) -> Result<Response<Client>, Status> {
        reply(self.do_create_client(r).await)
    }
    async fn get_client(&self, r: Request<GetClientRequest>) -> Result<Response<Client>, Status> {
        let result = async {
            let p = principal(&r)?;
            let c = self.visible_client(&p, "name", &r.get_ref().name).await?;
            Ok(client_msg(&c))
        };
        reply(result.await)
    }
    async fn list_clients(
        &self,
        r: Request<ListClientsRequest>,
    ) -> Result<Response<ListClientsResponse>, Status> {
        reply(self.do_list_clients(r).await)
    }
    async fn update_client(
        &self,
        r: Request<UpdateClientRequest>,
    ) -> Result<Response<Client>, Status> {
        reply(self.do_update_client(r).await)
    }
    async fn create_referral(
        &self,
        r: Request<CreateReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        reply(self.do_create_referral(r).await)
    }
    async fn get_referral(
        &self,
        r: Request<GetReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        reply(self.do_get_referral(r).await)
    }
    async fn list_referrals(
        &self,
        r: Request<ListReferralsRequest>,
    ) -> Result<Response<ListReferralsResponse>, Status> {
        reply(self.do_list_referrals(r).await)
    }
    async fn report_referral_status(
        &self,
        r: Request<ReportReferralStatusRequest>,
    ) -> Result<Response<Referral>, Status> {
        reply(self.do_report_status(r).await)
    }
    async fn lift_restriction(
        &self,
        r: Request<LiftRestrictionRequest>,
    ) -> Result<Response<Referral>, Status> {
        reply(self.do_lift(r).await)
    }
    async fn list_overdue_referrals(
        &self,
        r: Request<ListOverdueReferralsRequest>,
    ) -> Result<Response<ListOverdueReferralsResponse>, Status> {
        reply(self.do_overdue(r).await)
    }
    async fn list_intake_referrals(
        &self,
        r: Request<ListIntakeReferralsRequest>,
    ) -> Result<Response<ListIntakeReferralsResponse>, Status> {
        reply(self.do_intake(r).await)
    }
    async fn assign_referral(
        &self,
        r: Request<AssignReferralRequest>,
    ) -> Result<Response<Referral>, Status> {
        reply(self.do_assign(r).await)
    }
    async fn list_assigned_referrals(
        &self,
        r: Request<ListAssignedReferralsRequest>,
    ) -> Result<Response<ListAssignedReferralsResponse>, Status> {
        reply(self.do_list_assigned(r).await)
    }
    async fn get_subject_summary(
        &self,
        r: Request<GetSubjectSummaryRequest>,
    ) -> Result<Response<SubjectSummary>, Status> {
        reply(self.do_summary(r).await)
    }
}
