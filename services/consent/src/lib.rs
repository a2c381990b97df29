//! The consent service: guardians' and youths' consents per unit, their
//! immutable revisions, representation in meetings, withdrawal and expiry,
//! and the access question every other service asks. Same shape as every
//! service: `domain`, `store`, `grpc`.

pub mod domain;
pub mod grpc;
pub mod store;

pub use grpc::ConsentApi;
