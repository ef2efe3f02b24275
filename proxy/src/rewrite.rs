//! Request rewrites the scope decision asks for: extra selectors on namespace lists, and a
//! cross-namespace list turned into a list in one namespace.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::path::{ResourceRequest, Verb};

/// Characters escaped in query values (selectors contain `=`, `,`, `!`, `(`, `)`).
const QUERY_VALUE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn encode(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// Splits a query into decoded `(key, value)` pairs, keeping their order.
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn join(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// ANDs `extra` to the selector parameter `key` (the client's own selector stays in force).
fn and_selector(pairs: &mut Vec<(String, String)>, key: &str, extra: &str) {
    // Several occurrences of a selector parameter would be ambiguous; fold them all into one.
    let mut parts: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == key && !v.trim().is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    pairs.retain(|(k, _)| k != key);
    parts.push(extra.to_owned());
    pairs.push((key.to_owned(), parts.join(",")));
}

/// `path_and_query` with `label` (and `field`) ANDed to its selectors.
pub fn with_selectors(path_and_query: &str, label: &str, field: Option<&str>) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut pairs = pairs(query);
    and_selector(&mut pairs, "labelSelector", label);
    if let Some(field) = field {
        and_selector(&mut pairs, "fieldSelector", field);
    }
    join(path, &pairs)
}

/// The same list or watch, in one namespace: `/api/v1/pods` becomes
/// `/api/v1/namespaces/<ns>/pods` (and the legacy `/api/v1/watch/pods` a `?watch=true` request).
pub fn into_namespace(request: &ResourceRequest, namespace: &str, query: Option<&str>) -> String {
    let prefix = if request.group.is_empty() {
        format!("/api/{}", request.version)
    } else {
        format!("/apis/{}/{}", request.group, request.version)
    };
    let path = format!("{prefix}/namespaces/{namespace}/{}", request.resource);
    let mut pairs = pairs(query);
    if request.verb == Verb::Watch && !pairs.iter().any(|(k, _)| k == "watch") {
        pairs.push(("watch".into(), "true".into()));
    }
    join(&path, &pairs)
}

/// Removes the pagination parameters (a merged answer cannot continue per namespace).
pub fn without_pagination(query: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs(query)
        .into_iter()
        .filter(|(k, _)| k != "limit" && k != "continue")
        .collect();
    let joined = join("", &pairs);
    joined.strip_prefix('?').map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(group: &str, resource: &str, verb: Verb) -> ResourceRequest {
        ResourceRequest {
            group: group.into(),
            version: "v1".into(),
            namespace: None,
            resource: resource.into(),
            name: None,
            subresource: None,
            verb,
        }
    }

    #[test]
    fn the_tenant_selector_is_anded_to_the_clients_selector() {
        assert_eq!(
            with_selectors("/api/v1/namespaces", "capsule.clastix.io/tenant=acme", None),
            "/api/v1/namespaces?labelSelector=capsule.clastix.io/tenant%3Dacme"
        );
        let rewritten = with_selectors(
            "/api/v1/namespaces?labelSelector=team%3Dblue&limit=500",
            "capsule.clastix.io/tenant=acme",
            Some("metadata.name=acme-web"),
        );
        let pairs = pairs(rewritten.split_once('?').map(|(_, q)| q));
        assert!(pairs.contains(&(
            "labelSelector".into(),
            "team=blue,capsule.clastix.io/tenant=acme".into()
        )));
        assert!(pairs.contains(&("fieldSelector".into(), "metadata.name=acme-web".into())));
        assert!(pairs.contains(&("limit".into(), "500".into())));
    }

    #[test]
    fn a_repeated_selector_cannot_escape_the_tenant_selector() {
        let rewritten = with_selectors(
            "/api/v1/namespaces?labelSelector=a%3Db&labelSelector=",
            "capsule.clastix.io/tenant=acme",
            None,
        );
        let pairs = pairs(rewritten.split_once('?').map(|(_, q)| q));
        let selectors: Vec<_> = pairs.iter().filter(|(k, _)| k == "labelSelector").collect();
        assert_eq!(selectors.len(), 1);
        assert_eq!(selectors[0].1, "a=b,capsule.clastix.io/tenant=acme");
    }

    #[test]
    fn a_list_across_namespaces_becomes_a_list_in_one() {
        let pods = list("", "pods", Verb::List);
        assert_eq!(
            into_namespace(&pods, "acme-web", Some("limit=500")),
            "/api/v1/namespaces/acme-web/pods?limit=500"
        );
        let deployments = list("apps", "deployments", Verb::Watch);
        assert_eq!(
            into_namespace(&deployments, "acme-web", None),
            "/apis/apps/v1/namespaces/acme-web/deployments?watch=true"
        );
    }

    #[test]
    fn pagination_is_dropped_for_merged_answers() {
        assert_eq!(
            without_pagination(Some("limit=500&continue=abc&labelSelector=a%3Db")).as_deref(),
            Some("labelSelector=a%3Db")
        );
        assert_eq!(without_pagination(Some("limit=1")), None);
    }
}
