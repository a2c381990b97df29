//! The directory service: municipalities (tenants), units, staff lists,
//! persons and guardianships. The pattern every BTI service follows:
//! `domain` (records, validation, policy), `store` (trait + PostgreSQL and
//! SQLite backends), `grpc` (the API surface).

pub mod domain;
pub mod grpc;
pub mod store;

pub use grpc::DirectoryApi;
