//! Typed clients for the questions services ask each other over their gRPC
//! contracts, signed as the calling service. Plumbing only: each service
//! decides what the answers mean.

pub mod caselog;
pub mod consent;
pub mod directory;
pub mod scheduling;

pub use caselog::CaseLog;
pub use consent::ConsentChecker;
pub use directory::Directory;
pub use scheduling::Scheduling;
