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
use warp::Reply as _;

/// The body every answer has: warp's, or a followed log stream.
pub type Body = http_body_util::combinators::BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How long a shutdown waits for requests in flight once streams have been told to end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client has to finish the TLS handshake: a connection that stalls is dropped
/// rather than held.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server does against floods, before any token is checked.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// How long a client has to send a request's headers, from the moment the connection is
    /// ready for one: a client sending a byte at a time (slowloris) is cut off, and so is a
    /// keep-alive connection idle this long. Streams being answered are not affected.
    pub header_timeout: Duration,
    /// Connections one client address (an IPv6 /64) may hold at once; 0 for no limit.
    pub max_connections_per_address: usize,
    /// Proxies whose `X-Forwarded-For` names the client, for the rate limiter.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A bearer token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            header_timeout: Duration::from_secs(30),
            max_connections_per_address: 1024,
            trusted_proxies: Vec::new(),
            metrics_token: None,
        }
    }
}

/// Connections open per client address, so that one address cannot take them all.
#[derive(Default)]
pub struct ConnectionCounts {
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One open connection of an address; it counts until dropped.
pub struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    address: std::net::IpAddr,
}

impl ConnectionCounts {
    /// Counts a new connection of `address`, or `None` if it already holds `max` (0: no limit).
    pub fn open(self: &Arc<Self>, address: std::net::IpAddr, max: usize) -> Option<ConnectionSlot> {
        let address = crate::ratelimit::client_key(address);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_insert(0);
        if max > 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(ConnectionSlot { counts: self.clone(), address })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Accepts connections until `shutdown` resolves, then ends streams and waits (bounded) for
/// requests in flight. With `tls`, every connection must complete a TLS handshake first.
pub async fn run(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    ctx: Arc<Ctx>,
    shutdown: impl Future<Output = ()>,
    stop_streams: impl FnOnce(),
) {
    let counts = Arc::new(ConnectionCounts::default());
    let header_timeout = ctx.edge.header_timeout;
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
        let Some(slot) = counts.open(peer.ip(), ctx.edge.max_connections_per_address) else {
            tracing::debug!(%peer, "too many connections from this address; closing the new one");
            continue;
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
        let service = move |client: Option<Arc<Vec<String>>>| {
            hyper::service::service_fn(move |request| -> Pin<Box<dyn Future<Output = _> + Send>> {
                Box::pin(dispatch(ctx.clone(), routes.clone(), address, client.clone(), request))
            })
        };
        let watcher = graceful.watcher();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
        // The handshake runs in the connection's own task, so a slow client delays no other.
        // Plain and TLS connections are separate tasks so that a plain one does not carry
        // room for TLS state.
        match tls.clone() {
            None => {
                let connection = watcher.watch(builder.serve_connection(TokioIo::new(stream), service(None)));
                tokio::spawn(async move {
                    log_end(connection.await);
                    drop(slot);
                });
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    // Who the client certificate (with --client-ca) says the client is.
                    let names = stream.get_ref().1.peer_certificates().and_then(|certs| certs.first());
                    let client = names.map(|cert| Arc::new(crate::tls::certificate_names(cert.as_ref())));
                    log_end(watcher.watch(builder.serve_connection(TokioIo::new(stream), service(client))).await);
                    drop(slot);
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
    client: Option<Arc<Vec<String>>>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible>
where
    S: tower_service::Service<hyper::Request<Incoming>, Response = warp::reply::Response, Error = Infallible>,
{
    let boxed = |response: warp::reply::Response| {
        response.map(|body| body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed())
    };
    let address = crate::ratelimit::client_address(address, request.headers(), &ctx.edge.trusted_proxies);
    // An address that keeps failing authentication is turned away before any token is checked.
    if let Err(wait) = ctx.auth_failures.check(address) {
        return Ok(boxed(too_many_failures(wait)));
    }
    // With mutual TLS, an agent token goes only with its own agent's certificate: a token
    // stolen off one machine is useless from another machine's certificate too.
    if let Some(names) = &client {
        let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        if let Ok(claims) = ctx.keys.verify_header(header) {
            if claims.kind == crate::Kind::Agent && !names.iter().any(|n| n == &claims.sub) {
                let message = format!(
                    "the client certificate names {}, not the token's agent principal {}",
                    names.join(", "),
                    claims.sub
                );
                return Ok(boxed(crate::error::ServerError::Forbidden { message }.into_response()));
            }
        }
    }
    // A request with a body is authenticated before the body is read: a stranger's upload is
    // refused at its headers and never buffered. (Every route that takes a body needs a token.)
    if !matches!(*request.method(), hyper::Method::GET | hyper::Method::HEAD | hyper::Method::OPTIONS) {
        let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
        if let Err(e) = ctx.keys.verify_header(header) {
            ctx.auth_failures.failed(address);
            let mut response = e.into_response();
            // The body is not read: the connection cannot carry another request.
            response.headers_mut().insert("connection", hyper::header::HeaderValue::from_static("close"));
            return Ok(boxed(response));
        }
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
