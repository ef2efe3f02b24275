//! Fuzzes `path::classify`: whatever the request target, a resource request it classifies names
//! a namespace and an object that cannot leave their path segment.
#![no_main]

use http::{Method, Uri};
use kubenova_proxy::path::{Target, classify};
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

fuzz_target!(|data: &[u8]| {
    let Some((selector, target)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(*selector) % METHODS.len()];
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let Ok(classified) = classify(method, &uri) else {
        return;
    };

    // Whatever classifies is forwarded as sent, so the path itself must be plain.
    let path = uri.path();
    assert!(path.starts_with('/'), "{path:?}");
    assert!(!path.contains('%') && !path.contains('\\'), "{path:?}");
    assert!(path.bytes().all(|b| b.is_ascii_graphic()), "{path:?}");
    assert!(
        path.split('/').skip(1).all(|s| s != "." && s != ".."),
        "{path:?}"
    );

    match classified {
        Target::NonResource {
            path: classified_path,
        } => assert_eq!(classified_path, path),
        Target::Resource(request) => {
            for value in request.namespace.iter().chain(&request.name) {
                assert!(
                    !value.is_empty()
                        && !value.contains("..")
                        && !value.contains('/')
                        && !value.contains('%'),
                    "{request:?}"
                );
            }
            if let Some(namespace) = &request.namespace {
                assert!(is_dns1123_label(namespace), "{request:?}");
                assert!(
                    path.contains(&format!("/namespaces/{namespace}")),
                    "{request:?}"
                );
            }
            if request.resource == "namespaces" {
                assert_eq!(request.namespace, request.name, "{request:?}");
            }
            assert!(!request.resource.is_empty(), "{request:?}");
        }
    }
});

/// Written independently of the proxy's own check.
fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let inner_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    !bytes.is_empty() && bytes.len() <= 63 && inner_ok && !s.starts_with('-') && !s.ends_with('-')
}
