//! AIP plumbing shared by every service: resource names, page tokens bound to
//! their query (AIP-158), page sizes, etags (AIP-154), update masks (AIP-134)
//! and request ids (AIP-155).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 500;

/// Parses `name` against a pattern like `tenants/{tenant}/units/{unit}` and
/// returns the variable segments in order. Ids must be non-empty and may not
/// contain `/`.
pub fn parse_name<'a>(field: &str, name: &'a str, pattern: &str) -> ApiResult<Vec<&'a str>> {
    let parts: Vec<&str> = name.split('/').collect();
    let pat: Vec<&str> = pattern.split('/').collect();
    let bad = || {
        ApiError::invalid(
            field,
            format!("must be a resource name of the form {pattern}"),
        )
    };
    if parts.len() != pat.len() {
        return Err(bad());
    }
    let mut ids = Vec::new();
    for (p, q) in parts.iter().zip(&pat) {
        if q.starts_with('{') {
            if p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad());
            }
            ids.push(*p);
        } else if p != q {
            return Err(bad());
        }
    }
    Ok(ids)
}

/// Validates a client-chosen resource id (AIP-122): lowercase letters, digits
/// and hyphens, starting with a letter or digit, 1–63 characters.
pub fn validate_resource_id(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("must be 1-63 lowercase letters, digits or hyphens".into())
    }
}

/// A new opaque, time-ordered resource id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Validates `request_id`: empty (no idempotency) or a UUID.
pub fn validate_request_id(field: &str, value: &str) -> ApiResult<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    uuid::Uuid::parse_str(value)
        .map(|u| Some(u.hyphenated().to_string()))
        .map_err(|_| ApiError::invalid(field, "must be a UUID"))
}

/// The etag for a resource at `version`.
pub fn etag(version: i64) -> String {
    format!("v{version}")
}

/// Checks a client-sent etag against the stored version. Empty means "no
/// condition".
pub fn check_etag(resource: &str, sent: &str, version: i64) -> ApiResult<()> {
    if sent.is_empty() || sent == etag(version) {
        Ok(())
    } else {
        Err(ApiError::EtagMismatch(resource.to_string()))
    }
}

/// Clamps `page_size` (0 → default) and rejects negative values.
pub fn page_size(field: &str, requested: i32) -> ApiResult<i64> {
    match requested {
        n if n < 0 => Err(ApiError::invalid(field, "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(i64::from(n).min(MAX_PAGE_SIZE)),
    }
}

/// A page token: the last key of the previous page, bound to a fingerprint of
/// the query that produced it so it cannot be replayed against another query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub after: String,
}

/// Fingerprint of the parts of a list request that define the result set
/// (parent, filter, order; not page size or token).
pub fn query_fingerprint(parts: &[&str]) -> [u8; 8] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

impl PageToken {
    pub fn encode(after: &str, query: &[&str]) -> String {
        let mut raw = query_fingerprint(query).to_vec();
        raw.extend_from_slice(after.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decodes a token for `query`; empty means the first page.
    pub fn decode(field: &str, token: &str, query: &[&str]) -> ApiResult<Option<PageToken>> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = || ApiError::invalid(field, "is not a page token of this query");
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        if raw.len() < 8 || raw[..8] != query_fingerprint(query) {
            return Err(bad());
        }
        let after = String::from_utf8(raw[8..].to_vec()).map_err(|_| bad())?;
        Ok(Some(PageToken { after }))
    }
}

/// Builds the response page from `rows` fetched with `LIMIT page_size + 1`.
pub fn paginate<T>(
    mut rows: Vec<T>,
    page_size: i64,
    key: impl Fn(&T) -> String,
    query: &[&str],
) -> (Vec<T>, String) {
    if rows.len() as i64 > page_size {
        rows.truncate(page_size as usize);
        let next = rows
            .last()
            .map(|r| PageToken::encode(&key(r), query))
            .unwrap_or_default();
        (rows, next)
    } else {
        (rows, String::new())
    }
}

/// Validates an update mask against the paths a method allows; an empty mask
/// is rejected (AIP-134 lets us require it and full replacement is error prone).
pub fn update_paths(
    field: &str,
    mask: Option<&prost_types::FieldMask>,
    allowed: &[&str],
) -> ApiResult<Vec<String>> {
    let paths = mask.map(|m| m.paths.clone()).unwrap_or_default();
    if paths.is_empty() {
        return Err(ApiError::invalid(
            field,
            "required: name the fields to update",
        ));
    }
    let mut violations = crate::error::Violations::new();
    for p in &paths {
        if !allowed.contains(&p.as_str()) {
            violations.add(
                field,
                format!("'{p}' cannot be updated; allowed: {}", allowed.join(", ")),
            );
        }
    }
    violations.finish()?;
    Ok(paths)
}

/// The current time at the precision both backends store (microseconds), so a
/// create's response equals what a later read returns.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// Converts a `chrono` time to a protobuf timestamp.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Earliest and latest year a date or timestamp from a client may have:
/// nothing in BTI work happens outside it, and both backends store it.
pub const MIN_YEAR: i32 = 1900;
pub const MAX_YEAR: i32 = 2200;

fn in_window(year: i32) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&year)
}

/// Converts a protobuf timestamp to `chrono` at microsecond precision,
/// refusing values outside the years [`MIN_YEAR`]–[`MAX_YEAR`].
pub fn from_timestamp(
    field: &str,
    t: &prost_types::Timestamp,
) -> ApiResult<chrono::DateTime<chrono::Utc>> {
    check_timestamp(t).map_err(|m| ApiError::invalid(field, m))
}

/// What is wrong with a timestamp, if anything (for [`crate::Violations::check`]).
pub fn check_timestamp(
    t: &prost_types::Timestamp,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    use chrono::{Datelike, SubsecRound};
    let window = || format!("must be a time between the years {MIN_YEAR} and {MAX_YEAR}");
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err("nanos must be 0 to 999,999,999".into());
    }
    let at = chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32).ok_or_else(window)?;
    if !in_window(at.year()) {
        return Err(window());
    }
    Ok(at.trunc_subsecs(6))
}

/// An optional timestamp (for [`crate::Violations::check`]): `None` when unset.
pub fn check_optional_timestamp(
    t: Option<&prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    t.map(check_timestamp).transpose()
}

/// An optional timestamp field: `None` when unset.
pub fn from_optional_timestamp(
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    t.map(|t| from_timestamp(field, t)).transpose()
}

/// A `google.type.Date` for `d`.
pub fn date(d: chrono::NaiveDate) -> Option<bti_proto::google::r#type::Date> {
    use chrono::Datelike;
    Some(bti_proto::google::r#type::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    })
}

/// A required `google.type.Date` field: a real calendar date between the
/// years [`MIN_YEAR`] and [`MAX_YEAR`].
pub fn parse_date(
    field: &str,
    d: Option<&bti_proto::google::r#type::Date>,
) -> ApiResult<chrono::NaiveDate> {
    check_date(d).map_err(|m| ApiError::invalid(field, m))
}

/// What is wrong with a date field, if anything (for [`crate::Violations::check`]).
pub fn check_date(
    d: Option<&bti_proto::google::r#type::Date>,
) -> Result<chrono::NaiveDate, String> {
    let d = d.ok_or("required: a valid date")?;
    if !in_window(d.year) {
        return Err(format!(
            "the year must be between {MIN_YEAR} and {MAX_YEAR}"
        ));
    }
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| chrono::NaiveDate::from_ymd_opt(d.year, m, day))
        .ok_or_else(|| "required: a valid date".to_string())
}

/// The wire value of the enum variant stored as `name` (its proto name), or 0.
pub fn enum_of<E: Copy + Into<i32>>(parse: fn(&str) -> Option<E>, name: &str) -> i32 {
    parse(name).map_or(0, Into::into)
}

/// Opens a handler: the caller's principal and the request message.
pub fn unpack<T>(req: tonic::Request<T>) -> Result<(crate::auth::Principal, T), tonic::Status> {
    let p = crate::auth::principal(&req)?;
    Ok((p, req.into_inner()))
}

/// Ends a handler: the value as a response, or the error as a status.
pub fn reply<T>(result: ApiResult<T>) -> Result<tonic::Response<T>, tonic::Status> {
    result
        .map(tonic::Response::new)
        .map_err(tonic::Status::from)
}

/// Characters a text field may not hold: control characters other than tab
/// and line breaks (a NUL cannot even be stored by PostgreSQL).
pub fn has_forbidden_control(value: &str) -> bool {
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' | '\n' => {}
            '\r' if chars.peek() == Some(&'\n') => {}
            c if c.is_control() => return true,
            _ => {}
        }
    }
    false
}

/// A fingerprint of an encoded request, stored with its request id so a reused
/// id with a different body is refused instead of silently returning the first
/// result.
pub fn request_fingerprint(encoded: &[u8]) -> String {
    hex(&Sha256::digest(encoded))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(
            parse_name(
                "name",
                "tenants/4201/units/abc",
                "tenants/{tenant}/units/{unit}"
            )
            .unwrap(),
            ["4201", "abc"]
        );
        for bad in [
            "tenants/4201",
            "tenants//units/x",
            "tenant/4201/units/x",
            "tenants/4201/units/a b",
        ] {
            assert!(
                parse_name("name", bad, "tenants/{tenant}/units/{unit}").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_token_is_bound_to_its_query() {
        let t = PageToken::encode("abc", &["tenants/4201"]);
        assert_eq!(
            PageToken::decode("page_token", &t, &["tenants/4201"]).unwrap(),
            Some(PageToken {
                after: "abc".into()
            })
        );
        assert!(PageToken::decode("page_token", &t, &["tenants/4202"]).is_err());
        assert!(PageToken::decode("page_token", "%%%", &["tenants/4201"]).is_err());
        assert_eq!(PageToken::decode("page_token", "", &["x"]).unwrap(), None);
    }

    #[test]
    fn etags() {
        assert!(check_etag("r", "", 3).is_ok());
        assert!(check_etag("r", "v3", 3).is_ok());
        assert!(matches!(
            check_etag("r", "v2", 3),
            Err(ApiError::EtagMismatch(_))
        ));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size("p", 0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size("p", 10_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size("p", -1).is_err());
    }

    #[test]
    fn dates_outside_the_window_are_refused() {
        use bti_proto::google::r#type::Date;
        let d = |year, month, day| Some(Date { year, month, day });
        assert!(parse_date("d", d(2026, 2, 28).as_ref()).is_ok());
        assert!(parse_date("d", d(1900, 1, 1).as_ref()).is_ok());
        assert!(parse_date("d", d(2200, 12, 31).as_ref()).is_ok());
        for bad in [
            d(0, 1, 1),
            d(-1, 1, 1),
            d(1899, 12, 31),
            d(2201, 1, 1),
            d(10000, 1, 1),
            d(2026, 2, 30),
            d(2026, 13, 1),
            d(2026, -1, 1),
            None,
        ] {
            assert!(parse_date("d", bad.as_ref()).is_err(), "{bad:?}");
        }
        let ts = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
        assert!(from_timestamp("t", &ts(1_790_000_000)).is_ok());
        assert!(
            from_timestamp("t", &ts(253_402_300_800)).is_err(),
            "year 10000"
        );
        assert!(
            from_timestamp("t", &ts(-2_300_000_000)).is_err(),
            "year 1897"
        );
        assert!(
            from_timestamp(
                "t",
                &prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1
                }
            )
            .is_err()
        );
    }

    #[test]
    fn control_characters_but_tab_and_newlines_are_forbidden() {
        for ok in [
            "plain",
            "tab\there",
            "two\nlines",
            "windows\r\nline",
            "æøå ✓",
        ] {
            assert!(!has_forbidden_control(ok), "{ok:?}");
        }
        for bad in [
            "a\u{0}b",
            "bell\u{7}",
            "lone\rreturn",
            "esc\u{1b}[0m",
            "del\u{7f}",
            "c1\u{85}",
        ] {
            assert!(has_forbidden_control(bad), "{bad:?}");
        }
    }

    #[test]
    fn update_masks() {
        let mask = prost_types::FieldMask {
            paths: vec!["display_name".into()],
        };
        assert!(update_paths("update_mask", Some(&mask), &["display_name"]).is_ok());
        assert!(update_paths("update_mask", Some(&mask), &["type"]).is_err());
        assert!(update_paths("update_mask", None, &["type"]).is_err());
    }
}
