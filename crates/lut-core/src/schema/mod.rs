//! Panther custom-schema model (§3): the types a lookup table's rows are checked against.
//!
//! [`parse`] reads the YAML form; this module holds the validated model the rest of the
//! core uses (field types, indicators, validation rules, CSV parser options).

mod parse;
#[cfg(test)]
#[path = "tests.rs"]
mod parse_tests;
pub mod time;

use std::path::PathBuf;

pub use parse::{parse_schema, parse_schema_node};
use time::TimeFormat;

/// A parsed, internally consistent schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: String,
    pub description: Option<String>,
    pub reference_url: Option<String>,
    pub version: Option<i64>,
    /// `Some` when the schema declares `parser: {csv: ...}`; `None` means JSON input.
    pub csv: Option<CsvOptions>,
    pub fields: Vec<Field>,
    /// Where the schema came from, for messages.
    pub file: Option<PathBuf>,
    pub line: usize,
}

impl Schema {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// The `parser.csv` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    pub has_header: bool,
    /// Column names in order; when absent the header row names the columns.
    pub columns: Option<Vec<String>>,
    /// Cell texts that mean "no value" besides the empty string.
    pub empty_values: Vec<String>,
    pub trim_space: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            has_header: true,
            columns: None,
            empty_values: Vec::new(),
            trim_space: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub required: bool,
    pub description: Option<String>,
    pub indicators: Vec<Indicator>,
    pub validate: Validate,
    pub is_event_time: bool,
    pub is_expiration: bool,
    pub is_embedded_json: bool,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    String,
    /// 32-bit signed.
    Int,
    /// 16-bit signed.
    SmallInt,
    /// 64-bit signed.
    BigInt,
    Float,
    Boolean,
    Timestamp(Vec<TimeFormat>),
    Array(Box<Field>),
    Object(Vec<Field>),
    Json,
}

impl FieldType {
    pub fn name(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::SmallInt => "smallint",
            FieldType::BigInt => "bigint",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp(_) => "timestamp",
            FieldType::Array(_) => "array",
            FieldType::Object(_) => "object",
            FieldType::Json => "json",
        }
    }

    /// Types whose values have a stable string form and can be a primary key.
    pub fn can_be_key(&self) -> bool {
        matches!(
            self,
            FieldType::String | FieldType::Int | FieldType::SmallInt | FieldType::BigInt
        )
    }
}

/// Which IP versions an `ip`/`cidr` validation accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
    Any,
}

impl IpFamily {
    pub fn accepts(self, is_v4: bool) -> bool {
        match self {
            IpFamily::Any => true,
            IpFamily::V4 => is_v4,
            IpFamily::V6 => !is_v4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IpFamily::V4 => "ipv4",
            IpFamily::V6 => "ipv6",
            IpFamily::Any => "any",
        }
    }
}

/// A string field's `validate` rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validate {
    pub allow: Option<Vec<String>>,
    pub deny: Vec<String>,
    pub ip: Option<IpFamily>,
    pub cidr: Option<IpFamily>,
}

/// Panther indicator kinds (§3) and the `p_any_*` fields they feed (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Indicator {
    Ip,
    Domain,
    Email,
    Username,
    Md5,
    Sha1,
    Sha256,
    AwsAccountId,
    AwsArn,
    AwsArnOnly,
    AwsInstanceId,
    AwsTag,
    Hostname,
    NetAddr,
    Url,
    TraceId,
}

impl Indicator {
    pub const ALL: [Indicator; 16] = [
        Indicator::Ip,
        Indicator::Domain,
        Indicator::Email,
        Indicator::Username,
        Indicator::Md5,
        Indicator::Sha1,
        Indicator::Sha256,
        Indicator::AwsAccountId,
        Indicator::AwsArn,
        Indicator::AwsArnOnly,
        Indicator::AwsInstanceId,
        Indicator::AwsTag,
        Indicator::Hostname,
        Indicator::NetAddr,
        Indicator::Url,
        Indicator::TraceId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Indicator::Ip => "ip",
            Indicator::Domain => "domain",
            Indicator::Email => "email",
            Indicator::Username => "username",
            Indicator::Md5 => "md5",
            Indicator::Sha1 => "sha1",
            Indicator::Sha256 => "sha256",
            Indicator::AwsAccountId => "aws_account_id",
            Indicator::AwsArn => "aws_arn",
            Indicator::AwsArnOnly => "aws_arn_only",
            Indicator::AwsInstanceId => "aws_instance_id",
            Indicator::AwsTag => "aws_tag",
            Indicator::Hostname => "hostname",
            Indicator::NetAddr => "net_addr",
            Indicator::Url => "url",
            Indicator::TraceId => "trace_id",
        }
    }

    pub fn from_name(name: &str) -> Option<Indicator> {
        Indicator::ALL.into_iter().find(|i| i.name() == name)
    }

    /// The `p_any_*` fields an upstream parser fills for this indicator (§5.5).
    pub fn p_any_fields(self) -> &'static [&'static str] {
        match self {
            Indicator::Ip => &["p_any_ip_addresses"],
            Indicator::Domain => &["p_any_domain_names"],
            Indicator::Email => &["p_any_emails"],
            Indicator::Username => &["p_any_usernames"],
            Indicator::Md5 => &["p_any_md5_hashes"],
            Indicator::Sha1 => &["p_any_sha1_hashes"],
            Indicator::Sha256 => &["p_any_sha256_hashes"],
            Indicator::AwsAccountId => &["p_any_aws_account_ids"],
            Indicator::AwsArn | Indicator::AwsArnOnly => &["p_any_aws_arns"],
            Indicator::AwsInstanceId => &["p_any_aws_instance_ids"],
            Indicator::AwsTag => &["p_any_aws_tags"],
            Indicator::TraceId => &["p_any_trace_ids"],
            Indicator::Hostname | Indicator::NetAddr | Indicator::Url => {
                &["p_any_domain_names", "p_any_ip_addresses"]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicator_names_round_trip() {
        for i in Indicator::ALL {
            assert_eq!(Indicator::from_name(i.name()), Some(i));
            assert!(!i.p_any_fields().is_empty());
        }
        assert_eq!(Indicator::from_name("IP"), None);
    }

    #[test]
    fn hostname_feeds_domains_and_ips() {
        assert_eq!(
            Indicator::Url.p_any_fields(),
            &["p_any_domain_names", "p_any_ip_addresses"]
        );
        assert_eq!(Indicator::AwsArnOnly.p_any_fields(), &["p_any_aws_arns"]);
    }
}
