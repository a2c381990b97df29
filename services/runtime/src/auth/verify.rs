//! Bearer-token verification against the configured issuers, and the tower
//! layer that puts the verified principal on each request.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use super::*;
use crate::error::{ApiError, ApiResult};

/// Asymmetric algorithms only: a shared-secret or `none` token is never accepted.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

struct IssuerKeys {
    config: IssuerConfig,
    keys: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    fetched: Option<Instant>,
}

/// Verifies bearer tokens against the configured issuers.
pub struct Verifier {
    audience: String,
    leeway: u64,
    max_lifetime: i64,
    max_service_lifetime: i64,
    issuers: RwLock<Vec<IssuerKeys>>,
    http: reqwest::Client,
    verified: std::sync::Mutex<HashMap<[u8; 32], (Principal, i64, Instant)>>,
}

/// Tokens remembered as verified (by SHA-256), before the memory is cleared.
const VERIFIED_CAPACITY: usize = 8192;
/// How long a token counts as verified before its signature is checked again.
const VERIFIED_FOR: Duration = Duration::from_secs(60);

const REFRESH_EVERY: Duration = Duration::from_secs(600);
const MIN_REFETCH: Duration = Duration::from_secs(30);

impl Verifier {
    pub async fn new(config: &AuthConfig) -> anyhow::Result<Arc<Self>> {
        let verifier = Verifier {
            audience: config.audience.clone(),
            leeway: config.leeway_secs,
            max_lifetime: config.max_token_lifetime_secs,
            max_service_lifetime: config.max_service_token_lifetime_secs,
            issuers: RwLock::new(
                config
                    .issuers
                    .iter()
                    .map(|c| IssuerKeys {
                        config: c.clone(),
                        keys: HashMap::new(),
                        fetched: None,
                    })
                    .collect(),
            ),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            verified: std::sync::Mutex::new(HashMap::new()),
        };
        // Load file-based keys eagerly so a bad path fails at start-up.
        let count = config.issuers.len();
        for i in 0..count {
            if config.issuers[i].jwks_path.is_some() {
                verifier.refresh(i).await?;
            }
        }
        Ok(Arc::new(verifier))
    }

    async fn load_jwks(&self, cfg: &IssuerConfig) -> anyhow::Result<JwkSet> {
        if let Some(path) = &cfg.jwks_path {
            let raw = tokio::fs::read(path).await?;
            return Ok(serde_json::from_slice(&raw)?);
        }
        if let Some(url) = &cfg.jwks_url {
            return Ok(self
                .http
                .get(url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?);
        }
        anyhow::bail!("issuer {} has neither jwks_url nor jwks_path", cfg.issuer)
    }

    pub(super) async fn refresh(&self, index: usize) -> anyhow::Result<()> {
        let cfg = self.issuers.read().await[index].config.clone();
        let set = self.load_jwks(&cfg).await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (key, alg));
                }
                Err(e) => tracing::warn!(issuer = %cfg.issuer, error = %e, "skipping unusable JWK"),
            }
        }
        let mut issuers = self.issuers.write().await;
        issuers[index].keys = keys;
        issuers[index].fetched = Some(Instant::now());
        // A key that left the set must stop vouching for its tokens now.
        self.verified.lock().expect("verified tokens").clear();
        Ok(())
    }

    /// Verifies a compact JWS and returns the principal it names. A token
    /// seen in the last minute is not verified again (the same bytes carry
    /// the same signature) unless the key set was refreshed since; its expiry
    /// is checked on every call.
    pub async fn verify(&self, token: &str) -> ApiResult<Principal> {
        let digest = digest(token);
        if let Some(principal) = self.remembered(&digest, chrono::Utc::now().timestamp()) {
            return Ok(principal);
        }
        let (principal, exp) = self.verify_signed(token).await?;
        let mut verified = self.verified.lock().expect("verified tokens");
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(digest, (principal.clone(), exp, Instant::now()));
        Ok(principal)
    }

    /// The principal of a token verified in the last minute, if it has not
    /// expired at `now`.
    fn remembered(&self, digest: &[u8; 32], now: i64) -> Option<Principal> {
        let verified = self.verified.lock().expect("verified tokens");
        let (principal, exp, at) = verified.get(digest)?;
        (now <= exp.saturating_add(self.leeway as i64) && at.elapsed() < VERIFIED_FOR)
            .then(|| principal.clone())
    }

    #[cfg(test)]
    pub(super) fn remembered_valid(&self, token: &str, now: i64) -> bool {
        self.remembered(&digest(token), now).is_some()
    }

    async fn verify_signed(&self, token: &str) -> ApiResult<(Principal, i64)> {
        let unauth = |m: &str| ApiError::Unauthenticated(m.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|_| unauth("malformed token"))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(unauth("token algorithm not allowed"));
        }
        // Peek at `iss` (unverified) only to pick the key set.
        let iss = unverified_issuer(token).ok_or_else(|| unauth("malformed token"))?;
        let index = {
            let issuers = self.issuers.read().await;
            issuers
                .iter()
                .position(|i| i.config.issuer == iss)
                .ok_or_else(|| unauth("untrusted issuer"))?
        };
        let kid = header.kid.clone().unwrap_or_default();
        let needs_fetch = {
            let issuers = self.issuers.read().await;
            let entry = &issuers[index];
            let stale = entry.fetched.is_none_or(|t| t.elapsed() > REFRESH_EVERY);
            let unknown = !entry.keys.contains_key(&kid)
                && entry.fetched.is_none_or(|t| t.elapsed() > MIN_REFETCH);
            stale || unknown
        };
        if needs_fetch && let Err(e) = self.refresh(index).await {
            tracing::warn!(issuer = %iss, error = %e, "JWKS refresh failed");
        }
        let issuers = self.issuers.read().await;
        let (key, key_alg) = issuers[index]
            .keys
            .get(&kid)
            .ok_or_else(|| unauth("unknown signing key"))?;
        if key_alg.is_some_and(|a| a != header.alg) {
            return Err(unauth("token algorithm does not match its key"));
        }
        let audience = issuers[index]
            .config
            .audience
            .as_deref()
            .unwrap_or(&self.audience);
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[&iss]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        // `sub` is checked per principal kind: client tokens have none.
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => unauth("token expired"),
                ErrorKind::InvalidAudience => unauth("token audience not accepted"),
                ErrorKind::InvalidIssuer => unauth("untrusted issuer"),
                ErrorKind::ImmatureSignature => unauth("token not yet valid"),
                _ => unauth("invalid token"),
            }
        })?;
        let (exp, iat) = (data.claims.exp, data.claims.iat);
        let principal = principal_from_claims(data.claims)
            .map_err(|m| ApiError::Unauthenticated(format!("token claims: {m}")))?;
        // A stolen token must not work for ever: refuse lifetimes beyond the
        // configured maximum, counted from issue (or from now, without `iat`).
        let now = chrono::Utc::now().timestamp();
        let max = if principal.is_service() {
            self.max_service_lifetime
        } else {
            self.max_lifetime
        };
        if exp.saturating_sub(iat.unwrap_or(now).min(now)) > max.saturating_add(self.leeway as i64)
        {
            return Err(unauth("token lifetime exceeds the allowed maximum"));
        }
        let allowed = &issuers[index].config.principals;
        if !allowed.is_empty() && !allowed.iter().any(|k| k == principal.kind()) {
            return Err(unauth("this issuer may not assert this kind of principal"));
        }
        Ok((principal, exp))
    }
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

fn unverified_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let raw = URL_SAFE_NO_PAD.decode(payload).ok()?;
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&raw).ok().map(|i| i.iss)
}

/// gRPC paths that are served without a token: health checks and reflection.
pub fn is_public_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// Tower layer that verifies `authorization: Bearer …` and attaches the
/// [`Principal`] to the request, answering UNAUTHENTICATED itself otherwise.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<Verifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<Verifier>) -> Self {
        AuthLayer { verifier }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

impl<S, B, RB> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // Take the service that was polled ready, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            if is_public_path(req.uri().path()) {
                return inner.call(req).await;
            }
            // The caller's deadline bounds the calls made while serving it.
            let deadline = req
                .headers()
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .and_then(crate::deadline::parse_grpc_timeout)
                .map(|t| std::time::Instant::now() + t);
            let token = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .map(str::to_string);
            let result = match token {
                None => Err(ApiError::Unauthenticated("missing bearer token".into())),
                Some(t) => verifier.verify(&t).await,
            };
            match result {
                Ok(principal) => {
                    tracing::Span::current().record("principal", principal.kind());
                    req.extensions_mut().insert(principal);
                    crate::deadline::scope(deadline, inner.call(req)).await
                }
                Err(e) => {
                    let status: tonic::Status = e.into();
                    Ok(status.into_http())
                }
            }
        })
    }
}
