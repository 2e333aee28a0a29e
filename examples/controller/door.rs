//! Iris's door: the Connect protocol's unary calls on axum, written to the protocol's spec
//! (<https://connectrpc.com/docs/protocol/>), since no Rust Connect server that takes prost's
//! messages is ready (see the README). A call is `POST /<service>/<Method>` with a binary
//! protobuf body (`Content-Type: application/proto`, gzip'd or not); its answer is the response
//! message, or a Connect error: a JSON `{"code", "message"}` with the code's HTTP status, mapped
//! from the crate's refusals by `iris_task::connect`.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use iris_task::connect::{ConnectCode, ConnectError};
use prost::Message;

/// The content type of a binary protobuf unary call.
pub const PROTO: &str = "application/proto";

/// A refusal as Connect's unary error answer.
pub fn error(err: &ConnectError) -> Response {
    let status =
        StatusCode::from_u16(err.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({"code": err.code.as_str(), "message": err.message});
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// A method this door does not serve.
pub fn unimplemented(path: &str) -> Response {
    error(&ConnectError::new(
        ConnectCode::Unimplemented,
        format!("{path} is not served by this controller"),
    ))
}

/// The call's deadline: its `connect-timeout-ms`, at most `cap`.
pub fn deadline(headers: &HeaderMap, cap: Duration) -> Duration {
    headers
        .get("connect-timeout-ms")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .map_or(cap, |ms| Duration::from_millis(ms).min(cap))
}

/// A request whose codec this door does not speak: HTTP 415, as the protocol asks, with the
/// codec it speaks in `Accept-Post`.
fn unsupported(kind: &str) -> Response {
    let err = ConnectError::new(
        ConnectCode::Unimplemented,
        format!("content type {kind:?}: this controller speaks binary protobuf ({PROTO}) only"),
    );
    let mut response = error(&err);
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    response
        .headers_mut()
        .insert("accept-post", HeaderValue::from_static(PROTO));
    response
}

/// Reads a unary request's message from its bytes, or the Connect error that says why not.
pub fn decode<M: Message + Default>(body: &[u8]) -> Result<M, ConnectError> {
    M::decode(body).map_err(|err| {
        ConnectError::new(
            ConnectCode::InvalidArgument,
            format!(
                "the body is no {}: {err}",
                std::any::type_name::<M>()
                    .rsplit("::")
                    .next()
                    .unwrap_or("message")
            ),
        )
    })
}

/// A unary answer.
pub fn answer<M: Message>(message: &M) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROTO))],
        message.encode_to_vec(),
    )
        .into_response()
}

/// Runs a unary call: decodes the request, runs `handle` on it within the call's deadline, and
/// writes its answer or error.
/// A request larger than `limit` bytes is `resource_exhausted`.
pub async fn unary<Req, Resp, F, Fut>(
    headers: &HeaderMap,
    body: Body,
    (cap, limit): (Duration, usize),
    handle: F,
) -> Response
where
    Req: Message + Default,
    Resp: Message,
    F: FnOnce(Req) -> Fut,
    Fut: Future<Output = Result<Resp, ConnectError>>,
{
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if kind != PROTO {
        return unsupported(kind);
    }
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(err) => {
            return error(&ConnectError::new(
                ConnectCode::ResourceExhausted,
                format!("the request is larger than this controller takes ({limit} bytes): {err}"),
            ));
        }
    };
    let request = match decode::<Req>(&body) {
        Ok(request) => request,
        Err(err) => return error(&err),
    };
    let limit = deadline(headers, cap);
    match tokio::time::timeout(limit, handle(request)).await {
        Ok(Ok(response)) => answer(&response),
        Ok(Err(err)) => error(&err),
        Err(_) => error(&ConnectError::new(
            ConnectCode::DeadlineExceeded,
            format!("no answer within {} ms", limit.as_millis()),
        )),
    }
}

/// The client side of a unary call: `request` to `url` as binary protobuf, its answer decoded,
/// or why there is none (the controller's Reconcile calls, the fleet's calls to a controller).
pub async fn post<Req: Message, Resp: Message + Default>(
    client: &reqwest::Client,
    url: &str,
    request: &Req,
    timeout: Duration,
) -> Result<Resp, String> {
    let response = client
        .post(url)
        .header(header::CONTENT_TYPE, PROTO)
        .header("connect-protocol-version", "1")
        .header("connect-timeout-ms", timeout.as_millis().to_string())
        .timeout(timeout)
        .body(request.encode_to_vec())
        .send()
        .await
        .map_err(|err| format!("{url}: {err}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|err| format!("{url}: {err}"))?;
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(format!("{url}: HTTP {status}: {text}"));
    }
    Resp::decode(body.as_ref()).map_err(|err| format!("{url}: the answer does not decode: {err}"))
}
