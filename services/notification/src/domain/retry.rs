//! The webhook retry schedule (Standard Webhooks' recommended one): the
//! first attempt at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each
//! with jitter so a recovering receiver is not hit by every sender at once.
//! An endpoint that has failed for five days is disabled; 410 Gone disables
//! it at once.

use chrono::{DateTime, Duration, Utc};

/// Delay before attempt n (0-based) after the previous one.
const SCHEDULE_SECS: [i64; 8] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];

/// How long an endpoint may keep failing before it is disabled.
pub fn disable_after() -> Duration {
    Duration::days(5)
}

/// At most this fraction of a delay is added as jitter (10 %).
const JITTER_PERMILLE: i64 = 100;

/// The delay before attempt `attempt` (0 = the first), without jitter;
/// `None` once the schedule is exhausted.
pub fn base_delay(attempt: u32) -> Option<Duration> {
    SCHEDULE_SECS
        .get(attempt as usize)
        .map(|s| Duration::seconds(*s))
}

/// The delay with jitter: `unit` in [0, 1) drawn by the caller (the domain
/// stays deterministic under test), adding up to 10 % of the base delay.
pub fn delay_with_jitter(attempt: u32, unit: f64) -> Option<Duration> {
    let base = base_delay(attempt)?;
    let unit = unit.clamp(0.0, 0.999_999);
    let max_jitter_ms = base.num_milliseconds() * JITTER_PERMILLE / 1000;
    let jitter = (max_jitter_ms as f64 * unit) as i64;
    Some(base + Duration::milliseconds(jitter))
}

/// What an attempt's outcome means for the delivery and its endpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Delivered (2xx).
    Done,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// The schedule is exhausted: the delivery failed; the endpoint stays.
    GiveUp,
    /// The endpoint is disabled (410 Gone, or failing for five days).
    DisableEndpoint,
}

/// The outcome of an attempt: an HTTP status, or `None` when no response
/// came (connection refused, timeout, TLS failure, refused redirect).
/// `attempt` is the one just made (0-based); `failing_since` is when the
/// endpoint's current run of failures began (this attempt if it is the first).
pub fn after_attempt(
    status: Option<u16>,
    attempt: u32,
    now: DateTime<Utc>,
    failing_since: DateTime<Utc>,
    jitter_unit: f64,
) -> Next {
    match status {
        Some(s) if (200..300).contains(&s) => return Next::Done,
        Some(410) => return Next::DisableEndpoint,
        _ => {}
    }
    if now - failing_since >= disable_after() {
        return Next::DisableEndpoint;
    }
    match delay_with_jitter(attempt + 1, jitter_unit) {
        Some(d) => Next::RetryAt(now + d),
        None => Next::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn schedule_is_the_standard_one() {
        let secs: Vec<_> = (0..8)
            .map(|a| base_delay(a).unwrap().num_seconds())
            .collect();
        assert_eq!(secs, [0, 5, 300, 1800, 7200, 18000, 36000, 36000]);
        assert_eq!(base_delay(8), None);
    }

    #[test]
    fn jitter_adds_at_most_ten_percent() {
        assert_eq!(delay_with_jitter(1, 0.0).unwrap(), Duration::seconds(5));
        let max = delay_with_jitter(1, 1.0).unwrap();
        assert!(max > Duration::seconds(5) && max < Duration::milliseconds(5500));
        assert_eq!(delay_with_jitter(0, 0.7).unwrap(), Duration::zero());
        let mid = delay_with_jitter(2, 0.5).unwrap();
        assert_eq!(mid, Duration::seconds(315));
    }

    #[test]
    fn success_and_failures() {
        let now = t0();
        assert_eq!(after_attempt(Some(204), 0, now, now, 0.0), Next::Done);
        assert_eq!(
            after_attempt(Some(500), 0, now, now, 0.0),
            Next::RetryAt(now + Duration::seconds(5))
        );
        assert_eq!(
            after_attempt(None, 1, now, now, 0.0),
            Next::RetryAt(now + Duration::minutes(5))
        );
        // A redirect is not followed and counts as a failure.
        assert!(matches!(
            after_attempt(Some(302), 0, now, now, 0.0),
            Next::RetryAt(_)
        ));
        assert_eq!(after_attempt(Some(500), 7, now, now, 0.0), Next::GiveUp);
    }

    #[test]
    fn gone_disables_at_once() {
        let now = t0();
        assert_eq!(
            after_attempt(Some(410), 0, now, now, 0.0),
            Next::DisableEndpoint
        );
    }

    #[test]
    fn five_days_of_failures_disable() {
        let since = t0();
        let almost = since + Duration::days(5) - Duration::seconds(1);
        assert!(matches!(
            after_attempt(Some(503), 3, almost, since, 0.0),
            Next::RetryAt(_)
        ));
        assert_eq!(
            after_attempt(Some(503), 3, since + Duration::days(5), since, 0.0),
            Next::DisableEndpoint
        );
    }
}
