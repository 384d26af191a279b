//! Per-request observability: the request id, the tracing span every log line of a request
//! is written in, HTTP metrics, and one structured log line when the request ends.
//!
//! A request ends when its response body has been sent (or dropped because the client went
//! away), not at the response head: a streaming enrichment is timed and logged in full.
//! Nothing secret is logged: the route is the matched pattern (never the raw path or the
//! query string), headers are not logged, and an authenticated caller is named by its token
//! id (never the token).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tracing::Instrument;

use super::metrics::Metrics;
use super::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routes polled by machines, logged at `debug` when they succeed.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Longest request id taken from a client; longer ones are replaced.
pub const MAX_REQUEST_ID: usize = 128;

tokio::task_local! {
    /// The id of the request being handled, for error bodies.
    static CURRENT: Arc<str>;
}

/// The id of the request this task is handling, if any.
pub fn current_request_id() -> Option<Arc<str>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// A client's id is kept when it is short and made of characters that are safe in logs
/// and headers (letters, digits, `-`, `_`, `.`, `:`), e.g. a UUID.
fn acceptable(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= MAX_REQUEST_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then_some(s)
}

/// 128 random bits in hex. Ids correlate log lines; they are not secrets, so a fast
/// non-cryptographic generator will do.
fn generate() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// The method as a label: clients may send any token as a method, and each would be a new
/// series, so the ones no route takes are all `OTHER`.
fn method_label(m: &Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// The outermost middleware: settles the request id, runs the request in its span and
/// arranges for metrics and the log line when the response body ends.
pub async fn observe(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let given = req.headers().get(&REQUEST_ID);
    let kept: Option<Arc<str>> = given.and_then(acceptable).map(Arc::from);
    let invalid = given.is_some() && kept.is_none();
    let id = kept.unwrap_or_else(|| generate().into());
    let header = HeaderValue::from_str(&id).expect("request ids are visible ASCII");
    // Handlers see the id that is logged, not a rejected one.
    req.headers_mut().insert(REQUEST_ID, header.clone());
    let method = method_label(req.method());
    let route: Arc<str> = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".into(), |m| m.as_str().into());
    // `token_id` is recorded by the auth middleware once the caller is known.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        token_id = tracing::field::Empty,
    );
    if invalid {
        tracing::debug!(parent: &span, "the x-request-id given was invalid; generated one");
    }
    let mut resp = CURRENT
        .scope(id, next.run(req))
        .instrument(span.clone())
        .await;
    resp.headers_mut().insert(REQUEST_ID, header);
    let done = Done {
        metrics: st.metrics.clone(),
        method,
        route,
        status: resp.status().as_u16(),
        started,
        span,
    };
    resp.map(|inner| {
        Body::new(Tracked {
            inner,
            done: Some(done),
        })
    })
}

/// What is counted and logged once the request is over.
struct Done {
    metrics: Arc<Metrics>,
    method: &'static str,
    route: Arc<str>,
    status: u16,
    started: Instant,
    span: tracing::Span,
}

impl Drop for Done {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        self.metrics
            .add_http(self.method, &self.route, self.status, took);
        // Whole microseconds: more digits would be noise.
        let ms = took.as_micros() as f64 / 1000.0;
        let (span, status) = (&self.span, self.status);
        if status >= 500 {
            tracing::warn!(parent: span, status, latency_ms = ms, "request finished");
        } else if status < 400 && PROBES.contains(&&*self.route) {
            // Scrapers and health checks call these every few seconds.
            tracing::debug!(parent: span, status, latency_ms = ms, "request finished");
        } else {
            tracing::info!(parent: span, status, latency_ms = ms, "request finished");
        }
    }
}

/// The response body, which ends the request when it ends or is dropped.
struct Tracked {
    inner: Body,
    done: Option<Done>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = polled {
            // Counted now rather than whenever the connection drops the body.
            self.done.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_request_ids_are_kept() {
        let ok = |s: &str| acceptable(&HeaderValue::from_str(s).unwrap()).is_some();
        assert!(ok("3f2a1c9e-7b4d-4c1e-9a0b-123456789abc"));
        assert!(ok("req_1.2:x"));
        assert!(ok(&"a".repeat(MAX_REQUEST_ID)));
        assert!(!ok(&"a".repeat(MAX_REQUEST_ID + 1)));
        assert!(!ok(""));
        assert!(!ok("has space"));
        assert!(!ok("quote\"d"));
        assert!(!ok("a/b"));
        let generated = generate();
        assert_eq!(generated.len(), 32);
        assert!(ok(&generated));
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::PUT), "PUT");
        assert_eq!(
            method_label(&Method::from_bytes(b"FOO123").unwrap()),
            "OTHER"
        );
        assert_eq!(method_label(&Method::TRACE), "OTHER");
    }
}
