//! The gateway: the one door for systems outside the municipality's BTI
//! services (child-welfare case systems, PPT's and BUP's systems, school
//! administration systems). A client registry, referral intake with statutory
//! deadlines, and consented summaries, calling the relay log, consent and
//! directory through their gRPC contracts. Same shape as every service:
//! `domain`, `store`, `grpc`, plus `fiks` (the national referral schema),
//! `limit` (per-client quotas) and `relay` (what it asks the relay log).

pub mod domain;
pub mod fiks;
pub mod grpc;
pub mod limit;
pub mod relay;
pub mod store;

pub use grpc::{GatewayApi, GatewayConfig};
