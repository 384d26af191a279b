//! The IAM role of an S3 table (SPEC §6.4), generated: role names, the trust policy, the
//! `ReadData` policy, lut's own service-principal policy, the CloudFormation template (as a
//! `serde_json::Value`, rendered as JSON or YAML) and the console's quick-create link.
//!
//! Pure: nothing here talks to AWS. The CLI fills in lut's principal (STS
//! GetCallerIdentity) and the ExternalId, and uploads the template for the link. The shape
//! and the decisions behind it are in `docs/iam.md`.

use serde_json::{json, Map, Value};

use crate::aws::{check_account, AwsIdError, RoleArn, PARTITIONS};

/// IAM's limit on role names.
pub const MAX_ROLE_NAME: usize = 64;
/// The `MaxSessionDuration` of the roles lut creates (lut asks for 15-minute sessions).
pub const MAX_SESSION_SECONDS: u32 = 3600;
/// The tag that marks a role as lut's.
pub const MANAGED_TAG_KEY: &str = "lut:managed-by";
pub const MANAGED_TAG_VALUE: &str = "lut";
/// The tag naming the table the role reads for.
pub const TABLE_TAG_KEY: &str = "lut:table";
/// The logical id of the role in the template.
pub const ROLE_LOGICAL_ID: &str = "LookupTableRole";

fn role_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// 32-bit FNV-1a of the table name as 8 hex digits: stable across builds and platforms.
pub fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    #[error(
        "role name prefix {0:?} is invalid: at most 54 characters from letters, digits and +=,.@_-"
    )]
    Prefix(String),
    #[error("{0:?} is not an IAM or STS principal ARN (expected arn:<partition>:sts::<account>:assumed-role/<role>/<session>, arn:<partition>:iam::<account>:role/<name> or :user/<name>)")]
    Principal(String),
    #[error(transparent)]
    Id(#[from] AwsIdError),
    #[error("role {role} is in account {actual}, but the table's account is {expected}: the role must be in the account that owns the bucket")]
    AccountMismatch {
        role: String,
        actual: String,
        expected: String,
    },
    #[error("role name {name:?} does not start with {prefix:?}; lut's own IAM policy only allows assuming roles with that prefix")]
    MissingPrefix { name: String, prefix: String },
}

/// `<prefix><suffix>`, at most 64 characters. The suffix is the table name with every
/// character IAM does not allow in role names replaced by `-`. Whenever that changed the
/// name, the name has upper-case letters (IAM role names are unique regardless of case),
/// or it had to be shortened, `-` and a hash of the original table name are appended so
/// that two different tables never get the same role.
pub fn role_name(prefix: &str, table: &str) -> Result<String, IamError> {
    // Room for at least `x-` and the 8-digit hash.
    if prefix.len() > MAX_ROLE_NAME - 10 || !prefix.chars().all(role_char_ok) {
        return Err(IamError::Prefix(prefix.to_string()));
    }
    let clean: String = table
        .chars()
        .map(|c| if role_char_ok(c) { c } else { '-' })
        .collect();
    let changed =
        clean != table || table.is_empty() || table.chars().any(|c| c.is_ascii_uppercase());
    if !changed && prefix.len() + clean.len() <= MAX_ROLE_NAME {
        return Ok(format!("{prefix}{clean}"));
    }
    let hash = short_hash(table);
    let room = MAX_ROLE_NAME - prefix.len() - hash.len() - 1;
    // `clean` is ASCII, so byte slicing is safe.
    let head = &clean[..clean.len().min(room)];
    if head.is_empty() {
        Ok(format!("{prefix}{hash}"))
    } else {
        Ok(format!("{prefix}{head}-{hash}"))
    }
}

/// The CloudFormation stack name for a role: `[A-Za-z][-A-Za-z0-9]*`, at most 128.
pub fn stack_name(role_name: &str) -> String {
    let mut s: String = role_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "lut-");
    }
    s.truncate(128);
    s
}

/// lut's own principal as IAM sees it in a trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub partition: String,
    pub account: String,
    /// A role, user or root ARN (`arn:<partition>:iam::...`) or a federated-user ARN.
    pub arn: String,
}

impl Principal {
    /// From the ARN STS GetCallerIdentity returns. An assumed-role session
    /// (`arn:P:sts::A:assumed-role/ROLE/SESSION`) becomes its role `arn:P:iam::A:role/ROLE`
    /// (the session ARN changes with every session and cannot be trusted). The session
    /// ARN does not carry the role's path; a role with a path must be named by hand.
    pub fn from_caller_arn(arn: &str) -> Result<Principal, IamError> {
        let bad = || IamError::Principal(arn.to_string());
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [a, partition, service, region, account, resource] = parts[..] else {
            return Err(bad());
        };
        if a != "arn" || !region.is_empty() || !PARTITIONS.contains(&partition) {
            return Err(bad());
        }
        check_account(account).map_err(|_| bad())?;
        let out = |arn: String| Principal {
            partition: partition.to_string(),
            account: account.to_string(),
            arn,
        };
        match service {
            "sts" => {
                if let Some(rest) = resource.strip_prefix("assumed-role/") {
                    let (role, session) = rest.split_once('/').ok_or_else(bad)?;
                    if role.is_empty() || session.is_empty() || !role.chars().all(role_char_ok) {
                        return Err(bad());
                    }
                    Ok(out(format!("arn:{partition}:iam::{account}:role/{role}")))
                } else if resource
                    .strip_prefix("federated-user/")
                    .is_some_and(|n| !n.is_empty())
                {
                    Ok(out(arn.to_string()))
                } else {
                    Err(bad())
                }
            }
            "iam" => {
                let ok = resource == "root"
                    || ["role/", "user/"].iter().any(|p| {
                        resource
                            .strip_prefix(p)
                            .is_some_and(|n| !n.is_empty() && !n.ends_with('/'))
                    });
                if ok {
                    Ok(out(arn.to_string()))
                } else {
                    Err(bad())
                }
            }
            _ => Err(bad()),
        }
    }

    /// The whole account (`arn:P:iam::A:root`): the documented option of trusting every
    /// principal of lut's account that its own IAM policies allow, as Panther does.
    pub fn account_root(&self) -> Principal {
        Principal {
            arn: format!("arn:{}:iam::{}:root", self.partition, self.account),
            ..self.clone()
        }
    }
}

/// Whom the role trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrustScope {
    /// lut's own role or user (the default; least privilege).
    #[default]
    Principal,
    /// lut's whole account (`:root`).
    Account,
}

/// Everything one table's role is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInputs {
    pub table: String,
    pub role_name: String,
    /// The partition of the bucket's account (the table's role ARN).
    pub partition: String,
    pub bucket: String,
    pub key: String,
    pub kms_key_arn: Option<String>,
    /// The principal the trust policy names (already scoped: see [`TrustScope`]).
    pub trusted_arn: String,
    pub external_id: String,
}

/// The trust (assume-role) policy.
pub fn trust_policy(trusted_arn: &str, external_id: &str) -> Value {
    trust_policy_value(json!(trusted_arn), json!(external_id))
}

fn trust_policy_value(principal: Value, external_id: Value) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AssumedByLut",
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "sts:AssumeRole",
            "Condition": {
                "Bool": {"aws:SecureTransport": "true"},
                "StringEquals": {"sts:ExternalId": external_id}
            }
        }]
    })
}

/// `arn:<partition>:s3:::<bucket>` and `.../<key>`.
pub fn bucket_arn(partition: &str, bucket: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}")
}

pub fn object_arn(partition: &str, bucket: &str, key: &str) -> String {
    format!("arn:{partition}:s3:::{bucket}/{key}")
}

fn read_statements(bucket: Value, object: Value) -> Vec<Value> {
    vec![
        json!({"Sid": "LocateBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket}),
        json!({"Sid": "ReadObject", "Effect": "Allow", "Action": "s3:GetObject", "Resource": object}),
    ]
}

fn kms_statement(key: Value) -> Value {
    json!({"Sid": "DecryptObject", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": key})
}

/// The `ReadData` permission policy: where the object is, the object, and its KMS key.
pub fn read_data_policy(
    partition: &str,
    bucket: &str,
    key: &str,
    kms_key_arn: Option<&str>,
) -> Value {
    let mut st = read_statements(
        json!(bucket_arn(partition, bucket)),
        json!(object_arn(partition, bucket, key)),
    );
    if let Some(k) = kms_key_arn {
        st.push(kms_statement(json!(k)));
    }
    json!({"Version": "2012-10-17", "Statement": st})
}

/// The policy lut's own principal needs: assume the roles with the prefix, in any account.
pub fn service_principal_policy(partition: &str, prefix: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AssumeLookupTableRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": format!("arn:{partition}:iam::*:role/{prefix}*")
        }]
    })
}

fn param(description: &str, extra: Value) -> Value {
    let mut m = json!({"Type": "String", "Description": description});
    if let (Some(m), Value::Object(e)) = (m.as_object_mut(), extra) {
        m.extend(e);
    }
    m
}

/// Tag values allow letters, digits, spaces and `_.:/=+-@`.
fn tag_value(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(256)
        .collect();
    v
}

/// The CloudFormation template. The table's values are the Parameters' defaults, so the
/// same template deploys unchanged from the console link, `aws cloudformation deploy` or
/// the user's own pipeline (which may override any of them).
pub fn template(r: &RoleInputs) -> Value {
    let sub = |s: &str| json!({"Fn::Sub": s});
    let mut statements = read_statements(
        sub("arn:${AWS::Partition}:s3:::${BucketName}"),
        sub("arn:${AWS::Partition}:s3:::${BucketName}/${ObjectKey}"),
    );
    statements.push(json!({"Fn::If": [
        "HasKmsKey",
        kms_statement(json!({"Ref": "KmsKeyArn"})),
        {"Ref": "AWS::NoValue"}
    ]}));
    let mut params = Map::new();
    params.insert(
        "RoleName".into(),
        param(
            "Name of the role lut assumes to read the table (must keep lut's role prefix)",
            json!({"Default": r.role_name, "AllowedPattern": "[\\w+=,.@-]{1,64}", "MaxLength": 64}),
        ),
    );
    params.insert(
        "ServicePrincipalArn".into(),
        param(
            "lut's own IAM principal (see `lut settings`), or its account's :root",
            json!({"Default": r.trusted_arn, "AllowedPattern": "arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+"}),
        ),
    );
    params.insert(
        "ExternalId".into(),
        param(
            "lut's ExternalId (see `lut settings`): guards against the confused-deputy problem",
            json!({"Default": r.external_id, "AllowedPattern": "[\\w+=,.@:/-]{2,1224}", "MinLength": 2, "MaxLength": 1224}),
        ),
    );
    params.insert(
        "BucketName".into(),
        param(
            "Bucket that holds the table's object",
            json!({"Default": r.bucket, "MinLength": 3, "MaxLength": 63}),
        ),
    );
    params.insert(
        "ObjectKey".into(),
        param(
            "Key of the table's object",
            json!({"Default": r.key, "MinLength": 1, "MaxLength": 1024}),
        ),
    );
    params.insert(
        "KmsKeyArn".into(),
        param(
            "ARN of the KMS key the object is encrypted with; empty for none",
            json!({"Default": r.kms_key_arn.clone().unwrap_or_default()}),
        ),
    );
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("IAM role that lets lut read the lookup table {}", tag_value(&r.table)),
        "Parameters": params,
        "Conditions": {
            "HasKmsKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}
        },
        "Resources": {
            ROLE_LOGICAL_ID: {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "Description": format!("lut reads the lookup table {} through this role", tag_value(&r.table)),
                    "MaxSessionDuration": MAX_SESSION_SECONDS,
                    "AssumeRolePolicyDocument": trust_policy_value(json!({"Ref": "ServicePrincipalArn"}), json!({"Ref": "ExternalId"})),
                    "Policies": [{
                        "PolicyName": "ReadData",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}
                    }],
                    "Tags": [
                        {"Key": MANAGED_TAG_KEY, "Value": MANAGED_TAG_VALUE},
                        {"Key": TABLE_TAG_KEY, "Value": tag_value(&r.table)}
                    ]
                }
            }
        },
        "Outputs": {
            "RoleARN": {
                "Description": "The role's ARN: the table's Refresh.RoleARN",
                "Value": {"Fn::GetAtt": [ROLE_LOGICAL_ID, "Arn"]}
            }
        }
    })
}

/// The console host of a partition.
fn console_host(partition: &str, region: &str) -> String {
    match partition {
        "aws-cn" => "console.amazonaws.cn".to_string(),
        "aws-us-gov" => "console.amazonaws-us-gov.com".to_string(),
        _ => format!("{region}.console.aws.amazon.com"),
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The CloudFormation console's quick-create page for a template at `template_url`,
/// with `params` filled in (`param_<Name>=<value>`).
pub fn quick_create_url(
    partition: &str,
    region: &str,
    stack_name: &str,
    template_url: &str,
    params: &[(&str, &str)],
) -> String {
    let mut url = format!(
        "https://{}/cloudformation/home?region={}#/stacks/quickcreate?templateURL={}&stackName={}",
        console_host(partition, region),
        url_encode(region),
        url_encode(template_url),
        url_encode(stack_name)
    );
    for (k, v) in params {
        url.push_str(&format!("&param_{}={}", url_encode(k), url_encode(v)));
    }
    url
}

/// The quick-create parameters for a role (everything the template asks for).
pub fn quick_create_params(r: &RoleInputs) -> Vec<(&'static str, String)> {
    vec![
        ("RoleName", r.role_name.clone()),
        ("ServicePrincipalArn", r.trusted_arn.clone()),
        ("ExternalId", r.external_id.clone()),
        ("BucketName", r.bucket.clone()),
        ("ObjectKey", r.key.clone()),
        ("KmsKeyArn", r.kms_key_arn.clone().unwrap_or_default()),
    ]
}

/// Checks a role ARN given as input: well-formed, in `account` when the table names its
/// account separately, and (as its own error, which callers may treat as a warning) named
/// with `prefix`.
pub fn check_role_arn(arn: &str, account: Option<&str>, prefix: &str) -> Result<RoleArn, IamError> {
    let role = RoleArn::parse(arn)?;
    if let Some(expected) = account {
        check_account(expected)?;
        if role.account != expected {
            return Err(IamError::AccountMismatch {
                role: arn.to_string(),
                actual: role.account,
                expected: expected.to_string(),
            });
        }
    }
    if !role.name.starts_with(prefix) {
        return Err(IamError::MissingPrefix {
            name: role.name,
            prefix: prefix.to_string(),
        });
    }
    Ok(role)
}

/// JSON with two-space indentation.
pub fn to_json(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("a Value always serialises") + "\n"
}

/// Block-style YAML: mappings and sequences as blocks, every string double-quoted (JSON's
/// escapes are valid in YAML's double-quoted scalars), keys plain when they are simple
/// identifiers such as `Fn::Sub`. The result parses back to the same value.
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => yaml_map(m, 0, &mut out),
        Value::Array(a) if !a.is_empty() => yaml_seq(a, 0, &mut out),
        _ => {
            out.push_str(&yaml_scalar(v));
            out.push('\n');
        }
    }
    out
}

fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        // JSON's string syntax is a subset of YAML's double-quoted scalars.
        other => other.to_string(),
    }
}

fn yaml_key(k: &str) -> String {
    let plain = k.starts_with(|c: char| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && !k.ends_with(':')
        && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"]
            .contains(&k.to_ascii_lowercase().as_str());
    if plain {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn yaml_map(m: &Map<String, Value>, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_key(k));
        out.push(':');
        yaml_value(v, indent, out);
    }
}

fn yaml_seq(a: &[Value], indent: usize, out: &mut String) {
    for v in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // `- key: value` with the rest of the mapping aligned under the key.
                let mut inner = String::new();
                yaml_map(m, indent + 2, &mut inner);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            _ => yaml_value(v, indent, out),
        }
    }
}

fn yaml_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if is_block(v) => {
            out.push('\n');
            yaml_map(m, indent + 2, out);
        }
        Value::Array(a) if is_block(v) => {
            out.push('\n');
            yaml_seq(a, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&yaml_scalar(v));
            out.push('\n');
        }
    }
}

#[cfg(test)]
#[path = "iam_tests.rs"]
mod tests;
