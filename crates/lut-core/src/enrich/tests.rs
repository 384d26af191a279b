//! Tests of enrichment semantics (§5), on tables built from in-memory data.

use super::*;

const NOW: i64 = 1_750_000_000_000_000_000; // 2025-06-15

fn live(spec_yaml: &str, schema_yaml: &str, data: &str) -> LiveTable {
    crate::testutil::live_table(spec_yaml, schema_yaml, data)
}

fn spec(name: &str, pk: &str, log_types: &str, extra: &str) -> String {
    format!("AnalysisType: lookup_table\nLookupName: {name}\nEnabled: true\nSchema: T.{name}\nFilename: x.csv\nLogTypeMap:\n  PrimaryKey: {pk}\n{log_types}{extra}")
}

fn accounts() -> LiveTable {
    live(
        &spec(
            "accounts",
            "id",
            "  AssociatedLogTypes:\n    - LogType: AWS.CloudTrail\n      Selectors: [recipientAccountId, \"$.userIdentity.accountId\", \"$.resources[*].accountId\", \"$.ids[1]\", \"$['a.b']\", \"id.orig\"]\n",
            "",
        ),
        "schema: T.accounts\nparser:\n  csv:\n    delimiter: ','\n    hasHeader: true\nfields:\n  - {name: id, type: string, required: true}\n  - {name: name, type: string}\n  - {name: prod, type: boolean}\n",
        "id,name,prod\n111,alpha,true\n222,beta,false\n333,,true\n7.5,seven,false\nAbC,mixed,true\n",
    )
}

fn run(snap: &Snapshot, line: &str, default: Option<&str>) -> (String, Outcome) {
    let mut e = Enricher::new();
    let mut out = Vec::new();
    let o = e.enrich_line(snap, line.as_bytes(), default, NOW, &mut out);
    (String::from_utf8(out).unwrap(), o)
}

fn enrichment(out: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(out).unwrap_or_else(|e| panic!("output is not JSON ({e}): {out}"));
    v["p_enrichment"].clone()
}

fn j(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn exact_match_layout_and_untouched_rest() {
    let snap = Snapshot::new(vec![accounts()]);
    let line =
        r#"{"p_log_type":"AWS.CloudTrail", "z":[1,2.50,{"k":null}],"recipientAccountId":"111"}"#;
    let (out, o) = run(&snap, line, None);
    assert_eq!(o, Outcome::Enriched);
    assert_eq!(
        out,
        r#"{"p_log_type":"AWS.CloudTrail", "z":[1,2.50,{"k":null}],"recipientAccountId":"111","p_enrichment":{"accounts":{"recipientAccountId":{"p_match":"111","id":"111","name":"alpha","prod":true}}}}"#
    );
}

#[test]
fn no_match_is_byte_for_byte() {
    let snap = Snapshot::new(vec![accounts()]);
    for line in [
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":"999"}"#,
        r#"{ "p_log_type" : "AWS.CloudTrail" , "recipientAccountId" : "" }  "#,
        r#"{"p_log_type":"Other.Type","recipientAccountId":"111"}"#,
        r#"{"recipientAccountId":"111"}"#,
        r#"{"p_log_type":null,"recipientAccountId":"111"}"#,
    ] {
        let (out, o) = run(&snap, line, None);
        assert_eq!(out, line);
        assert!(
            matches!(o, Outcome::Unchanged | Outcome::NoLogType),
            "{o:?}"
        );
    }
    let (_, o) = run(&snap, r#"{"recipientAccountId":"111"}"#, None);
    assert_eq!(o, Outcome::NoLogType);
}

#[test]
fn stream_default_log_type_applies_only_without_p_log_type() {
    let snap = Snapshot::new(vec![accounts()]);
    let (out, o) = run(
        &snap,
        r#"{"recipientAccountId":"222"}"#,
        Some("AWS.CloudTrail"),
    );
    assert_eq!(o, Outcome::Enriched);
    assert_eq!(
        enrichment(&out)["accounts"]["recipientAccountId"]["name"],
        "beta"
    );
    let (_, o) = run(
        &snap,
        r#"{"p_log_type":"X.Y","recipientAccountId":"222"}"#,
        Some("AWS.CloudTrail"),
    );
    assert_eq!(o, Outcome::Unchanged);
}

#[test]
fn json_paths_wildcards_indexes_and_dotted_keys() {
    let snap = Snapshot::new(vec![accounts()]);
    let line = r#"{"p_log_type":"AWS.CloudTrail","userIdentity":{"accountId":"222"},"resources":[{"accountId":"111"},{"accountId":"999"},{"accountId":"111"},{"x":1}],"ids":["999","333"],"a.b":"111","id.orig":"222","a":{"b":"999"}}"#;
    let (out, _) = run(&snap, line, None);
    let e = enrichment(&out);
    assert_eq!(
        e["accounts"]["userIdentity.accountId"],
        j(r#"{"p_match":"222","id":"222","name":"beta","prod":false}"#)
    );
    // Wildcards always give a list; each distinct value once; misses left out.
    assert_eq!(
        e["accounts"]["resources[*].accountId"],
        j(r#"[{"p_match":"111","id":"111","name":"alpha","prod":true}]"#)
    );
    // Optional columns absent from a row are absent from the match.
    assert_eq!(
        e["accounts"]["ids[1]"],
        j(r#"{"p_match":"333","id":"333","prod":true}"#)
    );
    assert_eq!(e["accounts"]["['a.b']"]["id"], "111");
    assert_eq!(e["accounts"]["id.orig"]["id"], "222");
}

#[test]
fn arrays_match_element_by_element() {
    let snap = Snapshot::new(vec![accounts()]);
    let line = r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":["999","222",null,{"o":1},"111","222"]}"#;
    let (out, _) = run(&snap, line, None);
    let got = &enrichment(&out)["accounts"]["recipientAccountId"];
    let ids: Vec<&str> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["p_match"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["222", "111"]);
    let line = r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":["222"]}"#;
    let (out, _) = run(&snap, line, None);
    assert!(
        enrichment(&out)["accounts"]["recipientAccountId"].is_array(),
        "a one-element array still gives a list"
    );
}

#[test]
fn numbers_and_booleans_match_by_string_form() {
    let snap = Snapshot::new(vec![accounts()]);
    let (out, _) = run(
        &snap,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":111}"#,
        None,
    );
    assert_eq!(
        enrichment(&out)["accounts"]["recipientAccountId"]["p_match"],
        "111"
    );
    let (out, _) = run(
        &snap,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":7.50}"#,
        None,
    );
    assert_eq!(
        enrichment(&out)["accounts"]["recipientAccountId"]["name"],
        "seven"
    );
    assert_eq!(
        enrichment(&out)["accounts"]["recipientAccountId"]["p_match"],
        "7.5"
    );
    let (out, o) = run(
        &snap,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":{"a":"111"}}"#,
        None,
    );
    assert_eq!(o, Outcome::Unchanged, "{out}");
}

#[test]
fn matching_is_case_sensitive_unless_configured() {
    let snap = Snapshot::new(vec![accounts()]);
    let (_, o) = run(
        &snap,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":"abc"}"#,
        None,
    );
    assert_eq!(o, Outcome::Unchanged);
    let ci = live(
        &spec(
            "ci",
            "id",
            "  AssociatedLogTypes:\n    - LogType: A.B\n      Selectors: [user]\n",
            "caseInsensitive: true\n",
        ),
        "schema: T.ci\nfields:\n  - {name: id, type: string, required: true}\n",
        "{\"id\":\"Alice@Example.com\"}\n{\"id\":\"ÉLAN\"}\n",
    );
    let snap = Snapshot::new(vec![ci]);
    let (out, _) = run(
        &snap,
        r#"{"p_log_type":"A.B","user":"ALICE@example.COM"}"#,
        None,
    );
    let m = &enrichment(&out)["ci"]["user"];
    assert_eq!(
        (m["p_match"].as_str(), m["id"].as_str()),
        (Some("ALICE@example.COM"), Some("Alice@Example.com"))
    );
    let (out, _) = run(&snap, r#"{"p_log_type":"A.B","user":"élan"}"#, None);
    assert_eq!(enrichment(&out)["ci"]["user"]["id"], "ÉLAN");
}

#[test]
fn escaped_keys_and_values() {
    let snap = Snapshot::new(vec![accounts()]);
    let (out, o) = run(
        &snap,
        r#"{"p_log_type":"AWS.Cloud\u0054rail","recipient\u0041ccountId":"\u0031\u00311"}"#,
        None,
    );
    assert_eq!(o, Outcome::Enriched);
    assert_eq!(
        enrichment(&out)["accounts"]["recipientAccountId"]["p_match"],
        "111"
    );
}

#[test]
fn existing_p_enrichment_is_merged() {
    let snap = Snapshot::new(vec![accounts()]);
    let line = r#"{"p_log_type":"AWS.CloudTrail","p_enrichment":{"other":{"k":{"p_match":"x"}},"accounts":{"stale":1}},"recipientAccountId":"111"}"#;
    let (out, _) = run(&snap, line, None);
    let e = enrichment(&out);
    assert_eq!(e["other"], j(r#"{"k":{"p_match":"x"}}"#));
    assert_eq!(
        e["accounts"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["recipientAccountId"]
    );
    assert!(
        out.starts_with(r#"{"p_log_type":"AWS.CloudTrail","p_enrichment":{"other""#),
        "{out}"
    );
    let line = r#"{"p_log_type":"AWS.CloudTrail","p_enrichment":null,"recipientAccountId":"111"}"#;
    let (out, _) = run(&snap, line, None);
    assert_eq!(
        enrichment(&out)["accounts"]["recipientAccountId"]["id"],
        "111"
    );
    // Nothing matched: even a stale entry stays as it was.
    let line =
        r#"{"p_log_type":"AWS.CloudTrail","p_enrichment":{"accounts":1},"recipientAccountId":"0"}"#;
    assert_eq!(run(&snap, line, None).0, line);
}

fn nets(extra: &str) -> LiveTable {
    live(
        &spec("nets", "cidr", "  AssociatedLogTypes:\n    - LogType: Net.Flow\n      Selectors: [ip]\n", extra),
        "schema: T.nets\nfields:\n  - {name: cidr, type: string, required: true, validate: {cidr: any}}\n  - {name: zone, type: string}\n  - name: until\n    type: timestamp\n    timeFormat: rfc3339\n    isExpiration: true\n",
        "cidr,zone,until\n10.0.0.0/8,wide,\n10.1.0.0/16,mid,\n10.1.2.3/24,narrow,\n10.1.2.128/25,expired,2020-01-01T00:00:00Z\n2001:db8::/32,v6,\n2001:db8:1::/48,v6narrow,2200-01-01T00:00:00Z\n",
    )
}

#[test]
fn cidr_longest_prefix_ipv4_ipv6_and_expiry() {
    let snap = Snapshot::new(vec![nets("")]);
    let zone = |ip: &str| {
        let (out, o) = run(
            &snap,
            &format!(r#"{{"p_log_type":"Net.Flow","ip":"{ip}"}}"#),
            None,
        );
        (o == Outcome::Enriched).then(|| {
            enrichment(&out)["nets"]["ip"]["zone"]
                .as_str()
                .unwrap()
                .to_string()
        })
    };
    assert_eq!(zone("10.1.2.4").as_deref(), Some("narrow"));
    assert_eq!(zone("10.1.3.4").as_deref(), Some("mid"));
    assert_eq!(zone("10.200.0.1").as_deref(), Some("wide"));
    // The most specific block has expired: the next one that contains the IP matches.
    assert_eq!(zone("10.1.2.200").as_deref(), Some("narrow"));
    assert_eq!(zone("2001:db8:1::5").as_deref(), Some("v6narrow"));
    assert_eq!(zone("2001:db8:2::5").as_deref(), Some("v6"));
    assert_eq!(zone("::ffff:10.1.3.4").as_deref(), Some("mid"));
    assert_eq!(zone("11.0.0.1"), None);
    assert_eq!(zone("not-an-ip"), None);
    let (out, _) = run(&snap, r#"{"p_log_type":"Net.Flow","ip":"10.1.2.4"}"#, None);
    let m = &enrichment(&out)["nets"]["ip"];
    assert_eq!(
        (m["p_match"].as_str(), m["cidr"].as_str()),
        (Some("10.1.2.4"), Some("10.1.2.0/24")),
        "normalised block"
    );
}

#[test]
fn cidr_match_all_lists_every_block_most_specific_first() {
    let snap = Snapshot::new(vec![nets("cidrMatch: all\n")]);
    let (out, _) = run(
        &snap,
        r#"{"p_log_type":"Net.Flow","ip":"10.1.2.200"}"#,
        None,
    );
    let zones: Vec<String> = enrichment(&out)["nets"]["ip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["zone"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(zones, ["narrow", "mid", "wide"]);
    let (out, _) = run(&snap, r#"{"p_log_type":"Net.Flow","ip":"10.9.9.9"}"#, None);
    assert_eq!(
        enrichment(&out)["nets"]["ip"].as_array().unwrap().len(),
        1,
        "a single block is still a list"
    );
}

#[test]
fn automatic_selectors_from_indicators() {
    let schema = "schema: T.tor\nfields:\n  - {name: ip, type: string, required: true, indicators: [ip]}\n  - {name: seen, type: bigint}\n";
    let data = "ip,seen\n1.2.3.4,10\n5.6.7.8,20\n";
    let everywhere = live(
        &spec("tor", "ip", "  AssociatedLogTypes: []\n", ""),
        schema,
        data,
    );
    let snap = Snapshot::new(vec![everywhere]);
    let (out, o) = run(
        &snap,
        r#"{"p_log_type":"Any.Thing","p_any_ip_addresses":["9.9.9.9","1.2.3.4"]}"#,
        None,
    );
    assert_eq!(o, Outcome::Enriched);
    assert_eq!(
        enrichment(&out)["tor"]["p_any_ip_addresses"],
        j(r#"[{"p_match":"1.2.3.4","ip":"1.2.3.4","seen":10}]"#)
    );
    // Listed log types with no selectors use the indicator fields; other log types do not.
    let listed = live(
        &spec(
            "tor",
            "ip",
            "  AssociatedLogTypes:\n    - LogType: Okta.SystemLog\n",
            "",
        ),
        schema,
        data,
    );
    let snap = Snapshot::new(vec![listed]);
    let (_, o) = run(
        &snap,
        r#"{"p_log_type":"Okta.SystemLog","p_any_ip_addresses":["5.6.7.8"]}"#,
        None,
    );
    assert_eq!(o, Outcome::Enriched);
    let (_, o) = run(
        &snap,
        r#"{"p_log_type":"Other.Log","p_any_ip_addresses":["5.6.7.8"]}"#,
        None,
    );
    assert_eq!(o, Outcome::Unchanged);
}

#[test]
fn several_tables_on_one_event() {
    let snap = Snapshot::new(vec![accounts(), nets("")]);
    let line = r#"{"p_log_type":"Net.Flow","ip":"10.0.0.1","recipientAccountId":"111"}"#;
    let (out, _) = run(&snap, line, None);
    let e = enrichment(&out);
    assert!(
        e.get("accounts").is_none(),
        "accounts does not enrich Net.Flow"
    );
    assert_eq!(e["nets"]["ip"]["zone"], "wide");
}

#[test]
fn lines_that_are_not_objects_pass_through() {
    let snap = Snapshot::new(vec![accounts()]);
    for line in [
        "[1,2]",
        "\"x\"",
        "{\"a\":",
        "not json",
        "{\"a\":1}{}",
        "{\"recipientAccountId\":\"111\",}",
    ] {
        let (out, o) = run(&snap, line, Some("AWS.CloudTrail"));
        assert_eq!(out, line);
        assert!(matches!(o, Outcome::NotObject(_)), "{line}: {o:?}");
    }
    let (out, o) = run(&snap, "   ", None);
    assert_eq!((out.as_str(), o), ("   ", Outcome::Blank));
}

#[test]
fn splice_handles_whitespace_crlf_and_empty_objects() {
    let snap = Snapshot::new(vec![accounts()]);
    let (out, _) = run(
        &snap,
        "{ \"recipientAccountId\" : \"111\" }\r",
        Some("AWS.CloudTrail"),
    );
    assert!(out.ends_with("}}}}\r"), "{out:?}");
    enrichment(out.trim_end());
    let (out, o) = run(&snap, "{}", Some("AWS.CloudTrail"));
    assert_eq!((out.as_str(), o), ("{}", Outcome::Unchanged));
}

#[test]
fn huge_lines_are_handled() {
    let snap = Snapshot::new(vec![accounts()]);
    let big = "x".repeat(4 << 20);
    let line =
        format!(r#"{{"p_log_type":"AWS.CloudTrail","blob":"{big}","recipientAccountId":"222"}}"#);
    let (out, o) = run(&snap, &line, None);
    assert_eq!(o, Outcome::Enriched);
    assert_eq!(
        out.len(),
        line.len() + enrichment(&out).to_string().len() + r#","p_enrichment":"#.len()
    );
}

#[test]
fn stats_count_matches_per_selector() {
    let snap = Snapshot::new(vec![accounts()]);
    let mut e = Enricher::new();
    let mut out = Vec::new();
    for line in [
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":"111"}"#,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":["111","222"]}"#,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":"0"}"#,
        "garbage",
    ] {
        out.clear();
        e.enrich_line(&snap, line.as_bytes(), None, NOW, &mut out);
    }
    assert_eq!(
        (
            e.stats.lines,
            e.stats.events,
            e.stats.enriched,
            e.stats.not_object
        ),
        (4, 3, 2, 1)
    );
    let names = snap.counter_names();
    let i = names
        .iter()
        .position(|c| c.selector == "recipientAccountId")
        .unwrap();
    assert_eq!(e.stats.matches[i], 3);
}

#[test]
fn an_empty_snapshot_passes_everything_through() {
    let snap = Snapshot::default();
    let (out, o) = run(&snap, r#"{"p_log_type":"AWS.CloudTrail","x":1}"#, None);
    assert_eq!(
        (out.as_str(), o),
        (
            r#"{"p_log_type":"AWS.CloudTrail","x":1}"#,
            Outcome::Unchanged
        )
    );
    let (_, o) = run(&snap, r#"{"x":1}"#, Some("A.B"));
    assert_eq!(o, Outcome::Unchanged);
}

#[test]
fn batched_blocks_equal_line_by_line_enrichment() {
    // Batches prefetch ahead; output and counters must be exactly those of enrich_line.
    let ci = live(
        &spec(
            "ci",
            "id",
            "  AssociatedLogTypes:\n    - LogType: A.B\n      Selectors: [user, \"$.users[*]\"]\n",
            "caseInsensitive: true\n",
        ),
        "schema: T.ci\nfields:\n  - {name: id, type: string, required: true}\n",
        "{\"id\":\"Alice@Example.com\"}\n{\"id\":\"ÉLAN\"}\n",
    );
    let snap = Snapshot::new(vec![accounts(), nets(""), ci]);
    let samples = [
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":"111"}"#,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":["111","222","111"]}"#,
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":"0","userIdentity":{"accountId":"222"}}"#,
        r#"{"p_log_type":"AWS.CloudTrail","resources":[{"accountId":"333"},{"accountId":"AbC"}],"ids":[1,7.5]}"#,
        r#"{"p_log_type":"AWS.Cloud\u0054rail","recipient\u0041ccountId":"\u0031\u00311"}"#,
        r#"{"p_log_type":"AWS.CloudTrail","p_enrichment":{"accounts":{"x":1}},"recipientAccountId":"111"}"#,
        r#"{"p_log_type":"Net.Flow","ip":"10.1.2.3","recipientAccountId":"111"}"#,
        r#"{"p_log_type":"Net.Flow","ip":"2001:db8:1::1"}"#,
        r#"{"p_log_type":"A.B","user":"ALICE@example.COM","users":["élan","nobody"]}"#,
        r#"{"p_log_type":"A.B","user":null}"#,
        r#"{"recipientAccountId":"111"}"#,
        "not json",
        "",
        "   ",
        "{}",
        r#"{"p_log_type":"AWS.CloudTrail","recipientAccountId":"111",}"#,
    ];
    // Lines in a varying order, over several batches, with and without a final newline.
    let mut block = Vec::new();
    for i in 0..200 {
        block.extend_from_slice(samples[(i * 7 + i / 3) % samples.len()].as_bytes());
        block.push(b'\n');
    }
    let body = &block[..block.len() - 1];
    for trailing_newline in [true, false] {
        let input = if trailing_newline { &block[..] } else { body };
        let mut one = Enricher::new();
        let mut want = Vec::new();
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                want.push(b'\n');
            }
            one.enrich_line(&snap, line, Some("AWS.CloudTrail"), NOW, &mut want);
        }
        if trailing_newline {
            want.push(b'\n');
        }
        let mut batched = Enricher::new();
        let mut got = Vec::new();
        let r = lines::enrich_block(
            &snap,
            &mut batched,
            input,
            Some("AWS.CloudTrail"),
            NOW,
            false,
            &mut got,
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        assert_eq!(batched.stats, one.stats);
        assert_eq!(r.lines, 200);
    }
}
