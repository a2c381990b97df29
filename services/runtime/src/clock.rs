//! Time as a dependency: services ask an injected [`Clock`] for "now", so
//! tests move time forward instead of sleeping, and every instant is at the
//! precision both backends store (microseconds).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, SubsecRound, Utc};

/// Where a service gets the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The clock a service holds.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock, truncated to microseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The system clock as a [`SharedClock`].
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that stands still until moved: for tests of deadlines, reminders
/// and expiry.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(at.trunc_subsecs(6))))
    }

    /// Starts at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(Utc::now())
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().expect("clock poisoned") = at.trunc_subsecs(6);
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().expect("clock poisoned");
        *t += by;
    }

    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(DateTime::from_timestamp(1_000_000, 123_456_789).unwrap());
        assert_eq!(c.now().timestamp_subsec_nanos(), 123_456_000);
        let before = c.now();
        c.advance(Duration::days(7));
        assert_eq!(c.now() - before, Duration::days(7));
        let shared = c.shared();
        c.advance(Duration::seconds(1));
        assert_eq!(
            shared.now() - before,
            Duration::days(7) + Duration::seconds(1)
        );
    }

    #[test]
    fn the_system_clock_stores_microseconds() {
        assert_eq!(SystemClock.now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
