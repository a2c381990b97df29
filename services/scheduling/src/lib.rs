//! The scheduling service.
pub mod domain;
