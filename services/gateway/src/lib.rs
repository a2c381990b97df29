//! The gateway: the one door for systems outside the municipality's BTI
//! services (child-welfare case systems, PPT's and BUP's systems, school
//! administration systems). A client registry, referral intake with statutory
//! deadlines, and consented summaries, calling the relay log, consent and
//! directory through their gRPC contracts. Same shape as every service:
//! `domain`, `store`, `grpc`, plus `fiks` (the national referral schema),
//! and `limit` (per-client quotas).

pub mod domain;
pub mod fiks;
pub mod grpc;
pub mod limit;
pub mod store;

pub use grpc::{GatewayApi, GatewayConfig};

use bti_runtime::host::{Service, Task, Wiring};

/// How often the gateway settles abandoned referrals and reports missed
/// statutory deadlines.
const SWEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// The gateway on `w`'s database, with its sweep.
pub fn build(w: &Wiring) -> anyhow::Result<(Service, GatewayApi)> {
    let peers = grpc::Peers {
        directory: w.peers.directory()?,
        consent: w.peers.consent()?,
        relay: w.peers.caselog(bti_runtime::auth::SCOPE_GATEWAY)?,
    };
    let cfg: GatewayConfig = w.section()?;
    let api = GatewayApi::new(store::for_db(&w.db), peers, w.outbox.clone(), cfg);
    let sweep = api.clone();
    let service = Service::new(w, store::migrations())
        .serve(api.clone().into_server())
        .task(Task::every("sweep", SWEEP, move || {
            let sweep = sweep.clone();
            async move { Ok(sweep.sweep().await?) }
        }));
    Ok((service, api))
}
