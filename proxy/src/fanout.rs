//! Lists and watches across a tenant's namespaces (`kubectl get pods -A`) in direct mode: the
//! request runs once per namespace as the token's identity (so RBAC decides each one), and the
//! answers are merged. Lists merge `items` (or Table `rows`); watches interleave the event
//! streams line by line.
//!
//! A merged list reports the smallest `resourceVersion` of its parts: a watch that starts
//! there may repeat an event, never miss one. A streaming list (`sendInitialEvents=true`)
//! reports the end of the initial events only once every namespace has reached it.

use bytes::{Bytes, BytesMut};
use futures_util::future::join_all;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use kubenova_api::Identity;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::body::{self, Body, BoxError, Reject};
use crate::forward::{self, Acting};
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
    identity: &Identity,
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
        let mut sub = Parts::clone_without_extensions(&parts);
        // Protobuf cannot be merged here; every client that asks for it also accepts JSON.
        if accepts_only_protobuf(&sub.headers) {
            sub.headers
                .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
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

trait CloneParts {
    fn clone_without_extensions(parts: &Parts) -> Parts;
}

impl CloneParts for Parts {
    fn clone_without_extensions(parts: &Parts) -> Parts {
        let mut builder = Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone())
            .version(parts.version);
        if let Some(headers) = builder.headers_mut() {
            *headers = parts.headers.clone();
        }
        // A request built from valid parts is valid.
        let (parts, ()) = builder
            .body(())
            .map(Request::into_parts)
            .unwrap_or_else(|_| Request::new(()).into_parts());
        parts
    }
}

fn accepts_only_protobuf(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("protobuf") && !accept.contains("json"))
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
    let (ends_tx, mut ends_rx) = mpsc::channel::<Bytes>(streams);
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
    // Holds back each stream's end-of-initial-events bookmark until all have sent theirs.
    let tx_ends = tx.clone();
    tokio::spawn(async move {
        let mut last = None;
        for _ in 0..streams {
            match ends_rx.recv().await {
                Some(line) => last = Some(line),
                None => return,
            }
        }
        if let Some(line) = last {
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
    ends: mpsc::Sender<Bytes>,
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
            if is_initial_events_end(&line) {
                let _ = ends.send(line).await;
            } else if tx.send(Ok(line)).await.is_err() {
                return; // the client went away
            }
        }
    }
}

fn is_initial_events_end(line: &[u8]) -> bool {
    // Only bookmarks can carry the annotation; skip parsing everything else.
    if !line
        .windows(INITIAL_EVENTS_END.len())
        .any(|w| w == INITIAL_EVENTS_END.as_bytes())
    {
        return false;
    }
    serde_json::from_slice::<Value>(line).is_ok_and(|event| {
        event["type"] == "BOOKMARK"
            && event["object"]["metadata"]["annotations"][INITIAL_EVENTS_END] == "true"
    })
}
