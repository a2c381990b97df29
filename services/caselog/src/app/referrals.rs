//! Referrals attached by the gateway on an external client's behalf;
//! restricted ones are shown only to the holder and the unit's leader, and
//! leave no trace for the family until lifted.

use bti_proto::caselog::*;
use bti_runtime::api::new_id;
use bti_runtime::auth::Principal;
use bti_runtime::db::{Claim, Idem};
use bti_runtime::{ApiError, ApiResult};

use super::{App, Page, required};
use crate::api::convert::referral_msg;
use crate::domain::access::{
    client_actor, legal_basis, require_active, require_gateway, require_referral_reader,
};
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Work};

impl App {
    pub async fn attach_referral(
        &self,
        p: &Principal,
        r: AttachReferralRequest,
    ) -> ApiResult<AttachedReferral> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_gateway(&a.cap)?;
        let x = required(r.referral, "referral")?;
        let kind = validate::new_referral(a.tenant(), &x)?;
        require_active(a.log())?;
        let (tenant, log) = (a.tenant().to_string(), a.id().to_string());
        if let Some(existing) = self
            .store
            .referral_by_source(&tenant, &log, &x.referral)
            .await?
        {
            return Ok(referral_msg(&existing));
        }
        // Restricted referrals need no consent; the others only from a unit
        // the subject's consent covers.
        let basis = if x.restricted {
            legal_basis(x.legal_basis.trim())
        } else {
            self.consent_covers(&a.log().subject, &x.from_unit, "referral.from_unit")
                .await?
        };
        let record = ReferralRecord {
            tenant: tenant.clone(),
            case_log: log.clone(),
            id: new_id(),
            referral: x.referral.clone(),
            kind: kind.as_str_name().into(),
            restricted: x.restricted,
            legal_basis: x.legal_basis.trim().into(),
            from_organization: x.from_organization.clone(),
            create_time: a.at,
            from_unit: x.from_unit.clone(),
            client: x.client.clone(),
        };
        let name = record.name();
        let row = AccessRecord {
            actor: client_actor(&record.client),
            acting_as: ActingAs::ExternalSystem.as_str_name().into(),
            unit: record.from_unit.clone(),
            purpose: "AttachReferral: referral from an external system".into(),
            basis,
            restricted_referral: if record.restricted {
                record.id.clone()
            } else {
                String::new()
            },
            ..a.access(&name, AccessAction::Create, "AttachReferral")
        };
        let attached = ReferralAttached {
            attached_referral: name.clone(),
            holder: a.log().holder.clone(),
            restricted: record.restricted,
        };
        let claim = self
            .commit(Work {
                idem: Some(("AttachReferral".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertReferral(record.clone())],
                access: vec![row],
                events: vec![a.event(&name, &attached)],
            })
            .await;
        let existing = match claim {
            Ok(Claim::New) => return Ok(referral_msg(&record)),
            Ok(Claim::Replay(existing)) => {
                let n = ReferralName::parse("name", &existing)?;
                self.store
                    .referral(&n.tenant, &n.case_log, &n.referral)
                    .await?
            }
            // A racing attach of the same referral won.
            Err(ApiError::AlreadyExists(_)) => {
                self.store
                    .referral_by_source(&tenant, &log, &x.referral)
                    .await?
            }
            Err(e) => return Err(e),
        };
        existing
            .map(|r| referral_msg(&r))
            .ok_or(ApiError::NotFound(name))
    }

    pub async fn lift_referral_restriction(
        &self,
        p: &Principal,
        r: LiftReferralRestrictionRequest,
    ) -> ApiResult<AttachedReferral> {
        let n = ReferralName::parse("name", &r.name)?;
        let a = self.authorize(p, &n.log()).await?;
        require_gateway(&a.cap)?;
        let record = self
            .store
            .referral(&n.tenant, &n.case_log, &n.referral)
            .await?
            .ok_or_else(|| ApiError::NotFound(r.name.clone()))?;
        if !record.restricted {
            return Ok(referral_msg(&record));
        }
        // Lifting is not content: allowed on a closed log too.
        let row = AccessRecord {
            actor: client_actor(&record.client),
            acting_as: ActingAs::ExternalSystem.as_str_name().into(),
            unit: record.from_unit.clone(),
            purpose: "LiftReferralRestriction: the external system lifted the restriction".into(),
            basis: legal_basis(&record.legal_basis),
            ..a.access(&r.name, AccessAction::Update, "LiftReferralRestriction")
        };
        let lifted = ReferralRestrictionLifted {
            attached_referral: r.name.clone(),
            holder: a.log().holder.clone(),
        };
        let work = Work {
            idem: None,
            ops: vec![Op::LiftReferral {
                tenant: n.tenant.clone(),
                case_log: n.case_log.clone(),
                id: n.referral.clone(),
            }],
            access: vec![row],
            events: vec![a.event(&r.name, &lifted)],
        };
        match self.commit(work).await {
            // A concurrent lift won: the result is the same.
            Ok(_) | Err(ApiError::Aborted(_)) => {}
            Err(e) => return Err(e),
        }
        self.store
            .referral(&n.tenant, &n.case_log, &n.referral)
            .await?
            .map(|r| referral_msg(&r))
            .ok_or(ApiError::NotFound(r.name))
    }

    pub async fn list_attached_referrals(
        &self,
        p: &Principal,
        r: ListAttachedReferralsRequest,
    ) -> ApiResult<ListAttachedReferralsResponse> {
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_referral_reader(&a.cap)?;
        let page = Page::new(
            "ListAttachedReferrals",
            &[&r.parent],
            r.page_size,
            &r.page_token,
        )?;
        let listing = a.access(
            &parent.part("referrals"),
            AccessAction::Read,
            "ListAttachedReferrals",
        );
        let rows = self
            .store
            .referrals(
                a.tenant(),
                a.id(),
                &page.after,
                page.limit(),
                a.cap.sees_restricted(),
                &listing,
            )
            .await?;
        let (rows, next_page_token) = page.finish(rows, |x| &x.id, Clone::clone);
        // Each restricted referral shown is its own access, on its legal basis.
        let restricted: Vec<AccessRecord> = rows
            .iter()
            .filter(|x| x.restricted)
            .map(|x| AccessRecord {
                basis: legal_basis(&x.legal_basis),
                restricted_referral: x.id.clone(),
                ..a.access(&x.name(), AccessAction::Read, "ListAttachedReferrals")
            })
            .collect();
        self.store.log_reads(&restricted).await?;
        Ok(ListAttachedReferralsResponse {
            referrals: rows.iter().map(referral_msg).collect(),
            next_page_token,
        })
    }
}
