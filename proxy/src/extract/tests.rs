//! Credentials in, identity headers out.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{
    Credentials, ExtractError, MAX_TOKEN_LEN, MAX_URL_BYTES, Stripped, TokenSource, Upgrade,
    check_head_size, set_audit_id, strip_identity_headers, take_credentials, upgrade_protocol,
};

const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_x";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    map
}

fn protocol_entry(token: &str) -> String {
    format!(
        "base64url.bearer.authorization.k8s.io.{}",
        URL_SAFE_NO_PAD.encode(token)
    )
}

fn protocols(map: &HeaderMap) -> Vec<&str> {
    map.get_all("sec-websocket-protocol")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect()
}

#[test]
fn bearer_header_is_taken_and_removed() {
    for value in [
        format!("Bearer {JWT}"),
        format!("bearer   {JWT}"),
        format!("BEARER {JWT}"),
    ] {
        let mut map = headers(&[("authorization", &value), ("accept", "application/json")]);
        let creds = take_credentials(&mut map).expect("bearer accepted");
        assert_eq!(creds.token, JWT);
        assert_eq!(creds.source, TokenSource::AuthorizationHeader);
        assert!(map.get("authorization").is_none());
        assert!(map.get("accept").is_some());
    }
}

#[test]
fn bad_authorization_headers_are_refused_and_still_removed() {
    let too_long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
    #[rustfmt::skip]
    let cases: [(&[(&str, &str)], ExtractError); 8] = [
        (&[], ExtractError::Missing),
        (&[("authorization", "Bearer a"), ("authorization", "Bearer b")], ExtractError::DuplicateAuthorization),
        (&[("authorization", "Basic YWxpY2U6cHc=")], ExtractError::UnsupportedScheme),
        (&[("authorization", "Bearertoken")], ExtractError::UnsupportedScheme),
        (&[("authorization", "Bearer")], ExtractError::MalformedToken),
        (&[("authorization", "Bearer a b")], ExtractError::MalformedToken),
        (&[("authorization", "Bearer abc=")], ExtractError::MalformedToken),
        (&[("authorization", &too_long)], ExtractError::TokenTooLong),
    ];
    for (pairs, expected) in cases {
        let mut map = headers(pairs);
        assert_eq!(
            take_credentials(&mut map),
            Err(expected.clone()),
            "{pairs:?}"
        );
        assert!(map.get("authorization").is_none());
        assert!(!expected.to_string().contains("YWxpY2U6cHc"));
    }
}

#[test]
fn websocket_token_is_taken_and_its_protocol_removed() {
    let entry = protocol_entry(JWT);
    #[rustfmt::skip]
    let cases = [
        (format!("v5.channel.k8s.io, {entry}"), vec!["v5.channel.k8s.io"]),
        (format!("{entry},v5.channel.k8s.io, v4.channel.k8s.io"), vec!["v5.channel.k8s.io, v4.channel.k8s.io"]),
        (entry.clone(), vec![]),
    ];
    for (value, remaining) in cases {
        let mut map = headers(&[("sec-websocket-protocol", &value)]);
        let creds = take_credentials(&mut map).expect("websocket token accepted");
        assert_eq!(creds.token, JWT);
        assert_eq!(creds.source, TokenSource::WebSocketProtocol);
        assert_eq!(protocols(&map), remaining, "{value}");
    }
    let mut map = headers(&[
        ("sec-websocket-protocol", "v5.channel.k8s.io"),
        ("sec-websocket-protocol", &entry),
    ]);
    assert!(take_credentials(&mut map).is_ok());
    assert_eq!(protocols(&map), ["v5.channel.k8s.io"]);
}

#[test]
fn bad_websocket_tokens_are_refused_and_never_forwarded() {
    let entry = protocol_entry(JWT);
    let long = protocol_entry(&"a".repeat(MAX_TOKEN_LEN + 1));
    let auth = format!("Bearer {JWT}");
    let twice = format!("{entry}, {entry}, v5.channel.k8s.io");
    let with_other = format!("v5.channel.k8s.io, {entry}");
    #[rustfmt::skip]
    let cases: [(Vec<(&str, &str)>, ExtractError); 6] = [
        (vec![("sec-websocket-protocol", "v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.!!")], ExtractError::MalformedWebSocketToken),
        (vec![("sec-websocket-protocol", "v5.channel.k8s.io, BASE64URL.BEARER.AUTHORIZATION.K8S.IO.ZXk")], ExtractError::MalformedWebSocketToken),
        (vec![("sec-websocket-protocol", "base64url.bearer.authorization.k8s.io.ZXk=, v5.channel.k8s.io")], ExtractError::MalformedWebSocketToken),
        (vec![("sec-websocket-protocol", &long)], ExtractError::TokenTooLong),
        (vec![("sec-websocket-protocol", &twice)], ExtractError::DuplicateWebSocketToken),
        (vec![("authorization", &auth), ("sec-websocket-protocol", &with_other)], ExtractError::AmbiguousCredentials),
    ];
    for (pairs, expected) in cases {
        let mut map = headers(&pairs);
        assert_eq!(take_credentials(&mut map), Err(expected), "{pairs:?}");
        assert!(map.get("authorization").is_none());
        for value in protocols(&map) {
            assert!(
                !value
                    .to_ascii_lowercase()
                    .contains("bearer.authorization.k8s.io")
            );
        }
    }
}

#[test]
fn credentials_debug_redacts_the_token() {
    let creds = Credentials {
        token: JWT.to_owned(),
        source: TokenSource::AuthorizationHeader,
    };
    assert!(!format!("{creds:?}").contains(JWT));
}

#[test]
fn identity_and_hop_by_hop_headers_are_stripped() {
    let mut map = headers(&[
        ("Impersonate-Group", "system:masters"),
        ("impersonate-group", "tenant-admins"),
        ("Impersonate-Uid", "1"),
        ("Impersonate-Extra-Scopes", "view"),
        ("X-Remote-User", "admin"),
        ("authorization", "Bearer x"),
        ("proxy-authorization", "Basic x"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("te", "trailers"),
        ("trailer", "expires"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade, X-Custom"),
        ("x-custom", "1"),
        ("accept", "application/json"),
    ]);
    let stripped = strip_identity_headers(&mut map);
    assert!(stripped.impersonation_attempted);
    let mut left: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
    left.sort_unstable();
    assert_eq!(left, ["accept", "upgrade"]);
}

#[test]
fn a_forwarded_client_certificate_is_an_identity_attempt() {
    for name in ["X-Forwarded-Client-Cert", "x-forwarded-client-cert"] {
        let mut map = headers(&[(name, "Hash=ab;Cert=\"x\""), ("accept", "*/*")]);
        let stripped = strip_identity_headers(&mut map);
        assert!(stripped.impersonation_attempted, "{name}");
        assert!(map.get("x-forwarded-client-cert").is_none(), "{name}");
    }
    let mut named = headers(&[("connection", "X-Forwarded-Client-Cert"), ("accept", "*/*")]);
    assert!(strip_identity_headers(&mut named).impersonation_attempted);
}

#[test]
fn connection_naming_an_impersonation_header_is_an_attempt() {
    for value in [
        "Impersonate-User",
        "keep-alive, IMPERSONATE-GROUP",
        "x-remote-extra-foo",
    ] {
        let mut map = headers(&[("connection", value), ("accept", "*/*")]);
        let stripped = strip_identity_headers(&mut map);
        assert!(stripped.impersonation_attempted, "{value}");
        assert!(map.get("connection").is_none());
    }
    let mut clean = headers(&[("connection", "keep-alive"), ("accept", "*/*")]);
    assert_eq!(strip_identity_headers(&mut clean), Stripped::default());
    assert_eq!(clean.len(), 1);
}

#[test]
fn only_websocket_and_spdy_upgrades_are_allowed() {
    let read = |pairs: &[(&str, &str)]| upgrade_protocol(&headers(pairs));
    assert_eq!(read(&[]), Ok(None));
    assert_eq!(
        read(&[("upgrade", "websocket")]),
        Ok(Some(Upgrade::WebSocket))
    );
    assert_eq!(
        read(&[("upgrade", "WebSocket")]),
        Ok(Some(Upgrade::WebSocket))
    );
    assert_eq!(read(&[("upgrade", "SPDY/3.1")]), Ok(Some(Upgrade::Spdy31)));
    for pairs in [
        &[("upgrade", "h2c")][..],
        &[("upgrade", "websocket, h2c")],
        &[("upgrade", "websocket"), ("upgrade", "SPDY/3.1")],
        &[("upgrade", "")],
        &[("upgrade", "SPDY/3")],
    ] {
        assert_eq!(
            read(pairs),
            Err(ExtractError::UpgradeNotAllowed),
            "{pairs:?}"
        );
    }
}

#[test]
fn errors_have_distinct_reasons() {
    let errors = [
        ExtractError::Missing,
        ExtractError::DuplicateAuthorization,
        ExtractError::UnsupportedScheme,
        ExtractError::MalformedToken,
        ExtractError::TokenTooLong,
        ExtractError::MalformedWebSocketToken,
        ExtractError::DuplicateWebSocketToken,
        ExtractError::AmbiguousCredentials,
        ExtractError::UpgradeNotAllowed,
    ];
    let mut reasons: Vec<_> = errors.iter().map(ExtractError::reason).collect();
    reasons.sort_unstable();
    reasons.dedup();
    assert_eq!(reasons.len(), errors.len());
}

#[test]
fn the_client_audit_id_is_replaced_by_ours() {
    let mut map = headers(&[
        ("audit-id", "forged"),
        ("Audit-Id", "forged-too"),
        ("accept", "x"),
    ]);
    let ours = HeaderValue::from_static("0b7e3f4a-1c2d-8e5f-8000-000000000007");
    set_audit_id(&mut map, &ours);
    let values: Vec<_> = map.get_all("audit-id").iter().collect();
    assert_eq!(values, [&ours]);
    assert_eq!(
        map.get("accept").map(HeaderValue::as_bytes),
        Some(&b"x"[..])
    );
}

#[test]
fn heads_over_the_limit_get_431_and_long_urls_414() {
    let uri = |len: usize| -> http::Uri {
        let base = "/api/v1/namespaces/a/pods?labelSelector=x%3D";
        format!("{base}{}", "y".repeat(len - base.len()))
            .parse()
            .expect("uri")
    };
    let small = headers(&[("accept", "application/json")]);
    assert_eq!(check_head_size(&uri(1024), &small, 64 * 1024), Ok(()));
    assert_eq!(
        check_head_size(&uri(MAX_URL_BYTES), &small, 64 * 1024),
        Ok(())
    );
    let long = check_head_size(&uri(MAX_URL_BYTES + 1), &small, 64 * 1024).expect_err("414");
    assert_eq!(long.status(), http::StatusCode::URI_TOO_LONG);
    assert_eq!(long.reason(), "url_too_long");
    // The head limit comes first: a URL over both limits is a head over the limit (431), as
    // HTTP/1.1 answers it.
    let some = "p".repeat(5 * 1024);
    let some = headers(&[("x-padding", some.as_str())]);
    let huge = check_head_size(&uri(60 * 1024), &some, 64 * 1024).expect_err("431");
    assert_eq!(
        huge.status(),
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let padding = "p".repeat(70 * 1024);
    let big = headers(&[("x-padding", padding.as_str())]);
    let err = check_head_size(&uri(100), &big, 64 * 1024).expect_err("431");
    assert_eq!(err.reason(), "headers_too_large");
    assert!(err.to_string().contains("--max-header-bytes"), "{err}");
}
