//! The relay log service (stafettlogg): levels, goals, measures,
//! evaluations, entries, participants, the baton and its handovers,
//! transfers, closing, oversight, the external summary, and the access log
//! guardians read.
//!
//! The shape every service has (see ARCHITECTURE.md): `api` (gRPC
//! forwarders and conversions), `app` (one function per RPC, named after
//! it), `domain` (pure rules: who may act, the baton, closing, validation),
//! `store` (both backends), and [`build`], the one wiring entry used by
//! `bti dev`, `bti serve` and the tests.

pub mod api;
pub mod app;
pub mod domain;
pub mod store;

pub use app::{App, Peers};

use bti_runtime::host::{Service, Task, Wiring};

/// The relay log on `w`'s database: its gRPC server and its consumer of
/// consent events (closing logs whose consent ended).
pub fn build(w: &Wiring) -> anyhow::Result<(Service, App)> {
    let peers = Peers {
        consent: w.peers.consent()?,
        directory: w.peers.directory()?,
    };
    let app = App::new(
        store::for_db(&w.db),
        peers,
        w.outbox.clone(),
        w.clock.clone(),
    );
    let consumer = app.clone();
    let service = Service::new(w, store::migrations())
        .serve(api::Api(app.clone()).into_server())
        .task(Task::consume(
            "consent-consumer",
            w.bus.clone(),
            app::CONSUMER,
            "bti.consent.v1.",
            move |e| {
                let app = consumer.clone();
                async move { Ok(app.on_consent_event(&e).await.map(drop)?) }
            },
        ));
    Ok((service, app))
}
