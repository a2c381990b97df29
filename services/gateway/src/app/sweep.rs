//! The gateway's background round: settle referrals a create left pending,
//! and report statutory deadlines newly missed.

use bti_proto::gateway::DeadlineMissed;
use bti_runtime::{ApiError, ApiResult};

use super::App;
use crate::domain::deadlines::{newly_missed, record_missed};

/// A pending referral younger than this may still be settled by its create.
const STALE_AFTER: chrono::Duration = chrono::Duration::seconds(30);

impl App {
    /// Settles referrals left pending (a create that failed half-way and was
    /// not retried) and reports deadlines newly missed, one DeadlineMissed
    /// each. Returns how many referrals it changed.
    pub async fn sweep(&self) -> ApiResult<usize> {
        let mut changed = 0;
        // One referral that cannot be settled now must not hold up the rest.
        for r in self.store.pending(self.now() - STALE_AFTER, 100).await? {
            let id = r.id.clone();
            match self.settle(r).await {
                Ok(_) => changed += 1,
                Err(e) => {
                    tracing::warn!(referral = %id, error = %e, "settling a pending referral failed")
                }
            }
        }
        let at = self.now();
        let mut after = String::new();
        loop {
            let batch = self.store.open_reports("", &after, 200).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            for r in batch {
                let missed = newly_missed(&r, at);
                if missed.is_empty() {
                    continue;
                }
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
                let updated = record_missed(&r, &missed);
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
}
