//! The scheduling service: a unit's BTI meeting series and their bookable
//! slots, cases booked into them and cases' own meetings, attendance decided
//! by the child's consent, invitations as iCalendar, and the deadlines of the
//! BTI model derived from the other services' events.
//!
//! The shape every service has (see ARCHITECTURE.md): `api`, `app`,
//! `domain`, `store`, and [`build`], the one wiring entry.

pub mod api;
pub mod app;
pub mod domain;
pub mod store;

pub use app::App;

use bti_runtime::host::{Service, Task, Wiring};

/// The `[service.scheduling]` section.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct SchedulingConfig {
    /// Where a meeting opens in the municipality's BTI front end; the
    /// invitations link there (`{link_base}/{meeting name}`).
    pub link_base: String,
    /// How often deadlines are moved through reminder, overdue and
    /// escalation.
    pub deadline_sweep_secs: u64,
}

impl Default for SchedulingConfig {
    fn default() -> Self {
        SchedulingConfig {
            link_base: "https://bti.invalid/app".into(),
            deadline_sweep_secs: 60,
        }
    }
}

/// The scheduling service on `w`'s database, with its event consumers and
/// deadline sweep.
pub fn build(w: &Wiring) -> anyhow::Result<(Service, App)> {
    let cfg: SchedulingConfig = w.section()?;
    let every = std::time::Duration::from_secs(cfg.deadline_sweep_secs.max(1));
    let app = App::new(
        store::for_db(&w.db),
        w.peers.directory()?,
        w.peers.consent()?,
        w.outbox.clone(),
        w.clock.clone(),
        cfg,
    );
    let mut service =
        Service::new(w, store::migrations()).serve(api::Api(app.clone()).into_server());
    for (from, filter) in [
        ("caselog", "bti.caselog.v1."),
        ("consent", "bti.consent.v1."),
        ("directory", "bti.directory.v1."),
    ] {
        let consumer = app.clone();
        service = service.task(Task::consume(
            &format!("{from}-consumer"),
            w.bus.clone(),
            &format!("{}-{from}", app::CONSUMER),
            filter,
            move |e| {
                let app = consumer.clone();
                async move { app.on_event(&e).await }
            },
        ));
    }
    let sweep = app.clone();
    let service = service.task(Task::every("deadline-sweep", every, move || {
        let sweep = sweep.clone();
        async move { Ok(sweep.advance_deadlines().await?) }
    }));
    Ok((service, app))
}
