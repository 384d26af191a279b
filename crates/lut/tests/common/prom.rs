//! A small parser and validator of the Prometheus text format 0.0.4, for tests that
//! scrape `/metrics`: every line, and the structure Prometheus relies on.

use std::collections::{BTreeMap, BTreeSet};

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

fn valid_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

pub fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s
            .parse::<f64>()
            .map_err(|e| format!("bad value {s:?}: {e}")),
    }
}

/// `name{a="b",...} value [timestamp]`.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value: {line:?}"))?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = Labels::new();
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let end;
        loop {
            // label name
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if r[start..].starts_with('}') {
                end = start + 1;
                break;
            }
            let eq = r[start..].find('=').ok_or("label without =")? + start;
            let lname = &r[start..eq];
            if !valid_label_name(lname) {
                return Err(format!("bad label name {lname:?} in {line:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label value not quoted in {line:?}"));
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c} in {line:?}")),
                    },
                    '"' => break,
                    '\n' => return Err("newline in a label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(lname.to_string(), value).is_some() {
                return Err(format!("label {lname} twice in {line:?}"));
            }
            match chars.next() {
                Some((_, ',')) => continue,
                Some((i, '}')) => {
                    end = i + 1;
                    break;
                }
                other => return Err(format!("expected , or }} not {other:?} in {line:?}")),
            }
        }
        rest = &r[end..];
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("no space before the value: {line:?}"))?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().unwrap_or(""))?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp in {line:?}"))?;
    }
    if parts.next().is_some() {
        return Err(format!("trailing text in {line:?}"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Checks every line and the structure (one TYPE and HELP per family, before and next to
/// its samples; histogram series names and `le`; no series twice) and returns the samples.
pub fn validate(text: &str) -> Result<Vec<Sample>, String> {
    if !text.ends_with('\n') {
        return Err("the exposition must end with a newline".into());
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut series: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let mut w = c.trim_start().splitn(3, ' ');
            match (w.next(), w.next(), w.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !valid_metric_name(name) {
                        return Err(format!("bad family name {name:?}"));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(format!("bad type {kind:?}"));
                    }
                    if types.insert(name.into(), kind.into()).is_some() {
                        return Err(format!("TYPE of {name} twice"));
                    }
                    if let Some(prev) = current.replace(name.into()) {
                        finished.insert(prev);
                    }
                }
                (Some("HELP"), Some(name), _) if !helps.insert(name.into()) => {
                    return Err(format!("HELP of {name} twice"));
                }
                _ => {} // other comments are allowed
            }
            continue;
        }
        let s = parse_sample(line)?;
        let family = current
            .clone()
            .ok_or_else(|| format!("sample before any TYPE: {line:?}"))?;
        let kind = &types[&family];
        let ok = match kind.as_str() {
            "histogram" => {
                let suffix = s.name.strip_prefix(family.as_str());
                match suffix {
                    Some("_bucket") => s.labels.contains_key("le"),
                    Some("_sum") | Some("_count") => !s.labels.contains_key("le"),
                    _ => false,
                }
            }
            _ => s.name == family,
        };
        if !ok || finished.contains(&s.name) {
            return Err(format!("sample {line:?} outside its family {family}"));
        }
        if !helps.contains(&family) {
            return Err(format!("family {family} has no HELP"));
        }
        if kind == "counter" && (s.value.is_nan() || s.value < 0.0) {
            return Err(format!("negative counter {line:?}"));
        }
        if !series.insert(format!("{}{:?}", s.name, s.labels)) {
            return Err(format!("series twice: {line:?}"));
        }
        out.push(s);
    }
    Ok(out)
}

/// Every histogram: buckets non-decreasing in `le`, `+Inf` equal to `_count`.
pub fn check_histograms(samples: &[Sample], family: &str) -> usize {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<Labels, f64> = BTreeMap::new();
    let mut sums: BTreeMap<Labels, f64> = BTreeMap::new();
    for s in samples {
        let mut l = s.labels.clone();
        if s.name == format!("{family}_bucket") {
            let le = parse_value(&l.remove("le").unwrap()).unwrap();
            groups.entry(l).or_default().push((le, s.value));
        } else if s.name == format!("{family}_count") {
            counts.insert(l, s.value);
        } else if s.name == format!("{family}_sum") {
            sums.insert(l, s.value);
        }
    }
    for (l, buckets) in &groups {
        let mut sorted = buckets.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(&sorted, buckets, "{family}{l:?}: buckets in order of le");
        for w in buckets.windows(2) {
            assert!(w[0].1 <= w[1].1, "{family}{l:?}: cumulative buckets");
        }
        let (inf, n) = *buckets.last().unwrap();
        assert_eq!(inf, f64::INFINITY, "{family}{l:?}: last bucket is +Inf");
        assert_eq!(Some(&n), counts.get(l), "{family}{l:?}: +Inf equals _count");
        assert!(sums[l] >= 0.0);
    }
    assert_eq!(groups.len(), counts.len());
    groups.len()
}

pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: Labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map(|s| s.value)
}
