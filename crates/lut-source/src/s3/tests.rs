//! Unit tests of the S3 source that need no server.

use super::*;
use aws_sdk_s3::error::SdkError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

#[test]
fn debug_redacts_the_external_id() {
    let mut c = S3Config::new("very-secret-external-id", "/tmp/x");
    c.endpoint_url = Some("http://127.0.0.1:1".into());
    let s = format!("{c:?}");
    assert!(!s.contains("very-secret"), "{s}");
    assert!(s.contains("<redacted>") && s.contains("127.0.0.1"), "{s}");
}

#[test]
fn kms_keys_compare_by_id() {
    let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab";
    assert!(same_kms_key(arn, arn));
    assert!(same_kms_key(arn, "1234abcd-12ab"));
    assert!(!same_kms_key(
        arn,
        "arn:aws:kms:us-east-1:123456789012:key/other"
    ));
}

#[test]
fn observe_reads_what_the_sdk_could_not_parse() {
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    // moto 5.2's STS error shape: <Errors> around <Error>, which the SDK does not read.
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied</Code>\
                <Message>User: arn:aws:iam::123456789012:user/lut is not authorized to perform: sts:AssumeRole</Message>\
                <Type>Sender</Type></Error></Errors></ErrorResponse>";
    let raw = HttpResponse::new(StatusCode::try_from(403u16).unwrap(), SdkBody::from(body));
    let err: SdkError<AssumeRoleError, HttpResponse> = SdkError::service_error(
        AssumeRoleError::generic(ErrorMetadata::builder().build()),
        raw,
    );
    let obs = observe(&err);
    assert_eq!(obs.status, Some(403));
    assert_eq!(obs.code.as_deref(), Some("AccessDenied"));
    assert!(obs
        .message
        .as_deref()
        .unwrap()
        .contains("user/lut is not authorized"));
    assert_eq!(obs.transport, None);
    assert!(
        obs.detail.starts_with("HTTP 403 AccessDenied: User:"),
        "{}",
        obs.detail
    );

    let err: SdkError<AssumeRoleError, HttpResponse> =
        SdkError::dispatch_failure(ConnectorError::io("connection reset by peer".into()));
    assert_eq!(observe(&err).transport, Some(Transport::Io));
    let err: SdkError<AssumeRoleError, HttpResponse> =
        SdkError::dispatch_failure(ConnectorError::timeout("connect timed out".into()));
    assert_eq!(observe(&err).transport, Some(Transport::Timeout));
    let err: SdkError<AssumeRoleError, HttpResponse> = SdkError::timeout_error("attempt timeout");
    assert_eq!(observe(&err).transport, Some(Transport::Timeout));
    let err: SdkError<AssumeRoleError, HttpResponse> =
        SdkError::construction_failure("no endpoint");
    assert_eq!(observe(&err).transport, Some(Transport::Construction));
}

#[tokio::test]
async fn rejects_a_bad_external_id_and_file_locations() {
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .build();
    let e = S3Source::from_sdk_config(S3Config::new("x", "/tmp"), &sdk).unwrap_err();
    assert_eq!((e.kind, e.stage), (ErrorKind::Invalid, Stage::AssumeRole));
    let s = S3Source::from_sdk_config(S3Config::new("good-id", "/tmp"), &sdk).unwrap();
    let req = FetchRequest {
        table: "t".into(),
        location: Location::File("/tmp/x".into()),
        if_none_match: None,
        progress: None,
    };
    let e = s.fetch(&req).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid);
}
