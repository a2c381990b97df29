//! Authentication: JWT verification against configured issuers (JWKS from a
//! URL, a file or inline), the principal types every service authorizes
//! against, the tower layer that puts the principal on each request, and the
//! local token issuer `bti dev` uses.
//!
//! Authorization decisions stay in the services; this module only says *who*.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

mod issuer;
mod verify;

pub use issuer::*;
pub use verify::*;

/// A role an employee holds, from the `roles` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Employee,
    UnitLeader,
    MunicipalAdmin,
}

/// Who is calling. Built from a verified token only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A municipal employee: their tenant, the units they work in (resource
    /// names `tenants/{t}/units/{u}`) and their roles.
    Employee {
        subject: String,
        tenant: String,
        units: Vec<String>,
        roles: Vec<Role>,
    },
    /// A guardian, identified as a directory person (`tenants/{t}/persons/{p}`).
    Guardian {
        subject: String,
        tenant: String,
        person: String,
    },
    /// A youth reading their own affairs, as a directory person.
    Youth {
        subject: String,
        tenant: String,
        person: String,
    },
    /// An external system client (Maskinporten-style client credentials).
    Client {
        client_id: String,
        organization_number: String,
        scopes: Vec<String>,
    },
    /// Another BTI service or an operator tool.
    Service { name: String, scopes: Vec<String> },
}

/// Scope that lets an internal principal administer tenants (operators).
pub const SCOPE_ADMIN: &str = "bti.admin";

/// Scope of the gateway service when it calls the relay log on an external
/// client's behalf (attach referrals, summaries, routing look-ups).
pub const SCOPE_GATEWAY: &str = "bti.gateway";

impl Principal {
    /// A short label for access logs and traces: kind and subject, never names.
    pub fn label(&self) -> String {
        match self {
            Principal::Employee { subject, .. } => format!("employee:{subject}"),
            Principal::Guardian { subject, .. } => format!("guardian:{subject}"),
            Principal::Youth { subject, .. } => format!("youth:{subject}"),
            Principal::Client { client_id, .. } => format!("client:{client_id}"),
            Principal::Service { name, .. } => format!("service:{name}"),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Employee { .. } => "employee",
            Principal::Guardian { .. } => "guardian",
            Principal::Youth { .. } => "youth",
            Principal::Client { .. } => "client",
            Principal::Service { .. } => "service",
        }
    }

    /// The tenant of an employee, guardian or youth.
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Principal::Employee { tenant, .. }
            | Principal::Guardian { tenant, .. }
            | Principal::Youth { tenant, .. } => Some(tenant),
            _ => None,
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        matches!(self, Principal::Employee { roles, .. } if roles.contains(&role))
    }

    /// An employee of `tenant` with `role`.
    pub fn is_tenant_role(&self, tenant: &str, role: Role) -> bool {
        self.tenant() == Some(tenant) && self.has_role(role)
    }

    /// An employee of `tenant` (any role).
    pub fn is_employee_of(&self, tenant: &str) -> bool {
        matches!(self, Principal::Employee { tenant: t, .. } if t == tenant)
    }

    /// An employee working in `unit` (a resource name).
    pub fn works_in(&self, unit: &str) -> bool {
        matches!(self, Principal::Employee { units, .. } if units.iter().any(|u| u == unit))
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        match self {
            Principal::Client { scopes, .. } | Principal::Service { scopes, .. } => {
                scopes.iter().any(|s| s == scope)
            }
            _ => false,
        }
    }

    /// An internal service (any scope).
    pub fn is_service(&self) -> bool {
        matches!(self, Principal::Service { .. })
    }
}

/// The principal the auth layer attached to a request.
pub fn principal<T>(req: &tonic::Request<T>) -> ApiResult<Principal> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ApiError::Unauthenticated("missing bearer token".into()))
}

/// Who called, as the application layer sees it: the verified principal and,
/// over mutual TLS, the SHA-256 (hex) of the client's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    pub certificate_sha256: Option<String>,
}

impl Caller {
    pub fn of<T>(req: &tonic::Request<T>) -> ApiResult<Caller> {
        use sha2::Digest;
        Ok(Caller {
            principal: principal(req)?,
            certificate_sha256: req.peer_certs().and_then(|certs| {
                certs
                    .first()
                    .map(|c| crate::api::hex(&sha2::Sha256::digest(c.as_ref())))
            }),
        })
    }
}

impl std::ops::Deref for Caller {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

/// Claims we read. Unknown claims are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// Required of people and services; Maskinporten's client tokens carry
    /// none (the client is `client_id`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    #[serde(default)]
    pub aud: Option<serde_json::Value>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `employee`, `guardian`, `youth` or `service`; absent for Maskinporten
    /// client tokens, recognised by their `consumer` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bti_principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    /// Space-separated scopes (OAuth2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Maskinporten's consumer: `{"authority": "iso6523-actorid-upis", "ID": "0192:<orgno>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<Consumer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Consumer {
    pub authority: String,
    #[serde(rename = "ID")]
    pub id: String,
}

fn principal_from_claims(c: Claims) -> Result<Principal, String> {
    let scopes = || {
        c.scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    if let Some(consumer) = &c.consumer {
        let org = consumer
            .id
            .strip_prefix("0192:")
            .ok_or("consumer.ID must be 0192:<organisation number>")?;
        crate::ids::validate_organization_number(org)
            .map_err(|e| format!("consumer organisation number {e}"))?;
        let client_id = c
            .client_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| c.sub.clone());
        if client_id.is_empty() {
            return Err("missing client_id claim".into());
        }
        return Ok(Principal::Client {
            client_id,
            organization_number: org.to_string(),
            scopes: scopes(),
        });
    }
    if c.sub.is_empty() {
        return Err("missing sub claim".into());
    }
    let tenant = || c.tenant.clone().ok_or("missing tenant claim");
    let person = || c.person.clone().ok_or("missing person claim");
    match c.bti_principal.as_deref() {
        Some("employee") => Ok(Principal::Employee {
            subject: c.sub.clone(),
            tenant: tenant()?,
            units: c.units.clone(),
            roles: c.roles.clone(),
        }),
        Some("guardian") => Ok(Principal::Guardian {
            subject: c.sub.clone(),
            tenant: tenant()?,
            person: person()?,
        }),
        Some("youth") => Ok(Principal::Youth {
            subject: c.sub.clone(),
            tenant: tenant()?,
            person: person()?,
        }),
        Some("service") => Ok(Principal::Service {
            name: c.sub.clone(),
            scopes: scopes(),
        }),
        _ => Err("unknown principal type".into()),
    }
}

/// One trusted token issuer.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IssuerConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Where its signing keys are: an https URL, refreshed periodically.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Or a JWKS file on disk (for example a mounted secret).
    #[serde(default)]
    pub jwks_path: Option<PathBuf>,
    /// Principal kinds this issuer may assert (`employee`, `guardian`,
    /// `youth`, `client`, `service`); empty means any. Keeps, say, the
    /// municipality's identity provider from minting external-client tokens,
    /// and Maskinporten to clients only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Expected `aud` of this issuer's tokens, when not `auth.audience`
    /// (Maskinporten puts the `resource` the client asked for there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuthConfig {
    /// Expected `aud`.
    #[serde(default = "default_audience")]
    pub audience: String,
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
    /// Allowed clock skew.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Longest lifetime (`exp` − `iat`) accepted for the tokens of people
    /// and external clients.
    #[serde(default = "default_max_lifetime")]
    pub max_token_lifetime_secs: i64,
    /// Longest lifetime accepted for service and operator tokens.
    #[serde(default = "default_max_service_lifetime")]
    pub max_service_token_lifetime_secs: i64,
}

fn default_max_lifetime() -> i64 {
    24 * 3600
}

fn default_max_service_lifetime() -> i64 {
    7 * 24 * 3600
}

fn default_audience() -> String {
    "bti".into()
}

fn default_leeway() -> u64 {
    30
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            audience: default_audience(),
            issuers: Vec::new(),
            leeway_secs: default_leeway(),
            max_token_lifetime_secs: default_max_lifetime(),
            max_service_token_lifetime_secs: default_max_service_lifetime(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use std::sync::Arc;

    async fn setup() -> (tempdir::Dir, LocalIssuer, Arc<Verifier>) {
        let dir = tempdir::Dir::new();
        let issuer = LocalIssuer::open(dir.path()).unwrap();
        let verifier = Verifier::new(&AuthConfig {
            issuers: vec![issuer.issuer_config()],
            ..AuthConfig::default()
        })
        .await
        .unwrap();
        (dir, issuer, verifier)
    }

    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!("bti-auth-{}", uuid::Uuid::new_v4()));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[tokio::test]
    async fn verifies_dev_tokens_for_every_persona() {
        let (_d, issuer, verifier) = setup().await;
        let emp = issuer
            .sign(personas::employee(
                "e1",
                "4201",
                &["tenants/4201/units/u1"],
                &[Role::UnitLeader],
            ))
            .unwrap();
        let p = verifier.verify(&emp).await.unwrap();
        assert!(p.is_tenant_role("4201", Role::UnitLeader));
        assert!(p.works_in("tenants/4201/units/u1"));
        let client = issuer
            .sign(personas::client("c1", "974760673", "bti:referrals.write"))
            .unwrap();
        assert_eq!(
            verifier.verify(&client).await.unwrap(),
            Principal::Client {
                client_id: "c1".into(),
                organization_number: "974760673".into(),
                scopes: vec!["bti:referrals.write".into()],
            }
        );
        let op = issuer.sign(personas::operator()).unwrap();
        assert!(verifier.verify(&op).await.unwrap().has_scope(SCOPE_ADMIN));
    }

    #[tokio::test]
    async fn an_issuer_asserts_only_the_principal_kinds_it_is_trusted_for() {
        let dir = tempdir::Dir::new();
        let idp = LocalIssuer::open_named(dir.path(), "idp", true).unwrap();
        let maskinporten = LocalIssuer::open_named(dir.path(), "maskinporten", true).unwrap();
        let only = |i: &LocalIssuer, kinds: &[&str]| IssuerConfig {
            principals: kinds.iter().map(|k| k.to_string()).collect(),
            ..i.issuer_config()
        };
        let verifier = Verifier::new(&AuthConfig {
            issuers: vec![
                only(&idp, &["employee", "guardian", "youth"]),
                only(&maskinporten, &["client"]),
            ],
            ..AuthConfig::default()
        })
        .await
        .unwrap();
        let client = personas::client("c1", "974760673", "bti:referrals.write");
        let employee = personas::employee("e1", "4201", &[], &[Role::Employee]);
        assert!(
            verifier
                .verify(&maskinporten.sign(client.clone()).unwrap())
                .await
                .is_ok()
        );
        assert!(
            verifier
                .verify(&idp.sign(employee.clone()).unwrap())
                .await
                .is_ok()
        );
        for token in [
            idp.sign(client).unwrap(),
            maskinporten.sign(employee).unwrap(),
            idp.sign(personas::operator()).unwrap(),
        ] {
            assert!(matches!(
                verifier.verify(&token).await,
                Err(ApiError::Unauthenticated(_))
            ));
        }
    }

    #[tokio::test]
    async fn rejects_expired_foreign_tampered_and_hmac_tokens() {
        let (_d, issuer, verifier) = setup().await;
        let expired = issuer
            .sign(Claims {
                exp: chrono::Utc::now().timestamp() - 3600,
                ..personas::operator()
            })
            .unwrap();
        assert!(
            matches!(verifier.verify(&expired).await, Err(ApiError::Unauthenticated(m)) if m.contains("expired"))
        );

        // Same claims signed by another key (a second dev issuer with the same name).
        let (_d2, other, _) = setup().await;
        let foreign = other.sign(personas::operator()).unwrap();
        assert!(verifier.verify(&foreign).await.is_err());

        // Payload swapped after signing.
        let good = issuer.sign(personas::service("svc", "a")).unwrap();
        let admin = issuer.sign(personas::operator()).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let admin_payload = admin.split('.').nth(1).unwrap();
        let tampered = format!("{}.{}.{}", parts[0], admin_payload, parts[2]);
        assert!(verifier.verify(&tampered).await.is_err());

        // HS256 with the public JWKS as secret (algorithm confusion) is refused.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                iss: DEV_ISSUER.into(),
                ..personas::operator()
            },
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert!(verifier.verify(&hs).await.is_err());
        assert!(verifier.verify("not-a-token").await.is_err());
    }

    /// A token verified once is taken from memory on the next call, but not
    /// once its key has left the issuer's key set, nor after it expired.
    #[tokio::test]
    async fn a_remembered_token_stops_counting_when_its_key_goes() {
        let dir = tempdir::Dir::new();
        let idp = LocalIssuer::open_named(dir.path(), "idp", true).unwrap();
        let verifier = Verifier::new(&AuthConfig {
            issuers: vec![idp.issuer_config()],
            ..AuthConfig::default()
        })
        .await
        .unwrap();
        let token = idp
            .sign(personas::employee("e1", "4201", &[], &[Role::Employee]))
            .unwrap();
        for _ in 0..2 {
            assert!(verifier.verify(&token).await.is_ok());
        }
        // The issuer rotates: its key set now holds only a new key.
        std::fs::remove_file(dir.path().join("idp.ed25519.pk8")).unwrap();
        let rotated = LocalIssuer::open_named(dir.path(), "idp", true).unwrap();
        verifier.refresh(0).await.unwrap();
        assert!(matches!(
            verifier.verify(&token).await,
            Err(ApiError::Unauthenticated(_))
        ));
        let fresh = rotated
            .sign(personas::employee("e1", "4201", &[], &[Role::Employee]))
            .unwrap();
        assert!(verifier.verify(&fresh).await.is_ok());
        // Remembered, yet expired: refused on the first call after `exp`.
        let short = rotated
            .sign(Claims {
                exp: chrono::Utc::now().timestamp() + 1,
                ..personas::employee("e2", "4201", &[], &[Role::Employee])
            })
            .unwrap();
        assert!(verifier.verify(&short).await.is_ok());
        let later = chrono::Utc::now().timestamp() + 2 + AuthConfig::default().leeway_secs as i64;
        assert!(!verifier.remembered_valid(&short, later));
        assert!(verifier.remembered_valid(&fresh, later));
    }

    #[tokio::test]
    async fn accepts_maskinporten_shaped_client_tokens_without_sub() {
        let dir = tempdir::Dir::new();
        let mut mp = LocalIssuer::open_named(dir.path(), "maskinporten", true).unwrap();
        mp.audience = "https://bti.example/gateway".into();
        let verifier = Verifier::new(&AuthConfig {
            issuers: vec![IssuerConfig {
                principals: vec!["client".into()],
                audience: Some(mp.audience.clone()),
                ..mp.issuer_config()
            }],
            ..AuthConfig::default()
        })
        .await
        .unwrap();
        // As Maskinporten issues them: no `sub`, the client in `client_id`.
        let token = mp
            .sign(Claims {
                sub: String::new(),
                ..personas::client("c1", "974760673", "bti:referrals.write")
            })
            .unwrap();
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let raw: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert!(raw.get("sub").is_none(), "the token under test has no sub");
        assert_eq!(
            verifier.verify(&token).await.unwrap(),
            Principal::Client {
                client_id: "c1".into(),
                organization_number: "974760673".into(),
                scopes: vec!["bti:referrals.write".into()],
            }
        );
        // Neither a client id nor a subject: nobody to check the registration of.
        let anonymous = mp
            .sign(Claims {
                sub: String::new(),
                client_id: None,
                ..personas::client("c1", "974760673", "bti:referrals.write")
            })
            .unwrap();
        assert!(matches!(
            verifier.verify(&anonymous).await,
            Err(ApiError::Unauthenticated(m)) if m.contains("client_id")
        ));
        // The issuer's own audience replaces the global one for its tokens.
        mp.audience = "bti".into();
        let global_aud = mp
            .sign(personas::client("c1", "974760673", "bti:referrals.write"))
            .unwrap();
        assert!(verifier.verify(&global_aud).await.is_err());
    }

    #[tokio::test]
    async fn token_lifetimes_beyond_the_maximum_are_refused() {
        let (_d, issuer, verifier) = setup().await;
        let now = chrono::Utc::now().timestamp();
        let with_exp = |exp: i64, claims: Claims| issuer.sign(Claims { exp, ..claims }).unwrap();
        let employee = || personas::employee("e1", "4201", &[], &[Role::Employee]);
        let client = || personas::client("c1", "974760673", "bti:referrals.write");
        // A day is fine for people and clients; 2^62 is not, nor two days.
        assert!(
            verifier
                .verify(&with_exp(now + 24 * 3600, employee()))
                .await
                .is_ok()
        );
        assert!(
            verifier
                .verify(&with_exp(now + 24 * 3600, client()))
                .await
                .is_ok()
        );
        for claims in [employee(), client()] {
            for exp in [1i64 << 62, now + 2 * 24 * 3600] {
                assert!(matches!(
                    verifier.verify(&with_exp(exp, claims.clone())).await,
                    Err(ApiError::Unauthenticated(m)) if m.contains("lifetime")
                ));
            }
        }
        // Service tokens may live a week (the dev operator token), not more.
        assert!(
            verifier
                .verify(&with_exp(now + 7 * 24 * 3600, personas::operator()))
                .await
                .is_ok()
        );
        assert!(
            verifier
                .verify(&with_exp(1 << 62, personas::operator()))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn people_and_services_need_a_subject() {
        let (_d, issuer, verifier) = setup().await;
        for claims in [
            personas::employee("", "4201", &[], &[Role::Employee]),
            personas::service("", "a"),
        ] {
            let t = issuer.sign(claims).unwrap();
            assert!(matches!(
                verifier.verify(&t).await,
                Err(ApiError::Unauthenticated(m)) if m.contains("sub")
            ));
        }
    }

    #[tokio::test]
    async fn rejects_wrong_audience_and_bad_client_org() {
        let (_d, issuer, verifier) = setup().await;
        let mut wrong_aud = LocalIssuer::open(_d.path()).unwrap();
        wrong_aud.audience = "other".into();
        let t = wrong_aud.sign(personas::operator()).unwrap();
        assert!(verifier.verify(&t).await.is_err());
        let bad_org = issuer
            .sign(personas::client("c1", "974760674", "x"))
            .unwrap();
        assert!(verifier.verify(&bad_org).await.is_err());
    }
}
