//! Shared runtime of every BTI service: configuration, telemetry, the gRPC
//! server builder, authentication, error mapping, storage and event plumbing.
//! No business logic lives here.

pub mod api;
pub mod auth;
pub mod client;
pub mod clock;
pub mod config;
pub mod db;
pub mod deadline;
pub mod error;
pub mod events;
pub mod host;
pub mod ids;
pub mod metrics;
pub mod names;
pub mod observe;
pub mod peers;
pub mod screen;
pub mod server;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{ApiError, ApiResult, Violations};
