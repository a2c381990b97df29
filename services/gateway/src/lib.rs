//! The gateway: the one door for systems outside the municipality's BTI
//! services (child-welfare case systems, PPT's and BUP's systems, school
//! administration systems). A client registry, referral intake with statutory
//! deadlines, and consented summaries, calling the relay log, consent and
//! directory through their gRPC contracts.
//!
//! The shape every service has (see ARCHITECTURE.md): `api` (gRPC
//! forwarders and conversions), `app` (one function per RPC), `domain`
//! (pure rules, the Fiks format among them), `store` (both backends), plus
//! `limit` (per-client quotas), and [`build`], the one wiring entry used by
//! `bti dev`, `bti serve` and the tests.

pub mod api;
pub mod app;
pub mod domain;
pub mod limit;
pub mod store;

pub use app::{App, GatewayConfig, Peers};

use bti_runtime::host::{Service, Task, Wiring};

use crate::limit::ClientLimit;

/// The gateway on `w`'s database: its gRPC server inside the per-client
/// quotas and the request size limit, and its sweep (`[service.gateway]`).
pub fn build(w: &Wiring) -> anyhow::Result<(Service, App)> {
    let peers = Peers {
        directory: w.peers.directory()?,
        consent: w.peers.consent()?,
        relay: w.peers.caselog(bti_runtime::auth::SCOPE_GATEWAY)?,
    };
    let cfg: GatewayConfig = w.section()?;
    let app = App::new(
        store::for_db(&w.db),
        peers,
        w.outbox.clone(),
        w.clock.clone(),
        cfg,
    );
    let server = ClientLimit::new(api::Api(app.clone()).into_server(), app.limits().clone());
    let every = std::time::Duration::from_secs(app.config().sweep_interval_secs.max(1));
    let sweep = app.clone();
    let service = Service::new(w, store::migrations())
        .serve(server)
        .task(Task::every("sweep", every, move || {
            let sweep = sweep.clone();
            async move { Ok(sweep.sweep().await?) }
        }));
    Ok((service, app))
}
