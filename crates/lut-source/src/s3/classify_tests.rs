use super::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/PantherLUTsRole-accounts";
const ME: &str = "arn:aws:iam::999988887777:user/lut";

fn ctx() -> Context<'static> {
    Context {
        table: "accounts",
        role_arn: ROLE,
        external_id: "ext-123",
        principal: Some(ME),
        bucket: "lookups",
        key: "accounts.csv",
        kms_key: Some("arn:aws:kms:us-east-1:111122223333:key/k1"),
        endpoint: None,
    }
}

fn http(status: u16, code: Option<&str>, message: &str) -> Observed {
    Observed {
        status: Some(status),
        code: code.map(str::to_string),
        message: (!message.is_empty()).then(|| message.to_string()),
        transport: None,
        detail: format!("service error {status}"),
    }
}

fn net(t: Transport) -> Observed {
    Observed {
        transport: Some(t),
        detail: "dispatch failure: connection refused".into(),
        ..Observed::default()
    }
}

#[test]
fn assume_role_access_denied_names_principal_role_and_external_id() {
    let e = classify(
        Op::AssumeRole,
        &http(403, Some("AccessDenied"), "User: arn:aws:iam::999988887777:user/other is not authorized to perform: sts:AssumeRole"),
        &ctx(),
    );
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::AssumeRole)
    );
    assert_eq!(e.code.as_deref(), Some("AccessDenied"));
    assert_eq!(e.http_status, Some(403));
    // The principal in the message wins over the cached one: it is what STS saw.
    assert!(
        e.cause.contains("user/other may not assume") && e.cause.contains(ROLE),
        "{}",
        e.cause
    );
    assert!(
        e.remedy.contains("trust policy")
            && e.remedy.contains("sts:ExternalId")
            && e.remedy.contains("ext-123")
    );
    assert!(e.remedy.contains("user/other"));
    assert!(!e.is_transient());
}

#[test]
fn moto_sts_errors_without_a_code_go_by_status_and_message() {
    // moto 5.2 answers AssumeRole refusals in a shape the SDK cannot parse: no code.
    let e = classify(Op::AssumeRole, &http(403, None, ""), &ctx());
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::AssumeRole)
    );
    assert_eq!(e.code, None, "no code is invented");
    assert!(
        e.cause.contains(ME),
        "falls back to the known principal: {}",
        e.cause
    );
    let e = classify(Op::AssumeRole, &http(400, None, ""), &ctx());
    assert_eq!(e.kind, ErrorKind::Other);
    let e = classify(Op::AssumeRole, &http(503, None, ""), &ctx());
    assert_eq!(e.kind, ErrorKind::Transient);
}

#[test]
fn lut_own_credentials_rejected() {
    for code in [
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
    ] {
        let e = classify(
            Op::AssumeRole,
            &http(
                403,
                Some(code),
                "The security token included in the request is invalid.",
            ),
            &ctx(),
        );
        assert_eq!(e.kind, ErrorKind::PermissionDenied, "{code}");
        assert!(
            e.cause.contains("lut's own AWS credentials"),
            "{code}: {}",
            e.cause
        );
        let e = classify(Op::CallerIdentity, &http(403, Some(code), ""), &ctx());
        assert!(e.cause.contains("lut's own AWS credentials"), "{code}");
    }
    let e = classify(
        Op::CallerIdentity,
        &Observed {
            transport: Some(Transport::Construction),
            detail: "failed to construct request: no credentials in the property bag: the credential provider was not enabled".into(),
            ..Observed::default()
        },
        &ctx(),
    );
    assert_eq!(e.kind, ErrorKind::PermissionDenied);
    assert!(e.remedy.contains("AWS_ACCESS_KEY_ID"));
}

#[test]
fn throttling_and_server_errors_are_transient() {
    for (op, status, code) in [
        (Op::AssumeRole, 400, "Throttling"),
        (Op::AssumeRole, 400, "RequestLimitExceeded"),
        (Op::GetObject, 503, "SlowDown"),
        (Op::GetObject, 500, "InternalError"),
        (Op::LocateBucket, 503, "ServiceUnavailable"),
        (Op::GetObject, 400, "RequestTimeout"),
        (Op::GetObject, 502, ""),
        (Op::GetObject, 429, ""),
    ] {
        let code = (!code.is_empty()).then_some(code);
        let e = classify(op, &http(status, code, ""), &ctx());
        assert_eq!(e.kind, ErrorKind::Transient, "{op:?} {status} {code:?}");
        assert_eq!(e.code.as_deref(), code);
        assert_eq!(e.http_status, Some(status));
    }
    let e = classify(
        Op::GetObject,
        &http(400, Some("KMS.ThrottlingException"), ""),
        &ctx(),
    );
    assert_eq!((e.kind, e.stage), (ErrorKind::Transient, Stage::Decrypt));
}

#[test]
fn network_failures_are_transient() {
    for t in [
        Transport::Timeout,
        Transport::Io,
        Transport::Other,
        Transport::Response,
    ] {
        for op in [Op::AssumeRole, Op::LocateBucket, Op::GetObject] {
            let e = classify(op, &net(t), &ctx());
            assert_eq!(e.kind, ErrorKind::Transient, "{t:?} {op:?}");
            assert_eq!(e.stage, base_stage(op));
        }
    }
    let e = classify(Op::ReadBody, &net(Transport::Io), &ctx());
    assert_eq!((e.kind, e.stage), (ErrorKind::Transient, Stage::Download));
    assert!(e.cause.contains("s3://lookups/accounts.csv"));
    let e = classify(Op::GetObject, &net(Transport::Construction), &ctx());
    assert_eq!(e.kind, ErrorKind::Invalid);
    let mut bad = net(Transport::Response);
    bad.status = Some(200);
    assert_eq!(classify(Op::GetObject, &bad, &ctx()).kind, ErrorKind::Other);
}

#[test]
fn locate_bucket() {
    let e = classify(
        Op::LocateBucket,
        &http(
            404,
            Some("NoSuchBucket"),
            "The specified bucket does not exist",
        ),
        &ctx(),
    );
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::NotFound, Stage::LocateBucket)
    );
    assert!(e.cause.contains("lookups"));
    let e = classify(
        Op::LocateBucket,
        &http(403, Some("AccessDenied"), "Access Denied"),
        &ctx(),
    );
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::LocateBucket)
    );
    assert!(e.remedy.contains("s3:GetBucketLocation") && e.remedy.contains("arn:aws:s3:::lookups"));
    let e = classify(
        Op::LocateBucket,
        &http(403, Some("ExpiredToken"), ""),
        &ctx(),
    );
    assert_eq!(e.kind, ErrorKind::Transient);
}

#[test]
fn get_object() {
    let e = classify(
        Op::GetObject,
        &http(404, Some("NoSuchKey"), "The specified key does not exist."),
        &ctx(),
    );
    assert_eq!((e.kind, e.stage), (ErrorKind::NotFound, Stage::GetObject));
    assert!(e.cause.contains("s3://lookups/accounts.csv does not exist"));
    // HeadObject: no body, the SDK reports NotFound or nothing.
    assert_eq!(
        classify(Op::GetObject, &http(404, None, ""), &ctx()).kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        classify(Op::GetObject, &http(404, Some("NotFound"), ""), &ctx()).kind,
        ErrorKind::NotFound
    );
    let e = classify(Op::GetObject, &http(404, Some("NoSuchBucket"), ""), &ctx());
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.cause.contains("bucket lookups"));

    let e = classify(
        Op::GetObject,
        &http(403, Some("AccessDenied"), "Access Denied"),
        &ctx(),
    );
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::GetObject)
    );
    assert!(
        e.cause.contains("may not exist") && e.cause.contains("s3:GetObject"),
        "{}",
        e.cause
    );
    assert!(e.remedy.contains("arn:aws:s3:::lookups/accounts.csv"));
    assert_eq!(
        classify(Op::GetObject, &http(403, None, ""), &ctx()).kind,
        ErrorKind::PermissionDenied
    );

    for code in ["ExpiredToken", "InvalidToken", "InvalidAccessKeyId"] {
        let e = classify(Op::GetObject, &http(403, Some(code), ""), &ctx());
        assert_eq!(
            e.kind,
            ErrorKind::Transient,
            "{code}: assume again and retry"
        );
    }
    let e = classify(
        Op::GetObject,
        &http(301, Some("PermanentRedirect"), ""),
        &ctx(),
    );
    assert_eq!(e.kind, ErrorKind::Transient);
    let e = classify(
        Op::GetObject,
        &http(403, Some("InvalidObjectState"), ""),
        &ctx(),
    );
    assert_eq!(e.kind, ErrorKind::Other);
    let e = classify(Op::GetObject, &http(400, Some("Weird"), "odd"), &ctx());
    assert_eq!(
        (e.kind, e.code.as_deref()),
        (ErrorKind::Other, Some("Weird"))
    );
    assert!(!e.remedy.is_empty());
}

#[test]
fn kms_failures_are_the_decrypt_stage() {
    let e = classify(
        Op::GetObject,
        &http(
            403,
            Some("AccessDenied"),
            "User: arn:aws:sts::111122223333:assumed-role/r/s is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:...",
        ),
        &ctx(),
    );
    assert_eq!(
        (e.kind, e.stage),
        (ErrorKind::PermissionDenied, Stage::Decrypt)
    );
    assert!(
        e.remedy.contains("kms:Decrypt") && e.remedy.contains("key/k1") && e.remedy.contains(ROLE)
    );
    for (code, kind) in [
        ("KMS.AccessDeniedException", ErrorKind::PermissionDenied),
        ("KMS.DisabledException", ErrorKind::Other),
        ("KMS.NotFoundException", ErrorKind::Other),
        ("KMS.KMSInvalidStateException", ErrorKind::Other),
    ] {
        let e = classify(Op::GetObject, &http(400, Some(code), ""), &ctx());
        assert_eq!((e.kind, e.stage), (kind, Stage::Decrypt), "{code}");
        assert_eq!(e.code.as_deref(), Some(code));
    }
}

#[test]
fn xml_codes_and_principals() {
    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::1:user/x is not authorized</Message></Error></ErrorResponse>";
    assert_eq!(xml_tag(body, "Code").as_deref(), Some("AccessDenied"));
    assert_eq!(xml_tag(body, "Missing"), None);
    assert_eq!(xml_tag("<Code></Code>", "Code"), None);
    assert_eq!(
        principal_in_message("User: arn:aws:iam::1:user/x is not authorized"),
        Some("arn:aws:iam::1:user/x")
    );
    assert_eq!(principal_in_message("Access Denied"), None);
}

#[test]
fn details_are_kept_and_shortened_in_causes() {
    let mut o = net(Transport::Io);
    o.detail = "x".repeat(1000);
    let e = classify(Op::GetObject, &o, &ctx());
    assert_eq!(e.detail.len(), 1000);
    assert!(e.cause.len() < 400);
}
