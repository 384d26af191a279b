//! Temporary credentials per (role ARN, ExternalId), the STS session name, the bucket
//! region cache and the retry back-off: the bookkeeping of the S3 source, kept apart from
//! the calls so that it can be tested without a network.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

/// Credentials this close to expiry are replaced before use.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// How long lut asks STS for (the default maximum session duration of a role).
pub const SESSION_SECONDS: i32 = 3600;

/// Transient failures are retried with exponential backoff and full jitter:
/// attempt `n` (1-based) failed → sleep a uniformly random time in
/// `[0, min(max_delay, base_delay * 2^(n-1))]`, up to `max_attempts` attempts per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, including the first (1 = no retry).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 250 ms base, 20 s cap: a bad minute of throttling is ridden out, a
    /// real outage fails the check quickly and the scheduler's back-off takes over.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the sleep after failed attempt `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }

    /// A full-jitter sleep after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// `lut-<table>` with every character STS does not accept (`[\w+=,.@-]`) replaced by `-`,
/// cut to 64 characters.
pub fn session_name(table: &str) -> String {
    let mut s = String::from("lut-");
    for c in table.chars() {
        if s.len() >= 64 {
            break;
        }
        let ok = c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        s.push(if ok { c } else { '-' });
    }
    s
}

/// Is `id` an ExternalId STS accepts (2 to 1224 characters of `[\w+=,.@:/-]`)?
pub fn valid_external_id(id: &str) -> bool {
    (2..=1224).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// Temporary credentials for one role.
#[derive(Clone)]
pub struct RoleCredentials {
    pub credentials: Credentials,
    pub expires: SystemTime,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_arn: Option<String>,
}

impl fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials' own Debug redacts the secret and token.
        f.debug_struct("RoleCredentials")
            .field("credentials", &self.credentials)
            .field("expires", &self.expires)
            .field("assumed_arn", &self.assumed_arn)
            .finish()
    }
}

impl RoleCredentials {
    /// Still good for at least [`REFRESH_BEFORE_EXPIRY`] at `now`?
    pub fn fresh_at(&self, now: SystemTime) -> bool {
        self.expires
            .duration_since(now)
            .is_ok_and(|left| left >= REFRESH_BEFORE_EXPIRY)
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<RoleCredentials>>>;

/// Credentials per (role ARN, ExternalId). Each key has its own async lock, so concurrent
/// fetches of tables sharing a role make one AssumeRole call, and different roles do not
/// wait for each other.
#[derive(Default)]
pub struct CredentialCache {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.slots.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "CredentialCache({n} roles)")
    }
}

impl CredentialCache {
    pub fn slot(&self, role_arn: &str, external_id: &str) -> Slot {
        let mut m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((role_arn.to_string(), external_id.to_string()))
            .or_default()
            .clone()
    }

    /// Forgets the credentials of one role (S3 said they are stale).
    pub async fn forget(&self, role_arn: &str, external_id: &str) {
        let slot = self.slot(role_arn, external_id);
        *slot.lock().await = None;
    }
}

/// Bucket → region, filled by GetBucketLocation.
#[derive(Debug, Default)]
pub struct RegionCache {
    regions: Mutex<HashMap<String, String>>,
}

impl RegionCache {
    pub fn get(&self, bucket: &str) -> Option<String> {
        self.regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(bucket)
            .cloned()
    }
    pub fn put(&self, bucket: &str, region: &str) {
        self.regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bucket.to_string(), region.to_string());
    }
    pub fn forget(&self, bucket: &str) {
        self.regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(bucket);
    }
}

/// GetBucketLocation's answer as a region: empty = us-east-1, `EU` = eu-west-1.
pub fn region_of_location(constraint: Option<&str>) -> String {
    match constraint.map(str::trim) {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(r) => r.to_string(),
    }
}

/// The region to call STS and GetBucketLocation in when lut has none configured.
pub fn partition_default_region(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "cn-north-1",
        "aws-us-gov" => "us-gov-west-1",
        "aws-iso" => "us-iso-east-1",
        "aws-iso-b" => "us-isob-east-1",
        _ => "us-east-1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_sts_safe() {
        assert_eq!(session_name("aws_accounts"), "lut-aws_accounts");
        assert_eq!(
            session_name("Threat Intel/IPs: v2"),
            "lut-Threat-Intel-IPs--v2"
        );
        assert_eq!(session_name("näme"), "lut-n-me");
        let long = session_name(&"x".repeat(200));
        assert_eq!(long.len(), 64);
        assert!(long.starts_with("lut-xxx"));
        let wide = session_name(&"é".repeat(100));
        assert!(wide.len() <= 64);
        for n in ["a", "a b", &"z".repeat(128), "x.y@z=1,2+3"] {
            let s = session_name(n);
            assert!((2..=64).contains(&s.len()), "{s}");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)),
                "{s}"
            );
        }
    }

    #[test]
    fn external_ids() {
        assert!(valid_external_id("a1b2-c3"));
        assert!(valid_external_id("urn:x/y+z=1,2.3@4_5"));
        assert!(!valid_external_id("a"));
        assert!(!valid_external_id(""));
        assert!(!valid_external_id("has space"));
        assert!(!valid_external_id(&"a".repeat(1225)));
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_secs(1));
        assert_eq!(p.ceiling(1000), Duration::from_secs(1));
        let mut seen_small = false;
        for _ in 0..200 {
            let d = p.backoff(3);
            assert!(d <= Duration::from_millis(400));
            seen_small |= d < Duration::from_millis(200);
        }
        assert!(seen_small, "full jitter spreads over [0, ceiling]");
        let zero = RetryPolicy {
            base_delay: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.backoff(3), Duration::ZERO);
    }

    #[test]
    fn freshness_has_a_five_minute_margin() {
        let now = SystemTime::now();
        let c = |secs: u64| RoleCredentials {
            credentials: Credentials::new(
                "AKIA",
                "s3cr3tvalue",
                Some("t0kenvalue".into()),
                None,
                "test",
            ),
            expires: now + Duration::from_secs(secs),
            assumed_arn: None,
        };
        assert!(c(3600).fresh_at(now));
        assert!(c(301).fresh_at(now));
        assert!(!c(299).fresh_at(now));
        assert!(!c(3600).fresh_at(now + Duration::from_secs(3400)));
        let past = RoleCredentials {
            expires: now - Duration::from_secs(1),
            ..c(0)
        };
        assert!(!past.fresh_at(now));
        let dbg = format!("{:?}", c(10));
        assert!(
            !dbg.contains("s3cr3tvalue") && !dbg.contains("t0kenvalue"),
            "{dbg}"
        );
    }

    #[test]
    fn locations_map_to_regions() {
        assert_eq!(region_of_location(None), "us-east-1");
        assert_eq!(region_of_location(Some("")), "us-east-1");
        assert_eq!(region_of_location(Some("EU")), "eu-west-1");
        assert_eq!(region_of_location(Some("eu-central-1")), "eu-central-1");
        assert_eq!(partition_default_region("aws-cn"), "cn-north-1");
        assert_eq!(partition_default_region("aws"), "us-east-1");
    }

    #[test]
    fn caches() {
        let r = RegionCache::default();
        r.put("b", "eu-west-1");
        assert_eq!(r.get("b").as_deref(), Some("eu-west-1"));
        r.forget("b");
        assert_eq!(r.get("b"), None);
        let c = CredentialCache::default();
        let a = c.slot("arn:r", "x");
        let b = c.slot("arn:r", "x");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c.slot("arn:r", "y")));
    }
}
