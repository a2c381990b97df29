//! Input validation: a client registration and a new referral, every
//! violation reported at once, every free-text field through
//! [`Violations::text`] or [`Violations::optional_text`] (bounded, no control
//! characters). National ids are never echoed.

use bti_proto::gateway::referral::Content;
use bti_proto::gateway::referral_subject::Identity;
use bti_proto::gateway::{Attachment, Client, Referral, ReferralKind};
use bti_runtime::Violations;
use bti_runtime::ids::{
    parse_national_id, validate_municipality_number, validate_organization_number,
};
use chrono::{DateTime, Utc};

use super::fiks::{self, Expected};
use super::*;

/// Paths a client update may name.
pub const CLIENT_UPDATE_PATHS: [&str; 7] = [
    "display_name",
    "tenants",
    "scopes",
    "unit",
    "certificate_sha256",
    "rate_limit_per_second",
    "disabled",
];

/// The registration `c` describes (id, version and times for the caller to
/// set), adding what is wrong with it to `v`. A rate of 0 is `default_rate`.
pub fn client_record(
    c: &Client,
    default_rate: i32,
    now: DateTime<Utc>,
    v: &mut Violations,
) -> ClientRecord {
    v.text("client.display_name", &c.display_name, MAX_NAME);
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
    match UnitName::parse("client.unit", &c.unit) {
        Ok(u) if !c.tenants.contains(&u.tenant) => {
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
    ClientRecord {
        id: String::new(),
        display_name: c.display_name.trim().to_string(),
        organization_number: c.organization_number.clone(),
        tenants: tenants.join(" "),
        scopes: scopes.join(" "),
        unit: c.unit.clone(),
        certificate_sha256: cert,
        rate_limit_per_second: if c.rate_limit_per_second == 0 {
            default_rate
        } else {
            c.rate_limit_per_second
        },
        disabled: c.disabled,
        version: 1,
        create_time: now,
        update_time: now,
    }
}

/// `current` with the fields of `update` that `paths` name (checked against
/// [`CLIENT_UPDATE_PATHS`]), to be validated as a whole.
pub fn merge_client(mut current: Client, update: &Client, paths: &[String]) -> Client {
    for path in paths {
        match path.as_str() {
            "display_name" => current.display_name = update.display_name.clone(),
            "tenants" => current.tenants = update.tenants.clone(),
            "scopes" => current.scopes = update.scopes.clone(),
            "unit" => current.unit = update.unit.clone(),
            "certificate_sha256" => current.certificate_sha256 = update.certificate_sha256.clone(),
            "rate_limit_per_second" => current.rate_limit_per_second = update.rate_limit_per_second,
            "disabled" => current.disabled = update.disabled,
            _ => {}
        }
    }
    current
}

/// A referral's content as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentInput {
    /// [`STRUCTURED`] or [`FIKS`].
    pub kind: &'static str,
    pub concern: String,
    pub background: String,
    pub guardians_informed: bool,
    pub fiks_json: String,
}

/// A new referral, validated.
#[derive(Debug)]
pub struct ReferralInput {
    pub tenant: String,
    pub kind: ReferralKind,
    pub external_reference: String,
    /// The subject's national id (the mother's for an unborn child); empty
    /// only when a violation says so.
    pub national_id: String,
    pub unborn: bool,
    /// The request field holding the national id.
    pub id_field: &'static str,
    pub content: ContentInput,
    pub restricted: bool,
    pub legal_basis: String,
    /// Their `meta.referral` is for the caller to set.
    pub attachments: Vec<NewAttachment>,
}

/// Validates a new referral, adding every violation to `v`, and moves the
/// attachments' bytes out of `r` (a request may carry tens of MiB: no
/// copies).
pub fn referral_input(
    r: &mut Referral,
    max_attachment_bytes: usize,
    v: &mut Violations,
) -> ReferralInput {
    v.check("referral.tenant", validate_municipality_number(&r.tenant));
    let kind = ReferralKind::try_from(r.kind).unwrap_or_default();
    if kind == ReferralKind::Unspecified {
        v.add("referral.kind", "required");
    }
    v.text(
        "referral.external_reference",
        &r.external_reference,
        MAX_NAME,
    );
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
    let expected = Expected {
        tenant: &r.tenant,
        national_id,
        unborn,
    };
    let content = content_input(r.content.as_ref(), kind, &expected, v);
    if r.restricted {
        v.text("referral.legal_basis", &r.legal_basis, MAX_SHORT);
    } else if !r.legal_basis.is_empty() {
        v.add("referral.legal_basis", "only for a restricted referral");
    }
    let national_id = national_id.unwrap_or_default().to_string();
    let attachments = attachments(&mut r.attachments, max_attachment_bytes, v);
    ReferralInput {
        tenant: r.tenant.clone(),
        kind,
        external_reference: r.external_reference.trim().into(),
        national_id,
        unborn,
        id_field,
        content,
        restricted: r.restricted,
        legal_basis: r.legal_basis.trim().into(),
        attachments,
    }
}

fn content_input(
    content: Option<&Content>,
    kind: ReferralKind,
    expected: &Expected,
    v: &mut Violations,
) -> ContentInput {
    let mut out = ContentInput {
        kind: STRUCTURED,
        concern: String::new(),
        background: String::new(),
        guardians_informed: false,
        fiks_json: String::new(),
    };
    match content {
        Some(Content::Structured(s)) => {
            v.text("referral.structured.concern", &s.concern, MAX_TEXT);
            v.optional_text("referral.structured.background", &s.background, MAX_TEXT);
            out.concern = s.concern.trim().to_string();
            out.background = s.background.trim().to_string();
            out.guardians_informed = s.guardians_informed;
        }
        Some(Content::FiksBekymringsmeldingJson(doc)) => {
            const FIELD: &str = "referral.fiks_bekymringsmelding_json";
            if kind != ReferralKind::ChildWelfareReport && kind != ReferralKind::Unspecified {
                v.add(
                    "referral.kind",
                    "a Fiks bekymringsmelding is a child-welfare report",
                );
            }
            match fiks::validate(doc, expected) {
                Err(violations) => {
                    for f in violations {
                        v.add(format!("{FIELD}#{}", f.pointer), f.description);
                    }
                }
                Ok(facts) => {
                    out.kind = FIKS;
                    out.guardians_informed = facts.guardians_informed;
                    out.fiks_json = doc.clone();
                }
            }
        }
        None => v.add(
            "referral.content",
            "required: structured or fiks_bekymringsmelding_json",
        ),
    }
    out
}

/// Checks the attachments: at most [`MAX_ATTACHMENTS`] PDFs within the size
/// limit, each matching its SHA-256; takes the bytes of those that pass.
fn attachments(
    attachments: &mut [Attachment],
    max_bytes: usize,
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
        v.text(&f("filename"), &a.filename, MAX_FILENAME);
        if a.filename.contains(['/', '\\']) {
            v.add(f("filename"), "must not contain a path");
        }
        if a.content_type != "application/pdf" {
            v.add(f("content_type"), "must be application/pdf");
        }
        if a.data.len() > max_bytes {
            v.add(
                f("data"),
                format!("larger than the limit of {max_bytes} bytes"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use bti_proto::gateway::{ReferralContent, ReferralSubject};
    use bti_runtime::ApiError;

    /// A synthetic fødselsnummer (the first child of the KS example fixture).
    const NID: &str = "28871350045";

    fn fields(v: Violations) -> Vec<String> {
        match v.finish() {
            Ok(()) => Vec::new(),
            Err(ApiError::InvalidArgument(f)) => f.into_iter().map(|f| f.field).collect(),
            Err(e) => panic!("{e:?}"),
        }
    }

    fn referral(content: Content) -> Referral {
        Referral {
            tenant: "4201".into(),
            kind: ReferralKind::ChildWelfareReport as i32,
            external_reference: "BV-1".into(),
            subject: Some(ReferralSubject {
                identity: Some(Identity::NationalId(NID.into())),
            }),
            content: Some(content),
            ..Default::default()
        }
    }

    fn structured(concern: &str, background: &str) -> Content {
        Content::Structured(ReferralContent {
            concern: concern.into(),
            background: background.into(),
            guardians_informed: true,
        })
    }

    #[test]
    fn a_good_referral_passes_trimmed() {
        let mut r = referral(structured(" Uro. ", "Lenge.\nSidan hausten.\r\n"));
        let mut v = Violations::new();
        let input = referral_input(&mut r, 1024, &mut v);
        assert!(fields(v).is_empty());
        assert_eq!(input.content.concern, "Uro.");
        assert_eq!(input.content.kind, STRUCTURED);
        assert_eq!(input.national_id, NID);
        assert_eq!(input.id_field, "referral.subject.national_id");
    }

    #[test]
    fn every_free_text_field_refuses_control_characters() {
        let nul = "a\u{0}b";
        let mut r = referral(structured(nul, nul));
        r.external_reference = nul.into();
        r.restricted = true;
        r.legal_basis = nul.into();
        r.attachments = vec![Attachment {
            filename: nul.into(),
            content_type: "application/pdf".into(),
            sha256: sha256_hex(b"%PDF-1"),
            data: b"%PDF-1".to_vec(),
            size_bytes: 0,
        }];
        let mut v = Violations::new();
        referral_input(&mut r, 1024, &mut v);
        assert_eq!(
            fields(v),
            vec![
                "referral.external_reference",
                "referral.structured.concern",
                "referral.structured.background",
                "referral.legal_basis",
                "referral.attachments[0].filename",
            ]
        );
        let mut v = Violations::new();
        client_record(
            &Client {
                display_name: nul.into(),
                organization_number: "974760673".into(),
                tenants: vec!["4201".into()],
                scopes: vec![SCOPE_REFERRALS_WRITE.into()],
                unit: "tenants/4201/units/barnevern".into(),
                ..Default::default()
            },
            DEFAULT_RATE,
            Utc::now(),
            &mut v,
        );
        assert_eq!(fields(v), vec!["client.display_name"]);
    }

    #[test]
    fn a_fiks_document_is_checked_against_the_referral_all_at_once() {
        let mut doc: serde_json::Value = serde_json::from_str(&fiks::example_document()).unwrap();
        doc["offentligBarn"][0]["fnr"] = NID.into();
        doc["kommunenummer"] = "1103".into();
        doc["bydelsnummer"] = "1".into();
        let mut r = referral(Content::FiksBekymringsmeldingJson(doc.to_string()));
        r.kind = ReferralKind::Ppt as i32;
        let mut v = Violations::new();
        referral_input(&mut r, 1024, &mut v);
        assert_eq!(
            fields(v),
            vec![
                "referral.kind",
                "referral.fiks_bekymringsmelding_json#/bydelsnummer",
                "referral.fiks_bekymringsmelding_json#/kommunenummer",
            ]
        );
    }

    #[test]
    fn client_updates_merge_the_named_fields_only() {
        let current = Client {
            display_name: "Gamal".into(),
            disabled: false,
            rate_limit_per_second: 5,
            ..Default::default()
        };
        let update = Client {
            display_name: "Ny".into(),
            disabled: true,
            rate_limit_per_second: 9,
            ..Default::default()
        };
        let merged = merge_client(current, &update, &["disabled".into()]);
        assert!(merged.disabled);
        assert_eq!(merged.display_name, "Gamal");
        assert_eq!(merged.rate_limit_per_second, 5);
    }
}
