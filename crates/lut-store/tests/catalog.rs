//! Every `Catalog` operation of the SQLite catalog, through the trait.

mod common;

use common::{catalog, error, sha, table, version};
use lut_store::{Catalog, CheckRecord, DefinitionChange, ErrorFilter, SqliteCatalog, StoreError};

fn upsert(cat: &dyn Catalog, names: &[&str], at: i64) {
    cat.apply(&DefinitionChange {
        upsert: names.iter().map(|n| table(n, at)).collect(),
        ..Default::default()
    })
    .expect("apply");
}

fn check(table: &str, at: i64, outcome: &str) -> CheckRecord {
    CheckRecord {
        table: table.to_string(),
        at,
        outcome: outcome.to_string(),
        version_id: None,
        stage: (outcome == "failed").then(|| "get-object".to_string()),
        code: (outcome == "failed").then(|| "AccessDenied".to_string()),
        message: None,
        duration_ms: 7,
    }
}

#[test]
fn apply_inserts_and_updates_keeping_created_at() {
    let (_d, cat) = catalog();
    assert!(cat.tables().expect("tables").is_empty());
    upsert(&cat, &["b", "a"], 100);
    let names: Vec<_> = cat
        .tables()
        .expect("tables")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(cat.table("a").expect("get"), Some(table("a", 100)));
    assert_eq!(cat.table("zzz").expect("get"), None);

    let mut changed = table("a", 500);
    changed.spec_yaml = "TableName: a\nEnabled: false\n".into();
    changed.enabled = false;
    changed.source_kind = "file".into();
    cat.apply(&DefinitionChange {
        upsert: vec![changed.clone()],
        ..Default::default()
    })
    .expect("update");
    let got = cat.table("a").expect("get").expect("present");
    assert_eq!(got.created_at, 100, "created_at survives an update");
    assert_eq!(got.updated_at, 500);
    assert_eq!(got.spec_yaml, changed.spec_yaml);
    assert!(!got.enabled);
    assert_eq!(got.source_kind, "file");
}

#[test]
fn apply_is_all_or_nothing() {
    let (_d, cat) = catalog();
    upsert(&cat, &["keep"], 1);
    cat.add_version(&version("keep", 1), true).expect("version");

    // Upsert, delete and a version for an unknown table: the last part fails.
    let err = cat
        .apply(&DefinitionChange {
            upsert: vec![table("new", 2)],
            delete: vec!["keep".into()],
            versions: vec![version("new", 2), version("ghost", 3)],
        })
        .expect_err("unknown table");
    assert!(
        matches!(err, StoreError::NoSuchTable(ref n) if n == "ghost"),
        "{err:?}"
    );
    assert_eq!(cat.table("new").expect("get"), None);
    assert!(cat.table("keep").expect("get").is_some());
    assert_eq!(cat.versions("keep").expect("versions").len(), 1);
    assert_eq!(cat.referenced_blobs().expect("blobs"), [sha(1)]);

    // Deleting a table that is not there fails the same way.
    let err = cat
        .apply(&DefinitionChange {
            upsert: vec![table("new", 2)],
            delete: vec!["nope".into()],
            versions: vec![],
        })
        .expect_err("unknown delete");
    assert!(matches!(err, StoreError::NoSuchTable(_)), "{err:?}");
    assert_eq!(cat.table("new").expect("get"), None);

    // A bad digest in a version rolls back the definitions with it.
    let mut bad = version("new", 4);
    bad.sha256 = "../../etc/passwd".into();
    cat.apply(&DefinitionChange {
        upsert: vec![table("new", 2)],
        versions: vec![bad],
        ..Default::default()
    })
    .expect_err("bad sha256");
    assert_eq!(cat.table("new").expect("get"), None);

    // Defining and deleting the same name is contradictory.
    let err = cat
        .apply(&DefinitionChange {
            upsert: vec![table("keep", 2)],
            delete: vec!["keep".into()],
            versions: vec![],
        })
        .expect_err("conflict");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
}

#[test]
fn apply_versions_go_live_and_deletes_cascade() {
    let (_d, cat) = catalog();
    cat.apply(&DefinitionChange {
        upsert: vec![table("f", 1), table("g", 1)],
        versions: vec![version("f", 1), version("g", 2)],
        ..Default::default()
    })
    .expect("apply");
    let live = cat.live_version("f").expect("live").expect("made live");
    assert_eq!(live.sha256, sha(1));
    assert!(live.live);
    cat.record_check(&check("f", 5, "updated")).expect("check");
    cat.raise_error(&error(Some("f"), "parse", None, 5))
        .expect("raise");

    cat.apply(&DefinitionChange {
        delete: vec!["f".into()],
        ..Default::default()
    })
    .expect("delete");
    assert_eq!(cat.table("f").expect("get"), None);
    assert!(cat.versions("f").expect("versions").is_empty());
    assert!(cat.checks("f", 10).expect("checks").is_empty());
    assert_eq!(cat.live_version("f").expect("live"), None);
    assert_eq!(cat.referenced_blobs().expect("blobs"), [sha(2)]);
    // The deleted table's open error is closed, not left to alarm forever.
    assert!(cat
        .errors(&ErrorFilter::default())
        .expect("errors")
        .is_empty());
    let all = cat
        .errors(&ErrorFilter {
            table: None,
            all: true,
        })
        .expect("errors");
    assert_eq!(all.len(), 1);
    assert!(all[0].resolved_at.is_some());
    // The other table is untouched.
    assert_eq!(
        cat.live_version("g").expect("live").map(|v| v.sha256),
        Some(sha(2))
    );
}

#[test]
fn set_enabled() {
    let (_d, cat) = catalog();
    upsert(&cat, &["t"], 1);
    cat.set_enabled("t", false).expect("disable");
    let t = cat.table("t").expect("get").expect("present");
    assert!(!t.enabled);
    assert!(t.updated_at > 1);
    cat.set_enabled("t", true).expect("enable");
    assert!(cat.table("t").expect("get").expect("present").enabled);
    assert!(matches!(
        cat.set_enabled("nope", true),
        Err(StoreError::NoSuchTable(_))
    ));
}

#[test]
fn versions_live_and_latest() {
    let (_d, cat) = catalog();
    upsert(&cat, &["t", "u"], 1);
    assert_eq!(cat.live_version("t").expect("live"), None);
    assert_eq!(cat.latest_version("t").expect("latest"), None);

    let v1 = cat.add_version(&version("t", 1), true).expect("v1");
    assert!(v1.live);
    assert_eq!(v1.etag.as_deref(), Some("\"etag-1\""));
    assert_eq!((v1.size, v1.rows, v1.fetched_at), (101, 1, 1001));
    // A rejected version is recorded (its ETag is what the next check sends) but not live.
    let v2 = cat.add_version(&version("t", 2), false).expect("v2");
    assert!(!v2.live);
    assert!(v2.id > v1.id);
    cat.add_version(&version("u", 9), true)
        .expect("other table");

    assert_eq!(
        cat.live_version("t").expect("live").map(|v| v.id),
        Some(v1.id)
    );
    assert_eq!(cat.latest_version("t").expect("latest"), Some(v2.clone()));
    let all = cat.versions("t").expect("versions");
    assert_eq!(all.iter().map(|v| v.id).collect::<Vec<_>>(), [v2.id, v1.id]);
    assert_eq!(
        all.iter().map(|v| v.live).collect::<Vec<_>>(),
        [false, true]
    );

    let v3 = cat
        .add_version(&version("t", 1), true)
        .expect("same content again");
    assert_eq!(
        cat.live_version("t").expect("live").map(|v| v.id),
        Some(v3.id)
    );
    assert_eq!(
        cat.referenced_blobs().expect("blobs"),
        [sha(1), sha(2), sha(9)],
        "distinct digests"
    );

    let mut none = version("t", 4);
    none.etag = None;
    assert_eq!(cat.add_version(&none, false).expect("no etag").etag, None);

    assert!(matches!(
        cat.add_version(&version("ghost", 1), true),
        Err(StoreError::NoSuchTable(_))
    ));
    let mut bad = version("t", 5);
    bad.sha256 = "AB".repeat(32);
    cat.add_version(&bad, true).expect_err("uppercase digest");
    let mut huge = version("t", 6);
    huge.size = u64::MAX;
    cat.add_version(&huge, true).expect_err("size beyond i64");
    assert_eq!(cat.versions("t").expect("versions").len(), 4);
}

#[test]
fn rollback_pins_and_retention() {
    let (_d, cat) = catalog();
    upsert(&cat, &["t", "u"], 1);
    let ids: Vec<i64> = (1..=5)
        .map(|n| cat.add_version(&version("t", n), true).expect("add").id)
        .collect();
    let other = cat.add_version(&version("u", 50), true).expect("u");
    assert!(!cat.is_pinned("t").expect("pinned"));

    // Roll back to the first version: pinned.
    let back = cat.set_live("t", ids[0], true).expect("rollback");
    assert!(back.live);
    assert!(cat.is_pinned("t").expect("pinned"));
    // A sync while pinned records the version without making it live.
    let v6 = cat
        .add_version(&version("t", 6), true)
        .expect("add while pinned");
    assert!(!v6.live);
    assert_eq!(
        cat.live_version("t").expect("live").map(|v| v.id),
        Some(ids[0])
    );
    assert_eq!(
        cat.latest_version("t").expect("latest").map(|v| v.id),
        Some(v6.id)
    );

    // Retention keeps the newest N and the live one.
    assert_eq!(cat.prune_versions("t", 2).expect("prune"), 3);
    let left: Vec<i64> = cat
        .versions("t")
        .expect("versions")
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(left, [v6.id, ids[4], ids[0]]);
    assert_eq!(cat.prune_versions("t", 2).expect("prune again"), 0);
    assert!(!cat.referenced_blobs().expect("blobs").contains(&sha(2)));
    assert_eq!(cat.versions("u").expect("u untouched").len(), 1);

    // Unpin: the next sync goes live again.
    cat.set_pinned("t", false).expect("unpin");
    let v7 = cat.add_version(&version("t", 7), true).expect("add");
    assert!(v7.live);

    // A version of another table cannot be made live.
    let err = cat
        .set_live("t", other.id, false)
        .expect_err("foreign version");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(matches!(
        cat.set_live("ghost", 1, false),
        Err(StoreError::NoSuchTable(_))
    ));
    assert!(matches!(
        cat.set_pinned("ghost", true),
        Err(StoreError::NoSuchTable(_))
    ));
    assert!(matches!(
        cat.is_pinned("ghost"),
        Err(StoreError::NoSuchTable(_))
    ));

    // `apply` with data makes it live and unpins.
    cat.set_live("t", ids[0], true).expect("rollback again");
    cat.apply(&DefinitionChange {
        versions: vec![version("t", 8)],
        ..Default::default()
    })
    .expect("apply");
    assert_eq!(
        cat.live_version("t").expect("live").map(|v| v.sha256),
        Some(sha(8))
    );
    assert!(!cat.is_pinned("t").expect("pinned"));
}

#[test]
fn checks_newest_first_and_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cat = SqliteCatalog::open(&dir.path().join("c.sqlite"))
        .expect("open")
        .with_check_history(5);
    upsert(&cat, &["t", "u"], 1);
    for at in 1..=8 {
        cat.record_check(&check(
            "t",
            at * 10,
            if at % 2 == 0 { "failed" } else { "unchanged" },
        ))
        .expect("record");
    }
    cat.record_check(&check("u", 3, "updated"))
        .expect("record u");
    let got = cat.checks("t", 100).expect("checks");
    assert_eq!(
        got.iter().map(|c| c.at).collect::<Vec<_>>(),
        [80, 70, 60, 50, 40]
    );
    assert_eq!(got[0], check("t", 80, "failed"));
    assert_eq!(cat.checks("t", 2).expect("limited").len(), 2);
    assert_eq!(
        cat.checks("u", 100).expect("u").len(),
        1,
        "pruning is per table"
    );
    assert!(matches!(
        cat.record_check(&check("ghost", 1, "unchanged")),
        Err(StoreError::NoSuchTable(_))
    ));

    // A check pointing at a version loses the pointer, not the history, when the version
    // is pruned.
    let v = cat.add_version(&version("u", 1), false).expect("v");
    let mut c = check("u", 4, "updated");
    c.version_id = Some(v.id);
    cat.record_check(&c).expect("record");
    assert_eq!(
        cat.checks("u", 1).expect("checks")[0].version_id,
        Some(v.id)
    );
    cat.add_version(&version("u", 2), true).expect("v2");
    assert_eq!(cat.prune_versions("u", 1).expect("prune"), 1);
    assert_eq!(cat.checks("u", 1).expect("checks")[0].version_id, None);
}

#[test]
fn default_check_history_is_a_thousand() {
    let (_d, cat) = catalog();
    upsert(&cat, &["t"], 1);
    for at in 0..1003 {
        cat.record_check(&check("t", at, "unchanged"))
            .expect("record");
    }
    let got = cat.checks("t", 5000).expect("checks");
    assert_eq!(got.len(), 1000);
    assert_eq!(got.last().map(|c| c.at), Some(3));
}

#[test]
fn errors_dedupe_resolve_and_acknowledge() {
    let (_d, cat) = catalog();
    let first = cat
        .raise_error(&error(Some("t"), "get-object", Some("AccessDenied"), 10))
        .expect("raise");
    assert_eq!(
        (first.count, first.first_seen, first.last_seen),
        (1, 10, 10)
    );
    assert_eq!(first.resolved_at, None);

    let mut again = error(Some("t"), "get-object", Some("AccessDenied"), 20);
    again.message = "still denied".into();
    again.remedy = "grant s3:GetObject".into();
    let second = cat.raise_error(&again).expect("raise again");
    assert_eq!(
        second.id, first.id,
        "same (table, stage, code) updates the record"
    );
    assert_eq!(
        (second.count, second.first_seen, second.last_seen),
        (2, 10, 20)
    );
    assert_eq!(second.message, "still denied");
    assert_eq!(second.remedy, "grant s3:GetObject");

    // Different code, stage, table or no code: separate records; a missing code dedupes
    // with a missing code.
    let other_code = cat
        .raise_error(&error(Some("t"), "get-object", Some("NoSuchKey"), 30))
        .expect("raise");
    let no_code = cat
        .raise_error(&error(Some("t"), "parse", None, 40))
        .expect("raise");
    let no_code2 = cat
        .raise_error(&error(Some("t"), "parse", None, 45))
        .expect("raise");
    assert_eq!((no_code2.id, no_code2.count), (no_code.id, 2));
    let global = cat
        .raise_error(&error(None, "notify", None, 50))
        .expect("raise");
    let global2 = cat
        .raise_error(&error(None, "notify", None, 55))
        .expect("raise");
    assert_eq!(global2.id, global.id);
    let other_table = cat
        .raise_error(&error(Some("u"), "parse", None, 60))
        .expect("raise");
    assert_ne!(other_table.id, no_code.id);
    assert_ne!(other_code.id, first.id);

    let open = cat.errors(&ErrorFilter::default()).expect("errors");
    assert_eq!(
        open.iter().map(|e| e.id).collect::<Vec<_>>(),
        [
            other_table.id,
            global.id,
            no_code.id,
            other_code.id,
            first.id
        ],
        "newest last_seen first"
    );
    let t_only = cat
        .errors(&ErrorFilter {
            table: Some("t".into()),
            all: false,
        })
        .expect("errors");
    assert_eq!(t_only.len(), 3);

    // A successful check resolves the table's open errors, not others'.
    assert_eq!(cat.resolve_errors("t", 70).expect("resolve"), 3);
    assert_eq!(cat.resolve_errors("t", 71).expect("resolve again"), 0);
    let open = cat.errors(&ErrorFilter::default()).expect("errors");
    assert_eq!(
        open.iter().map(|e| e.id).collect::<Vec<_>>(),
        [other_table.id, global.id]
    );
    let all_t = cat
        .errors(&ErrorFilter {
            table: Some("t".into()),
            all: true,
        })
        .expect("errors");
    assert_eq!(all_t.len(), 3);
    assert!(all_t.iter().all(|e| e.resolved_at == Some(70)));

    // The same failure after resolution is a new occurrence.
    let reopened = cat
        .raise_error(&error(Some("t"), "get-object", Some("AccessDenied"), 80))
        .expect("raise");
    assert_ne!(reopened.id, first.id);
    assert_eq!((reopened.count, reopened.first_seen), (1, 80));

    // Acknowledging keeps the first time and reports unknown ids.
    assert!(cat.acknowledge_error(reopened.id, 90).expect("ack"));
    assert!(cat.acknowledge_error(reopened.id, 95).expect("ack again"));
    assert!(!cat.acknowledge_error(999_999, 90).expect("ack unknown"));
    let acked = cat
        .errors(&ErrorFilter {
            table: Some("t".into()),
            all: false,
        })
        .expect("errors");
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0].acknowledged_at, Some(90));
    // Acknowledged is not resolved: it is still listed as open.
    assert_eq!(acked[0].resolved_at, None);
}

#[test]
fn settings() {
    let (_d, cat) = catalog();
    assert_eq!(cat.setting("external_id").expect("get"), None);
    cat.set_setting("external_id", "one").expect("set");
    assert_eq!(
        cat.setting("external_id").expect("get").as_deref(),
        Some("one")
    );
    cat.set_setting("external_id", "two").expect("overwrite");
    assert_eq!(
        cat.setting("external_id").expect("get").as_deref(),
        Some("two")
    );
    assert_eq!(
        cat.setting_or_init("external_id", "three").expect("init"),
        "two"
    );
    assert_eq!(cat.setting_or_init("prefix", "lut-").expect("init"), "lut-");
    assert_eq!(cat.setting("prefix").expect("get").as_deref(), Some("lut-"));
}

#[test]
fn state_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.sqlite");
    let v = {
        let cat = SqliteCatalog::open(&path).expect("open");
        upsert(&cat, &["t"], 1);
        cat.add_version(&version("t", 1), true).expect("v")
    };
    let cat = SqliteCatalog::open(&path).expect("reopen");
    assert_eq!(cat.live_version("t").expect("live"), Some(v));
    assert_eq!(cat.path(), path);
}

#[test]
fn table_status_reads_live_version_newest_data_and_last_success() {
    let (_d, cat) = catalog();
    upsert(&cat, &["a", "b", "c"], 1);
    cat.set_enabled("c", false).expect("disable");
    let v1 = cat.add_version(&version("a", 1), true).expect("v1");
    cat.set_pinned("a", true).expect("pin");
    // Recorded while pinned: newer data, but not live.
    cat.add_version(&version("a", 2), true).expect("v2");
    cat.record_check(&check("a", 10, "updated")).expect("check");
    cat.record_check(&check("a", 20, "unchanged"))
        .expect("check");
    cat.record_check(&check("a", 30, "failed")).expect("check");
    cat.record_check(&check("b", 5, "failed")).expect("check");

    let st = cat.table_status().expect("status");
    let names: Vec<_> = st.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(st[0].live, Some((v1.id, 1)));
    assert_eq!(
        st[0].newest_data_at,
        Some(1_002),
        "the pinned-out version counts"
    );
    assert_eq!(
        st[0].last_success_at,
        Some(20),
        "failed checks do not count"
    );
    assert!(st[0].enabled);
    assert_eq!(
        (&st[1].live, st[1].newest_data_at, st[1].last_success_at),
        (&None, None, None)
    );
    assert!(!st[2].enabled);
}
