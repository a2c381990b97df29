//! Request screening, before any handler runs: the request message of every
//! BTI method is decoded against its descriptor, so bytes that are not a
//! valid message (a name that is not UTF-8, a truncated field) are
//! INVALID_ARGUMENT with ErrorInfo rather than tonic's bare INTERNAL, and
//! every string field in it, however deep, is checked for control
//! characters (other than tab and line breaks), which are refused naming the
//! field. Services still validate what their fields mean; this is the one
//! place that makes "never INTERNAL for what a client sent" hold for the
//! encoding itself, on both backends alike.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, Value};
use tonic::body::Body;

use crate::error::{ApiError, FieldViolation};

/// Messages longer than this are passed on unscreened (a referral with PDF
/// attachments); the service's own size limit and validation apply to them.
pub const MAX_SCREENED_BYTES: usize = 4 * 1024 * 1024;

/// The request type of every unary and server-streaming BTI method, by path.
#[derive(Clone)]
pub struct ScreenLayer {
    inputs: Arc<HashMap<String, MessageDescriptor>>,
}

impl ScreenLayer {
    /// From the contracts' descriptor set.
    pub fn new() -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(bti_proto::FILE_DESCRIPTOR_SET)?;
        let mut inputs = HashMap::new();
        for service in pool.services() {
            for method in service.methods() {
                if method.is_client_streaming() {
                    continue;
                }
                inputs.insert(
                    format!("/{}/{}", service.full_name(), method.name()),
                    method.input(),
                );
            }
        }
        Ok(ScreenLayer {
            inputs: Arc::new(inputs),
        })
    }
}

impl<S> tower::Layer<S> for ScreenLayer {
    type Service = Screen<S>;
    fn layer(&self, inner: S) -> Screen<S> {
        Screen {
            inner,
            inputs: self.inputs.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Screen<S> {
    inner: S,
    inputs: Arc<HashMap<String, MessageDescriptor>>,
}

impl<S> tower::Service<http::Request<Body>> for Screen<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(input) = self.inputs.get(req.uri().path()).cloned() else {
            return Box::pin(inner.call(req));
        };
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            match screen(input, body).await {
                Ok(body) => inner.call(http::Request::from_parts(parts, body)).await,
                Err(e) => Ok(tonic::Status::from(e).into_http()),
            }
        })
    }
}

/// Reads the request's first message and checks it; the body to pass on.
async fn screen(input: MessageDescriptor, mut body: Body) -> Result<Body, ApiError> {
    let mut buf = BytesMut::new();
    // The 5-byte gRPC prefix: compression flag and length.
    while buf.len() < 5 {
        match next_data(&mut body).await? {
            Some(data) => buf.extend_from_slice(&data),
            None => return Ok(Body::new(http_body_util::Full::new(buf.freeze()))),
        }
    }
    let compressed = buf[0] != 0;
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if compressed || len > MAX_SCREENED_BYTES {
        // Not ours to read: hand on what was read, then the rest as it comes.
        let head = futures::stream::once(async move {
            Ok::<_, tonic::Status>(http_body::Frame::data(buf.freeze()))
        });
        let rest = http_body_util::BodyStream::new(body)
            .map(|r| r.map_err(|e| tonic::Status::from_error(e.into())));
        use futures::StreamExt;
        return Ok(Body::new(http_body_util::StreamBody::new(head.chain(rest))));
    }
    while buf.len() < 5 + len {
        match next_data(&mut body).await? {
            Some(data) => buf.extend_from_slice(&data),
            None => break,
        }
    }
    // Anything after the first message (there is none for unary calls) stays.
    let mut rest = Vec::new();
    while let Some(data) = next_data(&mut body).await? {
        rest.push(data);
    }
    let bytes = buf.freeze();
    if bytes.len() >= 5 + len {
        let message = bytes.slice(5..5 + len);
        let decoded = DynamicMessage::decode(input.clone(), message).map_err(|_| {
            ApiError::Malformed(format!(
                "the request is not a valid {} message",
                input.full_name()
            ))
        })?;
        let mut violations = Vec::new();
        check_strings(&decoded, "", &mut violations);
        if !violations.is_empty() {
            return Err(ApiError::InvalidArgument(violations));
        }
    }
    // A short body is tonic's to refuse.
    let mut all = BytesMut::from(bytes.as_ref());
    for r in rest {
        all.extend_from_slice(&r);
    }
    Ok(Body::new(http_body_util::Full::new(all.freeze())))
}

async fn next_data(body: &mut Body) -> Result<Option<Bytes>, ApiError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(_)) => {
                return Err(ApiError::Malformed(
                    "the request body could not be read".into(),
                ));
            }
            Some(Ok(frame)) => {
                if let Ok(mut data) = frame.into_data() {
                    return Ok(Some(data.copy_to_bytes(data.remaining())));
                }
            }
        }
    }
}

/// Adds a violation for every string under `m` holding a forbidden control
/// character, by its path (`entry.text`, `attachments[0].filename`).
pub fn check_strings(m: &DynamicMessage, prefix: &str, out: &mut Vec<FieldViolation>) {
    for (field, value) in m.fields() {
        let path = if prefix.is_empty() {
            field.name().to_string()
        } else {
            format!("{prefix}.{}", field.name())
        };
        check_value(value, &path, out);
    }
}

fn check_value(value: &Value, path: &str, out: &mut Vec<FieldViolation>) {
    match value {
        Value::String(s) if crate::api::has_forbidden_control(s) => out.push(FieldViolation {
            field: path.to_string(),
            description: "must not contain control characters other than tab and line breaks"
                .into(),
        }),
        Value::Message(m) => check_strings(m, path, out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                check_value(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                let key = match key {
                    prost_reflect::MapKey::String(k) => {
                        if crate::api::has_forbidden_control(k) {
                            out.push(FieldViolation {
                                field: path.to_string(),
                                description: "a key contains control characters".into(),
                            });
                        }
                        k.clone()
                    }
                    other => format!("{other:?}"),
                };
                check_value(item, &format!("{path}[{key}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn descriptor(name: &str) -> MessageDescriptor {
        DescriptorPool::decode(bti_proto::FILE_DESCRIPTOR_SET)
            .unwrap()
            .get_message_by_name(name)
            .unwrap()
    }

    fn framed(message: &[u8]) -> Body {
        let mut b = vec![0u8];
        b.extend_from_slice(&(message.len() as u32).to_be_bytes());
        b.extend_from_slice(message);
        Body::new(http_body_util::Full::new(Bytes::from(b)))
    }

    #[tokio::test]
    async fn nested_control_characters_are_named_by_their_path() {
        use bti_proto::caselog::{CreateEntryRequest, Entry};
        let req = CreateEntryRequest {
            parent: "tenants/4201/caseLogs/x".into(),
            entry: Some(Entry {
                text: "a\u{0}b".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        };
        let Err(err) = screen(
            descriptor("bti.caselog.v1.CreateEntryRequest"),
            framed(&req.encode_to_vec()),
        )
        .await
        else {
            panic!("a NUL in entry.text must be refused");
        };
        match err {
            ApiError::InvalidArgument(v) => assert_eq!(v[0].field, "entry.text"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn bytes_that_are_not_the_message_are_malformed_and_good_ones_pass_unchanged() {
        // Field 1 (name) as a length-delimited value that is not UTF-8.
        let bad = [0x0a, 0x02, 0xff, 0xfe];
        let Err(err) = screen(descriptor("bti.caselog.v1.GetCaseLogRequest"), framed(&bad)).await
        else {
            panic!("a name that is not UTF-8 must be refused");
        };
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        use tonic_types::StatusExt;
        assert_eq!(
            status.get_error_details().error_info().unwrap().reason,
            "MALFORMED_REQUEST"
        );
        let good = bti_proto::caselog::GetCaseLogRequest {
            name: "tenants/4201/caseLogs/x\tand a tab".into(),
        }
        .encode_to_vec();
        let body = screen(
            descriptor("bti.caselog.v1.GetCaseLogRequest"),
            framed(&good),
        )
        .await
        .expect("passes");
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[5..], &good[..]);
    }
}
