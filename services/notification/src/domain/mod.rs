//! Pure rules of the notification service (no I/O): which kinds exist and
//! who may mute them, when a notification goes out given the recipient's
//! preferences, the webhook retry schedule, Standard Webhooks signing and the
//! webhook URL policy.

pub mod access;
pub mod causes;
pub mod kinds;
pub mod preferences;
pub mod records;
pub mod retry;
pub mod signing;
pub mod templates;
pub mod url_policy;
pub mod webhooks;

pub use records::*;
pub use webhooks::*;
