//! The HTTP server loop: hyper connections on a listener, with graceful shutdown. Requests go to
//! the warp routes, except the one answer warp cannot give: a task's output followed as it is
//! written (`GET /v1/tasks/{id}/logs?follow=true`), which streams a body of its own. TLS, when
//! configured, is terminated here with tokio-rustls (warp 0.4 has none).

use crate::http::{self, Ctx};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The body every answer has: warp's, or a followed log stream.
pub type Body = http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How long a shutdown waits for requests in flight once streams have been told to end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client has to finish the TLS handshake: a connection that stalls is dropped
/// rather than held.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` resolves, then ends streams and waits (bounded) for
/// requests in flight. With `tls`, every connection must complete a TLS handshake first.
pub async fn run(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    ctx: Arc<Ctx>,
    shutdown: impl Future<Output = ()>,
    stop_streams: impl FnOnce(),
) {
    let routes = warp::service(http::routes(ctx.clone()));
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Events and answers are small writes: without this, Nagle's algorithm holds the second
        // of two back-to-back writes until the client's delayed ACK, about 40 ms later.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let ctx = ctx.clone();
        let routes = routes.clone();
        let address = peer.ip();
        // hyper keeps room for one request's future for the connection's whole life: boxed,
        // that room is a pointer, and the future itself is freed once the answer starts. An
        // idle event stream then costs about 3 KB less.
        let service = hyper::service::service_fn(move |request| -> Pin<Box<dyn Future<Output = _> + Send>> {
            Box::pin(dispatch(ctx.clone(), routes.clone(), address, request))
        });
        let watcher = graceful.watcher();
        let builder = hyper::server::conn::http1::Builder::new();
        // The handshake runs in the connection's own task, so a slow client delays no other.
        // Plain and TLS connections are separate tasks so that a plain one does not carry
        // room for TLS state.
        match tls.clone() {
            None => {
                let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move { log_end(connection.await) });
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    log_end(watcher.watch(builder.serve_connection(TokioIo::new(stream), service)).await)
                });
            }
        }
    }
    drop(listener);
    stop_streams();
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after the drain timeout were cut");
    }
}

fn log_end(served: Result<(), hyper::Error>) {
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn dispatch<S>(
    ctx: Arc<Ctx>,
    mut routes: S,
    address: std::net::IpAddr,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible>
where
    S: tower_service::Service<hyper::Request<Incoming>, Response = warp::reply::Response, Error = Infallible>,
{
    let boxed = |response: warp::reply::Response| {
        response.map(|body| body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed())
    };
    // An address that keeps failing authentication is turned away before any token is checked.
    if let Err(wait) = ctx.auth_failures.check(address) {
        return Ok(boxed(too_many_failures(wait)));
    }
    let response = match http::follow_logs(&ctx, &request) {
        Some(response) => response.await,
        None => match routes.call(request).await {
            Ok(response) => boxed(response),
            Err(never) => match never {},
        },
    };
    if response.status() == hyper::StatusCode::UNAUTHORIZED {
        ctx.auth_failures.failed(address);
    }
    Ok(response)
}

fn too_many_failures(wait_secs: f64) -> warp::reply::Response {
    let message = format!("too many failed authentications from this address; retry in {wait_secs:.1} s");
    let mut response =
        crate::error::error_response(hyper::StatusCode::TOO_MANY_REQUESTS, "too_many_auth_failures", &message);
    let retry_after = (wait_secs.ceil() as u64).max(1);
    response.headers_mut().insert("retry-after", retry_after.into());
    response
}
