//! Deadline propagation: the caller's `grpc-timeout` becomes the deadline of
//! the request's task, and calls this service makes to its peers while
//! serving it carry what is left, so a downstream service stops working on
//! an answer nobody waits for.

use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Parses a gRPC `grpc-timeout` header value (for example `250m`, `3S`).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Runs `f` with `deadline` (if any) as the current request's deadline.
pub async fn scope<F: Future>(deadline: Option<Instant>, f: F) -> F::Output {
    match deadline {
        Some(d) => DEADLINE.scope(d, f).await,
        None => f.await,
    }
}

/// Time left until the current request's deadline, if it has one.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|d| d.saturating_duration_since(Instant::now()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("10"), None);
        assert_eq!(parse_grpc_timeout("m"), None);
        assert_eq!(parse_grpc_timeout("1234567890S"), None);
    }

    #[tokio::test]
    async fn the_deadline_is_visible_inside_the_scope_only() {
        assert_eq!(remaining(), None);
        let inside = scope(Some(Instant::now() + Duration::from_secs(5)), async {
            remaining()
        })
        .await;
        let left = inside.expect("a deadline in scope");
        assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
        assert_eq!(remaining(), None);
    }
}
