//! A municipality's own e-mail templates, per kind and language, edited by
//! its administrators; the built-in ones apply until then.

use bti_proto::notification::*;
use bti_runtime::api::{check_etag, etag, timestamp, update_paths};
use bti_runtime::auth::Principal;
use bti_runtime::{ApiError, ApiResult, Violations};

use super::App;
use super::webhooks::admin;
use crate::domain::templates::{builtin, check_source, parse_template_id};
use crate::domain::*;

const T: &str = "notification_template";

fn template_msg(t: &TemplateRecord, name: &str) -> NotificationTemplate {
    NotificationTemplate {
        name: name.to_string(),
        subject: t.subject.clone(),
        body: t.body.clone(),
        built_in: t.version == 0,
        update_time: (t.version > 0).then(|| timestamp(t.update_time)),
        etag: etag(t.version),
    }
}

impl App {
    /// The template `name` names: the municipality's own, or the built-in.
    async fn template(&self, p: &Principal, field: &str, name: &str) -> ApiResult<TemplateRecord> {
        let n = TemplateName::parse(field, name)?;
        admin(p, &n.tenant)?;
        let Some((kind, lang)) = parse_template_id(&n.template) else {
            return Err(ApiError::NotFound(name.to_string()));
        };
        let id = format!("{}/{lang}", kind.as_str());
        if let Some(t) = self.store.get_template(&n.tenant, &id).await? {
            return Ok(t);
        }
        let (subject, body) = builtin(kind, lang);
        Ok(TemplateRecord {
            tenant: n.tenant,
            id,
            subject,
            body,
            version: 0,
            update_time: self.now(),
        })
    }

    pub async fn get_notification_template(
        &self,
        p: &Principal,
        r: GetNotificationTemplateRequest,
    ) -> ApiResult<NotificationTemplate> {
        Ok(template_msg(
            &self.template(p, "name", &r.name).await?,
            &r.name,
        ))
    }

    pub async fn update_notification_template(
        &self,
        p: &Principal,
        r: UpdateNotificationTemplateRequest,
    ) -> ApiResult<NotificationTemplate> {
        let Some(msg) = r.notification_template else {
            return Err(ApiError::invalid(T, "required"));
        };
        let paths = update_paths("update_mask", r.update_mask.as_ref(), &["subject", "body"])?;
        let mut t = self.template(p, &format!("{T}.name"), &msg.name).await?;
        check_etag(&msg.name, &msg.etag, t.version)?;
        let mut v = Violations::new();
        for path in &paths {
            let (value, max) = match path.as_str() {
                "subject" => (&msg.subject, 200),
                _ => (&msg.body, 10_000),
            };
            let field = format!("{T}.{path}");
            if value.trim().is_empty() || value.chars().count() > max {
                v.add(&field, format!("must be 1 to {max} characters"));
            } else if path == "subject" && value.contains(['\r', '\n']) {
                v.add(&field, "must be one line");
            } else if let Err(e) = check_source(value) {
                // The engine's message names the variable or syntax at fault.
                v.add(
                    &field,
                    format!("may use only link, municipality and kind: {e}"),
                );
            }
            if path == "subject" {
                t.subject = value.clone();
            } else {
                t.body = value.clone();
            }
        }
        v.finish()?;
        t.update_time = self.now();
        Ok(template_msg(&self.store.put_template(&t).await?, &msg.name))
    }
}
