//! One error type for every service, mapped to a gRPC status carrying
//! `google.rpc.ErrorInfo` and, where it applies, `BadRequest`,
//! `PreconditionFailure` or `RetryInfo` details.
//!
//! Messages and details never contain national ids, names or case text: they
//! name fields and resource names only (ids in resource names are opaque).

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `google.rpc.ErrorInfo.domain` for every BTI error.
pub const ERROR_DOMAIN: &str = "bti.no";

/// A field that failed validation, by its path in the request (for example
/// `person.national_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Result alias used across service code.
pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid argument")]
    InvalidArgument(Vec<FieldViolation>),
    /// The request bytes are not a valid message of the method's type.
    #[error("{0}")]
    Malformed(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The request is well formed but the system is not in a state that allows
    /// it. `reason` is a stable UPPER_SNAKE code; `subject` names what is missing.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        subject: String,
        message: String,
    },
    /// Several preconditions failed at once: (type, subject, description) each,
    /// for example every guardian whose consent is missing.
    #[error("{message}")]
    FailedPreconditions {
        reason: &'static str,
        message: String,
        violations: Vec<(String, String, String)>,
    },
    /// The etag sent does not match the resource's current etag.
    #[error("etag mismatch for {0}")]
    EtagMismatch(String),
    /// A concurrent change won; the client may retry.
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    ResourceExhausted(String, Duration),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A single field violation.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        ApiError::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    pub fn precondition(
        reason: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ApiError::FailedPrecondition {
            reason,
            subject: subject.into(),
            message: message.into(),
        }
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    fn reason(&self) -> &'static str {
        match self {
            ApiError::InvalidArgument(_) => "INVALID_ARGUMENT",
            ApiError::Malformed(_) => "MALFORMED_REQUEST",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::AlreadyExists(_) => "ALREADY_EXISTS",
            ApiError::FailedPrecondition { reason, .. }
            | ApiError::FailedPreconditions { reason, .. } => reason,
            ApiError::EtagMismatch(_) => "ETAG_MISMATCH",
            ApiError::Aborted(_) => "CONCURRENT_MODIFICATION",
            ApiError::PermissionDenied(_) => "PERMISSION_DENIED",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::ResourceExhausted(..) => "RATE_LIMITED",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// What a retry may cure (a lost or refused connection, a pool exhausted,
    /// a busy SQLite file, a database shutting down) is UNAVAILABLE; a
    /// serialization failure or deadlock is ABORTED; a string the database
    /// cannot store is INVALID_ARGUMENT. The rest is INTERNAL.
    fn from(err: sqlx::Error) -> Self {
        match crate::db::classify(&err) {
            crate::db::Failure::Unavailable => {
                if matches!(err, sqlx::Error::PoolTimedOut) {
                    crate::metrics::pool_timed_out();
                }
                tracing::warn!(error = %err, "database unavailable");
                ApiError::Unavailable("the database is unavailable; retry".into())
            }
            crate::db::Failure::Conflict => {
                ApiError::Aborted("a concurrent change won; retry".into())
            }
            crate::db::Failure::BadText => {
                ApiError::invalid("request", "contains characters that cannot be stored")
            }
            crate::db::Failure::Other => ApiError::Internal(err.into()),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Status {
        let mut details = ErrorDetails::new();
        let mut metadata = HashMap::new();
        let code = match &err {
            ApiError::InvalidArgument(violations) => {
                for v in violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Code::InvalidArgument
            }
            ApiError::Malformed(_) => Code::InvalidArgument,
            ApiError::NotFound(name) => {
                metadata.insert("resource".to_string(), name.clone());
                Code::NotFound
            }
            ApiError::AlreadyExists(name) => {
                metadata.insert("resource".to_string(), name.clone());
                Code::AlreadyExists
            }
            ApiError::FailedPrecondition {
                reason,
                subject,
                message,
            } => {
                details.add_precondition_failure_violation(
                    *reason,
                    subject.clone(),
                    message.clone(),
                );
                Code::FailedPrecondition
            }
            ApiError::FailedPreconditions { violations, .. } => {
                for (kind, subject, description) in violations {
                    details.add_precondition_failure_violation(
                        kind.clone(),
                        subject.clone(),
                        description.clone(),
                    );
                }
                Code::FailedPrecondition
            }
            ApiError::EtagMismatch(name) => {
                metadata.insert("resource".to_string(), name.clone());
                Code::Aborted
            }
            ApiError::Aborted(_) => Code::Aborted,
            ApiError::PermissionDenied(_) => Code::PermissionDenied,
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::ResourceExhausted(_, retry) => {
                details.set_retry_info(Some(*retry));
                Code::ResourceExhausted
            }
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::Internal(source) => {
                // The cause goes to the log (it never holds request data), the
                // client gets a bare INTERNAL.
                tracing::error!(error = %format!("{source:#}"), "internal error");
                Code::Internal
            }
        };
        details.set_error_info(err.reason(), ERROR_DOMAIN, metadata);
        let message = match &err {
            ApiError::InvalidArgument(v) if v.len() == 1 => {
                format!("invalid {}: {}", v[0].field, v[0].description)
            }
            _ => err.to_string(),
        };
        Status::with_error_details(code, message, details)
    }
}

/// Collects field violations so a request reports all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Adds a "required" violation when `value` is empty after trimming, or
    /// one for control characters.
    pub fn require(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.add(field, "required");
        } else {
            self.controls(field, value);
        }
    }

    /// Adds a violation for a text field that is required and bounded.
    pub fn text(&mut self, field: &str, value: &str, max_chars: usize) {
        if value.trim().is_empty() {
            self.add(field, "required");
        } else {
            self.optional_text(field, value, max_chars);
        }
    }

    /// Adds a violation for an optional text field that is too long or holds
    /// control characters (other than tab and line breaks).
    pub fn optional_text(&mut self, field: &str, value: &str, max_chars: usize) {
        if value.chars().count() > max_chars {
            self.add(field, format!("at most {max_chars} characters"));
        } else {
            self.controls(field, value);
        }
    }

    fn controls(&mut self, field: &str, value: &str) {
        if crate::api::has_forbidden_control(value) {
            self.add(
                field,
                "must not contain control characters other than tab and line breaks",
            );
        }
    }

    /// Runs a validation that returns a description of what is wrong.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was reported, otherwise INVALID_ARGUMENT with all violations.
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::InvalidArgument(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_field_violations_and_error_info() {
        let mut v = Violations::new();
        v.require("unit.display_name", "  ");
        v.add("unit.type", "unknown unit type");
        let status: Status = v.finish().unwrap_err().into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["unit.display_name", "unit.type"]);
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        assert_eq!(info.domain, ERROR_DOMAIN);
    }

    #[test]
    fn etag_mismatch_is_aborted() {
        let status: Status = ApiError::EtagMismatch("tenants/4201".into()).into();
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(
            status.get_error_details().error_info().unwrap().reason,
            "ETAG_MISMATCH"
        );
    }

    #[test]
    fn internal_hides_cause() {
        let status: Status = ApiError::internal(anyhow::anyhow!("secret detail")).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }

    #[test]
    fn rate_limit_has_retry_info() {
        let status: Status =
            ApiError::ResourceExhausted("slow down".into(), Duration::from_secs(2)).into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_error_details().retry_info().cloned().unwrap();
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(2)));
    }
}
