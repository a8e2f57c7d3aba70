//! Accepting connections with bounds a slow or hostile client cannot get around: at most
//! [`ConnectionLimits::max_connections`] open at once per server (more wait in the kernel's
//! backlog), and a connection that takes longer than [`ConnectionLimits::idle_timeout`] to send
//! a request's headers, or sits idle that long between requests, is closed. Request bodies
//! have their own deadline ([`crate::http::read_body`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Per-server connection bounds.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    /// Longest wait for a request's headers, including the wait for the next request on an
    /// idle keep-alive connection.
    pub idle_timeout: Duration,
    /// Longest time to receive a request's body.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `router` on `listener` until `stop` completes, then waits for open requests.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper starts this timer whenever it waits for a request head, idle or not.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    let service = TowerToHyperService::new(router);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            permit = permits.clone().acquire_owned() => {
                let permit = permit.expect("the semaphore is never closed");
                tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => accepted.map(|(stream, _)| (stream, permit)),
                }
            }
        };
        let (stream, permit) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors (EMFILE) or an aborted handshake: back off briefly
                // instead of spinning on the error.
                tracing::warn!("accepting a connection: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service.clone())
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
}
