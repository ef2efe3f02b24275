//! Serving the API's connections: HTTP/1.1 and HTTP/2 (ALPN or prior knowledge), TLS when
//! configured, and a graceful end.

use std::sync::Arc;
use std::time::Duration;

use kubenova_control::rest;
use tokio_util::sync::CancellationToken;

/// hyper's HTTP/1.1 and HTTP/2 with the same head limit ([`rest::head`]), so that a long URL or
/// a large head gets 414 or 431 over both, never a reset connection.
fn http_builder() -> hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor> {
    use rest::head::{H2_MAX_FRAME_BYTES, MAX_HEADER_BYTES};
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX))
        .max_frame_size(H2_MAX_FRAME_BYTES);
    builder
}

/// Serves `app` on `listener` (TLS when `tls` is given; HTTP/1.1, HTTP/2 over ALPN or with prior
/// knowledge) until `shutdown`, then lets open connections finish.
pub(super) async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    use hyper_util::rt::TokioIo;
    use tower::ServiceExt as _;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let builder = Arc::new(http_builder());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, say: keep serving the connections we have.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (app, builder, acceptor) = (app.clone(), builder.clone(), acceptor.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    app.clone().oneshot(req.map(axum::body::Body::new))
                });
            match acceptor {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                    else {
                        return;
                    };
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection.into_owned()).await;
                }
                None => {
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection.into_owned()).await;
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
