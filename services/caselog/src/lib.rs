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
