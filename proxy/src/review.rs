//! Self access reviews of what the proxy serves itself, whatever RBAC says.
//!
//! A token's identity may not list namespaces in RBAC: the proxy lists them as itself, filtered
//! to the token's namespaces (`scope::Decision::NamespaceList`), or capsule-proxy does for
//! tenant owners. kube-apiserver answers a `SelfSubjectAccessReview` for `list namespaces` from
//! RBAC alone, so clients that ask before they list (k9s's namespaces view; `kubectl auth can-i
//! list namespaces`) were told no and refused to show what the proxy would have served. The
//! proxy answers those reviews itself: allowed, because the list is served (filtered).
//!
//! The same holds for a list or watch of a namespaced resource across all namespaces (`kubectl
//! auth can-i list pods -A`, k9s before its all-namespaces views): the proxy serves it once per
//! namespace of the token, as the identity, and the first refusal answers for the whole list
//! (`crate::fanout`). RBAC alone would say no, since the identity holds no cluster-wide grant.
//! The proxy asks the same review in each of the token's namespaces, as the identity, and
//! answers allowed only when every one is ([`AcrossNamespaces`]). Every other review is
//! forwarded unchanged, as the identity.

use serde_json::{Value, json};

/// The reason an amended review carries.
pub const REASON: &str =
    "KubeNova: the proxy serves this list, filtered to the namespaces of this kubeconfig";

/// If `body` (a `SelfSubjectAccessReview` in JSON or in Kubernetes' protobuf encoding, which
/// kubectl and client-go send) asks whether the requester may list or watch all namespaces, the
/// review answered as allowed, in JSON; otherwise `None` (the review is forwarded).
pub fn namespace_list(body: &[u8]) -> Option<Vec<u8>> {
    let mut review = parse(body)?;
    let attributes = review["spec"]["resourceAttributes"].as_object()?;
    let blank = |key: &str| attributes.get(key).is_none_or(|v| v == "" || v.is_null());
    let verb = attributes.get("verb").and_then(Value::as_str)?;
    let served = attributes.get("resource").and_then(Value::as_str) == Some("namespaces")
        && matches!(verb, "list" | "watch")
        // Namespaces are cluster-scoped: a namespace in the review (kubectl and k9s send the
        // kubeconfig's, `default`) changes nothing about the list the proxy serves, and neither
        // does a name (k9s asks to list namespaces named after its current one): the list
        // serves whichever of the token's namespaces match.
        && ["group", "subresource"]
            .into_iter()
            .all(blank)
        && review["spec"]["nonResourceAttributes"].is_null();
    if !served {
        return None;
    }
    review["status"] = json!({ "allowed": true, "reason": REASON });
    serde_json::to_vec(&review).ok()
}

/// A `SelfSubjectAccessReview` of `authorization.k8s.io/v1` in JSON, from JSON or protobuf.
fn parse(body: &[u8]) -> Option<Value> {
    let review: Value = match body.strip_prefix(PROTOBUF_MAGIC) {
        Some(envelope) => from_protobuf(envelope)?,
        None => serde_json::from_slice(body).ok()?,
    };
    (review["kind"] == "SelfSubjectAccessReview"
        && review["apiVersion"] == "authorization.k8s.io/v1")
        .then_some(review)
}

/// A review asking whether the requester may list or watch a resource in all namespaces.
#[derive(Debug, Clone)]
pub struct AcrossNamespaces {
    review: Value,
    /// The resource's API group (empty for the core group).
    pub group: String,
    /// Its version; empty for any (what clients usually send).
    pub version: String,
    /// The resource, plural.
    pub resource: String,
}

/// The review in `body`, if it asks to list or watch a whole resource in all namespaces (no
/// namespace, name or subresource).
pub fn across_namespaces(body: &[u8]) -> Option<AcrossNamespaces> {
    let review = parse(body)?;
    let attributes = review["spec"]["resourceAttributes"].as_object()?;
    let text = |key: &str| {
        attributes
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let asks = matches!(text("verb"), "list" | "watch")
        && ["namespace", "name", "subresource"]
            .into_iter()
            .all(|key| text(key).is_empty())
        && !text("resource").is_empty()
        && review["spec"]["nonResourceAttributes"].is_null();
    asks.then(|| AcrossNamespaces {
        group: text("group").to_owned(),
        version: text("version").to_owned(),
        resource: text("resource").to_owned(),
        review: review.clone(),
    })
}

impl AcrossNamespaces {
    /// The same question about `namespace` alone, as a JSON review to ask upstream.
    pub fn in_namespace(&self, namespace: &str) -> Vec<u8> {
        let mut review = self.review.clone();
        review["spec"]["resourceAttributes"]["namespace"] = json!(namespace);
        if let Some(object) = review.as_object_mut() {
            object.remove("status");
        }
        serde_json::to_vec(&review).unwrap_or_default()
    }

    /// The review answered from the answers in each namespace (`(namespace, allowed, reason)`
    /// in the token's order): allowed only when every namespace allows it.
    pub fn answered(mut self, answers: &[(String, bool, String)]) -> Vec<u8> {
        let refused = answers.iter().find(|(_, allowed, _)| !allowed);
        self.review["status"] = match refused {
            None if !answers.is_empty() => json!({
                "allowed": true,
                "reason": format!(
                    "KubeNova: the proxy serves this list in each namespace of this kubeconfig, \
                     and it is allowed in all {}",
                    answers.len()
                ),
            }),
            None => json!({
                "allowed": false,
                "reason": "KubeNova: this kubeconfig has no namespaces yet",
            }),
            Some((namespace, _, reason)) => json!({
                "allowed": false,
                "reason": if reason.is_empty() {
                    format!("KubeNova: not allowed in namespace {namespace}")
                } else {
                    format!("KubeNova: not allowed in namespace {namespace}: {reason}")
                },
            }),
        };
        serde_json::to_vec(&self.review).unwrap_or_default()
    }
}

/// `(allowed, reason)` of a review answered upstream (JSON); `None` if `body` is not one.
pub fn verdict(body: &[u8]) -> Option<(bool, String)> {
    let review: Value = serde_json::from_slice(body).ok()?;
    let status = review.get("status")?;
    Some((
        status.get("allowed")?.as_bool()?,
        status
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// What starts a body in Kubernetes' protobuf encoding (then a `runtime.Unknown`).
const PROTOBUF_MAGIC: &[u8] = b"k8s\0";

/// The length-delimited fields of a protobuf message, by field number, in order; `None` if the
/// bytes are not a well-formed message.
fn fields(mut bytes: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (number, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..)?,
            5 => bytes = bytes.get(4..)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let (value, rest) = (bytes.get(..len)?, bytes.get(len..)?);
                out.push((number, value));
                bytes = rest;
            }
            _ => return None,
        }
    }
    Some(out)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The one length-delimited field `number` of `message` (the last one, as protobuf merges).
fn field<'a>(message: &[(u64, &'a [u8])], number: u64) -> Option<&'a [u8]> {
    message
        .iter()
        .rev()
        .find(|(n, _)| *n == number)
        .map(|(_, v)| *v)
}

fn string(message: &[(u64, &[u8])], number: u64) -> Option<String> {
    field(message, number)
        .map(|v| String::from_utf8(v.to_vec()).ok())
        .unwrap_or(Some(String::new()))
}

/// The review's JSON form, from a protobuf `runtime.Unknown` holding an
/// `authorization.k8s.io/v1` `SelfSubjectAccessReview` (fields as in its `generated.proto`:
/// `spec` 2; `resourceAttributes` 1, `nonResourceAttributes` 2; namespace 1, verb 2, group 3,
/// version 4, resource 5, subresource 6, name 7).
fn from_protobuf(envelope: &[u8]) -> Option<Value> {
    let unknown = fields(envelope)?;
    let type_meta = fields(field(&unknown, 1)?)?;
    if string(&type_meta, 1)? != "authorization.k8s.io/v1"
        || string(&type_meta, 2)? != "SelfSubjectAccessReview"
        || !string(&unknown, 3)?.is_empty()
    {
        return None;
    }
    let review = fields(field(&unknown, 2)?)?;
    let spec = fields(field(&review, 2)?)?;
    let mut json_spec = json!({});
    if let Some(attributes) = field(&spec, 1) {
        let a = fields(attributes)?;
        json_spec["resourceAttributes"] = json!({
            "namespace": string(&a, 1)?, "verb": string(&a, 2)?, "group": string(&a, 3)?,
            "version": string(&a, 4)?, "resource": string(&a, 5)?,
            "subresource": string(&a, 6)?, "name": string(&a, 7)?,
        });
    }
    if field(&spec, 2).is_some() {
        json_spec["nonResourceAttributes"] = json!({});
    }
    Some(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "metadata": {"creationTimestamp": null}, "spec": json_spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(attributes: Value) -> Vec<u8> {
        json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "metadata": {"creationTimestamp": null},
            "spec": {"resourceAttributes": attributes},
            "status": {"allowed": false},
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn listing_and_watching_all_namespaces_is_allowed() {
        for verb in ["list", "watch"] {
            let answer = namespace_list(&review(json!({"verb": verb, "resource": "namespaces"})))
                .expect("answered");
            let answer: Value = serde_json::from_slice(&answer).expect("json");
            assert_eq!(answer["status"]["allowed"], true);
            assert_eq!(answer["status"]["reason"], REASON);
            assert_eq!(answer["spec"]["resourceAttributes"]["verb"], verb);
        }
        // Empty strings are what client-go sends for the unset fields.
        assert!(
            namespace_list(&review(json!({"verb": "list", "resource": "namespaces",
                "group": "", "namespace": "", "name": "", "subresource": "", "version": "v1"})))
            .is_some()
        );
        for attributes in [
            json!({"verb": "list", "resource": "namespaces", "namespace": "default"}),
            json!({"verb": "list", "resource": "namespaces", "name": "default"}),
        ] {
            assert!(
                namespace_list(&review(attributes.clone())).is_some(),
                "{attributes}"
            );
        }
    }

    /// What kubectl 1.36 sends for `kubectl auth can-i list namespaces` (captured through the
    /// proxy), and the same asking to delete.
    const KUBECTL_LIST_NAMESPACES: &[u8] = b"k8s\0\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12C\n\x10\n\0\x12\0\x1a\0\"\0*\x002\x008\0B\0\x12%\n#\n\x07default\x12\x04list\x1a\0\"\0*\nnamespaces2\0:\0\x1a\x08\x08\0\x12\0\x1a\0 \0\x1a\0\"\0";

    #[test]
    fn the_protobuf_form_kubectl_sends_is_read() {
        let answer = namespace_list(KUBECTL_LIST_NAMESPACES).expect("answered");
        let answer: Value = serde_json::from_slice(&answer).expect("json");
        assert_eq!(answer["status"]["allowed"], true);
        assert_eq!(answer["spec"]["resourceAttributes"]["namespace"], "default");
        assert_eq!(
            answer["spec"]["resourceAttributes"]["resource"],
            "namespaces"
        );
        // The same review with the verb `list` replaced by `drop` (same length) is forwarded.
        let mut other = KUBECTL_LIST_NAMESPACES.to_vec();
        let at = other
            .windows(4)
            .position(|w| w == b"list")
            .expect("the verb");
        other[at..at + 4].copy_from_slice(b"drop");
        assert!(namespace_list(&other).is_none());
        // Truncated or garbled: forwarded, never a panic.
        for end in 0..KUBECTL_LIST_NAMESPACES.len() {
            let _ = namespace_list(&KUBECTL_LIST_NAMESPACES[..end]);
        }
        assert!(namespace_list(b"k8s\0\xff\xff\xff").is_none());
    }

    #[test]
    fn a_list_across_namespaces_is_asked_in_each_and_allowed_only_if_all_allow() {
        let body = review(
            json!({"verb": "list", "resource": "pods", "group": "", "version": "",
            "namespace": "", "name": "", "subresource": ""}),
        );
        let question = across_namespaces(&body).expect("asks across namespaces");
        assert_eq!(
            (question.group.as_str(), question.version.as_str()),
            ("", "")
        );
        assert_eq!(question.resource, "pods");
        let one: Value = serde_json::from_slice(&question.in_namespace("acme-web")).expect("json");
        assert_eq!(one["spec"]["resourceAttributes"]["namespace"], "acme-web");
        assert_eq!(one["spec"]["resourceAttributes"]["verb"], "list");
        assert!(one.get("status").is_none(), "{one}");

        let status = |answer: Vec<u8>| -> Value {
            serde_json::from_slice::<Value>(&answer).expect("json")["status"].clone()
        };
        let yes = |ns: &str| (ns.to_owned(), true, String::new());
        let all = status(
            question
                .clone()
                .answered(&[yes("acme-db"), yes("acme-web")]),
        );
        assert_eq!(all["allowed"], true, "{all}");
        assert!(all["reason"].as_str().expect("reason").contains("all 2"));
        let refused = status(question.clone().answered(&[
            yes("acme-db"),
            ("acme-web".into(), false, "no RBAC rule".into()),
        ]));
        assert_eq!(refused["allowed"], false);
        assert!(
            refused["reason"]
                .as_str()
                .expect("reason")
                .contains("namespace acme-web: no RBAC rule"),
            "{refused}"
        );
        assert_eq!(status(question.answered(&[]))["allowed"], false);

        for attributes in [
            json!({"verb": "get", "resource": "pods"}),
            json!({"verb": "list", "resource": "pods", "namespace": "acme-web"}),
            json!({"verb": "list", "resource": "pods", "name": "app"}),
            json!({"verb": "list", "resource": "pods", "subresource": "log"}),
            json!({"verb": "list", "resource": ""}),
        ] {
            assert!(
                across_namespaces(&review(attributes.clone())).is_none(),
                "{attributes}"
            );
        }
        assert_eq!(
            verdict(br#"{"status": {"allowed": false, "reason": "nope"}}"#),
            Some((false, "nope".to_owned()))
        );
        assert_eq!(verdict(b"not json"), None);
    }

    #[test]
    fn everything_else_goes_to_the_apiserver() {
        for attributes in [
            json!({"verb": "get", "resource": "namespaces"}),
            json!({"verb": "delete", "resource": "namespaces"}),
            json!({"verb": "create", "resource": "namespaces"}),
            json!({"verb": "list", "resource": "namespaces", "subresource": "status"}),
            json!({"verb": "list", "resource": "namespaces", "group": "example.com"}),
            json!({"verb": "list", "resource": "pods"}),
            json!({"verb": "list", "resource": "nodes"}),
        ] {
            assert!(
                namespace_list(&review(attributes.clone())).is_none(),
                "{attributes}"
            );
        }
        assert!(namespace_list(b"not json").is_none());
        let other_kind = json!({"apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": "admin", "resourceAttributes": {"verb": "list", "resource": "namespaces"}}});
        assert!(namespace_list(other_kind.to_string().as_bytes()).is_none());
    }
}
