//! The HTTP server loop: hyper connections on a listener, with graceful shutdown. Requests go to
//! the warp routes, except the one answer warp cannot give: a task's output followed as it is
//! written (`GET /v1/tasks/{id}/logs?follow=true`), which streams a body of its own.

use crate::http::{self, Ctx};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The body every answer has: warp's, or a followed log stream.
pub type Body = http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How long a shutdown waits for requests in flight once streams have been told to end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` resolves, then ends streams and waits (bounded) for
/// requests in flight.
pub async fn run(
    listener: tokio::net::TcpListener,
    ctx: Arc<Ctx>,
    shutdown: impl Future<Output = ()>,
    stop_streams: impl FnOnce(),
) {
    let routes = warp::service(http::routes(ctx.clone()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let ctx = ctx.clone();
        let routes = routes.clone();
        let service = hyper::service::service_fn(move |request| dispatch(ctx.clone(), routes.clone(), request));
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop_streams();
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight after the drain timeout were cut");
    }
}

async fn dispatch<S>(
    ctx: Arc<Ctx>,
    mut routes: S,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible>
where
    S: tower_service::Service<hyper::Request<Incoming>, Response = warp::reply::Response, Error = Infallible>,
{
    if let Some(response) = http::follow_logs(&ctx, &request) {
        return Ok(response.await);
    }
    let response = match routes.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(response.map(|body| body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed()))
}
