//! The relay log service (stafettlogg): levels, goals, measures,
//! evaluations, entries, participants, the baton and its handovers,
//! transfers, closing, oversight, and the access log guardians read. Same
//! shape as every service: `domain`, `store`, `grpc`, plus `access` (who may
//! act on a log, decided per request from consent and participation).

pub mod access;
pub mod consumer;
pub mod domain;
pub mod grpc;
pub mod store;

pub use access::Peers;
pub use grpc::CaseLogApi;

use bti_runtime::host::{Service, Task, Wiring};

/// The relay log on `w`'s database, with its consumer of consent events.
pub fn build(w: &Wiring) -> anyhow::Result<(Service, CaseLogApi)> {
    let peers = Peers {
        consent: w.peers.consent()?,
        directory: w.peers.directory()?,
    };
    let api = CaseLogApi::new(store::for_db(&w.db), peers, w.outbox.clone());
    let consumer = api.clone();
    let service = Service::new(w, store::migrations())
        .serve(api.clone().into_server())
        .task(Task::consume(
            "consent-consumer",
            w.bus.clone(),
            consumer::CONSUMER,
            "bti.consent.v1.",
            move |e| {
                let api = consumer.clone();
                async move { Ok(api.on_consent_event(&e).await.map(drop)?) }
            },
        ));
    Ok((service, api))
}
