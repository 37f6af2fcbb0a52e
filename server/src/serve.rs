//! The HTTP server loop: hyper connections on a listener, with graceful shutdown. Requests go to
//! the router of [`crate::http`]. TLS, when configured, is terminated here with tokio-rustls.

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

/// The body every answer has: whole, or a stream (events, a followed log).
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
    /// Proxies whose `X-Forwarded-For` (or PROXY header) names the client, for the limits on
    /// addresses. Their own connections are not counted against an address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Connections from `trusted_proxies` begin with a PROXY protocol header (v1 or v2).
    pub proxy_protocol: bool,
    /// A bearer token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
    /// The web origins whose pages may call the API (`--cors-origins`); none by default.
    pub cors: crate::http::cors::Cors,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            header_timeout: Duration::from_secs(30),
            max_connections_per_address: 1024,
            trusted_proxies: Vec::new(),
            proxy_protocol: false,
            metrics_token: None,
            cors: Default::default(),
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
    let router = Arc::new(http::router());
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
        // A proxy's connections carry many clients: they are counted by the client a PROXY
        // header names, or not at all.
        let proxied = ctx.edge.trusted_proxies.iter().any(|net| net.contains(&peer.ip()));
        let slot = if proxied {
            None
        } else {
            let Some(slot) = counts.open(peer.ip(), ctx.edge.max_connections_per_address) else {
                tracing::debug!(%peer, "too many connections from this address; closing the new one");
                continue;
            };
            Some(slot)
        };
        // Events and answers are small writes: without this, Nagle's algorithm holds the second
        // of two back-to-back writes until the client's delayed ACK, about 40 ms later.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let ctx_ = ctx.clone();
        let router = router.clone();
        // hyper keeps room for one request's future for the connection's whole life: boxed,
        // that room is a pointer, and the future itself is freed once the answer starts. An
        // idle event stream then costs about 3 KB less.
        let service = move |address: std::net::IpAddr, client: Option<Arc<Vec<String>>>| {
            let (ctx, router) = (ctx_.clone(), router.clone());
            hyper::service::service_fn(move |request| -> Pin<Box<dyn Future<Output = _> + Send>> {
                Box::pin(dispatch(ctx.clone(), router.clone(), address, client.clone(), request))
            })
        };
        let watcher = graceful.watcher();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout);
        let read_proxy_header = proxied && ctx.edge.proxy_protocol;
        let (counts, max) = (counts.clone(), ctx.edge.max_connections_per_address);
        // The handshake runs in the connection's own task, so a slow client delays no other.
        // A plain connection without a PROXY header (the common case) is a task of its own so
        // that it does not carry room for the rest.
        match tls.clone() {
            None if !read_proxy_header => {
                let connection =
                    watcher.watch(builder.serve_connection(TokioIo::new(stream), service(peer.ip(), None)));
                tokio::spawn(async move {
                    log_end(connection.await);
                    drop(slot);
                });
            }
            tls => {
                tokio::spawn(async move {
                    let mut stream = stream;
                    let (address, slot) = if read_proxy_header {
                        let Some((address, slot)) = proxied_client(&mut stream, peer, &counts, max).await else {
                            return;
                        };
                        (address, Some(slot))
                    } else {
                        (peer.ip(), slot)
                    };
                    let Some(acceptor) = tls else {
                        let connection = builder.serve_connection(TokioIo::new(stream), service(address, None));
                        return log_end(watcher.watch(connection).await);
                    };
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    // Who the client certificate (with --client-ca) says the client is.
                    let names = stream.get_ref().1.peer_certificates().and_then(|certs| certs.first());
                    let client = names.map(|cert| Arc::new(crate::tls::certificate_names(cert.as_ref())));
                    let connection = builder.serve_connection(TokioIo::new(stream), service(address, client));
                    log_end(watcher.watch(connection).await);
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

/// The client a proxy's connection carries, from its PROXY header (read within the handshake's
/// time limit), and its place among that address's connections; `None` closes the connection.
async fn proxied_client(
    stream: &mut tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    counts: &Arc<ConnectionCounts>,
    max: usize,
) -> Option<(std::net::IpAddr, ConnectionSlot)> {
    let read = crate::proxy_protocol::read_client_address(stream, peer.ip());
    let address = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read).await {
        Ok(Ok(address)) => address,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "closing a proxy's connection");
            return None;
        }
        Err(_) => {
            tracing::debug!(%peer, "a proxy's connection sent no PROXY header in time");
            return None;
        }
    };
    let slot = counts.open(address, max);
    if slot.is_none() {
        tracing::debug!(%peer, %address, "too many connections from this address; closing the new one");
    }
    Some((address, slot?))
}

fn log_end(served: Result<(), hyper::Error>) {
    if let Err(e) = served {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn dispatch(
    ctx: Arc<Ctx>,
    router: Arc<http::router::Router>,
    address: std::net::IpAddr,
    client: Option<Arc<Vec<String>>>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let cors = &ctx.edge.cors;
    if let Some(preflight) = cors.preflight(&router, request.method(), request.uri().path(), request.headers()) {
        return Ok(preflight);
    }
    let origin = cors.origin_of(request.headers());
    let mut response = answer(ctx.clone(), router, address, client, request).await;
    cors.allow_reading(origin.as_ref(), &mut response);
    Ok(response)
}

/// The answer to one request, its limits and checks before the router's.
async fn answer(
    ctx: Arc<Ctx>,
    router: Arc<http::router::Router>,
    address: std::net::IpAddr,
    client: Option<Arc<Vec<String>>>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Body> {
    let boxed = |response: warp::reply::Response| {
        response.map(|body| body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed())
    };
    let address = crate::ratelimit::client_address(address, request.headers(), &ctx.edge.trusted_proxies);
    // An address that keeps failing authentication is turned away before any token is checked.
    if let Err(wait) = ctx.auth_failures.check(address) {
        return boxed(too_many_failures(wait));
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
                return boxed(crate::error::ServerError::Forbidden { message }.into_response());
            }
        }
    }
    let response = router.serve(ctx.clone(), address, request).await;
    if response.status() == hyper::StatusCode::UNAUTHORIZED {
        ctx.auth_failures.failed(address);
    }
    response
}

fn too_many_failures(wait_secs: f64) -> warp::reply::Response {
    let message = format!("too many failed authentications from this address; retry in {wait_secs:.1} s");
    let mut response =
        crate::error::error_response(hyper::StatusCode::TOO_MANY_REQUESTS, "too_many_auth_failures", &message);
    let retry_after = (wait_secs.ceil() as u64).max(1);
    response.headers_mut().insert("retry-after", retry_after.into());
    response
}
