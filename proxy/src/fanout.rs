//! Lists and watches across a tenant's namespaces (`kubectl get pods -A`) in direct mode: the
//! request runs once per namespace as the token's identity (so RBAC decides each one), and the
//! answers are merged. Lists merge `items` (or Table `rows`); watches interleave the event
//! streams line by line.
//!
//! A merged list reports the smallest `resourceVersion` of its parts: a watch that starts
//! there may repeat an event, never miss one. A streaming list (`sendInitialEvents=true`)
//! reports the end of the initial events only once every namespace has reached it, with the
//! oldest of their resource versions; periodic bookmarks are dropped, since one namespace's
//! progress says nothing about the others'.

use bytes::{Bytes, BytesMut};
use futures_util::future::join_all;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::body::{self, Body, BoxError, Reject};
use crate::forward::{self, Acting, Impersonation};
use crate::handler::Proxy;
use crate::metrics::{GaugeGuard, Tracked};
use crate::path::{ResourceRequest, Verb};
use crate::rewrite;

const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// Runs `request` in each of `namespaces` and merges the answers.
pub async fn run(
    proxy: &Proxy,
    parts: Parts,
    request: &ResourceRequest,
    namespaces: &[String],
    identity: &Impersonation,
) -> Result<Response<Body>, Reject> {
    if parts.method != Method::GET {
        return Err(Reject::bad_request(
            "method",
            "only lists and watches span namespaces",
        ));
    }
    if parts.uri.query().unwrap_or_default().contains("continue=") {
        return Err(Reject::bad_request(
            "continue",
            "a list across your namespaces is answered whole; do not send `continue`",
        ));
    }
    let query = rewrite::without_pagination(parts.uri.query());
    let mut responses = Vec::with_capacity(namespaces.len());
    let sends = namespaces.iter().map(|ns| {
        let pq = rewrite::into_namespace(request, ns, query.as_deref());
        let mut sub = head_copy(&parts);
        // Only JSON can be merged here: ask every namespace for JSON, whatever the client
        // prefers. Clients decode by the response's Content-Type, so they read it.
        if let Some(accept) = json_accept(&sub.headers) {
            sub.headers.insert(header::ACCEPT, accept);
        }
        let upstream = forward::upstream_request(
            &proxy.upstream,
            sub,
            body::empty(),
            &pq,
            Acting::As(identity),
            None,
        );
        async move {
            let upstream_request = upstream?;
            proxy.upstream.send(upstream_request).await.map_err(|e| {
                tracing::warn!(error = %e, "upstream request failed");
                Reject::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream",
                    "the Kubernetes API could not be reached",
                )
            })
        }
    });
    for result in join_all(sends).await {
        let response = result?;
        if !response.status().is_success() {
            // The first refusal (RBAC in one namespace, say) answers for the whole request.
            return Ok(forward::relay(response));
        }
        responses.push(response);
    }
    if request.verb == Verb::Watch {
        Ok(merge_watches(proxy, responses))
    } else {
        merge_lists(responses).await
    }
}

/// A copy of the request head for one namespace (extensions are not cloneable, nor needed).
fn head_copy(parts: &Parts) -> Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = parts.method.clone();
    head.uri = parts.uri.clone();
    head.version = parts.version;
    head.headers = parts.headers.clone();
    head
}

/// The client's `Accept` with every media range turned into `application/json` (keeping its
/// parameters, so a Table stays a Table), or `None` when it asks for JSON only already.
///
/// A client that prefers protobuf or CBOR (`application/vnd.kubernetes.protobuf,
/// application/json`, as controllers send) would otherwise get the format the proxy cannot
/// merge, even though it accepts JSON.
fn json_accept(headers: &http::HeaderMap) -> Option<HeaderValue> {
    let mut ranges: Vec<String> = Vec::new();
    let mut changed = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            changed = true;
            continue;
        };
        for range in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let (media, params) = range.split_once(';').unwrap_or((range, ""));
            let json = if media.trim().eq_ignore_ascii_case("application/json") {
                range.to_owned()
            } else {
                changed = true;
                if params.is_empty() {
                    "application/json".to_owned()
                } else {
                    format!("application/json;{params}")
                }
            };
            if !ranges.contains(&json) {
                ranges.push(json);
            }
        }
    }
    if !changed {
        return None;
    }
    if ranges.is_empty() {
        ranges.push("application/json".into());
    }
    HeaderValue::from_str(&ranges.join(",")).ok()
}

async fn merge_lists(responses: Vec<Response<Incoming>>) -> Result<Response<Body>, Reject> {
    let mut merged: Option<(http::response::Parts, Value)> = None;
    let mut min_rv: Option<u64> = None;
    for response in responses {
        let (parts, incoming) = response.into_parts();
        let bytes = incoming.collect().await.map_err(|e| {
            tracing::warn!(error = %e, "reading an upstream list failed");
            Reject::new(
                StatusCode::BAD_GATEWAY,
                "upstream",
                "the Kubernetes API answer was cut off",
            )
        })?;
        let value: Value = serde_json::from_slice(&bytes.to_bytes()).map_err(|_| {
            Reject::new(
                StatusCode::NOT_ACCEPTABLE,
                "format",
                "lists across namespaces are served as JSON or Table only",
            )
        })?;
        if let Some(rv) = value["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
        {
            min_rv = Some(min_rv.map_or(rv, |m: u64| m.min(rv)));
        }
        let field = if value["kind"] == "Table" {
            "rows"
        } else {
            "items"
        };
        match &mut merged {
            None => merged = Some((parts, value)),
            Some((_, acc)) => {
                let more = value[field].as_array().cloned().unwrap_or_default();
                if let Some(list) = acc[field].as_array_mut() {
                    list.extend(more);
                } else {
                    acc[field] = Value::Array(more);
                }
            }
        }
    }
    let Some((mut parts, mut value)) = merged else {
        return Err(Reject::forbidden("no_namespaces", "no namespaces to list"));
    };
    if let Some(rv) = min_rv {
        value["metadata"]["resourceVersion"] = Value::String(rv.to_string());
    }
    if let Some(meta) = value["metadata"].as_object_mut() {
        meta.remove("continue");
        meta.remove("remainingItemCount");
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Response::from_parts(parts, body::full(value.to_string())))
}

fn merge_watches(proxy: &Proxy, responses: Vec<Response<Incoming>>) -> Response<Body> {
    let streams = responses.len();
    let (tx, rx) = mpsc::channel::<Result<Bytes, BoxError>>(64);
    let mut head = None;
    let (ends_tx, mut ends_rx) = mpsc::channel::<(u64, Bytes)>(streams);
    let mut pumps = tokio::task::JoinSet::new();
    for response in responses {
        let (parts, incoming) = response.into_parts();
        head.get_or_insert(parts);
        let (tx, ends_tx) = (tx.clone(), ends_tx.clone());
        pumps.spawn(pump(incoming, tx, ends_tx));
    }
    drop(ends_tx);
    // When one namespace's watch ends (or the client leaves), end them all: the client
    // re-watches, rather than silently missing one namespace's events.
    tokio::spawn(async move {
        pumps.join_next().await;
        pumps.abort_all();
    });
    // Holds back each stream's end-of-initial-events bookmark until all have sent theirs, then
    // passes on the oldest: resuming from it can repeat an event, never miss one.
    let tx_ends = tx.clone();
    tokio::spawn(async move {
        let mut oldest: Option<(u64, Bytes)> = None;
        for _ in 0..streams {
            match ends_rx.recv().await {
                Some(end) => {
                    if oldest.as_ref().is_none_or(|(rv, _)| end.0 < *rv) {
                        oldest = Some(end);
                    }
                }
                None => return,
            }
        }
        if let Some((_, line)) = oldest {
            let _ = tx_ends.send(Ok(line)).await;
        }
    });
    drop(tx);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item.map(Frame::data), rx))
    });
    let Some(mut parts) = head else {
        return Reject::forbidden("no_namespaces", "no namespaces to watch").into_response();
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = body::boxed(StreamBody::new(stream));
    let tracked = Tracked::new(body, GaugeGuard::new(&proxy.metrics.open_watches));
    Response::from_parts(parts, body::boxed(tracked))
}

/// Copies one watch stream into the merged one, a whole event (line) at a time.
async fn pump(
    mut incoming: Incoming,
    tx: mpsc::Sender<Result<Bytes, BoxError>>,
    ends: mpsc::Sender<(u64, Bytes)>,
) {
    let mut buffer = BytesMut::new();
    while let Some(frame) = incoming.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => {
                let _ = tx.send(Err(Box::new(e))).await;
                return;
            }
        };
        buffer.extend_from_slice(&data);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line = buffer.split_to(end + 1).freeze();
            match bookmark(&line) {
                Some(b) if b.initial_events_end => {
                    let _ = ends.send((b.resource_version, line)).await;
                }
                // A periodic bookmark promises that this namespace has nothing older pending;
                // the merged stream cannot promise that for the others, so it is dropped
                // (bookmarks are an optimisation clients do without).
                Some(_) => {}
                None => {
                    if tx.send(Ok(line)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        }
    }
}

/// What a bookmark line says, or `None` for an ordinary event.
struct Bookmark {
    initial_events_end: bool,
    resource_version: u64,
}

fn bookmark(line: &[u8]) -> Option<Bookmark> {
    // Only bookmark lines are parsed; every other event passes untouched.
    if !line.windows(10).any(|w| w == b"\"BOOKMARK\"") {
        return None;
    }
    let event: Value = serde_json::from_slice(line).ok()?;
    if event["type"] != "BOOKMARK" {
        return None;
    }
    let metadata = &event["object"]["metadata"];
    Some(Bookmark {
        initial_events_end: metadata["annotations"][INITIAL_EVENTS_END] == "true",
        resource_version: metadata["resourceVersion"]
            .as_str()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(values: &[&str]) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        for v in values {
            headers.append(header::ACCEPT, HeaderValue::from_str(v).expect("value"));
        }
        json_accept(&headers).map(|v| v.to_str().expect("ascii").to_owned())
    }

    #[test]
    fn every_namespace_is_asked_for_json() {
        // Already JSON (kubectl's Table request, a plain list): unchanged.
        assert_eq!(accept(&[]), None);
        assert_eq!(accept(&["application/json"]), None);
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
        assert_eq!(accept(&[table]), None);
        // Protobuf preferred, JSON accepted (controllers): JSON.
        assert_eq!(
            accept(&["application/vnd.kubernetes.protobuf,application/json"]).as_deref(),
            Some("application/json")
        );
        // client-go with ContentType protobuf alone.
        assert_eq!(
            accept(&["application/vnd.kubernetes.protobuf, */*"]).as_deref(),
            Some("application/json")
        );
        assert_eq!(
            accept(&["application/cbor", "application/json"]).as_deref(),
            Some("application/json")
        );
        // A Table in protobuf stays a Table, in JSON.
        assert_eq!(
            accept(&["application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io"]).as_deref(),
            Some("application/json;as=Table;v=v1;g=meta.k8s.io")
        );
    }
}
