//! Fuzzes `extract`: whatever headers a client sends, no credential or identity header of its
//! own survives `take_credentials` followed by `strip_identity_headers`.
#![no_main]

use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use kubenova_proxy::extract::{
    MAX_TOKEN_LEN, strip_identity_headers, take_credentials, upgrade_protocol,
};
use libfuzzer_sys::fuzz_target;

/// A one-byte header name picks one of these, so the fuzzer reaches them quickly.
const NAMES: [&str; 15] = [
    "authorization",
    "Authorization",
    "sec-websocket-protocol",
    "Sec-WebSocket-Protocol",
    "connection",
    "impersonate-user",
    "Impersonate-Group",
    "impersonate-uid",
    "impersonate-extra-scopes",
    "upgrade",
    "x-remote-user",
    "X-Forwarded-Client-Cert",
    "proxy-authorization",
    "keep-alive",
    "accept",
];

const MARKER: &[u8] = b"bearer.authorization.k8s.io";

fuzz_target!(|pairs: Vec<(Vec<u8>, Vec<u8>)>| {
    let mut headers = HeaderMap::new();
    for (name, value) in &pairs {
        let name = match name.as_slice() {
            [pick] => HeaderName::from_bytes(NAMES[usize::from(*pick) % NAMES.len()].as_bytes()),
            other => HeaderName::from_bytes(other),
        };
        let (Ok(name), Ok(value)) = (name, HeaderValue::from_bytes(value)) else {
            continue;
        };
        headers.append(name, value);
    }

    let _ = upgrade_protocol(&headers);
    let credentials = take_credentials(&mut headers);
    let _ = strip_identity_headers(&mut headers);

    for (name, value) in &headers {
        assert_ne!(name, AUTHORIZATION);
        assert!(!name.as_str().starts_with("impersonate-"), "{name}");
        assert_ne!(name.as_str(), "x-forwarded-client-cert");
        if name == SEC_WEBSOCKET_PROTOCOL {
            let bytes = value.as_bytes();
            assert!(
                !bytes
                    .windows(MARKER.len())
                    .any(|w| w.eq_ignore_ascii_case(MARKER)),
                "{value:?}"
            );
        }
    }
    if let Ok(credentials) = credentials {
        let token = &credentials.token;
        assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        );
        if token.len() > 24 {
            assert!(!format!("{credentials:?}").contains(token.as_str()));
        }
    }
});
