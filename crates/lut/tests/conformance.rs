//! Conformance with Panther's own files (panther_analysis_tool fixtures, panther-analysis
//! specs and rule tests), read at test time from `shared/conformance` (or
//! `LUT_CONFORMANCE_DIR`). The data is never copied into the project.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::{json, Map, Value};

const QUERY_KEYS: &[&str] = &["Query", "AthenaQuery", "SnowflakeQuery", "DatabricksQuery"];

fn is_sql(doc: &Value) -> bool {
    QUERY_KEYS.iter().any(|k| doc.get(*k).is_some())
}

fn lookup_name(doc: &Value, file: &Path) -> String {
    doc["LookupName"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no LookupName", file.display()))
        .to_string()
}

/// 1-based line of the first line of `file` that starts (after indentation) with `prefix`.
fn line_of(file: &Path, prefix: &str) -> u64 {
    let text = std::fs::read_to_string(file).expect("read fixture");
    let i = text
        .lines()
        .position(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("{}: no line starting with {prefix:?}", file.display()));
    i as u64 + 1
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn pat_valid_fixtures_validate_together_and_one_by_one() {
    let c = conformance_dir();
    let valid = c.join("pat/lookup-tables/valid");
    let schemas = c.join("pat/custom-schemas/valid");
    let (run, r) = validate_json(&[&valid, &schemas]);
    assert_eq!(run.code, 0, "valid fixtures must validate:\n{r:#}");
    assert_eq!(r["valid"], json!(true));
    assert_eq!(r["errors"], json!(0), "{r:#}");
    assert_eq!(names(&r, "schemas"), vec!["Custom.AWSAccountIDs"]);

    let (mut want_tables, mut want_skipped) = (Vec::new(), Vec::new());
    let mut sql_files = Vec::new();
    for f in yaml_files(&valid) {
        let doc = read_yaml(&f);
        if is_sql(&doc) {
            want_skipped.push(lookup_name(&doc, &f));
            sql_files.push(f);
        } else {
            want_tables.push(lookup_name(&doc, &f));
        }
    }
    assert_eq!(
        (want_tables.len(), want_skipped.len()),
        (2, 8),
        "the snapshot has 2 file/S3 specs and 8 SQL specs"
    );
    assert_eq!(sorted(names(&r, "tables")), sorted(want_tables));
    assert_eq!(sorted(names(&r, "skipped")), sorted(want_skipped));
    // Every warning is a skipped SQL table, one per SQL file, naming that file.
    let diags = diagnostics(&r);
    assert_eq!(r["warnings"], json!(sql_files.len()), "{r:#}");
    for d in diags {
        assert_eq!(d["code"], json!("skipped-sql"), "unexpected diagnostic {d}");
        assert_eq!(d["severity"], json!("warning"));
    }
    for f in &sql_files {
        assert!(
            diags.iter().any(|d| about(d, f)),
            "no skipped-sql warning names {}",
            f.display()
        );
    }

    for f in yaml_files(&valid) {
        let doc = read_yaml(&f);
        let (run, r) = validate_json(&[&f, &schemas]);
        assert_eq!(run.code, 0, "{} alone must validate:\n{r:#}", f.display());
        let key = if is_sql(&doc) { "skipped" } else { "tables" };
        assert_eq!(
            names(&r, key),
            vec![lookup_name(&doc, &f)],
            "{}",
            f.display()
        );
    }

    // The local-file spec really loads its CSV: every data row is counted.
    let local = valid.join("lookup-table-1.yml");
    let filename = read_yaml(&local)["Filename"].as_str().unwrap().to_string();
    let csv = std::fs::read_to_string(valid.join(filename)).expect("fixture CSV");
    let rows = csv.lines().filter(|l| !l.trim().is_empty()).count() - 1;
    let args = [
        "validate".as_ref(),
        local.as_os_str(),
        schemas.as_os_str(),
        "--format".as_ref(),
        "text".as_ref(),
    ];
    let run = lut(args, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("1 data file(s) with {rows} rows")),
        "expected {rows} loaded rows in the summary:\n{}",
        run.stderr
    );
}

/// What validating one invalid PAT fixture on its own must report.
struct Expect {
    code: &'static str,
    /// `(key at the start of the offending line, diagnostic path)`; the line is looked up.
    /// A block mapping value (`Refresh:`) starts on the line after its key; either is fine.
    at: Option<(&'static str, &'static str)>,
    message: &'static [&'static str],
}

fn invalid_expectation(file_name: &str) -> Option<Expect> {
    let e = |code, at, message| Some(Expect { code, at, message });
    match file_name {
        // A custom log schema, not a spec: nothing to validate as a lookup table.
        "lookup-table-1.yml" => e("no-specs", None, &["no lookup-table spec"]),
        "lookup-table-empty.yml" => e("empty-file", None, &["empty"]),
        "lookup-table-sql-invalid-1.yml" => e(
            "invalid-value",
            Some(("Schema:", "Schema")),
            &["SQL-sourced", "Schema is not allowed"],
        ),
        "lookup-table-sql-invalid-3.yml" => e(
            "wrong-type",
            Some(("PeriodMinutes:", "Refresh.PeriodMinutes")),
            &["PeriodMinutes must be an integer", "not_a_number"],
        ),
        "lookup-table-sql-invalid-4.yml" => e(
            "wrong-type",
            Some(("CronExpression:", "Refresh.CronExpression")),
            &["CronExpression must be a string", "42"],
        ),
        "lookup-table-sql-invalid-5.yml" => e(
            "invalid-value",
            Some(("Refresh:", "Refresh")),
            &["exactly one of PeriodMinutes or CronExpression"],
        ),
        _ => None,
    }
}

#[test]
fn pat_invalid_fixtures_fail_with_the_right_reason() {
    let dir = conformance_dir().join("pat/lookup-tables/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("invalid fixtures")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let want = invalid_expectation(&name).unwrap_or_else(|| {
            panic!("new upstream fixture {name} has no expectation in this test: add one")
        });
        let (run, r) = validate_json(&[f]);
        assert_eq!(run.code, 1, "{name} must be rejected:\n{r:#}");
        assert_eq!(r["valid"], json!(false), "{name}");
        assert!(
            names(&r, "tables").is_empty() && names(&r, "skipped").is_empty(),
            "{name}: an invalid spec must be neither loaded nor skipped: {r:#}"
        );
        let diags = diagnostics(&r);
        let hit = diags.iter().find(|d| {
            d["code"] == json!(want.code)
                && d["severity"] == json!("error")
                && want
                    .message
                    .iter()
                    .all(|m| d["message"].as_str().unwrap_or("").contains(m))
        });
        let d = hit.unwrap_or_else(|| {
            panic!(
                "{name}: expected an error [{}] mentioning {:?}, got {diags:#?}",
                want.code, want.message
            )
        });
        if let Some((key, path)) = want.at {
            assert_eq!(d["path"], json!(path), "{name}: {d}");
            let l = line_of(f, key);
            let block = key.ends_with(':') && path == "Refresh";
            let line = d["line"].as_u64().unwrap_or(0);
            assert!(
                line == l || (block && line == l + 1),
                "{name}: expected line {l}: {d}"
            );
            assert!(about(d, f), "{name}: diagnostic must name the file: {d}");
        }
    }
    // lookup-table-1.yml was recognised as what it is: a schema.
    let (_, r) = validate_json(&[&dir.join("lookup-table-1.yml")]);
    assert_eq!(names(&r, "schemas"), vec!["Custom.SampleSchema1"]);
    // The empty file's error names it.
    let empty = dir.join("lookup-table-empty.yml");
    let (_, r) = validate_json(&[&empty]);
    assert!(diagnostics(&r)
        .iter()
        .any(|d| d["code"] == json!("empty-file") && about(d, &empty)));
}

const BAD_PARSE: &[&str] = &["yaml-syntax", "unknown-key", "wrong-type", "missing-key"];

#[test]
fn panther_analysis_specs_parse() {
    let dir = conformance_dir().join("panther-analysis/lookup_tables");
    let files = yaml_files_recursive(&dir);
    assert!(!files.is_empty(), "no specs under {}", dir.display());
    let (run, r) = validate_json(&[&dir]);
    let diags = diagnostics(&r);
    for d in diags {
        let code = d["code"].as_str().unwrap();
        assert!(!BAD_PARSE.contains(&code), "spec does not parse: {d}");
        match d["severity"].as_str() {
            Some("error") => assert_eq!(code, "unknown-schema", "unexpected error {d}"),
            _ => assert!(
                ["skipped-sql", "role-prefix"].contains(&code),
                "unexpected warning {d}"
            ),
        }
    }
    let (mut want_tables, mut want_skipped) = (Vec::new(), Vec::new());
    for f in &files {
        let doc = read_yaml(f);
        let name = lookup_name(&doc, f);
        let mine: Vec<_> = diags.iter().filter(|d| about(d, f)).collect();
        if is_sql(&doc) {
            want_skipped.push(name);
            assert!(
                mine.iter().any(|d| d["code"] == json!("skipped-sql")),
                "{}: SQL spec not reported skipped",
                f.display()
            );
        } else {
            want_tables.push(name);
            let schema = doc["Schema"].as_str().expect("Schema");
            let errs: Vec<_> = mine.iter().filter(|d| d["severity"] == "error").collect();
            assert_eq!(errs.len(), 1, "{}: {errs:#?}", f.display());
            assert_eq!(errs[0]["code"], json!("unknown-schema"));
            assert!(
                errs[0]["message"].as_str().unwrap().contains(schema),
                "{}: the error must name schema {schema}: {}",
                f.display(),
                errs[0]
            );
        }
    }
    assert!(!want_skipped.is_empty() && !want_tables.is_empty());
    assert_eq!(sorted(names(&r, "tables")), sorted(want_tables.clone()));
    assert_eq!(sorted(names(&r, "skipped")), sorted(want_skipped));
    assert_eq!(r["errors"], json!(want_tables.len()), "{r:#}");
    assert_eq!(run.code, 1, "missing schemas must fail validation");
}

#[test]
fn panther_analysis_template_spec() {
    let file = conformance_dir().join("panther-analysis/templates/example_cidr_lookup_table.yml");
    let (run, r) = validate_json(&[&file]);
    assert_eq!(run.code, 1);
    let mut codes: Vec<&str> = diagnostics(&r)
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(codes, vec!["missing-data-file", "unknown-schema"], "{r:#}");
    // The quoted name keeps its `# str`: a comment marker inside quotes is not a comment.
    assert_eq!(
        names(&r, "tables"),
        vec![lookup_name(&read_yaml(&file), &file)]
    );
    assert_eq!(names(&r, "tables"), vec!["simple_cidr_lookup # str"]);
}

// ---------------------------------------------------------------------------------------
// Rule compatibility: the p_enrichment that panther-analysis rule tests expect is what lut
// produces from a table holding those rows.

struct Case {
    label: String,
    table: String,
    selector: String,
    log_types: Vec<String>,
    log: Map<String, Value>,
    /// A match object or a list of them, as the rule test wrote it.
    expected: Value,
}

fn has_p_match(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.get("p_match").is_some_and(Value::is_string))
}

fn collect_cases(rules: &Path) -> (Vec<Case>, Vec<String>) {
    let (mut cases, mut skipped) = (Vec::new(), Vec::new());
    for file in yaml_files_recursive(rules) {
        let doc = read_yaml(&file);
        let rel = file.strip_prefix(rules).unwrap().display().to_string();
        let log_types: Vec<String> = doc["LogTypes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for test in doc["Tests"].as_array().into_iter().flatten() {
            let tname = test["Name"].as_str().unwrap_or("?");
            let Some(log) = test["Log"].as_object() else {
                continue;
            };
            let Some(pe) = log.get("p_enrichment") else {
                continue;
            };
            let Some(pe) = pe.as_object() else {
                skipped.push(format!("{rel} / {tname}: p_enrichment is not a map"));
                continue;
            };
            for (table, v) in pe {
                let Some(sels) = v.as_object() else {
                    skipped.push(format!(
                        "{rel} / {tname} / {table}: {v} is not a selector map"
                    ));
                    continue;
                };
                for (sel, m) in sels {
                    let ok = has_p_match(m)
                        || m.as_array()
                            .is_some_and(|a| !a.is_empty() && a.iter().all(has_p_match));
                    let label = format!("{rel} / {tname} / {table} / {sel}");
                    if !ok || log_types.is_empty() {
                        skipped.push(format!("{label}: match objects without p_match"));
                        continue;
                    }
                    cases.push(Case {
                        label,
                        table: table.clone(),
                        selector: sel.clone(),
                        log_types: log_types.clone(),
                        log: log.clone(),
                        expected: m.clone(),
                    });
                }
            }
        }
    }
    (cases, skipped)
}

/// The schema type that holds every value of a column as it is.
fn column_type(values: &[&Value]) -> &'static str {
    let all = |f: fn(&Value) -> bool| values.iter().all(|v| f(v));
    if all(Value::is_string) {
        "string"
    } else if all(Value::is_boolean) {
        "boolean"
    } else if all(Value::is_i64) {
        "bigint"
    } else if all(Value::is_number) {
        "float"
    } else {
        "json"
    }
}

/// The string forms of the values a dotted selector reaches in `log` (arrays element-wise).
fn values_at(log: &Map<String, Value>, selector: &str) -> Vec<String> {
    let mut cur: Vec<&Value> = Vec::new();
    let mut parts = selector.split('.');
    if let Some(v) = log.get(parts.next().unwrap()) {
        cur.push(v);
    }
    for p in parts {
        cur = cur.iter().filter_map(|v| v.get(p)).collect();
    }
    let mut out = Vec::new();
    for v in cur {
        for x in v.as_array().map_or_else(|| vec![v], |a| a.iter().collect()) {
            match x {
                Value::String(s) => out.push(s.clone()),
                Value::Number(_) | Value::Bool(_) => out.push(x.to_string()),
                _ => {}
            }
        }
    }
    out
}

enum Checked {
    Matched,
    /// The rule test's Log does not hold the p_match value: lut must not match.
    ValueNotInLog,
}

fn run_case(case: &Case) -> Checked {
    let exp: Vec<Map<String, Value>> = match &case.expected {
        Value::Array(a) => a.iter().map(|v| v.as_object().unwrap().clone()).collect(),
        v => vec![v.as_object().unwrap().clone()],
    };
    // Rows keyed by p_match; absent (null) values are left out of both rows and expectations.
    let mut rows: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for e in &exp {
        let pm = e["p_match"].as_str().unwrap().to_string();
        let row: Map<String, Value> = e
            .iter()
            .filter(|(k, v)| *k != "p_match" && !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(prev) = rows.insert(pm.clone(), row.clone()) {
            assert_eq!(prev, row, "{}: two different rows for {pm}", case.label);
        }
    }
    let mut key = "lut_key".to_string();
    while rows.values().any(|r| r.contains_key(&key)) {
        key.push('_');
    }
    let mut columns: Vec<String> = Vec::new();
    for r in rows.values() {
        for k in r.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let mut schema = format!(
        "schema: Custom.RuleCompat\nfields:\n  - name: {key}\n    type: string\n    required: true\n"
    );
    for c in &columns {
        let vals: Vec<&Value> = rows.values().filter_map(|r| r.get(c)).collect();
        schema += &format!("  - name: {}\n    type: {}\n", q(c), column_type(&vals));
    }
    let mut data = String::new();
    for (pm, r) in &rows {
        let mut obj = Map::new();
        obj.insert(key.clone(), json!(pm));
        obj.extend(r.clone());
        data += &format!("{}\n", Value::Object(obj));
    }
    let mut log = case.log.clone();
    log.remove("p_enrichment");
    let mut log_types = case.log_types.clone();
    match log.get("p_log_type").and_then(Value::as_str) {
        Some(lt) if !log_types.iter().any(|l| l == lt) => log_types.push(lt.to_string()),
        Some(_) => {}
        None => {
            log.insert("p_log_type".into(), json!(log_types[0]));
        }
    }
    let written = if case.selector.contains('.') {
        format!("$.{}", case.selector)
    } else {
        case.selector.clone()
    };
    let mut spec = format!(
        "AnalysisType: lookup_table\nLookupName: {}\nEnabled: true\nFilename: data.jsonl\n\
         Schema: Custom.RuleCompat\nLogTypeMap:\n  PrimaryKey: {key}\n  AssociatedLogTypes:\n",
        q(&case.table)
    );
    for lt in &log_types {
        spec += &format!(
            "    - LogType: {}\n      Selectors:\n        - {}\n",
            q(lt),
            q(&written)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "spec.yml", &spec);
    write(dir.path(), "schema.yml", &schema);
    write(dir.path(), "data.jsonl", &data);

    let event = Value::Object(log.clone());
    let input = format!("{event}\n");
    let run = lut(
        [
            "enrich".as_ref(),
            "--spec-dir".as_ref(),
            dir.path().as_os_str(),
        ],
        Some(input.as_bytes()),
    );
    let ctx = format!(
        "{}\nspec:\n{spec}\nschema:\n{schema}\nstderr:\n{}",
        case.label, run.stderr
    );
    assert_eq!(run.code, 0, "{ctx}");
    let out_text = run.stdout_str();
    assert_eq!(out_text.lines().count(), 1, "{ctx}");
    let mut out: Value = serde_json::from_str(out_text.trim_end()).expect("output is JSON");
    let got = out
        .get("p_enrichment")
        .and_then(|p| p.get(&case.table))
        .and_then(|t| t.get(&case.selector))
        .cloned();
    // Everything but p_enrichment is kept as it was.
    out.as_object_mut().unwrap().remove("p_enrichment");
    assert_eq!(out, event, "{ctx}");

    let present = values_at(&log, &case.selector);
    let want: Vec<&Map<String, Value>> = exp
        .iter()
        .filter(|e| {
            present
                .iter()
                .any(|p| Some(p.as_str()) == e["p_match"].as_str())
        })
        .collect();
    if want.is_empty() {
        assert!(
            got.is_none(),
            "{ctx}\nthe Log does not hold the value, yet: {got:?}"
        );
        return Checked::ValueNotInLog;
    }
    let got = got.unwrap_or_else(|| panic!("{ctx}\nno p_enrichment for {}", case.selector));
    let got_list: Vec<&Value> = match (&case.expected, &got) {
        (Value::Array(_), Value::Array(g)) => {
            let mut pms: Vec<&str> = want
                .iter()
                .map(|e| e["p_match"].as_str().unwrap())
                .collect();
            pms.dedup();
            assert_eq!(g.len(), pms.len(), "{ctx}\ngot {got:#}");
            g.iter().collect()
        }
        (Value::Object(_), Value::Object(_)) => vec![&got],
        _ => panic!(
            "{ctx}\nlist/object shape differs: expected {:#}, got {got:#}",
            case.expected
        ),
    };
    for e in want {
        let pm = &e["p_match"];
        let m = got_list
            .iter()
            .find(|g| &g["p_match"] == pm)
            .unwrap_or_else(|| panic!("{ctx}\nno match object for {pm} in {got:#}"));
        let wanted: Map<String, Value> = e
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert!(is_subset(&wanted, m), "{ctx}\nexpected {e:#?}\ngot {m:#}");
        assert_eq!(
            &m[&key], pm,
            "{ctx}\nthe key column holds the matched value"
        );
    }
    Checked::Matched
}

#[test]
fn rule_tests_p_enrichment_is_reproduced() {
    let rules = conformance_dir().join("panther-analysis/rules");
    let (cases, skipped) = collect_cases(&rules);
    let (mut matched, mut not_in_log) = (0usize, Vec::new());
    for case in &cases {
        match run_case(case) {
            Checked::Matched => matched += 1,
            Checked::ValueNotInLog => not_in_log.push(case.label.clone()),
        }
    }
    let report = format!(
        "rule compatibility: {} (rule, test, table, selector) cases checked: {matched} matched \
         as expected, {} whose Log lacks the p_match value (asserted: no match); \
         {} shapes skipped:\n  {}\nnot in Log:\n  {}",
        cases.len(),
        not_in_log.len(),
        skipped.len(),
        skipped.join("\n  "),
        not_in_log.join("\n  ")
    );
    println!("{report}");
    assert!(
        matched > 0,
        "no rule-compatibility case was checked\n{report}"
    );
}
