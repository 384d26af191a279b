//! A minimal blocking HTTP/1.1 client over `std::net`, enough for target 3 against
//! `lut serve` on loopback: small requests with their whole response, and one streaming
//! request whose body (a file) is sent by a writer thread while the response is decoded
//! (`Content-Length` or chunked) on the calling thread as it arrives.
//!
//! It is hand-written so that the client costs next to nothing on a 2-core machine (the
//! file goes to the socket with `std::io::copy`, which uses `sendfile`/`splice` on Linux)
//! and lut-bench does not pull in an HTTP stack. Every request carries
//! `Connection: close`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// A whole response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("response is not JSON: {}", self.text()))
    }
}

fn head(method: &str, addr: SocketAddr, path: &str, token: Option<&str>, len: u64) -> String {
    let mut h = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    if let Some(t) = token {
        h.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if len > 0 {
        let ct = if path.ends_with("/data") {
            "text/csv"
        } else if path.contains("/enrich") {
            "application/x-ndjson"
        } else {
            "application/json"
        };
        h.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    h.push_str("\r\n");
    h
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .with_context(|| format!("connecting to {addr}"))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Sends one request with `body` and returns the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> Result<Response> {
    let mut s = connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    s.write_all(head(method, addr, path, token, body.len() as u64).as_bytes())?;
    s.write_all(body)?;
    let mut r = BufReader::new(s);
    let status = read_head(&mut r)?;
    let mut body = Vec::new();
    read_body(&mut r, &status, |b| {
        body.extend_from_slice(b);
        Ok(())
    })?;
    Ok(Response {
        status: status.code,
        body,
    })
}

/// What a streamed request produced.
#[derive(Debug)]
pub struct Streamed {
    /// From the start of the connection to the last byte of the response.
    pub secs: f64,
    pub bytes_out: u64,
}

/// POSTs `file` to `path` as the body (with `Content-Length`) from a writer thread while
/// this thread reads the response, handing each piece of its body to `sink` as it comes.
/// A status other than 200 is returned with the body's start in the error.
pub fn stream_file(
    addr: SocketAddr,
    path: &str,
    token: &str,
    file: &Path,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<Streamed> {
    let mut input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let len = input.metadata()?.len();
    let t0 = Instant::now();
    let s = connect(addr)?;
    let mut w = s.try_clone()?;
    let h = head("POST", addr, path, Some(token), len);
    let writer = std::thread::spawn(move || -> std::io::Result<u64> {
        w.write_all(h.as_bytes())?;
        std::io::copy(&mut input, &mut w)
    });
    let mut r = BufReader::with_capacity(1 << 20, s);
    let status = read_head(&mut r)?;
    let mut bytes_out = 0u64;
    if status.code == 200 {
        read_body(&mut r, &status, |b| {
            bytes_out += b.len() as u64;
            sink(b)
        })?;
    } else {
        let mut body = Vec::new();
        let _ = read_body(&mut r, &status, |b| {
            body.extend_from_slice(b);
            Ok(())
        });
        bail!(
            "POST {path}: HTTP {}: {}",
            status.code,
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let sent = match writer.join() {
        Ok(r) => r.context("sending the request body")?,
        Err(_) => bail!("the writer thread panicked"),
    };
    ensure!(sent == len, "sent {sent} of {len} body bytes");
    Ok(Streamed { secs, bytes_out })
}

/// The status line and the headers that matter for reading the body.
#[derive(Debug)]
struct Head {
    code: u16,
    chunked: bool,
    length: Option<u64>,
}

fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> Result<()> {
    line.clear();
    let n = r.read_until(b'\n', line)?;
    ensure!(n > 0, "connection closed in the middle of a response");
    while line.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
        line.pop();
    }
    Ok(())
}

fn read_head(r: &mut impl BufRead) -> Result<Head> {
    let mut line = Vec::new();
    read_line(r, &mut line)?;
    let status = String::from_utf8_lossy(&line).into_owned();
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status:?}"))?;
    let mut head = Head {
        code,
        chunked: false,
        length: None,
    };
    loop {
        read_line(r, &mut line)?;
        if line.is_empty() {
            return Ok(head);
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            bail!("malformed header line {text:?}");
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            head.chunked = true;
        } else if name == "content-length" {
            head.length = Some(value.parse().context("bad Content-Length")?);
        }
    }
}

/// Hands exactly `n` bytes of `r` to `sink` without copying them.
fn pass(
    r: &mut impl BufRead,
    mut n: u64,
    sink: &mut impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    while n > 0 {
        let buf = r.fill_buf()?;
        ensure!(
            !buf.is_empty(),
            "connection closed {n} bytes before the body's end"
        );
        let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        sink(&buf[..k])?;
        r.consume(k);
        n -= k as u64;
    }
    Ok(())
}

fn read_body(
    r: &mut impl BufRead,
    head: &Head,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    if head.chunked {
        let mut line = Vec::new();
        loop {
            read_line(r, &mut line)?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .with_context(|| format!("bad chunk size line {text:?}"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    read_line(r, &mut line)?;
                    if line.is_empty() {
                        return Ok(());
                    }
                }
            }
            pass(r, size, &mut sink)?;
            read_line(r, &mut line)?;
            ensure!(line.is_empty(), "chunk not followed by CRLF");
        }
    } else if let Some(n) = head.length {
        pass(r, n, &mut sink)
    } else {
        loop {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            let k = buf.len();
            sink(buf)?;
            r.consume(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(raw: &[u8]) -> (u16, Vec<u8>) {
        let mut r = BufReader::with_capacity(3, raw);
        let h = read_head(&mut r).unwrap();
        let mut out = Vec::new();
        read_body(&mut r, &h, |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        (h.code, out)
    }

    #[test]
    fn decodes_chunked_and_sized_bodies() {
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n";
        assert_eq!(body_of(chunked), (200, b"hello, world".to_vec()));
        let sized = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnopeEXTRA";
        assert_eq!(body_of(sized), (401, b"nope".to_vec()));
        let eof = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
        assert_eq!(body_of(eof), (200, b"until the end".to_vec()));
    }

    #[test]
    fn rejects_truncated_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort";
        let mut r = BufReader::new(&raw[..]);
        let h = read_head(&mut r).unwrap();
        assert!(read_body(&mut r, &h, |_| Ok(())).is_err());
    }
}
