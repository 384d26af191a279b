//! The fault proxy against a tiny loopback upstream: framing (Content-Length, chunked),
//! keep-alive, recording and each kind of fault.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use lut_testkit::{Fault, FaultProxy, Match};

/// Answers `/chunked` with a chunked body and anything else with a Content-Length body
/// echoing the path; keeps connections alive.
fn upstream() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in l.incoming() {
            let Ok(sock) = sock else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(sock.try_clone().unwrap());
                let mut w = sock;
                loop {
                    let mut first = String::new();
                    if r.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let path = first.split_whitespace().nth(1).unwrap().to_string();
                    let resp = if path == "/chunked" {
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_string()
                    } else {
                        let b = format!("path={path} body={}", String::from_utf8_lossy(&body));
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len())
                    };
                    w.write_all(resp.as_bytes()).unwrap();
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Sends one request on `sock` and reads the response (status, body); `None` if the
/// connection was closed or reset before a complete response.
fn exchange(sock: &mut BufReader<TcpStream>, req: &str) -> Option<(u16, String)> {
    sock.get_mut().write_all(req.as_bytes()).ok()?;
    let mut status = String::new();
    if sock.read_line(&mut status).ok()? == 0 {
        return None;
    }
    let code = status.split_whitespace().nth(1)?.parse().ok()?;
    let (mut len, mut chunked) = (None, false);
    loop {
        let mut h = String::new();
        sock.read_line(&mut h).ok()?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            sock.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            sock.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        let mut b = vec![0; len.unwrap_or(0)];
        sock.read_exact(&mut b).ok()?;
        body = b;
    }
    Some((code, String::from_utf8(body).ok()?))
}

fn connect(p: &FaultProxy) -> BufReader<TcpStream> {
    let s = TcpStream::connect(p.endpoint().trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

const FORM: &str = "Action=AssumeRole&ExternalId=ext%2F1&RoleSessionName=lut-t";

fn sts_post() -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\r\n{FORM}",
        FORM.len()
    )
}

#[test]
fn forwards_records_and_keeps_connections_alive() {
    let p = FaultProxy::start(&upstream());
    let mut c = connect(&p);
    let (s, b) = exchange(
        &mut c,
        "GET /b/k?x-id=GetObject HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    assert_eq!((s, b.as_str()), (200, "path=/b/k?x-id=GetObject body="));
    let (s, b) = exchange(&mut c, "GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!((s, b.as_str()), (200, "hello world"));
    let (s, b) = exchange(&mut c, &sts_post()).unwrap();
    assert_eq!(s, 200);
    assert!(b.ends_with(FORM));
    let reqs = p.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].is_get_object("b", "k"));
    assert_eq!(reqs[1].path, "/chunked");
    assert_eq!(reqs[2].action().as_deref(), Some("AssumeRole"));
    assert_eq!(reqs[2].form("ExternalId").as_deref(), Some("ext/1"));
    assert!(reqs
        .iter()
        .all(|r| r.status == Some(200) && r.fault.is_none()));
    p.clear_requests();
    assert!(p.requests().is_empty());
}

#[test]
fn injects_faults_on_matching_requests_only() {
    let p = FaultProxy::start(&upstream());
    p.inject(Match::get_object("b", "k"), Fault::slow_down(), 2);
    p.inject(Match::action("AssumeRole"), Fault::throttling(), 1);
    let mut c = connect(&p);
    let get = "GET /b/k HTTP/1.1\r\nHost: x\r\n\r\n";
    let (s, b) = exchange(&mut c, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!((s, b.as_str()), (200, "path=/other body="));
    let (s, b) = exchange(&mut c, get).unwrap();
    assert_eq!(s, 503);
    assert!(b.contains("<Error><Code>SlowDown</Code>"), "{b}");
    assert_eq!(exchange(&mut c, get).unwrap().0, 503);
    assert_eq!(exchange(&mut c, get).unwrap().0, 200, "used up after 2");
    let (s, b) = exchange(&mut c, &sts_post()).unwrap();
    assert_eq!(s, 400);
    assert!(
        b.contains("<ErrorResponse") && b.contains("<Code>Throttling</Code>"),
        "{b}"
    );
    assert_eq!(exchange(&mut c, &sts_post()).unwrap().0, 200);
    let faults: Vec<_> = p.requests().iter().map(|r| r.fault.is_some()).collect();
    assert_eq!(faults, [false, true, true, false, true, false]);

    // Reset before any answer; reset mid-body; delay.
    p.inject(Match::any(), Fault::Reset, 1);
    assert_eq!(exchange(&mut c, get), None);
    assert_eq!(p.requests().last().unwrap().status, None);
    let mut c = connect(&p);
    p.inject(Match::any(), Fault::ResetMidBody { after: 3 }, 1);
    assert_eq!(exchange(&mut c, get), None);
    let mut c = connect(&p);
    p.inject(Match::any(), Fault::Delay(Duration::from_millis(300)), 1);
    let t = Instant::now();
    assert_eq!(exchange(&mut c, get).unwrap().0, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    p.clear_faults();
    assert_eq!(exchange(&mut c, get).unwrap().0, 200);
}
