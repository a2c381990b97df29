//! Access at send time: a notification about a relay log goes out (and
//! shows in the inbox) only while its recipient may still read that log,
//! judged as the relay log judges a request: by this service's record of
//! the log's holder and participants (from the relay log's events), the
//! consent service asked now about each unit the recipient could act
//! through (never cached: a withdrawal applies to the next delivery), and
//! the directory for unit membership, leadership and guardianship.

use std::collections::BTreeMap;

use bti_runtime::ApiResult;

use super::App;
use crate::domain::access::{Through, oversight_units, professional_candidates};
use crate::domain::kinds::Kind;
use crate::domain::*;

/// Answers already given within one request or worker round, by what they
/// depend on (the recipient, the log, and the kind's and unit's bearing on
/// it). A new round asks again.
#[derive(Default)]
pub(crate) struct AccessMemo(BTreeMap<(String, String, bool, String), bool>);

impl App {
    /// Whether `n`'s recipient may still read the log it concerns (true when
    /// it concerns none). A log this service has not seen opened is not
    /// read by anyone as far as it knows: nothing goes out about it.
    pub(crate) async fn may_receive(
        &self,
        n: &NotificationRecord,
        memo: &mut AccessMemo,
    ) -> ApiResult<bool> {
        if n.case_log.is_empty() {
            return Ok(true);
        }
        let offer = matches!(n.kind(), Some(Kind::HandoverOffered | Kind::TransferToUnit));
        let key = (
            n.recipient.clone(),
            n.case_log.clone(),
            offer,
            if offer {
                n.via_unit.clone()
            } else {
                String::new()
            },
        );
        if let Some(known) = memo.0.get(&key) {
            return Ok(*known);
        }
        let answer = self.judge(n).await?;
        memo.0.insert(key, answer);
        Ok(answer)
    }

    async fn judge(&self, n: &NotificationRecord) -> ApiResult<bool> {
        let Some(log) = self.store.get_log(&n.tenant, &n.case_log).await? else {
            return Ok(false);
        };
        if let Some(person) = n.recipient.strip_prefix("person:") {
            // The youth on their own log, or a guardian with parental
            // responsibility now.
            if person == log.subject {
                return Ok(true);
            }
            return Ok(self
                .directory
                .guardians(&log.subject)
                .await?
                .iter()
                .any(|g| g == person));
        }
        let Some(subject) = n.recipient.strip_prefix("subject:") else {
            return Ok(false);
        };
        let Some(kind) = n.kind() else {
            return Ok(false);
        };
        let participants = self.store.log_participants(&n.tenant, &n.case_log).await?;
        for through in professional_candidates(subject, kind, &n.via_unit, &log, &participants) {
            if let Through::Member(unit) = &through {
                let members = self.directory.members(unit).await?;
                if !members.iter().any(|m| m.subject == subject) {
                    continue;
                }
            }
            if self
                .consent
                .relay_log_revision(&log.subject, through.unit())
                .await?
                .is_some()
            {
                return Ok(true);
            }
        }
        // A leader's oversight of the log's unit or the holder's needs no
        // consent (escalations reach them).
        for unit in oversight_units(&log) {
            let members = self.directory.members(&unit).await?;
            if members.iter().any(|m| m.subject == subject && m.leader) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Those of `rows` their recipient may still read.
    pub(crate) async fn visible(
        &self,
        rows: Vec<NotificationRecord>,
    ) -> ApiResult<Vec<NotificationRecord>> {
        let mut memo = AccessMemo::default();
        let mut out = Vec::with_capacity(rows.len());
        for n in rows {
            if self.may_receive(&n, &mut memo).await? {
                out.push(n);
            }
        }
        Ok(out)
    }
}
