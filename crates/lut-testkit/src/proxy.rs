//! A small fault-injecting HTTP/1.1 proxy for tests, in front of moto (or any loopback
//! server): the client under test talks to [`FaultProxy::endpoint`] as if it were the
//! service.
//!
//! Every request is recorded ([`Recorded`]: method, path, query, headers and, for form
//! posts such as STS calls, the body), so a test can assert that each `AssumeRole` carried
//! `ExternalId=...` or count `GetObject` calls. [`FaultProxy::inject`] makes the next N
//! matching requests fail: an S3/STS-style error status (503 SlowDown, 500 InternalError,
//! 400 Throttling, ...), a connection reset before any answer, a reset in the middle of the
//! response body, or a delay.
//!
//! The proxy runs on its own thread with its own tokio runtime, so it works the same under
//! `#[tokio::test]` (a current-thread runtime), a multi-thread runtime or a plain `#[test]`;
//! dropping the [`FaultProxy`] stops it. It listens on 127.0.0.1 only and connects only to
//! the upstream it was given.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

/// What to do to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an AWS error document (`<Error>` for S3, the
    /// `<ErrorResponse>` of the query protocol for STS form posts) instead of forwarding.
    Status {
        status: u16,
        code: String,
        message: String,
    },
    /// Read the request, then reset the connection without answering.
    Reset,
    /// Forward the request, send the response head and the first `after` body bytes, then
    /// reset the connection (a download broken mid-body).
    ResetMidBody { after: usize },
    /// Wait, then forward normally.
    Delay(Duration),
}

impl Fault {
    /// S3's `503 SlowDown`.
    pub fn slow_down() -> Fault {
        Fault::status(503, "SlowDown", "Please reduce your request rate.")
    }
    /// `500 InternalError`.
    pub fn internal_error() -> Fault {
        Fault::status(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    }
    /// `503 ServiceUnavailable`.
    pub fn unavailable() -> Fault {
        Fault::status(
            503,
            "ServiceUnavailable",
            "Service is unable to handle request.",
        )
    }
    /// STS/IAM-style `400 Throttling`.
    pub fn throttling() -> Fault {
        Fault::status(400, "Throttling", "Rate exceeded")
    }
    pub fn status(status: u16, code: &str, message: &str) -> Fault {
        Fault::Status {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Which requests a rule applies to; `None` fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// `GET`, `POST`, ...
    pub method: Option<String>,
    /// A substring of the path (without the query), e.g. `/bucket/key`.
    pub path_contains: Option<String>,
    /// A substring of the query string, e.g. `location`.
    pub query_contains: Option<String>,
    /// The `Action` of a form post (STS): `AssumeRole`, `GetCallerIdentity`.
    pub action: Option<String>,
}

impl Match {
    pub fn any() -> Match {
        Match::default()
    }
    /// STS calls with this `Action`.
    pub fn action(action: &str) -> Match {
        Match {
            action: Some(action.into()),
            ..Match::default()
        }
    }
    /// `GET /bucket/key...` (path-style GetObject; also matches longer keys with this prefix).
    pub fn get_object(bucket: &str, key: &str) -> Match {
        Match {
            method: Some("GET".into()),
            path_contains: Some(format!("/{bucket}/{key}")),
            ..Match::default()
        }
    }
    /// `GET /bucket?location`.
    pub fn get_bucket_location(bucket: &str) -> Match {
        Match {
            method: Some("GET".into()),
            path_contains: Some(format!("/{bucket}")),
            query_contains: Some("location".into()),
            ..Match::default()
        }
    }

    fn matches(&self, r: &Recorded) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| r.method.eq_ignore_ascii_case(m))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| r.path.contains(p))
            && self
                .query_contains
                .as_deref()
                .is_none_or(|q| r.query.contains(q))
            && self
                .action
                .as_deref()
                .is_none_or(|a| r.action().as_deref() == Some(a))
    }
}

/// One request seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// Percent-encoded, as sent.
    pub path: String,
    /// Without the `?`; empty when there is none.
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The body of `application/x-www-form-urlencoded` requests (STS), else `None`.
    pub form_body: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// The status sent back (`None` when the connection was reset before a response).
    pub status: Option<u16>,
}

impl Recorded {
    /// A decoded form parameter (`ExternalId`, `RoleArn`, `RoleSessionName`, ...).
    pub fn form(&self, name: &str) -> Option<String> {
        let body = self.form_body.as_deref()?;
        body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(k) == name).then(|| url_decode(v))
        })
    }

    /// The STS/IAM `Action` of a form post.
    pub fn action(&self) -> Option<String> {
        self.form("Action")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Is this a path-style `GET /bucket/key` (GetObject; the SDK adds `x-id=GetObject`)?
    pub fn is_get_object(&self, bucket: &str, key: &str) -> bool {
        self.method == "GET"
            && self.path == format!("/{bucket}/{key}")
            && self
                .query
                .split('&')
                .all(|p| p.is_empty() || p == "x-id=GetObject")
    }

    /// Is this `GET /bucket?location` (GetBucketLocation)?
    pub fn is_get_bucket_location(&self, bucket: &str) -> bool {
        self.method == "GET"
            && (self.path == format!("/{bucket}") || self.path == format!("/{bucket}/"))
            && self
                .query
                .split('&')
                .any(|p| p == "location" || p.starts_with("location="))
    }
}

struct Rule {
    matcher: Match,
    fault: Fault,
    remaining: usize,
}

#[derive(Default)]
struct State {
    rules: VecDeque<Rule>,
    log: Vec<Recorded>,
}

/// The proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream`
    /// (`http://127.0.0.1:<port>`).
    pub fn start(upstream: &str) -> FaultProxy {
        let up = upstream.trim_end_matches('/');
        let up = up.strip_prefix("http://").unwrap_or(up).to_string();
        assert!(
            up.starts_with("127.") || up.starts_with("localhost:") || up.starts_with("[::1]"),
            "the fault proxy only forwards to loopback addresses, not {upstream}"
        );
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        std_listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = std_listener.local_addr().expect("proxy address");
        let state = Arc::new(Mutex::new(State::default()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("lut-fault-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                    let accept = async {
                        loop {
                            let Ok((sock, _)) = listener.accept().await else {
                                continue;
                            };
                            let st = st.clone();
                            let up = up.clone();
                            tokio::spawn(async move {
                                let _ = serve_connection(sock, &up, st).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
            })
            .expect("spawn the proxy thread");
        FaultProxy {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to the next `times` requests that `matcher` matches. Rules are tried
    /// in the order they were added.
    pub fn inject(&self, matcher: Match, fault: Fault, times: usize) {
        self.state.lock().unwrap().rules.push_back(Rule {
            matcher,
            fault,
            remaining: times,
        });
    }

    /// Drops all rules not yet used up.
    pub fn clear_faults(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// How many recorded requests satisfy `pred`.
    pub fn count(&self, pred: impl Fn(&Recorded) -> bool) -> usize {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|r| pred(r))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Head {
    raw: Vec<u8>,
    first_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn content_length(&self) -> Option<usize> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> std::io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await?;
        if n == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "truncated head",
                ))
            };
        }
        raw.extend_from_slice(&line);
        if raw.len() > 256 * 1024 {
            return Err(std::io::Error::other("head too large"));
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if text.is_empty() {
            if lines.is_empty() {
                raw.clear();
                continue; // stray CRLF between messages
            }
            break;
        }
        lines.push(text);
    }
    let first_line = lines.remove(0);
    let headers = lines
        .into_iter()
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Some(Head {
        raw,
        first_line,
        headers,
    }))
}

/// Reads a message body framed as `head` says; returns the raw bytes (chunked framing
/// kept). `None` length and no chunking: nothing (requests) or until EOF (responses).
async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    head: &Head,
    to_eof: bool,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.chunked() {
        loop {
            let mut size_line = Vec::new();
            if r.read_until(b'\n', &mut size_line).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "chunk size",
                ));
            }
            body.extend_from_slice(&size_line);
            let s = String::from_utf8_lossy(&size_line);
            let size = usize::from_str_radix(s.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                // Trailers up to the blank line.
                loop {
                    let mut line = Vec::new();
                    if r.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(body);
                    }
                    body.extend_from_slice(&line);
                    if line == b"\r\n" || line == b"\n" {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size + 2, 0);
            r.read_exact(&mut body[start..]).await?;
        }
    } else if let Some(n) = head.content_length() {
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    } else if to_eof {
        r.read_to_end(&mut body).await?;
    }
    Ok(body)
}

fn error_document(form_post: bool, code: &str, message: &str) -> String {
    if form_post {
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>lut-fault-proxy</RequestId></ErrorResponse>"
        )
    } else {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
             <RequestId>lut-fault-proxy</RequestId><HostId>lut-fault-proxy</HostId></Error>"
        )
    }
}

fn reset(sock: &TcpStream) {
    let _ = sock.set_zero_linger();
}

async fn serve_connection(
    client: TcpStream,
    upstream: &str,
    state: Arc<Mutex<State>>,
) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    let (cr, mut cw) = client.into_split();
    let mut cr = BufReader::new(cr);
    let mut up: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )> = None;
    loop {
        let Some(req) = read_head(&mut cr).await? else {
            return Ok(());
        };
        let req_body = read_body(&mut cr, &req, false).await?;
        let mut parts = req.first_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.clone(), String::new()),
        };
        let form_post = req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        let mut rec = Recorded {
            method: method.clone(),
            path,
            query,
            headers: req.headers.clone(),
            form_body: form_post.then(|| String::from_utf8_lossy(&req_body).into_owned()),
            fault: None,
            status: None,
        };
        let fault = {
            let mut st = state.lock().unwrap();
            let idx = st
                .rules
                .iter()
                .position(|r| r.remaining > 0 && r.matcher.matches(&rec));
            let fault = idx.map(|i| {
                let rule = &mut st.rules[i];
                rule.remaining -= 1;
                rule.fault.clone()
            });
            st.rules.retain(|r| r.remaining > 0);
            fault
        };
        rec.fault = fault.clone();
        let index = {
            let mut st = state.lock().unwrap();
            st.log.push(rec);
            st.log.len() - 1
        };
        let set_status = |status: Option<u16>| {
            state.lock().unwrap().log[index].status = status;
        };

        match &fault {
            Some(Fault::Status {
                status,
                code,
                message,
            }) => {
                let body = error_document(form_post, code, message);
                let reason = match status {
                    400 => "Bad Request",
                    403 => "Forbidden",
                    404 => "Not Found",
                    429 => "Too Many Requests",
                    500 => "Internal Server Error",
                    502 => "Bad Gateway",
                    503 => "Service Unavailable",
                    504 => "Gateway Timeout",
                    _ => "Error",
                };
                let head = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nx-amz-request-id: lut-fault-proxy\r\n\r\n",
                    if form_post { "text/xml" } else { "application/xml" },
                    body.len()
                );
                cw.write_all(head.as_bytes()).await?;
                cw.write_all(body.as_bytes()).await?;
                cw.flush().await?;
                set_status(Some(*status));
                continue;
            }
            Some(Fault::Reset) => {
                let client = cr.into_inner().reunite(cw).map_err(std::io::Error::other)?;
                reset(&client);
                return Ok(());
            }
            Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
            _ => {}
        }

        // Forward.
        if up.is_none() {
            let sock = TcpStream::connect(upstream).await?;
            sock.set_nodelay(true)?;
            let (r, w) = sock.into_split();
            up = Some((BufReader::new(r), w));
        }
        let (ur, uw) = up.as_mut().expect("upstream connection");
        uw.write_all(&req.raw).await?;
        uw.write_all(&req_body).await?;
        uw.flush().await?;
        let Some(resp) = read_head(ur).await? else {
            return Ok(());
        };
        let status: u16 = resp
            .first_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let no_body =
            method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
        let close_delimited = !no_body && !resp.chunked() && resp.content_length().is_none();
        let body = if no_body {
            Vec::new()
        } else {
            read_body(ur, &resp, true).await?
        };
        set_status(Some(status));
        if let Some(Fault::ResetMidBody { after }) = &fault {
            cw.write_all(&resp.raw).await?;
            cw.write_all(&body[..(*after).min(body.len())]).await?;
            cw.flush().await?;
            let client = cr.into_inner().reunite(cw).map_err(std::io::Error::other)?;
            reset(&client);
            return Ok(());
        }
        write_all(&mut cw, &resp.raw).await?;
        write_all(&mut cw, &body).await?;
        if close_delimited
            || resp
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            return Ok(());
        }
    }
}

async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    w.write_all(data).await?;
    w.flush().await
}

fn url_decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_values() {
        assert_eq!(url_decode("a%3Ab+c%2F"), "a:b c/");
        assert_eq!(url_decode("100%"), "100%");
        let r = Recorded {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![],
            form_body: Some("Action=AssumeRole&ExternalId=ext%2B1&RoleArn=arn%3Aaws".into()),
            fault: None,
            status: None,
        };
        assert_eq!(r.action().as_deref(), Some("AssumeRole"));
        assert_eq!(r.form("ExternalId").as_deref(), Some("ext+1"));
        assert_eq!(r.form("RoleArn").as_deref(), Some("arn:aws"));
        assert_eq!(r.form("Missing"), None);
    }
}
