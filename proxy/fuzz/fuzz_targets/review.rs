//! Fuzzes `review::namespace_list`, the proxy's reading of a client's `SelfSubjectAccessReview`
//! (JSON or Kubernetes protobuf): whatever the body, it never panics, and it answers only a
//! review of listing or watching namespaces, with `allowed: true`.
#![no_main]

use kubenova_proxy::review::namespace_list;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
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
