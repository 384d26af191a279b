//! Well-formedness of the AWS identifiers a table names (§2): IAM role ARNs, KMS key ARNs
//! and `s3://` object URIs. Pure string checks — nothing here talks to AWS — so that
//! `lut validate` catches a typo before a sync ever runs.

use std::fmt;

/// Partitions lut knows; an unknown one is almost always a typo.
pub const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// The default prefix of role names lut creates (§6.4).
pub const DEFAULT_ROLE_PREFIX: &str = "PantherLUTsRole-";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsIdError {
    #[error("{what} {value:?} is not an ARN (expected {expected})")]
    NotArn {
        what: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("unknown AWS partition {0:?} (expected one of aws, aws-cn, aws-us-gov, ...)")]
    Partition(String),
    #[error("account id {0:?} must be exactly 12 digits")]
    Account(String),
    #[error("region {0:?} is not a valid AWS region name")]
    Region(String),
    #[error("role name {0:?} is invalid: 1-64 characters from letters, digits and +=,.@_-")]
    RoleName(String),
    #[error("role path {0:?} is invalid: it must start and end with '/'")]
    RolePath(String),
    #[error("KMS key id {0:?} is invalid: expected key/<key id>")]
    KmsKey(String),
    #[error("S3 URI {0:?} must look like s3://bucket/key")]
    S3Uri(String),
    #[error("bucket name {name:?} is invalid: {reason}")]
    Bucket { name: String, reason: &'static str },
    #[error("object key in {0:?} is empty: the URI must name one object, not a bucket or folder")]
    EmptyKey(String),
    #[error("object key is longer than 1024 bytes")]
    KeyTooLong,
}

/// `arn:<partition>:iam::<account>:role/<path><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub partition: String,
    pub account: String,
    pub path: String,
    pub name: String,
}

impl RoleArn {
    pub fn parse(s: &str) -> Result<RoleArn, AwsIdError> {
        let not_arn = || AwsIdError::NotArn {
            what: "role ARN",
            value: s.to_string(),
            expected: "arn:<partition>:iam::<account>:role/<name>",
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(not_arn());
        };
        if arn != "arn" || service != "iam" || !region.is_empty() {
            return Err(not_arn());
        }
        check_partition(partition)?;
        check_account(account)?;
        let rest = resource.strip_prefix("role/").ok_or_else(not_arn)?;
        let (path, name) = match rest.rfind('/') {
            Some(i) => (&rest[..=i], &rest[i + 1..]),
            None => ("", rest),
        };
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            format!("/{path}")
        };
        if path.contains("//") || path.len() > 512 {
            return Err(AwsIdError::RolePath(path));
        }
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !name_ok {
            return Err(AwsIdError::RoleName(name.to_string()));
        }
        Ok(RoleArn {
            partition: partition.to_string(),
            account: account.to_string(),
            path,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:iam::{}:role{}{}",
            self.partition, self.account, self.path, self.name
        )
    }
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyArn {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub key_id: String,
}

impl KmsKeyArn {
    pub fn parse(s: &str) -> Result<KmsKeyArn, AwsIdError> {
        let not_arn = || AwsIdError::NotArn {
            what: "KMS key ARN",
            value: s.to_string(),
            expected: "arn:<partition>:kms:<region>:<account>:key/<key id>",
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(not_arn());
        };
        if arn != "arn" || service != "kms" {
            return Err(not_arn());
        }
        check_partition(partition)?;
        check_region(region)?;
        check_account(account)?;
        let id = resource
            .strip_prefix("key/")
            .ok_or_else(|| AwsIdError::KmsKey(resource.to_string()))?;
        let id_ok = !id.is_empty()
            && id.len() <= 256
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !id_ok {
            return Err(AwsIdError::KmsKey(resource.to_string()));
        }
        Ok(KmsKeyArn {
            partition: partition.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            key_id: id.to_string(),
        })
    }
}

/// One object in S3: `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    pub key: String,
}

impl S3Uri {
    pub fn parse(s: &str) -> Result<S3Uri, AwsIdError> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| AwsIdError::S3Uri(s.to_string()))?;
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| AwsIdError::EmptyKey(s.to_string()))?;
        check_bucket(bucket)?;
        if key.is_empty() || key.ends_with('/') {
            return Err(AwsIdError::EmptyKey(s.to_string()));
        }
        if key.len() > 1024 {
            return Err(AwsIdError::KeyTooLong);
        }
        Ok(S3Uri {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// Access-point aliases (`...-s3alias`) stand in for bucket names.
    pub fn is_access_point_alias(&self) -> bool {
        self.bucket.ends_with("-s3alias")
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

fn check_partition(p: &str) -> Result<(), AwsIdError> {
    if PARTITIONS.contains(&p) {
        Ok(())
    } else {
        Err(AwsIdError::Partition(p.to_string()))
    }
}

pub fn check_account(a: &str) -> Result<(), AwsIdError> {
    if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(AwsIdError::Account(a.to_string()))
    }
}

/// `us-east-1`, `us-gov-west-1`, `cn-north-1`, `eu-isoe-west-1`: letters-and-digits groups
/// separated by '-', ending in a number.
fn check_region(r: &str) -> Result<(), AwsIdError> {
    let groups: Vec<&str> = r.split('-').collect();
    let ok = groups.len() >= 3
        && groups.iter().all(|g| {
            !g.is_empty()
                && g.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && groups
            .last()
            .is_some_and(|g| g.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(AwsIdError::Region(r.to_string()))
    }
}

/// S3's bucket naming rules; access-point aliases (`-s3alias`) follow the same alphabet.
pub fn check_bucket(b: &str) -> Result<(), AwsIdError> {
    let err = |reason| AwsIdError::Bucket {
        name: b.to_string(),
        reason,
    };
    if !(3..=63).contains(&b.len()) {
        return Err(err("it must be 3 to 63 characters long"));
    }
    if !b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return Err(err(
            "only lowercase letters, digits, '.' and '-' are allowed",
        ));
    }
    let first = b.as_bytes()[0];
    let last = b.as_bytes()[b.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return Err(err("it must begin and end with a letter or digit"));
    }
    if b.contains("..") {
        return Err(err("it must not contain two adjacent periods"));
    }
    if b.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(err("it must not be formatted as an IP address"));
    }
    if b.starts_with("xn--") || b.starts_with("sthree-") {
        return Err(err("the prefixes xn-- and sthree- are reserved"));
    }
    if b.ends_with("--ol-s3") || b.ends_with(".mrap") || b.ends_with("--x-s3") {
        return Err(err("that suffix is reserved by S3"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let r = RoleArn::parse("arn:aws:iam::123456789123:role/PantherLUTsRole-x").unwrap();
        assert_eq!(
            (r.account.as_str(), r.name.as_str(), r.path.as_str()),
            ("123456789123", "PantherLUTsRole-x", "/")
        );
        let r = RoleArn::parse("arn:aws-us-gov:iam::123456789123:role/team/sec/reader").unwrap();
        assert_eq!((r.path.as_str(), r.name.as_str()), ("/team/sec/", "reader"));
        assert_eq!(
            r.to_string(),
            "arn:aws-us-gov:iam::123456789123:role/team/sec/reader"
        );
        assert!(matches!(
            RoleArn::parse("arn:aws:iam::12345:role/x"),
            Err(AwsIdError::Account(_))
        ));
        assert!(matches!(
            RoleArn::parse("arn:aws:iam::123456789123:user/x"),
            Err(AwsIdError::NotArn { .. })
        ));
        assert!(matches!(
            RoleArn::parse("arn:aws:iam:us-east-1:123456789123:role/x"),
            Err(AwsIdError::NotArn { .. })
        ));
        assert!(matches!(
            RoleArn::parse("arn:awz:iam::123456789123:role/x"),
            Err(AwsIdError::Partition(_))
        ));
        assert!(matches!(
            RoleArn::parse("arn:aws:iam::123456789123:role/"),
            Err(AwsIdError::RoleName(_))
        ));
        assert!(matches!(
            RoleArn::parse("arn:aws:iam::123456789123:role/a b"),
            Err(AwsIdError::RoleName(_))
        ));
        let long = format!("arn:aws:iam::123456789123:role/{}", "a".repeat(65));
        assert!(matches!(
            RoleArn::parse(&long),
            Err(AwsIdError::RoleName(_))
        ));
        assert!(RoleArn::parse("PantherLUTsRole-x").is_err());
    }

    #[test]
    fn kms_arns() {
        let k = KmsKeyArn::parse(
            "arn:aws:kms:us-east-1:123456789123:key/73d4c1e5-26d7-4a60-b2b5-13d171af7772",
        )
        .unwrap();
        assert_eq!(k.region, "us-east-1");
        assert!(KmsKeyArn::parse("arn:aws-us-gov:kms:us-gov-west-1:123456789123:key/abc").is_ok());
        assert!(matches!(
            KmsKeyArn::parse("arn:aws:kms:us-east-1:123456789123:alias/x"),
            Err(AwsIdError::KmsKey(_))
        ));
        assert!(matches!(
            KmsKeyArn::parse("arn:aws:kms:useast1:123456789123:key/x"),
            Err(AwsIdError::Region(_))
        ));
        assert!(matches!(
            KmsKeyArn::parse("arn:aws:s3:us-east-1:123456789123:key/x"),
            Err(AwsIdError::NotArn { .. })
        ));
    }

    #[test]
    fn s3_uris() {
        let u = S3Uri::parse("s3://lookup-foobar/sample_aws_accounts.csv").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.key.as_str()),
            ("lookup-foobar", "sample_aws_accounts.csv")
        );
        let a = S3Uri::parse("s3://panther-gitfetcher-gmji11fb16h67os7pc8djtoe9g49nusw2a-s3alias/luts/data/misp.jsonl").unwrap();
        assert!(a.is_access_point_alias());
        assert!(matches!(
            S3Uri::parse("https://b/k"),
            Err(AwsIdError::S3Uri(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3://bucket"),
            Err(AwsIdError::EmptyKey(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3://bucket/"),
            Err(AwsIdError::EmptyKey(_))
        ));
        assert!(matches!(
            S3Uri::parse("s3://bucket/dir/"),
            Err(AwsIdError::EmptyKey(_))
        ));
        for bad in [
            "Bucket",
            "ab",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "a_b",
        ] {
            assert!(
                matches!(
                    S3Uri::parse(&format!("s3://{bad}/k")),
                    Err(AwsIdError::Bucket { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(u.to_string(), "s3://lookup-foobar/sample_aws_accounts.csv");
    }
}
