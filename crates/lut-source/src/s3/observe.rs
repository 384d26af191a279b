//! Copying what a failed SDK call reported into an [`Observed`] for [`classify`](super::classify).

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::classify::{self, Observed, Transport};

/// Copies what a failed SDK call reported into an [`Observed`].
pub fn observe<E>(err: &SdkError<E, HttpResponse>) -> Observed
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let code = err
        .code()
        .map(str::to_string)
        .filter(|c| !c.is_empty())
        .or_else(|| classify::xml_tag(&body, "Code"));
    let message = err
        .message()
        .map(str::to_string)
        .filter(|m| !m.is_empty())
        .or_else(|| classify::xml_tag(&body, "Message"));
    let transport = match err {
        SdkError::TimeoutError(_) => Some(Transport::Timeout),
        SdkError::DispatchFailure(d) if d.is_timeout() => Some(Transport::Timeout),
        SdkError::DispatchFailure(d) if d.is_io() => Some(Transport::Io),
        SdkError::DispatchFailure(d) if d.is_user() => Some(Transport::Construction),
        SdkError::DispatchFailure(_) => Some(Transport::Other),
        SdkError::ConstructionFailure(_) => Some(Transport::Construction),
        SdkError::ResponseError(_) => Some(Transport::Response),
        _ => None,
    };
    let detail = match (err, err.raw_response()) {
        (SdkError::ServiceError(_), Some(raw)) => {
            let request_id = raw
                .headers()
                .get("x-amz-request-id")
                .or_else(|| raw.headers().get("x-amzn-requestid"));
            format!(
                "HTTP {} {}: {}{}",
                raw.status().as_u16(),
                code.as_deref().unwrap_or("(no error code)"),
                message.as_deref().unwrap_or("(no message)"),
                request_id
                    .map(|id| format!(" (request id {id})"))
                    .unwrap_or_default()
            )
        }
        _ => {
            let mut d = DisplayErrorContext(err).to_string();
            if d.len() > 2000 {
                let mut end = 2000;
                while !d.is_char_boundary(end) {
                    end -= 1;
                }
                d.truncate(end);
                d.push_str("...");
            }
            d
        }
    };
    Observed {
        status,
        code,
        message,
        transport,
        detail,
    }
}
