//! The HTTP sidecar: `POST /v1/evaluate` runs the chain on a request body;
//! `GET /v1/rules` describes the serving generation and the last failed
//! reload; `GET /healthz` and `GET /readyz` report that rules are loaded.
//!
//! Bad input never reaches a rule: a wrong method is `405`, an unknown path
//! `404`, another content type `415`, a body over the limit `413`, and JSON
//! that does not parse, has duplicate keys, nests too deep or does not fit the
//! contract `400`. Slow clients are cut off: headers must arrive within the
//! header timeout (the connection is closed), bodies within the body timeout
//! (`408`). An evaluation runs on the async worker that read its request,
//! where nearly all end within microseconds; one that computes past a
//! rule's first slice moves to a blocking thread (see
//! [`crate::blocking::run_evaluation`]), so a slow rule does not stall the
//! other connections. At most a fixed number of evaluations run at once, and
//! beyond it the answer is `503` with `Retry-After`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::blocking;
use crate::live::LiveRules;
use crate::request_json::{self, DEFAULT_MAX_DEPTH};
use crate::response::{self, Reply};

/// Largest request body accepted by default: 1 MiB. A login request is a few
/// kilobytes; the limit bounds the memory one request can make the sidecar
/// buffer and parse.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long requests in flight get to finish once shutdown starts.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's headers: long enough for
/// any real client, short enough that idle or trickling connections cannot
/// pile up.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client may take to send a request's body, for the same reason.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Evaluations allowed to run at once; beyond it the sidecar answers `503`
/// with `Retry-After` rather than queueing without bound. Evaluations take
/// microseconds to milliseconds, so this is a burst allowance, not a
/// throughput limit.
pub const DEFAULT_MAX_CONCURRENT_EVALUATIONS: usize = 256;

pub use crate::pool::MAX_CONCURRENT_EVALUATIONS;

/// Largest request head (request line and headers). Login requests carry a
/// few hundred bytes of headers; the bound keeps header floods cheap.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Settings of the sidecar; each field's default is the constant it names.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest request body in bytes; larger ones get `413`. [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted. [`DEFAULT_MAX_DEPTH`].
    pub max_json_depth: usize,
    /// Time to receive a request's headers. [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// Time to receive a request's body; slower ones get `408`. [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// Evaluations at once; more get `503`. [`DEFAULT_MAX_CONCURRENT_EVALUATIONS`],
    /// and at most [`MAX_CONCURRENT_EVALUATIONS`].
    pub max_concurrent_evaluations: usize,
    /// Time requests in flight get after shutdown is asked for. [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_json_depth: DEFAULT_MAX_DEPTH,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_concurrent_evaluations: DEFAULT_MAX_CONCURRENT_EVALUATIONS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

struct Shared {
    live: Arc<LiveRules>,
    options: ServerOptions,
    evaluations: Arc<Semaphore>,
}

/// Serves the generations of `live` on `listener` until `shutdown`
/// resolves, then stops accepting and lets connections in flight finish
/// within the grace period.
pub async fn serve(
    listener: TcpListener,
    live: Arc<LiveRules>,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let grace = options.shutdown_grace;
    let evaluations = Arc::new(Semaphore::new(options.max_concurrent_evaluations));
    let shared = Arc::new(Shared {
        live,
        options,
        evaluations,
    });
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => serve_connection(&graceful, stream, peer, shared.clone()),
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(connections = graceful.count(), "shutting down");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "the shutdown grace period ended with connections open; they are closed"
        );
    }
    Ok(())
}

fn serve_connection(
    graceful: &GracefulShutdown,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let shared_timeout = shared.options.header_read_timeout;
    let service = service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(request, &shared).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        // A client may close its sending side once the request is out and
        // still expects the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%peer, %error, "connection ended with an error");
        }
    });
}

type Response = hyper::Response<Full<Bytes>>;

async fn route(request: hyper::Request<Incoming>, shared: &Shared) -> Response {
    let span =
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    async move {
        let response = match (request.method(), request.uri().path()) {
            (&Method::POST, "/v1/evaluate") => evaluate(request, shared).await,
            (_, "/v1/evaluate") => method_not_allowed("POST"),
            (&Method::GET | &Method::HEAD, "/healthz") => json_response(&Reply {
                status: 200,
                body: serde_json::json!({"status": "ok"}),
            }),
            (&Method::GET | &Method::HEAD, "/readyz") => {
                json_response(&response::for_readiness(&shared.live))
            }
            (&Method::GET | &Method::HEAD, "/v1/rules") => {
                json_response(&response::for_rules(&shared.live))
            }
            (_, "/healthz" | "/readyz" | "/v1/rules") => method_not_allowed("GET, HEAD"),
            (_, path) => json_response(&Reply::error(
                404,
                "not_found",
                format!("no route for {path}"),
            )),
        };
        tracing::debug!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

async fn evaluate(request: hyper::Request<Incoming>, shared: &Shared) -> Response {
    let body = match read_json_body(request, &shared.options).await {
        Ok(body) => body,
        Err(reply) => return json_response(&reply),
    };
    let Ok(permit) = shared.evaluations.clone().try_acquire_owned() else {
        tracing::warn!(
            limit = shared.options.max_concurrent_evaluations,
            "too many evaluations at once"
        );
        let reply = Reply::error(
            503,
            "temporarily_unavailable",
            "too many evaluations at once; retry shortly",
        );
        return json_response(&reply);
    };
    // The evaluation keeps this generation alive until it ends, whatever
    // reloads swap in meanwhile.
    let generation = shared.live.current();
    let number = generation.number;
    let evaluation = async move {
        let reply = response::for_evaluation(generation.rules.evaluate_async(body).await);
        drop(permit);
        reply
    };
    // A task of its own, so that a panic is a 500 and a client that hangs
    // up does not cut an evaluation short.
    let mut reply = match tokio::spawn(blocking::run_evaluation(evaluation)).await {
        Ok(Ok((reply, lane))) => {
            tracing::debug!(?lane, "evaluation ended");
            reply
        }
        Ok(Err(error)) | Err(error) => {
            tracing::error!(%error, "evaluation task failed");
            Reply::error(500, "server_error", "the evaluation did not complete")
        }
    };
    reply.body["generation"] = number.into();
    json_response(&reply)
}

/// Checks the content type and size, reads the body within the time limit
/// and parses it as JSON.
async fn read_json_body(
    request: hyper::Request<Incoming>,
    options: &ServerOptions,
) -> Result<serde_json::Value, Reply> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(is_json_media_type) {
        return Err(Reply::error(
            415,
            "unsupported_media_type",
            format!(
                "Content-Type must be application/json, not {}",
                content_type.unwrap_or("absent")
            ),
        ));
    }
    let limit = options.max_body_bytes;
    let too_large = || {
        Reply::error(
            413,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(request.into_body(), limit).collect();
    let bytes = match tokio::time::timeout(options.body_read_timeout, collect).await {
        Err(_) => {
            return Err(Reply::error(
                408,
                "request_timeout",
                format!(
                    "the body did not arrive within {} ms",
                    options.body_read_timeout.as_millis()
                ),
            ));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(too_large());
        }
        Ok(Err(error)) => {
            return Err(Reply::error(
                400,
                "invalid_request",
                format!("reading the body failed: {error}"),
            ));
        }
    };
    request_json::parse(&bytes, options.max_json_depth).map_err(|error| {
        let mut reply = Reply::error(
            400,
            "invalid_request",
            format!("the body is not acceptable JSON: {error}"),
        );
        reply.body["line"] = error.line.into();
        reply.body["column"] = error.column.into();
        reply
    })
}

fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn method_not_allowed(allowed: &'static str) -> Response {
    let mut response = json_response(&Reply::error(
        405,
        "method_not_allowed",
        format!("use {allowed}"),
    ));
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

/// The response for `reply`: its status and JSON body, and for a 503 when to
/// retry.
fn json_response(reply: &Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&reply.body).expect("a JSON value always serializes");
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_json_media_type;

    #[test]
    fn accepts_json_with_parameters_and_any_case() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(!is_json_media_type("application/jsonp"));
        assert!(!is_json_media_type("text/plain"));
    }
}
