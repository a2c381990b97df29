//! Standard Webhooks signing (https://www.standardwebhooks.com): headers
//! `webhook-id` (kept across retries, so receivers deduplicate),
//! `webhook-timestamp` (seconds since the epoch, of this attempt) and
//! `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256 over
//! "id.timestamp.body">`, one per active secret. Secrets are `whsec_` plus the
//! base64 of the key. After a rotation the previous secret keeps signing
//! until its grace period ends, so receivers can switch without a gap.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

pub const PREFIX: &str = "whsec_";

/// How long a rotated-out secret keeps signing.
pub fn rotation_grace() -> Duration {
    Duration::hours(24)
}

/// A new secret: 32 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .expect("the system random source works");
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_` secret; `None` when malformed.
pub fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix(PREFIX)?;
    let key = STANDARD.decode(b64).ok()?;
    (key.len() >= 24 && key.len() <= 64).then_some(key)
}

/// One `v1,<base64>` signature.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &decode_secret(secret)?);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    Some(format!("v1,{}", STANDARD.encode(ctx.sign().as_ref())))
}

/// A subscription's secrets: the current one and, for a while after a
/// rotation, the previous one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Secrets {
    pub current: String,
    pub previous: Option<(String, DateTime<Utc>)>,
}

impl Secrets {
    pub fn new(current: String) -> Self {
        Secrets {
            current,
            previous: None,
        }
    }

    /// Rotate: `next` becomes current, the old one signs until now + grace.
    pub fn rotate(&self, next: String, now: DateTime<Utc>) -> Self {
        Secrets {
            current: next,
            previous: Some((self.current.clone(), now + rotation_grace())),
        }
    }

    /// The secrets that sign at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut v = vec![self.current.as_str()];
        if let Some((old, until)) = &self.previous
            && now < *until
        {
            v.push(old.as_str());
        }
        v
    }
}

/// The three headers of one attempt.
pub fn headers(
    secrets: &Secrets,
    id: &str,
    now: DateTime<Utc>,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let ts = now.timestamp();
    let sigs: Vec<String> = secrets
        .active(now)
        .into_iter()
        .filter_map(|s| sign(s, id, ts, body))
        .collect();
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", sigs.join(" ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn matches_the_reference_vector() {
        assert_eq!(
            sign(SECRET, ID, TS, BODY).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(decode_secret("whsec_!!!").is_none());
        assert!(decode_secret("whsec_AAAA").is_none());
        assert!(decode_secret(&generate_secret()).is_some());
        assert_ne!(generate_secret(), generate_secret());
    }

    #[test]
    fn rotation_signs_with_both_for_the_grace_period() {
        let now = DateTime::from_timestamp(TS, 0).unwrap();
        let s = Secrets::new(SECRET.into()).rotate(generate_secret(), now);
        let h = headers(&s, ID, now, BODY);
        assert_eq!(h[0], ("webhook-id", ID.to_string()));
        assert_eq!(h[1], ("webhook-timestamp", TS.to_string()));
        let sigs: Vec<_> = h[2].1.split(' ').collect();
        assert_eq!(sigs.len(), 2);
        assert!(sigs.contains(&sign(SECRET, ID, TS, BODY).unwrap().as_str()));
        let later = now + rotation_grace();
        assert_eq!(s.active(later), vec![s.current.as_str()]);
        let h = headers(&s, ID, later, BODY);
        assert_eq!(h[2].1.split(' ').count(), 1);
    }
}
