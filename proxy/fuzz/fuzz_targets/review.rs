//! Fuzzes the proxy's reading of a client's `SelfSubjectAccessReview` (JSON or Kubernetes
//! protobuf): `review::namespace_list` and `review::across_namespaces`. Whatever the body, they
//! never panic; the first answers only a review of listing or watching namespaces, with
//! `allowed: true`; the second takes only a list or watch with no namespace, name or
//! subresource, and the review it asks in one namespace names exactly that namespace.
#![no_main]

use kubenova_proxy::review::{across_namespaces, namespace_list, verdict};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = verdict(body);
    if let Some(question) = across_namespaces(body) {
        assert!(!question.resource.is_empty());
        let one = question.in_namespace("acme-web");
        let one: serde_json::Value = serde_json::from_slice(&one).expect("the review is JSON");
        let attributes = &one["spec"]["resourceAttributes"];
        assert_eq!(attributes["namespace"], "acme-web");
        assert!(attributes["verb"] == "list" || attributes["verb"] == "watch", "{one}");
        assert!(one.get("status").is_none(), "{one}");
    }
    let Some(answer) = namespace_list(body) else {
        return;
    };
    let answer = String::from_utf8(answer).expect("the answer is JSON text");
    assert!(answer.contains("\"allowed\":true"), "{answer}");
    assert!(answer.contains("\"resource\":\"namespaces\""), "{answer}");
    assert!(
        answer.contains("\"verb\":\"list\"") || answer.contains("\"verb\":\"watch\""),
        "{answer}"
    );
});
