//! The directory service: municipalities (tenants), units, staff lists,
//! persons and guardianships. Reference data the other services ask about
//! (who is a child's guardian, how old is the youth, is the holder absent).
//!
//! The shape every service has (see ARCHITECTURE.md): `api` (gRPC
//! forwarders and conversions), `app` (one function per RPC), `domain`
//! (pure rules), `store` (both backends), and [`build`], the one wiring
//! entry used by `bti dev`, `bti serve` and the tests.

pub mod api;
pub mod app;
pub mod domain;
pub mod store;

pub use app::App;

use bti_runtime::host::{Service, Wiring};

/// The directory on `w`'s database: its gRPC server (it runs no tasks).
pub fn build(w: &Wiring) -> anyhow::Result<(Service, App)> {
    let app = App::new(store::for_db(&w.db), w.outbox.clone(), w.clock.clone());
    let service = Service::new(w, store::migrations()).serve(api::Api(app.clone()).into_server());
    Ok((service, app))
}
