//! The consent service: guardians' and youths' consents per unit, their
//! immutable revisions, representation in meetings, withdrawal and expiry,
//! and the access question every other service asks (CheckAccess).
//!
//! The shape every service has (see ARCHITECTURE.md): `api`, `app`,
//! `domain`, `store`, and [`build`], the one wiring entry.

pub mod api;
pub mod app;
pub mod domain;
pub mod store;

pub use app::App;

use bti_runtime::host::{Service, Task, Wiring};

/// The `[service.consent]` section.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct ConsentConfig {
    /// How often expiries are recorded (access is refused at the exact
    /// valid-until instant regardless; the sweep writes the revision and
    /// event).
    pub expiry_sweep_secs: u64,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        ConsentConfig {
            expiry_sweep_secs: 30,
        }
    }
}

/// The consent service on `w`'s database, with its expiry sweep.
pub fn build(w: &Wiring) -> anyhow::Result<(Service, App)> {
    let app = App::new(
        store::for_db(&w.db),
        w.peers.directory()?,
        w.outbox.clone(),
        w.clock.clone(),
    );
    let cfg: ConsentConfig = w.section()?;
    let every = std::time::Duration::from_secs(cfg.expiry_sweep_secs.max(1));
    let sweep = app.clone();
    let service = Service::new(w, store::migrations())
        .serve(api::Api(app.clone()).into_server())
        .task(Task::every("expiry", every, move || {
            let sweep = sweep.clone();
            async move { Ok(sweep.expire_due().await?) }
        }));
    Ok((service, app))
}
