//! Measures (tiltak): who is responsible, from a unit the consent covers,
//! and when they are to be evaluated.

use bti_proto::caselog::*;
use bti_runtime::api::{check_etag, date, enum_of, new_id, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::{App, Authorized, required};
use crate::api::convert::measure_msg;
use crate::domain::access::{require_active, require_read, require_write};
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Work};

/// MeasureChanged for `m` as it stands.
fn changed(a: &Authorized, name: &str, m: &MeasureRecord) -> bti_runtime::events::OutboxEvent {
    a.event(
        name,
        &MeasureChanged {
            measure: name.to_string(),
            responsible_unit: m.responsible_unit.clone(),
            state: enum_of(MeasureState::from_str_name, &m.state),
            evaluate_by_date: date(m.evaluate_by_date),
            responsible_professional: m.responsible_professional.clone(),
        },
    )
}

impl App {
    pub async fn create_measure(
        &self,
        p: &Principal,
        r: CreateMeasureRequest,
    ) -> ApiResult<Measure> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let m = required(r.measure, "measure")?;
        let new = validate::new_measure(&parent, &m)?;
        if !new.goal.is_empty()
            && self
                .store
                .goal(a.tenant(), a.id(), &new.goal)
                .await?
                .is_none()
        {
            return Err(ApiError::invalid(
                "measure.goal",
                "must be a goal of this relay log",
            ));
        }
        let unit = new.responsible_unit.to_string();
        self.consent_covers(&a.log().subject, &unit, "measure.responsible_unit")
            .await?;
        let record = MeasureRecord {
            tenant: a.tenant().to_string(),
            case_log: a.id().to_string(),
            id: new_id(),
            description: new.description,
            goal: new.goal,
            responsible_unit: unit,
            responsible_professional: new.responsible_professional,
            start_date: new.start,
            evaluate_by_date: new.evaluate_by,
            state: MeasureState::Active.as_str_name().into(),
            version: 1,
            create_time: a.at,
            update_time: a.at,
        };
        let name = parent.measure(&record.id).to_string();
        let claim = self
            .commit(Work {
                idem: Some(("CreateMeasure".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertMeasure(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateMeasure")],
                events: vec![changed(&a, &name, &record)],
            })
            .await?;
        Self::created(
            claim,
            record,
            MeasureName::parse,
            async |n| self.store.measure(&n.tenant, &n.case_log, &n.measure).await,
            measure_msg,
        )
        .await
    }

    pub async fn get_measure(&self, p: &Principal, r: GetMeasureRequest) -> ApiResult<Measure> {
        let n = MeasureName::parse("name", &r.name)?;
        let a = self.authorize(p, &n.log()).await?;
        require_read(&a.cap)?;
        let record = self
            .store
            .measure(&n.tenant, &n.case_log, &n.measure)
            .await?
            .ok_or_else(|| ApiError::NotFound(r.name.clone()))?;
        self.store
            .log_reads(&[a.access(&r.name, AccessAction::Read, "GetMeasure")])
            .await?;
        Ok(measure_msg(&record))
    }

    pub async fn list_measures(
        &self,
        p: &Principal,
        r: ListMeasuresRequest,
    ) -> ApiResult<ListMeasuresResponse> {
        let (measures, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                "ListMeasures",
                r.page_size,
                &r.page_token,
                async |a, page, access| {
                    self.store
                        .measures(a.tenant(), a.id(), &page.after, page.limit(), access)
                        .await
                },
                |m| &m.id,
                measure_msg,
            )
            .await?;
        Ok(ListMeasuresResponse {
            measures,
            next_page_token,
        })
    }

    pub async fn update_measure(
        &self,
        p: &Principal,
        r: UpdateMeasureRequest,
    ) -> ApiResult<Measure> {
        let m = required(r.measure, "measure")?;
        let n = MeasureName::parse("measure.name", &m.name)?;
        let paths = update_paths(
            "update_mask",
            r.update_mask.as_ref(),
            &[
                "description",
                "responsible_unit",
                "responsible_professional",
                "evaluate_by_date",
                "state",
            ],
        )?;
        let a = self.authorize(p, &n.log()).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let mut record = self
            .store
            .measure(&n.tenant, &n.case_log, &n.measure)
            .await?
            .ok_or_else(|| ApiError::NotFound(m.name.clone()))?;
        check_etag(&m.name, &m.etag, record.version)?;
        let mut v = Violations::new();
        for path in &paths {
            match path.as_str() {
                "description" => {
                    v.text("measure.description", &m.description, MAX_SHORT);
                    record.description = m.description.trim().into();
                }
                "responsible_unit" => {
                    let field = "measure.responsible_unit";
                    let unit = unit_of(field, a.tenant(), &m.responsible_unit)
                        .map_err(|e| ApiError::invalid(field, e))?;
                    self.consent_covers(&a.log().subject, &unit.to_string(), field)
                        .await?;
                    record.responsible_unit = unit.to_string();
                }
                "responsible_professional" => {
                    record.responsible_professional =
                        validate::responsible_professional(&mut v, &m);
                }
                "evaluate_by_date" => {
                    let start = record.start_date;
                    if let Some(by) =
                        validate::evaluate_by(&mut v, m.evaluate_by_date.as_ref(), start)
                    {
                        record.evaluate_by_date = by;
                    }
                }
                _ => {
                    if let Some(s) = v.check("measure.state", validate::measure_state(m.state)) {
                        record.state = s.as_str_name().into();
                    }
                }
            }
        }
        v.finish()?;
        record.update_time = a.at;
        self.commit(Work {
            ops: vec![a.touch(), Op::UpdateMeasure(record.clone())],
            access: vec![a.access(&m.name, AccessAction::Update, "UpdateMeasure")],
            events: vec![changed(&a, &m.name, &record)],
            ..Default::default()
        })
        .await?;
        Ok(measure_msg(&MeasureRecord {
            version: record.version + 1,
            ..record
        }))
    }
}
