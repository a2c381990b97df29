//! Entries: append-only; a correction is a new entry naming the one it corrects.

use bti_proto::caselog::*;
use bti_runtime::api::new_id;
use bti_runtime::auth::Principal;
use bti_runtime::db::Idem;
use bti_runtime::{ApiError, ApiResult};

use super::{App, required};
use crate::api::convert::entry_msg;
use crate::domain::access::{require_active, require_read, require_write};
use crate::domain::validate;
use crate::domain::*;
use crate::store::{Op, Order, Work};

impl App {
    pub async fn create_entry(&self, p: &Principal, r: CreateEntryRequest) -> ApiResult<Entry> {
        let idem = Idem::of(&r.request_id, &r)?;
        let parent = CaseLogName::parse("parent", &r.parent)?;
        let a = self.authorize(p, &parent).await?;
        require_write(&a.cap)?;
        require_active(a.log())?;
        let e = required(r.entry, "entry")?;
        let new = validate::new_entry(&parent, &e)?;
        let record = EntryRecord {
            tenant: a.tenant().to_string(),
            case_log: a.id().to_string(),
            id: new_id(),
            kind: new.kind.as_str_name().into(),
            text: new.text,
            corrects: new.corrects,
            author: a.author(),
            author_unit: a.cap.unit.clone(),
            create_time: a.at,
        };
        let name = parent.entry(&record.id).to_string();
        let appended = EntryAppended {
            entry: name.clone(),
            kind: new.kind as i32,
            corrects: e.corrects.clone(),
            author_unit: record.author_unit.clone(),
        };
        let claim = self
            .commit(Work {
                idem: Some(("CreateEntry".into(), idem, name.clone())),
                ops: vec![a.touch(), Op::InsertEntry(record.clone())],
                access: vec![a.access(&name, AccessAction::Create, "CreateEntry")],
                events: vec![a.event(&name, &appended)],
            })
            .await?;
        Self::created(
            claim,
            record,
            EntryName::parse,
            async |n| {
                let access = a.access(&n.to_string(), AccessAction::Read, "CreateEntry (retry)");
                self.store
                    .entry(&n.tenant, &n.case_log, &n.entry, &access)
                    .await
            },
            entry_msg,
        )
        .await
    }

    pub async fn get_entry(&self, p: &Principal, r: GetEntryRequest) -> ApiResult<Entry> {
        let n = EntryName::parse("name", &r.name)?;
        let a = self.authorize(p, &n.log()).await?;
        require_read(&a.cap)?;
        let access = a.access(&r.name, AccessAction::Read, "GetEntry");
        self.store
            .entry(a.tenant(), a.id(), &n.entry, &access)
            .await?
            .map(|e| entry_msg(&e))
            .ok_or(ApiError::NotFound(r.name))
    }

    pub async fn list_entries(
        &self,
        p: &Principal,
        r: ListEntriesRequest,
    ) -> ApiResult<ListEntriesResponse> {
        let (entries, next_page_token) = self
            .list_page(
                p,
                &r.parent,
                "ListEntries",
                r.page_size,
                &r.page_token,
                async |a, page, access| {
                    let (after, limit) = (&page.after, page.limit());
                    self.store
                        .entries(a.tenant(), a.id(), after, limit, Order::Newest, access)
                        .await
                },
                |e| &e.id,
                entry_msg,
            )
            .await?;
        Ok(ListEntriesResponse {
            entries,
            next_page_token,
        })
    }
}
