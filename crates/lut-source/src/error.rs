//! Classified fetch failures: what went wrong, at which step, why, and what to do.

use std::fmt;

/// The step of a sync at which something failed (§6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    AssumeRole,
    LocateBucket,
    GetObject,
    Decrypt,
    Download,
    Parse,
    Validate,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::AssumeRole => "assume-role",
            Stage::LocateBucket => "locate-bucket",
            Stage::GetObject => "get-object",
            Stage::Decrypt => "decrypt",
            Stage::Download => "download",
            Stage::Parse => "parse",
            Stage::Validate => "validate",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        [
            Stage::AssumeRole,
            Stage::LocateBucket,
            Stage::GetObject,
            Stage::Decrypt,
            Stage::Download,
            Stage::Parse,
            Stage::Validate,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller can do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The bucket or object does not exist (or is invisible to the role).
    NotFound,
    /// Credentials, trust policy, bucket policy or key policy refused access.
    PermissionDenied,
    /// Throttling, 5xx, timeouts, connection resets: worth retrying later.
    Transient,
    /// The object is bigger than the configured cap.
    TooLarge,
    /// The request itself is wrong (bad configuration).
    Invalid,
    Other,
}

/// A classified failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage} failed{}: {cause}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct SourceError {
    pub kind: ErrorKind,
    pub stage: Stage,
    /// The AWS error code (`AccessDenied`, `NoSuchKey`, ...) when there is one.
    pub code: Option<String>,
    pub http_status: Option<u16>,
    /// Plain-language cause.
    pub cause: String,
    /// What the user should do.
    pub remedy: String,
    /// The underlying error text, for logs.
    pub detail: String,
}

impl SourceError {
    pub fn new(
        kind: ErrorKind,
        stage: Stage,
        cause: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        SourceError {
            kind,
            stage,
            code: None,
            http_status: None,
            cause: cause.into(),
            remedy: remedy.into(),
            detail: String::new(),
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}
