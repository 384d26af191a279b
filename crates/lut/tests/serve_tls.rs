//! `lut serve` over HTTPS: a certificate made at test time, a client that trusts it, plain
//! HTTP refused, a stalled handshake not blocking others, and bad key files named.

mod common;

use std::time::Duration;

use lut_service::api::{serve, ServeConfig, TlsFiles};
use reqwest::StatusCode;

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM files.
fn certificate(dir: &std::path::Path) -> (TlsFiles, String) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = ck.cert.pem();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, &cert_pem).unwrap();
    std::fs::write(&files.key, ck.key_pair.serialize_pem()).unwrap();
    (files, cert_pem)
}

fn config(dir: &std::path::Path, tls: TlsFiles) -> ServeConfig {
    ServeConfig {
        data_dir: dir.join("data"),
        bootstrap_token: false,
        tls: Some(tls),
        ..ServeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_only_and_slow_handshakes_do_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let (files, pem) = certificate(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, config(dir.path(), files), async move {
        let _ = rx.await;
    }));

    // A client that opens a connection and never says anything.
    let _stalled = tokio::net::TcpStream::connect(addr).await.unwrap();

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut ok = None;
    for _ in 0..100 {
        match client.get(format!("https://{addr}/healthz")).send().await {
            Ok(r) => {
                ok = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let r = ok.expect("the HTTPS server answers while another handshake is stalled");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), r#"{"status":"ok"}"#);
    // Tokens still apply over HTTPS.
    let r = client
        .get(format!("https://{addr}/api/v1/tables"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(plain
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .is_err());
    // A client that does not trust the certificate is refused by its own TLS check.
    assert!(plain
        .get(format!("https://{addr}/healthz"))
        .send()
        .await
        .is_err());

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("graceful shutdown")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn bad_files_stop_the_start_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (files, _) = certificate(dir.path());
    let run = |tls: TlsFiles| {
        let cfg = config(dir.path(), tls);
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            serve(listener, cfg, std::future::pending())
                .await
                .expect_err("the server must not start")
                .to_string()
        }
    };
    let missing = run(TlsFiles {
        cert: dir.path().join("nope.pem"),
        key: files.key.clone(),
    })
    .await;
    assert!(
        missing.contains("TLS certificate") && missing.contains("nope.pem"),
        "{missing}"
    );
    // The certificate given as the key.
    let swapped = run(TlsFiles {
        cert: files.cert.clone(),
        key: files.cert.clone(),
    })
    .await;
    assert!(
        swapped.contains("private key") && swapped.contains("cert.pem"),
        "{swapped}"
    );
    // A key that belongs to another certificate.
    let other = rcgen::KeyPair::generate().unwrap();
    let other_key = dir.path().join("other.pem");
    std::fs::write(&other_key, other.serialize_pem()).unwrap();
    let mismatch = run(TlsFiles {
        cert: files.cert.clone(),
        key: other_key,
    })
    .await;
    assert!(mismatch.contains("do not fit"), "{mismatch}");
}

#[test]
fn the_cli_needs_both_files_and_reports_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let dd = dir.path().join("data");
    let r = common::lut(
        [
            "serve",
            "--data-dir",
            dd.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "x.pem",
        ],
        None,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--tls-key"), "{}", r.stderr);
    let r = common::lut(
        [
            "serve",
            "--data-dir",
            dd.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "missing-cert.pem",
            "--tls-key",
            "missing-key.pem",
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("missing-cert.pem"), "{}", r.stderr);
}
