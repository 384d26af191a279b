//! `[[destinations]]` of `lut serve`'s config file, synced into the catalog at start:
//! each entry is created, or updated when its settings differ, by name; a destination
//! removed from the file stays in the catalog (remove it with `lut destinations remove` or
//! `DELETE /api/v1/destinations/{id}`). Secrets are sealed with the data directory's key,
//! as `lut destinations add` does.

use lut_store::{now_millis, Catalog, NewDestination, SecretKey, StoreError};

use super::{DestinationConfig, PAGERDUTY_EVENTS_URL, SEVERITIES};
use crate::api::config::DestinationEntry;

/// What the sync did with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    Created,
    Updated,
    Unchanged,
}

fn need(v: &Option<String>, key: &str, e: &DestinationEntry) -> Result<String, String> {
    v.clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("destination {:?} (kind {}) needs {key}", e.name, e.kind))
}

/// The entry's settings and its severity filter (upper case), or why it is invalid.
pub fn entry_config(e: &DestinationEntry) -> Result<(DestinationConfig, String), String> {
    if e.name.trim().is_empty() {
        return Err("a [[destinations]] entry needs a name".into());
    }
    let cfg = match e.kind.to_ascii_lowercase().as_str() {
        "webhook" => DestinationConfig::Webhook {
            url: need(&e.url, "url", e)?,
            secret: e.secret.clone().filter(|s| !s.is_empty()),
            headers: e
                .headers
                .iter()
                .map(|(k, v)| (k.trim().to_string(), v.clone()))
                .collect(),
        },
        "slack" => DestinationConfig::Slack {
            url: need(&e.url, "url", e)?,
        },
        "teams" => DestinationConfig::Teams {
            url: need(&e.url, "url", e)?,
        },
        "pagerduty" => DestinationConfig::PagerDuty {
            routing_key: need(&e.routing_key, "routing_key", e)?,
            events_url: e
                .events_url
                .clone()
                .unwrap_or_else(|| PAGERDUTY_EVENTS_URL.to_string()),
        },
        "sns" => {
            let arn = need(&e.topic_arn, "topic_arn", e)?;
            if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
                return Err(format!(
                    "destination {:?}: topic_arn {arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                    e.name
                ));
            }
            DestinationConfig::Sns { topic_arn: arn }
        }
        other => {
            return Err(format!(
            "destination {:?}: unknown kind {other:?} (webhook, slack, pagerduty, teams or sns)",
            e.name
        ))
        }
    };
    let sev = e
        .min_severity
        .clone()
        .unwrap_or_else(|| "HIGH".into())
        .to_ascii_uppercase();
    if !SEVERITIES.contains(&sev.as_str()) {
        return Err(format!(
            "destination {:?}: min_severity must be one of {}",
            e.name,
            SEVERITIES.join(", ")
        ));
    }
    Ok((cfg, sev))
}

/// Creates or updates every entry by name; never deletes. An update keeps the
/// destination's enabled flag and creation time (and its delivery log, which is by name).
pub fn sync_destinations(
    catalog: &dyn Catalog,
    key: &SecretKey,
    entries: &[DestinationEntry],
) -> Result<Vec<(String, Synced)>, StoreError> {
    let existing = catalog.destinations()?;
    let mut out = Vec::new();
    for e in entries {
        let (cfg, sev) = entry_config(e).map_err(StoreError::Conflict)?;
        let table = e.table.clone().filter(|t| !t.trim().is_empty());
        let old = existing.iter().find(|d| d.name == e.name);
        let mut new = NewDestination {
            name: e.name.clone(),
            kind: cfg.kind().into(),
            config: cfg.seal(key),
            min_severity: sev.clone(),
            table_filter: table.clone(),
            enabled: true,
            created_at: now_millis(),
        };
        let done = match old {
            None => {
                catalog.add_destination(&new)?;
                Synced::Created
            }
            Some(d) => {
                let same = d.kind == cfg.kind()
                    && d.min_severity == sev
                    && d.table_filter == table
                    && DestinationConfig::open(d, key).ok().as_ref() == Some(&cfg);
                if same {
                    Synced::Unchanged
                } else {
                    new.enabled = d.enabled;
                    new.created_at = d.created_at;
                    catalog.remove_destination(&d.name)?;
                    catalog.add_destination(&new)?;
                    Synced::Updated
                }
            }
        };
        out.push((e.name.clone(), done));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ServeConfig;
    use lut_store::DataDir;

    const FILE: &str = r#"
[[destinations]]
name = "hook"
kind = "webhook"
url = "https://hooks.example.com/lut"
secret = "s3cret"
headers = { "X-Team" = "secops" }
min_severity = "critical"

[[destinations]]
name = "pd"
kind = "pagerduty"
routing_key = "R0UT1NG"
table = "accounts"
"#;

    fn entries(text: &str) -> Vec<DestinationEntry> {
        let mut c = ServeConfig::default();
        c.apply_file(text).expect("parses");
        c.destinations
    }

    #[test]
    fn config_entries_parse_and_are_checked() {
        let e = entries(FILE);
        assert_eq!(e.len(), 2);
        let (cfg, sev) = entry_config(&e[0]).unwrap();
        assert_eq!(sev, "CRITICAL");
        assert_eq!(
            cfg,
            DestinationConfig::Webhook {
                url: "https://hooks.example.com/lut".into(),
                secret: Some("s3cret".into()),
                headers: vec![("X-Team".into(), "secops".into())],
            }
        );
        let (cfg, sev) = entry_config(&e[1]).unwrap();
        assert_eq!(sev, "HIGH");
        assert!(
            matches!(cfg, DestinationConfig::PagerDuty { ref events_url, .. } if events_url == PAGERDUTY_EVENTS_URL)
        );
        assert_eq!(e[1].table.as_deref(), Some("accounts"));
        // Secrets never reach Debug output.
        assert!(!format!("{e:?}").contains("s3cret"));

        let mut c = ServeConfig::default();
        for bad in [
            "[[destinations]]\nname = \"x\"\nkind = \"slack\"\n",
            "[[destinations]]\nname = \"x\"\nkind = \"carrier-pigeon\"\nurl = \"u\"\n",
            "[[destinations]]\nname = \"x\"\nkind = \"sns\"\ntopic_arn = \"nope\"\n",
            "[[destinations]]\nname = \"x\"\nkind = \"slack\"\nurl = \"u\"\nmin_severity = \"loud\"\n",
            "[[destinations]]\nname = \"x\"\nkind = \"slack\"\nurl = \"u\"\nbogus = 1\n",
            "[[destinations]]\nname = \"x\"\nkind = \"slack\"\nurl = \"u\"\n[[destinations]]\nname = \"x\"\nkind = \"teams\"\nurl = \"u\"\n",
        ] {
            assert!(c.apply_file(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sync_creates_updates_and_never_deletes() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::open(tmp.path()).unwrap();
        let cat = dd.catalog();
        let key = dd.secret_key().unwrap();
        let e = entries(FILE);
        let got = sync_destinations(cat.as_ref(), &key, &e).unwrap();
        assert_eq!(
            got,
            vec![
                ("hook".into(), Synced::Created),
                ("pd".into(), Synced::Created)
            ]
        );
        let recs = cat.destinations().unwrap();
        assert_eq!(recs.len(), 2);
        let hook = recs.iter().find(|d| d.name == "hook").unwrap();
        assert!(!hook.config.contains("s3cret"), "sealed: {}", hook.config);
        assert!(!hook.config.contains("hooks.example.com/lut"));
        assert_eq!(hook.min_severity, "CRITICAL");
        assert_eq!(
            DestinationConfig::open(hook, &key).unwrap(),
            entry_config(&e[0]).unwrap().0
        );
        let pd = recs.iter().find(|d| d.name == "pd").unwrap();
        assert_eq!(pd.table_filter.as_deref(), Some("accounts"));

        // Same file again: nothing changes.
        let got = sync_destinations(cat.as_ref(), &key, &e).unwrap();
        assert!(got.iter().all(|(_, s)| *s == Synced::Unchanged), "{got:?}");

        // The file drops "pd" and changes "hook": hook is updated, pd stays.
        let changed = entries(
            "[[destinations]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"https://hooks.example.com/v2\"\nmin_severity = \"LOW\"\n",
        );
        let got = sync_destinations(cat.as_ref(), &key, &changed).unwrap();
        assert_eq!(got, vec![("hook".into(), Synced::Updated)]);
        let recs = cat.destinations().unwrap();
        assert_eq!(recs.len(), 2, "entries removed from the file are kept");
        let hook2 = recs.iter().find(|d| d.name == "hook").unwrap();
        assert_eq!(hook2.min_severity, "LOW");
        assert_eq!(hook2.created_at, hook.created_at);
        assert_eq!(
            DestinationConfig::open(hook2, &key).unwrap(),
            DestinationConfig::Webhook {
                url: "https://hooks.example.com/v2".into(),
                secret: None,
                headers: vec![],
            }
        );
    }
}
