//! `lut destinations`, `lut errors ack` and `lut alarms` as a user runs them, with a
//! webhook receiver of our own on loopback.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use common::*;

/// Answers `n` HTTP requests with 200 and sends each one's (head, body) back.
fn receiver(n: usize) -> (String, mpsc::Receiver<(String, String)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/services/T000/B000/abcdXyZ1",
        l.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let k = s.read(&mut chunk).unwrap();
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(p) = text.find("\r\n\r\n") {
                    let len: usize = text[..p]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= p + 4 + len || k == 0 {
                        tx.send((text[..p].to_string(), text[p + 4..].to_string()))
                            .unwrap();
                        break;
                    }
                }
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .unwrap();
        }
    });
    (url, rx)
}

#[test]
fn destinations_are_added_listed_masked_tested_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let dd = dir.path().join("d");
    let dds = dd.to_str().unwrap();
    let (url, rx) = receiver(1);

    let r = lut(
        [
            "--data-dir",
            dds,
            "destinations",
            "add",
            "--name",
            "team",
            "--kind",
            "slack",
            "--url",
            &url,
            "--table",
            "accounts",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.stdout_str();
    assert!(out.contains("/…/XyZ1") && !out.contains("T000"), "{out}");
    // The secret is not in the catalog file in the clear; the key file is private.
    let catalog = std::fs::read(dd.join("catalog.sqlite")).unwrap();
    assert!(!String::from_utf8_lossy(&catalog).contains("T000/B000"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(dd.join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(m & 0o777, 0o600);
    }

    let r = lut(
        [
            "--data-dir",
            dds,
            "destinations",
            "add",
            "--name",
            "team",
            "--kind",
            "slack",
            "--url",
            &url,
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("exists already"), "{}", r.stderr);
    let r = lut(
        [
            "--data-dir",
            dds,
            "destinations",
            "add",
            "--name",
            "pd",
            "--kind",
            "pagerduty",
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--routing-key"), "{}", r.stderr);

    let r = lut(
        [
            "--data-dir",
            dds,
            "destinations",
            "list",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j[0]["name"], "team");
    assert_eq!(j[0]["kind"], "slack");
    assert_eq!(j[0]["table"], "accounts");
    assert!(j[0]["target"].as_str().unwrap().ends_with("/…/XyZ1"));
    assert!(!r.stdout_str().contains("T000"));

    let r = lut(["--data-dir", dds, "destinations", "test", "team"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout_str().contains("attempt 1: ok HTTP 200"),
        "{}",
        r.stdout_str()
    );
    let (head, body) = rx.recv().unwrap();
    assert!(
        head.starts_with("POST /services/T000/B000/abcdXyZ1 "),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["text"]
        .as_str()
        .unwrap()
        .contains("lut test alert for destination team"));

    let r = lut(["--data-dir", dds, "destinations", "list"], None);
    assert!(
        r.stdout_str().contains("last delivery ok"),
        "{}",
        r.stdout_str()
    );

    let r = lut(["--data-dir", dds, "destinations", "remove", "team"], None);
    assert_eq!(r.code, 0);
    let r = lut(["--data-dir", dds, "destinations", "list"], None);
    assert_eq!(r.stdout_str().trim(), "no destinations");

    // Another key cannot read the destinations (a wrong LUT_SECRET_KEY is reported).
    let r = lut(
        [
            "--data-dir",
            dds,
            "destinations",
            "add",
            "--name",
            "h",
            "--kind",
            "webhook",
            "--url",
            &url,
            "--secret",
            "s3cr3t-value",
            "--header",
            "Authorization=Bearer abc",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout_str().contains("s3cr3t") && !r.stdout_str().contains("Bearer"));
    let r = lut_env(
        ["--data-dir", dds, "destinations", "list"],
        None,
        &[("LUT_SECRET_KEY", &"00".repeat(32))],
    );
    assert!(
        r.stdout_str().contains("cannot be decrypted"),
        "{}",
        r.stdout_str()
    );
}

#[test]
fn alarms_and_error_ack() {
    let dir = tempfile::tempdir().unwrap();
    let dds = dir.path().join("d");
    let dds = dds.to_str().unwrap();
    let r = lut(["--data-dir", dds, "alarms"], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout_str().starts_with("no alarms"));
    let r = lut(["--data-dir", dds, "errors", "ack", "42"], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no system error #42"), "{}", r.stderr);
}
