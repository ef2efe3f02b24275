//! Accepting connections: TLS, then HTTP/1.1 or HTTP/2 (with upgrades), each request handed to
//! [`Proxy::handle`]. Graceful shutdown stops accepting and lets requests finish for a grace
//! period; watches and exec sessions are not cut by any idle timeout before that.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::handler::Proxy;

/// The largest HTTP/2 frame the proxy accepts (SETTINGS_MAX_FRAME_SIZE; h2's default is
/// 16 KiB). h2 allows a header block only a few CONTINUATION frames (5 for a 64 KiB header
/// limit) and ends the whole connection (GOAWAY) beyond them; with 16 KiB frames a head of about
/// 100 KB was over that count, so a client sending one lost its connection instead of getting
/// h2's 431 as an HTTP/1.1 client gets hyper's. With 64 KiB frames it takes a head of over
/// 256 KiB (also h2's limit for decoding one) to get there.
pub const H2_MAX_FRAME_BYTES: u32 = 64 * 1024;

/// Serves `proxy` on `listener` until `shutdown` resolves, then drains for `grace`.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    proxy: Arc<Proxy>,
    max_header_bytes: usize,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(max_header_bytes.max(8192))
        .timer(hyper_util::rt::TokioTimer::new())
        // A slow client must still send its headers in time; bodies and streams have no limit.
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
        .max_frame_size(H2_MAX_FRAME_BYTES)
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let proxy = proxy.clone();
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let service = service_fn(move |request| {
                        let proxy = proxy.clone();
                        async move { Ok::<_, Infallible>(proxy.handle(request).await) }
                    });
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    if let Err(e) = watcher.watch(connection.into_owned()).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(grace = ?grace, "shutting down: draining connections");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing the remaining connections");
    }
}

/// Serves `/healthz`, `/readyz` and `/metrics` in plain HTTP.
pub async fn serve_ops(
    addr: SocketAddr,
    metrics: Arc<crate::metrics::Metrics>,
    ready: Arc<dyn Fn() -> bool + Send + Sync>,
) -> std::io::Result<()> {
    use http::{Response, StatusCode};
    let listener = TcpListener::bind(addr).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let (metrics, ready) = (metrics.clone(), ready.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let (metrics, ready) = (metrics.clone(), ready.clone());
                async move {
                    let (status, body) = match request.uri().path() {
                        "/healthz" | "/livez" => (StatusCode::OK, "ok".to_owned()),
                        "/readyz" if ready() => (StatusCode::OK, "ok".to_owned()),
                        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "not ready".to_owned()),
                        "/metrics" => (StatusCode::OK, metrics.encode()),
                        _ => (StatusCode::NOT_FOUND, "not found".to_owned()),
                    };
                    let mut response = Response::new(crate::body::full(body));
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}
