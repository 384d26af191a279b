//! Turning what an AWS call reported into a [`SourceError`]: stage, kind, AWS error code,
//! a plain-language cause and a remedy. Pure: [`classify`] reads an [`Observed`] (what the
//! SDK error said, copied out of it by [`observe`](super::observe)) and a [`Context`] (which
//! table, role, bucket, ...), so every rule is unit-tested without I/O.
//!
//! Codes are taken from the SDK when it could parse them, else from the raw body
//! (`<Code>...</Code>`); moto 5.2's STS errors, for one, come in a shape the SDK cannot
//! read. When there is no code at all the HTTP status and the message decide.

use crate::{ErrorKind, SourceError, Stage};

/// The call that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// STS AssumeRole on the table's role, with lut's own credentials.
    AssumeRole,
    /// STS GetCallerIdentity with lut's own credentials.
    CallerIdentity,
    /// S3 GetBucketLocation with the role's credentials.
    LocateBucket,
    /// S3 GetObject / HeadObject with the role's credentials, up to the response head.
    GetObject,
    /// Reading the object's body.
    ReadBody,
}

/// How a request failed below the HTTP layer, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Connect, read or attempt timeout.
    Timeout,
    /// Connection refused, reset or closed; DNS failure.
    Io,
    /// The request could not be built or signed (bad endpoint, no credentials).
    Construction,
    /// A response came back but could not be parsed (often a truncated one).
    Response,
    Other,
}

/// What a failed call reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub transport: Option<Transport>,
    /// The full error text, kept in [`SourceError::detail`].
    pub detail: String,
}

/// Names for messages. Nothing secret goes in here except the ExternalId, which the
/// remedy of a refused AssumeRole must show (it is not a credential; the console shows
/// it too).
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    pub table: &'a str,
    pub role_arn: &'a str,
    pub external_id: &'a str,
    /// lut's own principal ARN, when known.
    pub principal: Option<&'a str>,
    pub bucket: &'a str,
    pub key: &'a str,
    /// The KMS key the table declares, or the one the object reported.
    pub kms_key: Option<&'a str>,
    /// The endpoint lut talks to, when not AWS's own.
    pub endpoint: Option<&'a str>,
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

const TRANSIENT: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "IDPCommunicationError",
    "OperationAborted",
];

/// Codes that mean the temporary credentials lut holds for a role went stale (expired,
/// revoked, or the store restarted): drop them and assume the role again.
pub const STALE_CREDENTIALS: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidAccessKeyId",
];

/// Codes that mean lut signed for the wrong region: locate the bucket again.
pub const WRONG_REGION: &[&str] = &[
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
];

fn is_throttling(code: &str) -> bool {
    THROTTLING.contains(&code) || code.ends_with(".ThrottlingException")
}

/// Extracts `<Tag>value</Tag>` from an XML error body.
pub fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    let v = body[start..end].trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// The principal a "User: <arn> is not authorized ..." message names.
fn principal_in_message(message: &str) -> Option<&str> {
    let rest = message.split("User: ").nth(1)?;
    let arn = rest.split_whitespace().next()?;
    arn.starts_with("arn:").then_some(arn)
}

fn mentions(message: &str, needle: &str) -> bool {
    message.to_ascii_lowercase().contains(needle)
}

/// The code to go by: the reported one, or one inferred from status and message.
fn effective_code(obs: &Observed) -> Option<String> {
    if let Some(c) = obs.code.as_deref().filter(|c| !c.is_empty()) {
        return Some(c.to_string());
    }
    let msg = obs.message.as_deref().unwrap_or("");
    match obs.status? {
        403 if mentions(msg, "not authorized") || mentions(msg, "access denied") => {
            Some("AccessDenied".into())
        }
        403 => Some("AccessDenied".into()),
        404 => Some("NotFound".into()),
        429 => Some("TooManyRequestsException".into()),
        _ => None,
    }
}

/// Classifies one failure.
pub fn classify(op: Op, obs: &Observed, ctx: &Context<'_>) -> SourceError {
    let mut e = classify_inner(op, obs, ctx);
    if e.code.is_none() {
        e.code = obs.code.clone().filter(|c| !c.is_empty());
    }
    if e.http_status.is_none() {
        e.http_status = obs.status;
    }
    if e.detail.is_empty() {
        e.detail = obs.detail.clone();
    }
    e
}

fn service_of(op: Op) -> &'static str {
    match op {
        Op::AssumeRole | Op::CallerIdentity => "STS",
        _ => "S3",
    }
}

fn base_stage(op: Op) -> Stage {
    match op {
        Op::AssumeRole | Op::CallerIdentity => Stage::AssumeRole,
        Op::LocateBucket => Stage::LocateBucket,
        Op::GetObject => Stage::GetObject,
        Op::ReadBody => Stage::Download,
    }
}

fn classify_inner(op: Op, obs: &Observed, ctx: &Context<'_>) -> SourceError {
    let stage = base_stage(op);
    let service = service_of(op);
    let msg = obs.message.as_deref().unwrap_or("");
    let object = format!("s3://{}/{}", ctx.bucket, ctx.key);
    let where_ = ctx.endpoint.map(|e| format!(" at {e}")).unwrap_or_default();

    // Below HTTP: network, timeouts, requests that could not be built.
    if let Some(t) = obs.transport {
        if op == Op::ReadBody {
            return SourceError::new(
                ErrorKind::Transient,
                Stage::Download,
                format!("the download of {object} broke off: {}", short(&obs.detail)),
                "lut retries with backoff; if it keeps failing, check the network path to S3 (proxy, firewall)",
            );
        }
        return match t {
            Transport::Timeout => SourceError::new(
                ErrorKind::Transient,
                stage,
                format!("{service}{where_} did not answer in time"),
                "lut retries with backoff; if it keeps failing, check the network path to AWS (proxy, firewall, DNS)",
            ),
            Transport::Io | Transport::Other => SourceError::new(
                ErrorKind::Transient,
                stage,
                format!("cannot reach {service}{where_}: {}", short(&obs.detail)),
                "lut retries with backoff; if it keeps failing, check the network path to AWS (proxy, firewall, DNS) and the endpoint setting",
            ),
            Transport::Construction if mentions(&obs.detail, "credential") => SourceError::new(
                ErrorKind::PermissionDenied,
                stage,
                "lut has no AWS credentials of its own",
                "give lut an identity through the standard AWS chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or an instance/ECS/EKS role",
            ),
            Transport::Construction => SourceError::new(
                ErrorKind::Invalid,
                stage,
                format!("the {service} request could not be built: {}", short(&obs.detail)),
                "check lut's AWS settings (endpoint URL, region)",
            ),
            Transport::Response if obs.status.is_some_and(|s| s >= 500) || obs.status.is_none() => {
                SourceError::new(
                    ErrorKind::Transient,
                    stage,
                    format!("{service}{where_} sent a broken response"),
                    "lut retries with backoff; if it keeps failing, check the endpoint setting and any proxy in between",
                )
            }
            Transport::Response => SourceError::new(
                ErrorKind::Other,
                stage,
                format!("{service}{where_} sent a response lut cannot read (HTTP {})", obs.status.unwrap_or(0)),
                "check the endpoint setting: it must point at S3 or an S3-compatible store",
            ),
        };
    }

    let code = effective_code(obs);
    let code_str = code.as_deref().unwrap_or("");
    let status = obs.status.unwrap_or(0);

    // Throttling and server trouble: retry.
    if is_throttling(code_str) || status == 429 || status == 503 {
        let st = if code_str.starts_with("KMS.") {
            Stage::Decrypt
        } else {
            stage
        };
        return SourceError::new(
            ErrorKind::Transient,
            st,
            format!("{service} is throttling lut's requests ({})", if code_str.is_empty() { "HTTP 503" } else { code_str }),
            "lut retries with backoff; if it persists, lower the sync concurrency or lengthen update periods",
        );
    }
    if TRANSIENT.contains(&code_str) || status >= 500 {
        return SourceError::new(
            ErrorKind::Transient,
            stage,
            format!("{service}{where_} had an internal error (HTTP {status})"),
            "lut retries with backoff; nothing to change unless it persists",
        );
    }

    // KMS, whichever S3 call surfaced it.
    let kms_denied = code_str == "AccessDenied" && mentions(msg, "kms");
    if matches!(op, Op::GetObject | Op::ReadBody) && (code_str.starts_with("KMS.") || kms_denied) {
        let key = ctx.kms_key.map(|k| format!(" {k}")).unwrap_or_default();
        let (kind, cause) = match code_str {
            "KMS.DisabledException" => (ErrorKind::Other, format!("the KMS key{key} that encrypts {object} is disabled")),
            "KMS.KMSInvalidStateException" => (
                ErrorKind::Other,
                format!("the KMS key{key} that encrypts {object} is not usable (pending deletion or import)"),
            ),
            "KMS.NotFoundException" => (ErrorKind::Other, format!("the KMS key{key} that encrypts {object} does not exist")),
            _ => (
                ErrorKind::PermissionDenied,
                format!("role {} may not decrypt {object} with KMS key{key}", ctx.role_arn),
            ),
        };
        return SourceError::new(
            kind,
            Stage::Decrypt,
            cause,
            format!(
                "allow kms:Decrypt on the key{key} to the role {} (in the role's ReadData policy and in the key policy), and make sure the key is enabled",
                ctx.role_arn
            ),
        );
    }

    match op {
        Op::AssumeRole => assume_role(obs, ctx, code_str, msg),
        Op::CallerIdentity => own_credentials(obs, code_str, msg),
        Op::LocateBucket => locate_bucket(ctx, code_str, status),
        Op::GetObject | Op::ReadBody => get_object(ctx, code_str, status, &object),
    }
}

fn own_credentials_code(code: &str) -> bool {
    matches!(
        code,
        "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "UnrecognizedClientException"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
    ) || code == "ExpiredToken"
        || code == "ExpiredTokenException"
}

fn own_credentials(obs: &Observed, code: &str, msg: &str) -> SourceError {
    if own_credentials_code(code) || (code == "AccessDenied" && mentions(msg, "security token")) {
        return SourceError::new(
            ErrorKind::PermissionDenied,
            Stage::AssumeRole,
            format!("STS rejected lut's own AWS credentials ({code})"),
            "check the credentials lut runs with (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance or task role) and the machine's clock",
        );
    }
    SourceError::new(
        ErrorKind::Other,
        Stage::AssumeRole,
        format!(
            "STS refused GetCallerIdentity: {}",
            if msg.is_empty() {
                short(&obs.detail)
            } else {
                msg.to_string()
            }
        ),
        "check lut's own AWS credentials and the endpoint setting",
    )
}

fn assume_role(obs: &Observed, ctx: &Context<'_>, code: &str, msg: &str) -> SourceError {
    if own_credentials_code(code) {
        return own_credentials(obs, code, msg);
    }
    let role = ctx.role_arn;
    let principal = principal_in_message(msg)
        .or(ctx.principal)
        .unwrap_or("(lut's principal: see `lut settings`)");
    match code {
        "AccessDenied" | "AccessDeniedException" => SourceError::new(
            ErrorKind::PermissionDenied,
            Stage::AssumeRole,
            format!("lut's principal {principal} may not assume {role}"),
            format!(
                "the role's trust policy must allow {principal} to call sts:AssumeRole with the condition sts:ExternalId = \"{}\" \
                 (check the ExternalId in the role matches `lut settings`), lut's own IAM policy must allow sts:AssumeRole on the role, \
                 and the role must exist",
                ctx.external_id
            ),
        ),
        "RegionDisabledException" => SourceError::new(
            ErrorKind::PermissionDenied,
            Stage::AssumeRole,
            "STS is not activated in the region lut calls",
            "activate STS for the region in the account's IAM settings, or set lut's region to one where it is active",
        ),
        "ValidationError" | "MalformedPolicyDocument" | "PackedPolicyTooLarge" | "InvalidParameterValue" => SourceError::new(
            ErrorKind::Invalid,
            Stage::AssumeRole,
            format!("STS rejected the AssumeRole request for {role}: {msg}"),
            "check the table's role ARN and lut's ExternalId (2 to 1224 characters of letters, digits and +=,.@:/-)",
        ),
        "NotFound" | "NoSuchEntity" => SourceError::new(
            ErrorKind::NotFound,
            Stage::AssumeRole,
            format!("the role {role} does not exist"),
            "create the role (lut's CloudFormation template) or fix the table's role ARN",
        ),
        _ => SourceError::new(
            ErrorKind::Other,
            Stage::AssumeRole,
            format!("AssumeRole on {role} failed: {}", if msg.is_empty() { short(&obs.detail) } else { msg.to_string() }),
            "check the role ARN, the role's trust policy and lut's own credentials",
        ),
    }
}

fn locate_bucket(ctx: &Context<'_>, code: &str, status: u16) -> SourceError {
    let bucket = ctx.bucket;
    match code {
        "NoSuchBucket" | "NotFound" => SourceError::new(
            ErrorKind::NotFound,
            Stage::LocateBucket,
            format!("the bucket {bucket} does not exist"),
            "check the bucket name in the table's S3 URI",
        ),
        "AccessDenied" | "AllAccessDisabled" => SourceError::new(
            ErrorKind::PermissionDenied,
            Stage::LocateBucket,
            format!("role {} may not call s3:GetBucketLocation on {bucket} (or the bucket does not exist)", ctx.role_arn),
            format!(
                "allow s3:GetBucketLocation on arn:aws:s3:::{bucket} in the role's ReadData policy, and check that no bucket policy denies the role"
            ),
        ),
        c if STALE_CREDENTIALS.contains(&c) => stale_credentials(Stage::LocateBucket, ctx, c),
        _ => SourceError::new(
            ErrorKind::Other,
            Stage::LocateBucket,
            format!("GetBucketLocation on {bucket} failed (HTTP {status}{})", code_suffix(code)),
            "check the bucket name and the role's permissions",
        ),
    }
}

fn get_object(ctx: &Context<'_>, code: &str, status: u16, object: &str) -> SourceError {
    match code {
        "NoSuchKey" | "NotFound" => SourceError::new(
            ErrorKind::NotFound,
            Stage::GetObject,
            format!("the object {object} does not exist"),
            "check the key in the table's S3 URI, or upload the object",
        ),
        "NoSuchBucket" => SourceError::new(
            ErrorKind::NotFound,
            Stage::GetObject,
            format!("the bucket {} does not exist", ctx.bucket),
            "check the bucket name in the table's S3 URI",
        ),
        "AccessDenied" | "AllAccessDisabled" => SourceError::new(
            ErrorKind::PermissionDenied,
            Stage::GetObject,
            format!(
                "role {} may not read {object}: the object may not exist (without s3:ListBucket S3 answers 403 for a missing key), \
                 or the role's policy lacks s3:GetObject on it",
                ctx.role_arn
            ),
            format!(
                "check that {object} exists; allow s3:GetObject on arn:aws:s3:::{}/{} in the role's ReadData policy; check that no bucket policy denies the role",
                ctx.bucket, ctx.key
            ),
        ),
        "InvalidObjectState" => SourceError::new(
            ErrorKind::Other,
            Stage::GetObject,
            format!("{object} is archived (Glacier / Deep Archive) and cannot be read directly"),
            "restore the object or copy it to a readable storage class",
        ),
        c if STALE_CREDENTIALS.contains(&c) => stale_credentials(Stage::GetObject, ctx, c),
        c if WRONG_REGION.contains(&c) || status == 301 => SourceError::new(
            ErrorKind::Transient,
            Stage::GetObject,
            format!("the bucket {} is not in the region lut located it in", ctx.bucket),
            "lut locates the bucket again and retries; nothing to change unless it persists",
        ),
        _ => SourceError::new(
            ErrorKind::Other,
            Stage::GetObject,
            format!("GetObject on {object} failed (HTTP {status}{})", code_suffix(code)),
            "check the object and the role's permissions",
        ),
    }
}

fn stale_credentials(stage: Stage, ctx: &Context<'_>, code: &str) -> SourceError {
    SourceError::new(
        ErrorKind::Transient,
        stage,
        format!("S3 rejected the temporary credentials of role {} ({code})", ctx.role_arn),
        "lut assumes the role again and retries; if it persists, check the machine's clock and that the role still exists",
    )
}

fn code_suffix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(", {code}")
    }
}

fn short(detail: &str) -> String {
    const MAX: usize = 300;
    if detail.len() <= MAX {
        return detail.to_string();
    }
    let mut end = MAX;
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &detail[..end])
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
