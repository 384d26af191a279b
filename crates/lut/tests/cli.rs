//! The `lut` command line as a script sees it: exit codes, diagnostics and NDJSON output.

mod common;

use std::io::Write;

use common::*;
use serde_json::{json, Value};

const SCHEMA: &str = "\
schema: Custom.Accounts
parser:
  csv:
    delimiter: ','
    hasHeader: true
fields:
  - name: id
    type: string
    required: true
  - name: team
    type: string
    required: true
  - name: seats
    type: int
  - name: active
    type: boolean
";

/// The spec of table `accounts`; `extra` is appended as top-level keys (from line 12 on).
fn spec(extra: &str) -> String {
    format!(
        "AnalysisType: lookup_table
LookupName: accounts
Enabled: true
Filename: data/accounts.csv
Schema: Custom.Accounts
LogTypeMap:
  PrimaryKey: id
  AssociatedLogTypes:
    - LogType: Custom.Events
      Selectors:
        - \"account\"
{extra}"
    )
}
const EXTRA_LINE: usize = 12;

const GOOD_CSV: &str = "id,team,seats,active\nacct-1,red,5,true\nacct-2,blue,,false\n";

/// A directory with the `accounts` spec, its schema and `data` as its data file.
fn table_dir(extra: &str, data: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "accounts.yml", spec(extra));
    write(dir.path(), "schemas/accounts.yml", SCHEMA);
    write(dir.path(), "data/accounts.csv", data);
    dir
}

// ----------------------------------------------------------------------------- validate

#[test]
fn validate_exit_codes() {
    let (specs, _) = examples();
    let ok = lut(["validate".as_ref(), specs.as_os_str()], None);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stderr.contains("valid: 2 lookup table(s)"),
        "{}",
        ok.stderr
    );
    let (run, r) = validate_json(&[&specs]);
    assert_eq!(run.code, 0);
    let mut tables = names(&r, "tables");
    tables.sort();
    assert_eq!(tables, vec!["aws_accounts", "corp_networks"]);
    assert_eq!(
        (r["valid"].clone(), r["errors"].clone()),
        (json!(true), json!(0))
    );

    let none = lut(["validate"], None);
    assert_eq!(none.code, 2, "no paths is a usage error: {}", none.stderr);
    assert!(none.stderr.contains("required"), "{}", none.stderr);
    let flag = lut(
        [
            "validate".as_ref(),
            "--no-such-flag".as_ref(),
            specs.as_os_str(),
        ],
        None,
    );
    assert_eq!(flag.code, 2, "{}", flag.stderr);
    assert!(flag.stderr.contains("--no-such-flag"), "{}", flag.stderr);
    let bad_format = lut(["validate", "--format", "xml", "x"], None);
    assert_eq!(bad_format.code, 2, "{}", bad_format.stderr);

    let dir = table_dir("Frobnicate: 1\n", GOOD_CSV.as_bytes());
    let bad = lut(["validate".as_ref(), dir.path().as_os_str()], None);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("invalid:"), "{}", bad.stderr);
    let missing = lut(["validate", "/nonexistent/lut-specs"], None);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
}

#[test]
fn strict_turns_the_sql_skipped_warning_into_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "sql.yml",
        "AnalysisType: lookup_table\nLookupName: sql_only\nEnabled: true\n\
         Query: \"SELECT id FROM t\"\nLogTypeMap:\n  PrimaryKey: id\nRefresh:\n  PeriodMinutes: 60\n",
    );
    let (run, r) = validate_json(&[dir.path()]);
    assert_eq!(
        run.code, 0,
        "a directory of SQL specs only validates: {r:#}"
    );
    assert_eq!(names(&r, "skipped"), vec!["sql_only"]);
    assert_eq!(r["warnings"], json!(1));
    assert_eq!(diagnostics(&r)[0]["code"], json!("skipped-sql"));

    let strict = lut(
        [
            "validate".as_ref(),
            "--strict".as_ref(),
            "--format".as_ref(),
            "json".as_ref(),
            dir.path().as_os_str(),
        ],
        None,
    );
    assert_eq!(strict.code, 1, "--strict fails on warnings");
    let r = strict.json();
    assert_eq!(r["valid"], json!(false));
    assert_eq!(diagnostics(&r)[0]["code"], json!("skipped-sql"));
    // --strict on a warning-free project still passes.
    let clean = table_dir("", GOOD_CSV.as_bytes());
    let ok = lut(
        [
            "validate".as_ref(),
            "--strict".as_ref(),
            clean.path().as_os_str(),
        ],
        None,
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn a_directory_without_specs_is_an_error() {
    let empty = tempfile::tempdir().unwrap();
    let (run, r) = validate_json(&[empty.path()]);
    assert_eq!(run.code, 1);
    assert_eq!(diagnostics(&r)[0]["code"], json!("no-specs"), "{r:#}");
    // Other analysis types are ignored, so a directory of rules has no specs either.
    write(empty.path(), "rule.yml", "AnalysisType: rule\nRuleID: x\n");
    let (run, r) = validate_json(&[empty.path()]);
    assert_eq!(run.code, 1);
    let codes: Vec<_> = diagnostics(&r).iter().map(|d| d["code"].clone()).collect();
    assert_eq!(codes, vec![json!("no-specs")], "{r:#}");
}

#[test]
fn an_unknown_key_is_named_with_file_and_line() {
    let dir = table_dir("Frobnicate: 1\n", GOOD_CSV.as_bytes());
    let file = dir.path().join("accounts.yml");
    let run = lut(["validate".as_ref(), dir.path().as_os_str()], None);
    assert_eq!(run.code, 1);
    let at = format!("{}:{EXTRA_LINE}:", file.display());
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with(&at))
        .unwrap_or_else(|| panic!("no diagnostic at {at}:\n{}", run.stderr));
    assert!(
        line.contains("Frobnicate") && line.contains("[unknown-key]"),
        "{line}"
    );

    let (_, r) = validate_json(&[dir.path()]);
    let d = &diagnostics(&r)[0];
    assert_eq!(d["code"], json!("unknown-key"));
    assert_eq!(d["line"], json!(EXTRA_LINE));
    assert_eq!(d["path"], json!("Frobnicate"));

    // A misspelt nested key (line 8) is named with its full path.
    let nested = spec("").replace("  PrimaryKey: id\n", "  PrimaryKey: id\n  PrimaryKy: id\n");
    write(dir.path(), "accounts.yml", nested);
    let (run, r) = validate_json(&[dir.path()]);
    assert_eq!(run.code, 1);
    let d = &diagnostics(&r)[0];
    assert_eq!(
        (d["code"].as_str(), d["line"].as_u64()),
        (Some("unknown-key"), Some(8)),
        "{r:#}"
    );
    assert_eq!(d["path"], json!("LogTypeMap.PrimaryKy"));
    assert!(about(d, &file), "{d}");
}

#[test]
fn invalid_data_rows_fail_validate() {
    let good = table_dir("", GOOD_CSV.as_bytes());
    assert_eq!(validate_json(&[good.path()]).0.code, 0);

    let csv =
        "id,team,seats,active\nacct-1,red,5,true\nacct-2,blue,many,true\nacct-1,green,7,false\n";
    let dir = table_dir("", csv.as_bytes());
    let (run, r) = validate_json(&[dir.path()]);
    assert_eq!(run.code, 1, "{r:#}");
    let diags = diagnostics(&r);
    let bad_int = diags
        .iter()
        .find(|d| d["code"] == "invalid-row" && d["path"] == "seats")
        .unwrap_or_else(|| panic!("no invalid-row for seats: {r:#}"));
    let msg = bad_int["message"].as_str().unwrap();
    assert!(msg.contains("row 2") && msg.contains("many"), "{msg}");
    assert_eq!(
        bad_int["line"],
        json!(3),
        "line 3 of the file (after the header)"
    );
    let dup = diags
        .iter()
        .find(|d| {
            d["message"]
                .as_str()
                .unwrap()
                .contains("duplicate primary key")
        })
        .unwrap_or_else(|| panic!("no duplicate-key diagnostic: {r:#}"));
    let msg = dup["message"].as_str().unwrap();
    assert!(msg.contains("\"acct-1\""), "{msg}");
    assert!(msg.contains("rows 1 and 3"), "both row numbers: {msg}");
    assert!(diags.iter().any(|d| d["code"] == "data-rejected"), "{r:#}");
}

// ------------------------------------------------------------------------------- enrich

#[test]
fn enrich_the_examples() {
    let (specs, events) = examples();
    let input = std::fs::read_to_string(&events).unwrap();
    let run = lut(
        [
            "enrich".as_ref(),
            "--spec-dir".as_ref(),
            specs.as_os_str(),
            "--input".as_ref(),
            events.as_os_str(),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.stdout_str();
    let (in_lines, out_lines): (Vec<_>, Vec<_>) = (input.lines().collect(), out.lines().collect());
    assert_eq!(
        in_lines.len(),
        out_lines.len(),
        "one output line per input line"
    );
    let mut enriched = 0;
    for (i, o) in in_lines.iter().zip(&out_lines) {
        match serde_json::from_str::<Value>(i) {
            Err(_) => assert_eq!(i, o, "a non-JSON line passes through unchanged"),
            Ok(v) if v.get("p_log_type").is_none() => assert_eq!(i, o, "no log type: unchanged"),
            Ok(_) if i != o => enriched += 1,
            Ok(_) => {}
        }
    }
    assert!(in_lines
        .iter()
        .any(|l| serde_json::from_str::<Value>(l).is_err()));
    let evs = parse_lines(&out);

    let assume = &find(&evs, "eventName", "AssumeRole")["p_enrichment"];
    let by_path = &assume["aws_accounts"]["userIdentity.accountId"];
    assert_eq!(
        by_path["p_match"],
        json!("123456789012"),
        "JSONPath selector key: {assume:#}"
    );
    assert_eq!(by_path["name"], json!("payments-prod"));
    assert_eq!(
        by_path["isProduction"],
        json!(true),
        "booleans are JSON booleans"
    );
    assert_eq!(
        assume["aws_accounts"]["recipientAccountId"]["name"],
        json!("security-tooling")
    );
    assert_eq!(
        assume["corp_networks"]["sourceIPAddress"]["cidr"],
        json!("203.0.113.0/24")
    );

    let flow = &find(&evs, "account", "210987654321")["p_enrichment"];
    assert_eq!(
        flow["aws_accounts"]["account"]["isProduction"],
        json!(false)
    );
    let src = &flow["corp_networks"]["srcAddr"];
    assert_eq!(src["p_match"], json!("10.20.30.40"));
    assert_eq!(
        src["cidr"],
        json!("10.20.30.0/24"),
        "longest prefix wins over /16 and /8"
    );
    let dst = &flow["corp_networks"]["dstAddr"];
    assert_eq!(dst["cidr"], json!("10.20.0.0/16"));
    assert_eq!(dst["reviewedAt"], json!("2026-03-01 09:00:00.000000000"));
    assert!(
        src.get("reviewedAt").is_none(),
        "absent optional columns stay absent"
    );
    let v6 = &find(&evs, "account", "444455556666")["p_enrichment"]["corp_networks"]["srcAddr"];
    assert_eq!(v6["cidr"], json!("2001:db8:100::/48"));
    // No match at all: byte for byte.
    let get = in_lines
        .iter()
        .find(|l| l.contains("\"GetObject\""))
        .unwrap();
    assert!(out_lines.contains(get), "unmatched event must be unchanged");

    let n = in_lines.len();
    assert!(
        run.stderr.contains(&format!("{n} lines in, {n} lines out")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{enriched} enriched")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 without log type, 1 passed through"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("matches corp_networks.srcAddr: 2"),
        "{}",
        run.stderr
    );
    assert_eq!(enriched, 3);

    // The same through stdin and stdout.
    let piped = enrich(&specs, &[], input.as_bytes());
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert_eq!(piped.stdout_str(), out);
}

#[test]
fn log_type_flag_is_the_default_for_events_without_one() {
    let (specs, _) = examples();
    let ev = br#"{"eventName":"x","recipientAccountId":"123456789012"}"#;
    let plain = enrich(&specs, &["-q"], ev);
    assert_eq!(
        plain.stdout, ev,
        "without a log type the event is unchanged"
    );
    let with = one_event(&enrich(&specs, &["-q", "--log-type", "AWS.CloudTrail"], ev));
    let m = &with["p_enrichment"]["aws_accounts"]["recipientAccountId"];
    assert_eq!(m["name"], json!("payments-prod"), "{with}");
    assert!(
        with.get("p_log_type").is_none(),
        "the event itself is not rewritten"
    );

    // An event's own p_log_type wins over the flag.
    let own = br#"{"p_log_type":"AWS.VPCFlow","account":"123456789012","recipientAccountId":"111122223333"}"#;
    let e = one_event(&enrich(
        &specs,
        &["-q", "--log-type", "AWS.CloudTrail"],
        own,
    ));
    let accts = e["p_enrichment"]["aws_accounts"].as_object().unwrap();
    assert_eq!(accts.keys().collect::<Vec<_>>(), vec!["account"], "{e}");
}

#[test]
fn strict_stops_at_a_line_that_is_not_json() {
    let (specs, events) = examples();
    let input = std::fs::read_to_string(&events).unwrap();
    let bad = input
        .lines()
        .position(|l| serde_json::from_str::<Value>(l).is_err())
        .expect("the example has a non-JSON line")
        + 1;
    let run = enrich(&specs, &["--strict"], input.as_bytes());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("line {bad}")),
        "{}",
        run.stderr
    );
    let ok = enrich(
        &specs,
        &["--strict"],
        input
            .lines()
            .take(bad - 1)
            .collect::<Vec<_>>()
            .join("\n")
            .as_bytes(),
    );
    assert_eq!(ok.code, 0, "only JSON objects: {}", ok.stderr);
}

#[test]
fn strict_does_not_write_the_rejected_line() {
    let (specs, _) = examples();
    let run = enrich(
        &specs,
        &["-q", "--strict"],
        b"{\"a\":1}\nnot json\n{\"b\":2}\n",
    );
    assert_eq!(run.code, 1);
    let out = run.stdout_str();
    assert!(
        out.is_empty() || out == "{\"a\":1}\n",
        "only whole lines before the rejected one may be written, got {out:?}"
    );
}

#[test]
fn input_spanning_many_read_blocks_keeps_every_line() {
    let (specs, _) = examples();
    let mut input = String::new();
    for i in 0..30_000 {
        let account = if i % 3 == 0 { "210987654321" } else { "none" };
        let eol = if i % 7 == 0 { "\r\n" } else { "\n" };
        input +=
            &format!("{{\"p_log_type\":\"AWS.VPCFlow\",\"account\":\"{account}\",\"i\":{i}}}{eol}");
    }
    // One line longer than lut's 1 MiB read block, then a last line without newline.
    let pad = "y".repeat(3 << 20);
    input += &format!(
        "{{\"p_log_type\":\"AWS.VPCFlow\",\"account\":\"210987654321\",\"pad\":\"{pad}\"}}\n"
    );
    input += "tail";
    let run = enrich(&specs, &["-q"], input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.stdout_str();
    let (ins, outs): (Vec<&str>, Vec<&str>) =
        (input.split('\n').collect(), out.split('\n').collect());
    assert_eq!(ins.len(), outs.len());
    for (n, (i, o)) in ins.iter().zip(&outs).enumerate() {
        if n == ins.len() - 1 {
            assert_eq!(i, o, "last line");
            continue;
        }
        assert_eq!(i.ends_with('\r'), o.ends_with('\r'), "line {n}");
        let mut ov: Value = serde_json::from_str(o.trim_end()).unwrap();
        let e = ov.as_object_mut().unwrap().remove("p_enrichment");
        let iv: Value = serde_json::from_str(i.trim_end()).unwrap();
        assert_eq!(iv, ov, "line {n}: the event is kept");
        assert_eq!(e.is_some(), iv["account"] == "210987654321", "line {n}");
    }
}

#[test]
fn an_invalid_spec_dir_writes_nothing() {
    let (_, events) = examples();
    for (what, dir) in [
        (
            "unknown key",
            table_dir("Frobnicate: 1\n", GOOD_CSV.as_bytes()),
        ),
        (
            "bad row",
            table_dir("", b"id,team,seats\nacct-1,red,lots\n"),
        ),
        (
            "bad row, disabled",
            table_dir("", b"id,team,seats\nacct-1,red,lots\n"),
        ),
        ("unused broken schema", table_dir("", GOOD_CSV.as_bytes())),
        ("no specs", tempfile::tempdir().unwrap()),
    ] {
        if what == "unused broken schema" {
            let broken = "schema: Custom.Other\nfields:\n  - name: a\n    type: nope\n";
            write(dir.path(), "schemas/other.yml", broken);
        }
        if what.ends_with("disabled") {
            let s = spec("").replace("Enabled: true", "Enabled: false");
            write(dir.path(), "accounts.yml", s);
        }
        let out = dir.path().join("out.jsonl");
        let run = lut(
            [
                "enrich".as_ref(),
                "--spec-dir".as_ref(),
                dir.path().as_os_str(),
                "--input".as_ref(),
                events.as_os_str(),
                "--output".as_ref(),
                out.as_os_str(),
            ],
            None,
        );
        assert_eq!(run.code, 1, "{what}: {}", run.stderr);
        let written = std::fs::read(&out).unwrap_or_default();
        assert!(
            written.is_empty(),
            "{what}: output written: {}",
            String::from_utf8_lossy(&written)
        );
        let piped = enrich(
            dir.path(),
            &[],
            b"{\"p_log_type\":\"Custom.Events\",\"account\":\"acct-1\"}\n",
        );
        assert_eq!(piped.code, 1, "{what}");
        assert!(piped.stdout.is_empty(), "{what}: stdout must stay empty");
    }
}

#[test]
fn gzip_data_is_detected_by_its_magic_bytes() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(GOOD_CSV.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let dir = table_dir("", &bytes); // named data/accounts.csv
    let e = one_event(&enrich(
        dir.path(),
        &["-q"],
        br#"{"p_log_type":"Custom.Events","account":"acct-1"}"#,
    ));
    assert_eq!(
        e["p_enrichment"]["accounts"]["account"],
        json!({"p_match": "acct-1", "id": "acct-1", "team": "red", "seats": 5, "active": true})
    );
}

#[test]
fn max_invalid_rows_skips_up_to_n_bad_rows() {
    let one_bad = "id,team,seats\nacct-1,red,5\nacct-2,blue,many\nacct-3,green,\n";
    let dir = table_dir("maxInvalidRows: 1\n", one_bad.as_bytes());
    let (run, r) = validate_json(&[dir.path()]);
    assert_eq!(run.code, 0, "{r:#}");
    let skipped = diagnostics(&r).iter().find(|d| d["code"] == "skipped-row");
    assert!(
        skipped.is_some_and(|d| d["message"].as_str().unwrap().contains("row 2")),
        "{r:#}"
    );
    let input = b"{\"p_log_type\":\"Custom.Events\",\"account\":\"acct-3\"}\n\
                  {\"p_log_type\":\"Custom.Events\",\"account\":\"acct-2\"}\n";
    let run = enrich(dir.path(), &[], input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let evs = parse_lines(&run.stdout_str());
    let m = &evs[0].as_ref().unwrap()["p_enrichment"]["accounts"]["account"];
    assert_eq!(
        m,
        &json!({"p_match": "acct-3", "id": "acct-3", "team": "green"})
    );
    assert!(
        evs[1].as_ref().unwrap().get("p_enrichment").is_none(),
        "the skipped row matches nothing"
    );

    // The same spec without the allowance rejects the data.
    let strict_dir = table_dir("", one_bad.as_bytes());
    assert_eq!(validate_json(&[strict_dir.path()]).0.code, 1);

    let two_bad = "id,team,seats\nacct-1,red,5\nacct-2,blue,many\nacct-3,,1\n";
    let dir = table_dir("maxInvalidRows: 1\n", two_bad.as_bytes());
    let (run, r) = validate_json(&[dir.path()]);
    assert_eq!(run.code, 1, "{r:#}");
    assert!(
        diagnostics(&r).iter().any(|d| d["code"] == "data-rejected"),
        "{r:#}"
    );
    let run = enrich(dir.path(), &[], input);
    assert_eq!(run.code, 1);
    assert!(run.stdout.is_empty());
}

#[test]
fn line_endings_are_kept() {
    let dir = table_dir("", GOOD_CSV.as_bytes());
    let a = r#"{"p_log_type":"Custom.Events","account":"acct-1"}"#;
    let b = r#"{"p_log_type":"Custom.Events","account":"acct-2"}"#;
    let miss = r#"{"p_log_type":"Custom.Events","account":"nope"}"#;
    let input = format!("{a}\r\n{miss}\r\n{b}");
    let run = enrich(dir.path(), &["-q"], input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.stdout_str();
    assert!(
        !out.ends_with('\n'),
        "a last line without newline stays without: {out:?}"
    );
    let parts: Vec<&str> = out.split('\n').collect();
    assert_eq!(parts.len(), 3, "{out:?}");
    assert!(
        parts[0].ends_with("}\r"),
        "CRLF kept on an enriched line: {out:?}"
    );
    assert_eq!(
        parts[1],
        format!("{miss}\r"),
        "an unmatched CRLF line is byte for byte"
    );
    for p in [parts[0], parts[2]] {
        let v: Value = serde_json::from_str(p.trim_end_matches('\r')).unwrap();
        assert!(
            v["p_enrichment"]["accounts"]["account"]["team"].is_string(),
            "{p}"
        );
    }
    // A trailing newline is kept too.
    let run = enrich(dir.path(), &["-q"], format!("{a}\n").as_bytes());
    assert!(run.stdout_str().ends_with("}\n"), "{:?}", run.stdout_str());
    assert_eq!(run.stdout_str().matches('\n').count(), 1);
}
