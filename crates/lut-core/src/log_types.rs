//! Common Panther log type names (for `GET /api/v1/log-types` and spec authoring help).
//! The list is data (`log_types.txt`), one name a line.

const LIST: &str = include_str!("log_types.txt");

/// The built-in log type names, sorted as stored.
pub fn builtin() -> impl Iterator<Item = &'static str> {
    LIST.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn has_common_names() {
        let v: Vec<&str> = super::builtin().collect();
        assert!(v.len() >= 40);
        for n in [
            "AWS.CloudTrail",
            "Okta.SystemLog",
            "Zeek.DNS",
            "GCP.AuditLog",
        ] {
            assert!(v.contains(&n), "{n}");
        }
    }
}
