//! Ending streams whose token is revoked or expires (see ADR 0010).
//!
//! A request is authenticated once, when it arrives; a watch, `logs -f`, an exec session or any
//! long HTTP/2 stream may then run for hours. Every response the proxy relays therefore carries
//! a [`Lifetime`]: it ends when the token's `jti` is revoked (the revocation watcher calls
//! [`Sessions::revoke`]) or when the token expires (`exp` plus the clock skew the verifier
//! tolerates, the same instant a new request with the token is refused). A [`Guarded`] response
//! body then fails, which aborts the HTTP/1.1 response (the connection is closed mid-chunk) or
//! resets the HTTP/2 stream; an upgraded connection (exec, attach, port-forward) is closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dashmap::DashMap;
use hyper::body::{Frame, SizeHint};
use tokio_util::sync::CancellationToken;

use crate::auth::Revoked;
use crate::body::{Body, BoxError};
use kubenova_api::clock::unix_now;

/// Why a stream was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The token was revoked.
    Revoked,
    /// The token expired.
    Expired,
}

impl End {
    /// A stable label (metrics, logs).
    pub fn reason(self) -> &'static str {
        match self {
            End::Revoked => "revoked",
            End::Expired => "expired",
        }
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            End::Revoked => "KN-401: the token was revoked; the stream is closed",
            End::Expired => "KN-401: the token expired; the stream is closed",
        })
    }
}

impl std::error::Error for End {}

struct Entry {
    cancel: CancellationToken,
    exp: i64,
}

/// The streams in flight, by token id. Sharded (no lock shared by every request), and a token
/// already registered costs a lookup, not an allocation.
pub struct Sessions {
    live: DashMap<String, Entry>,
    revoked: Arc<Revoked>,
    leeway: i64,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("tokens", &self.live.len())
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions checked against `revoked`; a token's streams end `leeway_seconds` after its
    /// `exp` (the verifier's clock skew).
    pub fn new(revoked: Arc<Revoked>, leeway_seconds: u64) -> Self {
        Sessions {
            live: DashMap::new(),
            revoked,
            leeway: i64::try_from(leeway_seconds).unwrap_or(i64::MAX),
        }
    }

    /// The lifetime of a stream opened with the token `jti` expiring at `exp`.
    pub fn open(&self, jti: &str, exp: i64) -> Lifetime {
        let known = self.live.get(jti).map(|e| e.cancel.clone());
        let cancel = known.unwrap_or_else(|| {
            self.live
                .entry(jti.to_owned())
                .or_insert_with(|| Entry {
                    cancel: CancellationToken::new(),
                    exp,
                })
                .cancel
                .clone()
        });
        // The revocation may have landed between authentication and registration: `revoke`
        // inserts into the revoked set before it looks for sessions, so one of the two sees it.
        if self.revoked.contains_key(jti) {
            cancel.cancel();
        }
        let end = exp.saturating_add(self.leeway);
        let deadline = UNIX_EPOCH + Duration::from_secs(u64::try_from(end).unwrap_or(0));
        Lifetime { cancel, deadline }
    }

    /// Ends every stream of the tokens in `jtis` (already in the revoked set).
    pub fn revoke<'a>(&self, jtis: impl IntoIterator<Item = &'a str>) -> usize {
        let mut ended = 0;
        for jti in jtis {
            if let Some((_, entry)) = self.live.remove(jti) {
                entry.cancel.cancel();
                ended += 1;
            }
        }
        ended
    }

    /// Forgets tokens that have expired (their streams end on their own deadline).
    pub fn sweep(&self) {
        let now = unix_now();
        self.live
            .retain(|_, e| e.exp.saturating_add(self.leeway) > now);
    }

    /// Tokens with streams registered (for tests and debugging).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no token has streams registered.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

/// How long one response or upgraded connection may live.
#[derive(Debug, Clone)]
pub struct Lifetime {
    cancel: CancellationToken,
    deadline: SystemTime,
}

impl Lifetime {
    /// Resolves when the token is revoked or expires.
    pub fn ended(&self) -> impl Future<Output = End> + Send + Sync + 'static {
        let cancel = self.cancel.clone();
        let left = self
            .deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        async move {
            tokio::select! {
                () = cancel.cancelled_owned() => End::Revoked,
                () = tokio::time::sleep(left) => End::Expired,
            }
        }
    }

    /// Whether the lifetime is over already.
    pub fn over(&self) -> Option<End> {
        if self.cancel.is_cancelled() {
            Some(End::Revoked)
        } else if SystemTime::now() >= self.deadline {
            Some(End::Expired)
        } else {
            None
        }
    }
}

/// A response body that ends when its [`Lifetime`] does, so the client's stream is cut.
///
/// A JSON watch that is between two events gets a last `ERROR` event carrying a `401` Status
/// (what the apiserver itself sends when it ends a watch early) and then ends, so clients learn
/// why: `kubectl get -w` prints the Status, client-go's reflectors back off and relist (and are
/// refused). Any other stream (protobuf watches, a watch cut mid-event, `logs -f`, ...) fails,
/// which aborts the HTTP/1.1 response or resets the HTTP/2 stream.
pub struct Guarded {
    inner: Body,
    ended: Pin<Box<dyn Future<Output = End> + Send + Sync>>,
    done: bool,
    json_watch: bool,
    between_events: bool,
}

impl Guarded {
    /// Wraps `inner`; `json_watch` when it is a watch in JSON (one event per line).
    pub fn new(inner: Body, lifetime: &Lifetime, json_watch: bool) -> Self {
        Guarded {
            inner,
            ended: Box::pin(lifetime.ended()),
            done: false,
            json_watch,
            between_events: true,
        }
    }
}

/// The watch event that tells a client its token ended.
pub fn error_event(end: End) -> Bytes {
    let event = serde_json::json!({
        "type": "ERROR",
        "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": end.to_string(), "reason": "Unauthorized",
            "details": { "causes": [{ "reason": "KN-401", "message": end.to_string() }] },
            "code": 401,
        },
    });
    let mut line = event.to_string().into_bytes();
    line.push(b'\n');
    Bytes::from(line)
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        // The lifetime first: a stream that always has data ready must still be cut.
        if let Poll::Ready(end) = self.ended.as_mut().poll(cx) {
            self.done = true;
            tracing::info!(reason = end.reason(), "stream ended: {end}");
            if self.json_watch && self.between_events {
                return Poll::Ready(Some(Ok(Frame::data(error_event(end)))));
            }
            return Poll::Ready(Some(Err(Box::new(end))));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Some(last) = data.last()
        {
            self.between_events = *last == b'\n';
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that never sends anything (a quiet watch).
    fn pending_body() -> Body {
        crate::body::boxed(http_body_util::StreamBody::new(
            futures_util::stream::pending::<Result<Frame<Bytes>, BoxError>>(),
        ))
    }

    #[tokio::test]
    async fn revoking_ends_a_stream_that_was_open_and_one_opened_after() {
        let revoked = Arc::new(Revoked::new());
        let sessions = Sessions::new(revoked.clone(), 0);
        let exp = unix_now() + 3600;
        let lifetime = sessions.open("j1", exp);
        let other = sessions.open("j2", exp);
        let mut body = Guarded::new(pending_body(), &lifetime, false);
        revoked.insert("j1".into(), exp);
        assert_eq!(sessions.revoke(["j1"]), 1);
        let frame = tokio::time::timeout(Duration::from_secs(1), body.frame())
            .await
            .expect("ends at once")
            .expect("a frame");
        let err = frame.expect_err("an error, so the client sees the stream fail");
        assert!(err.to_string().contains("revoked"), "{err}");
        assert!(other.over().is_none(), "another token's stream goes on");
        // Opened after the revocation (authenticated just before it): ends at once.
        assert_eq!(sessions.open("j1", exp).over(), Some(End::Revoked));
    }

    #[tokio::test]
    async fn a_json_watch_between_events_gets_a_last_error_event() {
        let revoked = Arc::new(Revoked::new());
        let sessions = Sessions::new(revoked.clone(), 0);
        let exp = unix_now() + 3600;
        let lifetime = sessions.open("w", exp);
        let mut body = Guarded::new(pending_body(), &lifetime, true);
        revoked.insert("w".into(), exp);
        sessions.revoke(["w"]);
        let frame = body.frame().await.expect("a frame").expect("data");
        let event: serde_json::Value =
            serde_json::from_slice(frame.data_ref().expect("data")).expect("json");
        assert_eq!(event["type"], "ERROR");
        assert_eq!(event["object"]["code"], 401);
        assert!(body.frame().await.is_none(), "then the stream ends");
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_token_expires() {
        let sessions = Sessions::new(Arc::new(Revoked::new()), 0);
        let lifetime = sessions.open("j", unix_now() + 1);
        let started = std::time::Instant::now();
        let end = tokio::time::timeout(Duration::from_secs(3), lifetime.ended())
            .await
            .expect("ends");
        assert_eq!(end, End::Expired);
        assert!(started.elapsed() <= Duration::from_secs(2));
        sessions.sweep();
        assert!(sessions.is_empty());
    }
}
