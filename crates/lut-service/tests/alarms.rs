//! Alarms, error notifications and destinations end to end: a real data directory, a clock
//! the test controls, and HTTP receivers of our own on loopback checking each payload.

#[path = "common/receiver.rs"]
mod receiver;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use lut_service::alarms::{Clock, Notifier, NotifierSettings, TestClock};
use lut_service::destinations::{
    test_alert, AlertKind, DeliverySettings, DestinationConfig, Dispatcher,
};
use lut_store::{
    Catalog, CheckRecord, DataDir, DefinitionChange, ErrorFilter, NewDestination, NewSystemError,
    NewVersion, TableRecord,
};
use receiver::Receiver;
use serde_json::json;

const T0: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z
const MIN: Duration = Duration::from_secs(60);
const SCHEMA: &str = "schema: Custom.Accounts\nparser:\n  csv:\n    hasHeader: true\nfields:\n  - {name: id, type: string, required: true}\n";

fn spec(path: &Path) -> String {
    format!(
        "AnalysisType: lookup_table\nLookupName: accounts\nEnabled: true\nSchema: Custom.Accounts\nRefresh:\n  ObjectPath: file://{}\n  PeriodMinutes: 5\n  AlarmPeriodMinutes: 60\nLogTypeMap:\n  PrimaryKey: id\n  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId]\n",
        path.display()
    )
}

struct World {
    dir: tempfile::TempDir,
    clock: Arc<TestClock>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let w = World {
            dir,
            clock: Arc::new(TestClock::new(T0)),
        };
        w.datadir()
            .catalog()
            .apply(&DefinitionChange {
                upsert: vec![TableRecord {
                    name: "accounts".into(),
                    enabled: true,
                    spec_yaml: spec(&w.dir.path().join("accounts.csv")),
                    schema_name: "Custom.Accounts".into(),
                    schema_yaml: SCHEMA.into(),
                    source_kind: "watch".into(),
                    created_at: T0,
                    updated_at: T0,
                }],
                ..DefinitionChange::default()
            })
            .unwrap();
        w
    }

    /// Opens the data directory again: each call is a "restart".
    fn datadir(&self) -> DataDir {
        DataDir::open(&self.dir.path().join("lut-data")).unwrap()
    }

    fn catalog(&self) -> Arc<dyn Catalog> {
        self.datadir().catalog()
    }

    fn dispatcher(&self, attempts: u32) -> Dispatcher {
        let dd = self.datadir();
        Dispatcher::new(
            dd.catalog(),
            dd.secret_key().unwrap(),
            self.clock.clone(),
            DeliverySettings {
                timeout: Duration::from_secs(5),
                attempts,
                backoff: Duration::from_millis(10),
            },
        )
    }

    fn notifier(&self) -> Notifier {
        Notifier::new(
            self.dispatcher(3),
            self.clock.clone(),
            NotifierSettings {
                reminder_interval: Duration::from_secs(6 * 3600),
                ..NotifierSettings::default()
            },
        )
    }

    fn add(&self, name: &str, cfg: DestinationConfig, min: &str, table: Option<&str>) {
        let dd = self.datadir();
        dd.catalog()
            .add_destination(&NewDestination {
                name: name.into(),
                kind: cfg.kind().into(),
                config: cfg.seal(&dd.secret_key().unwrap()),
                min_severity: min.into(),
                table_filter: table.map(str::to_string),
                enabled: true,
                created_at: T0,
            })
            .unwrap();
    }

    fn new_version(&self, at: i64) {
        self.catalog()
            .add_version(
                &NewVersion {
                    table: "accounts".into(),
                    etag: Some(format!("\"{at}\"")),
                    size: 3,
                    sha256: "a".repeat(64),
                    rows: 1,
                    source: "file://x".into(),
                    fetched_at: at,
                },
                true,
            )
            .unwrap();
    }

    fn check(&self, failed: bool) {
        let c = self.catalog();
        c.record_check(&CheckRecord {
            table: "accounts".into(),
            at: self.clock.now(),
            outcome: if failed { "failed" } else { "unchanged" }.into(),
            version_id: None,
            stage: failed.then(|| "access".into()),
            code: failed.then(|| "AccessDenied".into()),
            message: failed.then(|| "the role cannot read the object".into()),
            duration_ms: 1,
        })
        .unwrap();
        if failed {
            c.raise_error(&NewSystemError {
                table: Some("accounts".into()),
                severity: "CRITICAL".into(),
                stage: "access".into(),
                code: Some("AccessDenied".into()),
                message: "the role cannot read the object".into(),
                remedy: "Fix the role's policy.".into(),
                at: self.clock.now(),
            })
            .unwrap();
        } else {
            c.resolve_errors("accounts", self.clock.now()).unwrap();
        }
    }
}

fn kinds(alerts: &[lut_service::destinations::Alert]) -> Vec<(AlertKind, String)> {
    let mut v: Vec<_> = alerts
        .iter()
        .map(|a| (a.kind, a.stage.clone().unwrap_or_default()))
        .collect();
    v.sort_by_key(|(k, s)| (k.as_str(), s.clone()));
    v
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

#[tokio::test]
async fn no_data_alarm_goes_to_every_kind_of_destination_once_per_transition() {
    let w = World::new();
    let (hook, slack, teams, pd) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    w.add(
        "hook",
        DestinationConfig::Webhook {
            url: hook.url.clone(),
            secret: Some("shared-secret".into()),
            headers: vec![("X-Team".into(), "secops".into())],
        },
        "HIGH",
        None,
    );
    w.add(
        "slack",
        DestinationConfig::Slack {
            url: slack.url.clone(),
        },
        "LOW",
        Some("accounts"),
    );
    w.add(
        "teams",
        DestinationConfig::Teams {
            url: teams.url.clone(),
        },
        "HIGH",
        None,
    );
    w.add(
        "pd",
        DestinationConfig::PagerDuty {
            routing_key: "routing-key-0123456789".into(),
            events_url: pd.url.clone(),
        },
        "HIGH",
        None,
    );
    // A destination filtered to another table, and one wanting CRITICAL only: they get none.
    let other = Receiver::start().await;
    w.add(
        "other",
        DestinationConfig::Slack {
            url: other.url.clone(),
        },
        "LOW",
        Some("nets"),
    );
    w.add(
        "crit",
        DestinationConfig::Slack {
            url: other.url.clone(),
        },
        "CRITICAL",
        None,
    );

    w.new_version(T0);
    let n = w.notifier();
    assert!(n.evaluate().await.unwrap().is_empty());
    let alarms = w.catalog().alarms().unwrap();
    assert_eq!(alarms.len(), 2);
    assert!(alarms.iter().all(|a| a.state == "OK"));

    // 59 minutes: still fine. 61: ALARM, one alert.
    w.clock.advance(59 * MIN);
    assert!(n.evaluate().await.unwrap().is_empty());
    w.clock.advance(2 * MIN);
    let a = n.evaluate().await.unwrap();
    assert_eq!(
        kinds(&a),
        vec![(AlertKind::AlarmTriggered, "no_data".into())]
    );

    let reqs = hook.take();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook/secret-path-0123456789");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["x-team"], "secops");
    assert_eq!(
        r.headers["x-lut-signature"],
        format!("sha256={}", hmac_hex("shared-secret", &r.body))
    );
    assert_eq!(
        r.json(),
        json!({
            "source": "lut",
            "event": "alarm.triggered",
            "title": "No data for table accounts for 60 min",
            "table": "accounts",
            "severity": "HIGH",
            "stage": "no_data",
            "code": null,
            "message": "No new version of table accounts has been received for 1 h 1 min (alarm period 60 min); lookups use stale data.",
            "remedy": "Check that the producer still writes the object, that the role can read it (`lut errors --table ...`), and run `lut sync NAME`.",
            "since": "2027-01-15T08:00:00Z",
            "at": "2027-01-15T09:01:00Z",
            "dedup_key": "lut/accounts/no_data",
            "link": "lut://tables/accounts",
        })
    );

    let s = slack.take();
    assert_eq!(s.len(), 1);
    let sj = s[0].json();
    assert_eq!(sj.as_object().unwrap().len(), 2, "{sj}");
    let text = sj["text"].as_str().unwrap();
    assert!(
        text.contains("No data for table accounts") && text.contains("What to do:"),
        "{text}"
    );
    let blocks = sj["blocks"].as_array().unwrap();
    let types: Vec<_> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "section", "section", "context"]);
    assert_eq!(blocks[1]["fields"][0]["text"], "*Table:*\naccounts");
    assert!(blocks[2]["text"]["text"]
        .as_str()
        .unwrap()
        .starts_with("*Cause:* No new version"));
    assert!(blocks[3]["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("<lut://tables/accounts|open in lut>"));

    let t = teams.take();
    assert_eq!(t.len(), 1);
    let tj = t[0].json();
    assert_eq!(tj["@type"], "MessageCard");
    assert_eq!(tj["@context"], "https://schema.org/extensions");
    assert_eq!(tj["themeColor"], "D70000");
    assert_eq!(tj["title"], "No data for table accounts for 60 min");
    assert_eq!(
        tj["sections"][0]["facts"][0],
        json!({"name": "Table", "value": "accounts"})
    );
    assert_eq!(
        tj["potentialAction"][0]["targets"][0]["uri"],
        "lut://tables/accounts"
    );

    let p = pd.take();
    assert_eq!(p.len(), 1);
    let pj = p[0].json();
    assert_eq!(pj["routing_key"], "routing-key-0123456789");
    assert_eq!(pj["event_action"], "trigger");
    assert_eq!(pj["dedup_key"], "lut/accounts/no_data");
    assert_eq!(
        pj["payload"]["summary"],
        "No data for table accounts for 60 min"
    );
    assert_eq!(pj["payload"]["source"], "lut");
    assert_eq!(pj["payload"]["severity"], "error");
    assert_eq!(pj["payload"]["component"], "accounts");
    assert_eq!(pj["payload"]["timestamp"], "2027-01-15T09:01:00Z");
    assert!(other.take().is_empty());

    // A restart: nothing repeated, nothing forgotten; no reminder before 6 h.
    drop(n);
    let n = w.notifier();
    assert!(n.evaluate().await.unwrap().is_empty());
    w.clock.advance(5 * 60 * MIN);
    assert!(n.evaluate().await.unwrap().is_empty());
    let st = w.catalog().alarms().unwrap();
    let nd = st.iter().find(|a| a.kind == "no_data").unwrap();
    assert_eq!((nd.state.as_str(), nd.reminders), ("ALARM", 0));
    // The reminder after 6 h, once.
    w.clock.advance(61 * MIN);
    let a = n.evaluate().await.unwrap();
    assert_eq!(
        kinds(&a),
        vec![(AlertKind::AlarmReminder, "no_data".into())]
    );
    assert!(n.evaluate().await.unwrap().is_empty());
    assert_eq!(hook.take()[0].json()["event"], "alarm.reminder");
    assert_eq!(pd.take()[0].json()["event_action"], "trigger");
    assert_eq!((slack.take().len(), teams.take().len()), (1, 1));

    // Data returns: OK, one resolution; PagerDuty resolves the same dedup key.
    w.new_version(w.clock.now());
    let n = w.notifier();
    let a = n.evaluate().await.unwrap();
    assert_eq!(
        kinds(&a),
        vec![(AlertKind::AlarmResolved, "no_data".into())]
    );
    assert!(n.evaluate().await.unwrap().is_empty());
    assert_eq!(
        pd.take()[0].json(),
        json!({"routing_key": "routing-key-0123456789", "event_action": "resolve", "dedup_key": "lut/accounts/no_data"})
    );
    let h = hook.take();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].json()["event"], "alarm.resolved");
    assert_eq!(teams.take()[0].json()["themeColor"], "2EB886");
    assert_eq!(slack.take().len(), 1);
    let st = w.catalog().alarms().unwrap();
    assert!(st.iter().all(|a| a.state == "OK"), "{st:?}");

    // Every attempt is in the delivery log.
    let log = w.catalog().deliveries(Some("hook"), 100).unwrap();
    assert_eq!(log.len(), 3);
    assert!(log
        .iter()
        .all(|d| d.ok && d.status == Some(200) && d.attempt == 1));
}

#[tokio::test]
async fn failing_checks_raise_one_error_alert_and_one_alarm_and_resolve_once() {
    let w = World::new();
    let hook = Receiver::start().await;
    w.add(
        "hook",
        DestinationConfig::Webhook {
            url: hook.url.clone(),
            secret: None,
            headers: vec![],
        },
        "HIGH",
        None,
    );
    w.new_version(T0);
    let n = w.notifier();
    w.clock.advance(MIN);
    w.check(false);
    w.clock.advance(MIN);
    w.check(true);
    let a = n.evaluate().await.unwrap();
    assert_eq!(kinds(&a), vec![(AlertKind::ErrorRaised, "access".into())]);
    let r = hook.take();
    assert_eq!(r.len(), 1);
    assert!(!r[0].headers.contains_key("x-lut-signature"));
    let j = r[0].json();
    assert_eq!(j["event"], "error.raised");
    assert_eq!(j["severity"], "CRITICAL");
    assert_eq!(j["code"], "AccessDenied");
    assert_eq!(j["remedy"], "Fix the role's policy.");
    assert_eq!(j["dedup_key"], "lut/accounts/access/AccessDenied");

    // Repeats of the same error: its count grows, no new alert (also after a restart).
    for _ in 0..3 {
        w.clock.advance(5 * MIN);
        w.check(true);
        assert!(w.notifier().evaluate().await.unwrap().is_empty());
    }
    let errs = w.catalog().errors(&ErrorFilter::default()).unwrap();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].count, 4);

    // After an hour of failures only: the failing alarm (and no data, as no version came).
    w.clock.advance(45 * MIN);
    w.check(true);
    let a = n.evaluate().await.unwrap();
    assert_eq!(
        kinds(&a),
        vec![
            (AlertKind::AlarmTriggered, "failing".into()),
            (AlertKind::AlarmTriggered, "no_data".into())
        ]
    );
    let failing = hook
        .take()
        .into_iter()
        .map(|r| r.json())
        .find(|j| j["stage"] == "failing")
        .unwrap();
    assert_eq!(failing["since"], "2027-01-15T08:02:00Z");
    assert!(
        failing["message"]
            .as_str()
            .unwrap()
            .contains("the last failure: access (AccessDenied): the role cannot read the object"),
        "{failing}"
    );

    // A good check with new data: the error and both alarms resolve, each once.
    w.clock.advance(MIN);
    w.new_version(w.clock.now());
    w.check(false);
    let a = n.evaluate().await.unwrap();
    assert_eq!(
        kinds(&a),
        vec![
            (AlertKind::AlarmResolved, "failing".into()),
            (AlertKind::AlarmResolved, "no_data".into()),
            (AlertKind::ErrorResolved, "access".into()),
        ]
    );
    assert_eq!(hook.take().len(), 3);
    assert!(w.notifier().evaluate().await.unwrap().is_empty());
    assert!(hook.take().is_empty());
}

#[tokio::test]
async fn a_failing_destination_is_retried_logged_and_reported() {
    let w = World::new();
    let bad = Receiver::start().await;
    w.add(
        "bad",
        DestinationConfig::Webhook {
            url: bad.url.clone(),
            secret: None,
            headers: vec![],
        },
        "LOW",
        None,
    );
    let d = w.dispatcher(3);
    let rec = w.catalog().destinations().unwrap().remove(0);
    bad.answer(&[500, 503, 502]);
    let err = d.deliver(&rec, &test_alert("bad", T0)).await.unwrap_err();
    assert_eq!(err, "HTTP 502 Bad Gateway");
    assert_eq!(bad.take().len(), 3);
    let log = w.catalog().deliveries(Some("bad"), 10).unwrap();
    let attempts: Vec<_> = log.iter().map(|l| (l.attempt, l.ok, l.status)).collect();
    assert_eq!(
        attempts,
        [
            (3, false, Some(502)),
            (2, false, Some(503)),
            (1, false, Some(500))
        ]
    );
    let errs = w.catalog().errors(&ErrorFilter::default()).unwrap();
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (
            errs[0].table.as_deref(),
            errs[0].stage.as_str(),
            errs[0].code.as_deref(),
            errs[0].severity.as_str()
        ),
        (None, "notify", Some("DeliveryFailed(bad)"), "HIGH")
    );
    assert!(
        !errs[0].message.contains("secret-path"),
        "the URL is a secret: {}",
        errs[0].message
    );

    // A client error is not retried.
    bad.answer(&[404]);
    assert!(d.deliver(&rec, &test_alert("bad", T0)).await.is_err());
    assert_eq!(bad.take().len(), 1);
    assert_eq!(
        w.catalog().errors(&ErrorFilter::default()).unwrap()[0].count,
        2
    );

    // A refused connection (nothing listening) is a transport error, retried.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    w.add(
        "gone",
        DestinationConfig::Slack {
            url: format!("http://{addr}/x"),
        },
        "LOW",
        None,
    );
    let gone = w
        .catalog()
        .destinations()
        .unwrap()
        .into_iter()
        .find(|d| d.name == "gone")
        .unwrap();
    assert!(d.deliver(&gone, &test_alert("gone", T0)).await.is_err());
    assert_eq!(w.catalog().deliveries(Some("gone"), 10).unwrap().len(), 3);

    // Delivering again resolves the destination's error.
    assert!(d.deliver(&rec, &test_alert("bad", T0)).await.is_ok());
    let open = w.catalog().errors(&ErrorFilter::default()).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].code.as_deref(), Some("DeliveryFailed(gone)"));
    let test = bad.take()[0].json();
    assert_eq!(test["event"], "test");
    assert_eq!(test["title"], "lut test alert for destination bad");
}

/// The "done when" with the real sync engine: a table's source breaks → one system
/// error and one alert; repeats add nothing; it is fixed → resolved, one alert.
#[tokio::test]
async fn a_broken_then_fixed_source_alerts_once_each_way() {
    use lut_core::registry::Registry;
    use lut_service::alarms::SystemClock;
    use lut_service::sync::{SyncEngine, SyncSettings};
    use lut_source::local::LocalSource;
    use lut_source::Limits;

    let w = World::new();
    let hook = Receiver::start().await;
    w.add(
        "hook",
        DestinationConfig::Webhook {
            url: hook.url.clone(),
            secret: None,
            headers: vec![],
        },
        "HIGH",
        None,
    );
    let dd = w.datadir();
    let engine = SyncEngine::new(
        dd.catalog(),
        dd.blobs().clone(),
        Arc::new(Registry::default()),
        Arc::new(LocalSource::new(dd.blobs().tmp_dir(), Limits::default())),
        None,
        SyncSettings::default(),
    );
    let clock = Arc::new(SystemClock);
    let n = Notifier::new(
        Dispatcher::new(
            dd.catalog(),
            dd.secret_key().unwrap(),
            clock.clone(),
            DeliverySettings::default(),
        ),
        clock,
        NotifierSettings::default(),
    );
    // The file does not exist: the check fails.
    for _ in 0..3 {
        assert!(engine.check("accounts").await.unwrap().is_failure());
    }
    // Only errors matter here (the table's alarms run on the system clock, T0 is fixed).
    let errors_only = |v: Vec<lut_service::destinations::Alert>| -> Vec<_> {
        v.into_iter()
            .filter(|a| a.kind.as_str().starts_with("error"))
            .collect()
    };
    let hook_errors = || -> Vec<serde_json::Value> {
        hook.take()
            .into_iter()
            .map(|r| r.json())
            .filter(|j| j["event"].as_str().unwrap().starts_with("error"))
            .collect()
    };
    let a = errors_only(n.evaluate().await.unwrap());
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, AlertKind::ErrorRaised);
    assert_eq!(a[0].severity, "CRITICAL");
    let r = hook_errors();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["event"], "error.raised");
    assert!(errors_only(n.evaluate().await.unwrap()).is_empty());
    let errs = w.catalog().errors(&ErrorFilter::default()).unwrap();
    assert_eq!((errs.len(), errs[0].count), (1, 3));

    std::fs::write(w.dir.path().join("accounts.csv"), "id\na1\n").unwrap();
    assert!(!engine.check("accounts").await.unwrap().is_failure());
    let a = errors_only(n.evaluate().await.unwrap());
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, AlertKind::ErrorResolved);
    assert_eq!(hook_errors()[0]["event"], "error.resolved");
    assert!(errors_only(n.evaluate().await.unwrap()).is_empty());
    assert!(hook_errors().is_empty());
}
