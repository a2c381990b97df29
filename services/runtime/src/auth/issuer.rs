//! The local token issuer (`bti dev`, and service-to-service tokens) and the
//! personas tests and `bti token` sign for.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::*;

/// A token issuer whose Ed25519 key lives in a directory: the local issuer of
/// `bti dev`, and the internal issuer services use to call each other. The key
/// is published as a JWKS file that verifiers trust like any other issuer, so
/// these tokens go through the same verification as the identity provider's.
pub struct LocalIssuer {
    key: EncodingKey,
    kid: String,
    pub issuer: String,
    pub audience: String,
    pub jwks_path: PathBuf,
}

/// Issuer name of `bti dev`'s tokens.
pub const DEV_ISSUER: &str = "bti-dev";
/// Default issuer name of service-to-service tokens in deployments.
pub const INTERNAL_ISSUER: &str = "bti-internal";

impl LocalIssuer {
    /// The dev issuer in `dir`, creating its key on first use.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        Self::open_named(dir, DEV_ISSUER, true)
    }

    /// The issuer `name` with its key `<name>.ed25519.pk8` in `dir`. With
    /// `create`, a missing key is generated (and its JWKS written); without,
    /// a missing key is an error (deployments mount it from a secret).
    pub fn open_named(dir: &Path, name: &str, create: bool) -> anyhow::Result<Self> {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let key_path = dir.join(format!("{name}.ed25519.pk8"));
        let pkcs8 = match std::fs::read(&key_path) {
            Ok(bytes) => bytes,
            Err(_) if create => {
                std::fs::create_dir_all(dir)?;
                let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                    .map_err(|_| anyhow::anyhow!("cannot generate a signing key"))?;
                write_private(&key_path, doc.as_ref())?;
                doc.as_ref().to_vec()
            }
            Err(e) => anyhow::bail!("read signing key {}: {e}", key_path.display()),
        };
        let pair =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| anyhow::anyhow!("bad signing key"))?;
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = {
            use sha2::Digest;
            crate::api::hex(&sha2::Sha256::digest(pair.public_key().as_ref())[..8])
        };
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"
        }))?;
        let jwks_path = dir.join(format!("{name}.jwks.json"));
        if create || !jwks_path.exists() {
            std::fs::write(
                &jwks_path,
                serde_json::to_vec_pretty(&JwkSet { keys: vec![jwk] })?,
            )?;
        }
        Ok(LocalIssuer {
            key: EncodingKey::from_ed_der(&pkcs8),
            kid,
            issuer: name.into(),
            audience: default_audience(),
            jwks_path,
        })
    }

    /// The issuer entry to add to the verifier's configuration.
    pub fn issuer_config(&self) -> IssuerConfig {
        IssuerConfig {
            issuer: self.issuer.clone(),
            jwks_url: None,
            jwks_path: Some(self.jwks_path.clone()),
            principals: Vec::new(),
            audience: None,
        }
    }

    /// Signs `claims`, filling in `iss`, `aud`, `iat` and, if zero, `exp` (12 h).
    pub fn sign(&self, mut claims: Claims) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        claims.iss = self.issuer.clone();
        claims.aud = Some(serde_json::Value::String(self.audience.clone()));
        claims.iat = Some(now);
        if claims.exp == 0 {
            claims.exp = now + 12 * 3600;
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

/// Claims for common dev and test personas.
pub mod personas {
    use super::{Claims, Role};

    pub fn operator() -> Claims {
        Claims {
            sub: "operator".into(),
            bti_principal: Some("service".into()),
            scope: Some(super::SCOPE_ADMIN.into()),
            ..Claims::default()
        }
    }

    pub fn service(name: &str, scopes: &str) -> Claims {
        Claims {
            sub: name.into(),
            bti_principal: Some("service".into()),
            scope: Some(scopes.into()),
            ..Claims::default()
        }
    }

    pub fn employee(subject: &str, tenant: &str, units: &[&str], roles: &[Role]) -> Claims {
        Claims {
            sub: subject.into(),
            bti_principal: Some("employee".into()),
            tenant: Some(tenant.into()),
            units: units.iter().map(|u| u.to_string()).collect(),
            roles: roles.to_vec(),
            ..Claims::default()
        }
    }

    pub fn guardian(subject: &str, tenant: &str, person: &str) -> Claims {
        Claims {
            sub: subject.into(),
            bti_principal: Some("guardian".into()),
            tenant: Some(tenant.into()),
            person: Some(person.into()),
            ..Claims::default()
        }
    }

    pub fn youth(subject: &str, tenant: &str, person: &str) -> Claims {
        Claims {
            bti_principal: Some("youth".into()),
            ..guardian(subject, tenant, person)
        }
    }

    pub fn client(client_id: &str, organization_number: &str, scopes: &str) -> Claims {
        Claims {
            sub: client_id.into(),
            client_id: Some(client_id.into()),
            scope: Some(scopes.into()),
            consumer: Some(super::Consumer {
                authority: "iso6523-actorid-upis".into(),
                id: format!("0192:{organization_number}"),
            }),
            ..Claims::default()
        }
    }
}
