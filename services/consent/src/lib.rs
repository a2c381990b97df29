//! The consent service: guardians' and youths' consents per unit, their
//! immutable revisions, representation in meetings, withdrawal and expiry,
//! and the access question every other service asks. Same shape as every
//! service: `domain`, `store`, `grpc`.

pub mod domain;
pub mod grpc;
pub mod store;

pub use grpc::ConsentApi;

use bti_runtime::host::{Service, Task, Wiring};

/// How often expiries are recorded (access is refused at the exact
/// valid-until instant regardless; the sweep writes the revision and event).
const EXPIRY_SWEEP: std::time::Duration = std::time::Duration::from_secs(30);

/// The consent service on `w`'s database, with its expiry sweep.
pub fn build(w: &Wiring) -> anyhow::Result<(Service, ConsentApi)> {
    let api = ConsentApi::new(store::for_db(&w.db), w.peers.directory()?, w.outbox.clone());
    let sweep = api.clone();
    let service = Service::new(w, store::migrations())
        .serve(api.clone().into_server())
        .task(Task::every("expiry", EXPIRY_SWEEP, move || {
            let sweep = sweep.clone();
            async move { Ok(sweep.expire_due().await?) }
        }));
    Ok((service, api))
}
