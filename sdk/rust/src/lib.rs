//! `agora-client`: a typed client for Agora's HTTP API.
//!
//! [`Client`] sends a bearer token on every request, fails over between the replicas of the API
//! tier, checks `https://` servers against a cluster CA and can present a client certificate.
//! It has one method per operation of the OpenAPI document, named by its `operationId`
//! ([`Client::register_framework`], [`Client::accept`], [`Client::list_tasks`], ...), taking and
//! returning the `agora-api` types the server uses. Errors carry the server's `code`
//! ([`ClientError::Api`]). Event streams are Server-Sent Events ([`SseEvent`]), read with
//! `Last-Event-ID` to resume.
//!
//! ```no_run
//! # async fn example() -> Result<(), agora_client::ClientError> {
//! let client = agora_client::Client::new("http://127.0.0.1:5050", "TOKEN")?;
//! let cluster = client.cluster().await?;
//! println!("{} agents", cluster.agents);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

use agora_api::ErrorBody;
use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod operations;
mod subscription;
pub use operations::LogChunk;
pub use subscription::{SubscribeOptions, Subscription};

/// How long to wait for a TCP connection to the master.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default limit on a whole request and answer, except event streams which are unlimited.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Probes a quiet connection so that an event stream to a vanished master fails instead of
/// waiting forever on a half-open socket.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
/// How long an idle pooled connection is kept: under the server's default header timeout.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of an unparseable error body kept in [`ClientError::Api`]'s message.
const MAX_ERROR_TEXT: usize = 512;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not an absolute `http://` or `https://` URL.
    #[error("invalid base URL `{base}`: {reason}")]
    InvalidBase {
        /// The URL as given.
        base: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The request did not complete: connection refused, timeout, broken stream.
    #[error("HTTP request failed: {0}")]
    Http(#[source] reqwest::Error),
    /// The server answered with a non-2xx status.
    #[error("{status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error body's `code` (`unknown_task`, `too_many_commands`, ...), or `http_STATUS`
        /// when the body was not Agora's.
        code: String,
        /// The error body's message.
        message: String,
    },
    /// A streaming request got no answer headers in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A 2xx answer whose body is not the expected JSON.
    #[error("cannot decode the answer: {0}")]
    Decode(#[source] serde_json::Error),
    /// A request body that cannot be written as JSON.
    #[error("cannot encode the request: {0}")]
    Encode(#[source] serde_json::Error),
    /// A CA or client certificate file that cannot be read or used.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// An event stream that is not valid Server-Sent Events.
    #[error("malformed event stream: {0}")]
    Sse(String),
    /// A query that cannot be written into a URL.
    #[error("cannot encode the query: {0}")]
    Query(String),
    /// The server ended an event stream with an `error` event (the framework was torn down,
    /// or a newer connection took over), with its `code` and message.
    #[error("the server ended the stream: {code}: {message}")]
    Ended {
        /// The `error` event's `code`.
        code: String,
        /// The `error` event's message.
        message: String,
    },
}

impl ClientError {
    /// The HTTP status of an API error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error body's `code` of an API error, if the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the server answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether no connection could be made (nothing listens there, or it is unreachable).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Http(e) if e.is_connect())
    }

    /// The innermost cause of a failed request, such as a refused connection or a certificate
    /// that does not check out: what a person needs to fix it.
    pub fn root_cause(&self) -> String {
        let mut cause: &dyn std::error::Error = self;
        while let Some(source) = cause.source() {
            cause = source;
        }
        cause.to_string()
    }

    /// Whether the server took too long to answer.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout(_)) || matches!(self, ClientError::Http(e) if e.is_timeout())
    }
}

/// One Server-Sent Event. `id` is the stream's last event id (empty if the server never sent
/// one); `event` is `message` when the server gave no name.
/// One Server-Sent Event as the stream carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's id, to resume after with `Last-Event-ID`.
    pub id: String,
    /// The event's name (`offers`, `update`, `launch`, ...).
    pub event: String,
    /// Its JSON.
    pub data: String,
}

/// An open event stream, event by event.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<SseEvent, ClientError>> + Send>>;
/// A body read as it arrives.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send>>;

/// How a client checks the server's certificate and proves itself, beyond its token.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// The PEM file of the CA that signed the servers' certificates, as `agora certs create`
    /// writes it. Without it, the system's trusted roots are used.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key (PEM files), for servers that require one.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl TlsOptions {
    /// Applies these options to a client under construction.
    fn apply(&self, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, ClientError> {
        if let Some(ca) = &self.ca {
            let certs = reqwest::Certificate::from_pem_bundle(&read(ca)?)
                .map_err(|e| ClientError::Tls(format!("{}: {e}", ca.display())))?;
            if certs.is_empty() {
                return Err(ClientError::Tls(format!("{}: no PEM certificate in the file", ca.display())));
            }
            // Only the cluster's CA is trusted: a certificate some public CA signed for the
            // same name is not the cluster's server.
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &self.identity {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| ClientError::Tls(format!("{} with {}: {e}", cert.display(), key.display())))?;
            builder = builder.identity(identity);
        }
        Ok(builder)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::Tls(format!("reading {}: {e}", path.display())))
}

/// A client for an Agora cluster: one server, or several replicas of the API tier that it
/// fails over between. Cheap to clone: clones share the connection pool and the choice of
/// replica.
#[derive(Clone)]
pub struct Client {
    bases: Arc<Vec<String>>,
    /// The index in `bases` of the replica requests go to; moved on when it cannot be reached.
    current: Arc<AtomicUsize>,
    token: String,
    http: reqwest::Client,
    request_timeout: Duration,
}

impl fmt::Debug for Client {
    // Written by hand so that the token never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("bases", &self.bases).field("token", &"<redacted>").finish()
    }
}

/// Checks and normalises one base URL: `127.0.0.1:5050` means `http://127.0.0.1:5050`, and a
/// trailing slash is dropped.
fn parse_base(base: &str) -> Result<String, ClientError> {
    let base = base.trim().trim_end_matches('/');
    let base = if base.contains("://") { base.to_string() } else { format!("http://{base}") };
    let invalid = |reason: String| ClientError::InvalidBase { base: base.clone(), reason };
    let url = reqwest::Url::parse(&base).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(format!("scheme `{}` is not supported, use https or http", url.scheme())));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a base URL has no query or fragment".to_string()));
    }
    Ok(base)
}

impl Client {
    /// A client for the server at `base` (such as `http://127.0.0.1:5050`), or for the
    /// replicas at a comma-separated list of such URLs, that sends `token` as a bearer token on
    /// every request. A request that cannot connect to one replica is sent to the next.
    pub fn new(base: &str, token: &str) -> Result<Client, ClientError> {
        Client::with_tls(base, token, &TlsOptions::default())
    }

    /// Like [`Client::new`], checking `https://` servers against `tls.ca` and presenting
    /// `tls.identity` to servers that ask for a client certificate.
    pub fn with_tls(base: &str, token: &str, tls: &TlsOptions) -> Result<Client, ClientError> {
        let bases = base.split(',').filter(|b| !b.trim().is_empty()).map(parse_base).collect::<Result<Vec<_>, _>>()?;
        if bases.is_empty() {
            return Err(ClientError::InvalidBase { base: base.to_string(), reason: "no URL given".to_string() });
        }
        let builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            // The server closes keep-alive connections idle for its header timeout (30 s by
            // default): dropping them sooner here keeps a request off one it is closing.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT);
        let http = tls.apply(builder)?.build().map_err(ClientError::Http)?;
        Ok(Client {
            bases: Arc::new(bases),
            current: Arc::new(AtomicUsize::new(0)),
            token: token.to_string(),
            http,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Replaces the limit on each non-streaming request, and on the wait for a stream's answer
    /// headers (30 s by default).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Client {
        self.request_timeout = timeout;
        self
    }

    /// The base URL requests go to now, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()]
    }

    /// Moves on to the next replica after `failed` could not be reached (unless another
    /// request already did).
    fn fail_over(&self, failed: usize) {
        let next = (failed + 1) % self.bases.len();
        if next != failed && self.current.compare_exchange(failed, next, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            tracing::warn!(from = %self.bases[failed], to = %self.bases[next], "cannot reach the server: trying the next");
        }
    }

    /// Sends the request `build` makes for a base URL, to each replica in turn while they
    /// cannot be reached. A request that never connected never arrived, so sending it again
    /// elsewhere is safe.
    async fn send_to_any(
        &self,
        build: impl Fn(&str) -> Result<RequestBuilder, ClientError>,
        streaming: bool,
    ) -> Result<Response, ClientError> {
        let mut attempt = 0;
        loop {
            let index = self.current.load(Ordering::Relaxed) % self.bases.len();
            let request = build(&self.bases[index])?;
            let sent = if streaming { self.open_stream(request).await } else { self.send(request).await };
            match sent {
                Err(e) if e.is_connect() && attempt + 1 < self.bases.len() => {
                    self.fail_over(index);
                    attempt += 1;
                }
                // Unreachable everywhere, or no answer in time (it may have acted on the
                // request, so it is not sent again): later requests try the next replica.
                Err(e) if e.is_connect() || e.is_timeout() => {
                    self.fail_over(index);
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// GETs `path` and decodes the JSON answer. For operations without a method of their own.
    pub async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        let response = self.send_to_any(|base| Ok(self.request(base, Method::GET, path)), false).await?;
        decode(response).await
    }

    /// POSTs `body` as JSON and decodes the JSON answer.
    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        let response = self.send_to_any(|base| self.json_request(base, Method::POST, path, body), false).await?;
        decode(response).await
    }

    /// PUTs `body` as JSON and decodes the JSON answer.
    pub async fn put<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        let response = self.send_to_any(|base| self.json_request(base, Method::PUT, path, body), false).await?;
        decode(response).await
    }

    /// POSTs `body` and accepts any 2xx answer, ignoring its body.
    pub async fn post_no_content<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<(), ClientError> {
        self.send_to_any(|base| self.json_request(base, Method::POST, path, body), false).await.map(drop)
    }

    /// PUTs `body` as JSON and accepts any 2xx answer, ignoring its body.
    pub async fn put_no_content<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<(), ClientError> {
        self.send_to_any(|base| self.json_request(base, Method::PUT, path, body), false).await.map(drop)
    }

    /// POSTs without a body and accepts any 2xx answer, ignoring its body.
    pub async fn post_empty(&self, path: &str) -> Result<(), ClientError> {
        self.send_to_any(|base| Ok(self.request(base, Method::POST, path)), false).await.map(drop)
    }

    /// POSTs raw bytes as `application/octet-stream` and accepts any 2xx answer.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<(), ClientError> {
        let build = |base: &str| {
            Ok(self
                .request(base, Method::POST, path)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(body.clone()))
        };
        self.send_to_any(build, false).await.map(drop)
    }

    /// DELETEs `path` and decodes the JSON answer.
    pub async fn delete_json<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        let response = self.send_to_any(|base| Ok(self.request(base, Method::DELETE, path)), false).await?;
        decode(response).await
    }

    /// DELETEs `path` and accepts any 2xx answer.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send_to_any(|base| Ok(self.request(base, Method::DELETE, path)), false).await.map(drop)
    }

    /// GETs `path` and yields the answer's body as it arrives, with no overall timeout, for
    /// answers that last as long as their producer (such as a followed task output).
    pub async fn get_stream(&self, path: &str) -> Result<ByteStream, ClientError> {
        let build = |base: &str| Ok(self.http.get(url(base, path)).bearer_auth(&self.token));
        let response = self.send_to_any(build, true).await?;
        Ok(Box::pin(response.bytes_stream().map(|chunk| chunk.map_err(ClientError::Http))))
    }

    /// GETs `path` and returns the raw body with the answer's headers, for answers that are
    /// bytes rather than JSON (task logs).
    pub async fn get_bytes(&self, path: &str) -> Result<(bytes::Bytes, reqwest::header::HeaderMap), ClientError> {
        let response = self.send_to_any(|base| Ok(self.request(base, Method::GET, path)), false).await?;
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(ClientError::Http)?;
        Ok((body, headers))
    }

    /// Opens an SSE stream; yields events in order. Does not reconnect by itself: when the
    /// stream ends or fails, open a new one with the last id seen.
    pub async fn events(&self, path: &str, last_event_id: Option<&str>) -> Result<EventStream, ClientError> {
        // No overall timeout here: the stream is meant to stay open for hours.
        let build = |base: &str| {
            let mut request = self
                .http
                .get(url(base, path))
                .bearer_auth(&self.token)
                .header(ACCEPT, "text/event-stream")
                .header(CACHE_CONTROL, "no-cache");
            if let Some(id) = last_event_id {
                request = request.header("Last-Event-ID", id);
            }
            Ok(request)
        };
        let response = self.send_to_any(build, true).await?;
        Ok(Box::pin(read_events(response.bytes_stream())))
    }

    fn request(&self, base: &str, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, url(base, path)).bearer_auth(&self.token).timeout(self.request_timeout)
    }

    fn json_request<B: Serialize + ?Sized>(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<RequestBuilder, ClientError> {
        // Serialised here rather than by reqwest so that an encoding failure has its own variant.
        let bytes = serde_json::to_vec(body).map_err(ClientError::Encode)?;
        Ok(self.request(base, method, path).header(CONTENT_TYPE, "application/json").body(bytes))
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        check(request.send().await.map_err(ClientError::Http)?).await
    }

    /// Sends a request whose body may last forever: only the wait for the answer's headers is
    /// limited, so that a server that accepts but never answers does not hang the caller.
    async fn open_stream(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        match tokio::time::timeout(self.request_timeout, request.send()).await {
            Ok(sent) => check(sent.map_err(ClientError::Http)?).await,
            Err(_) => Err(ClientError::Timeout(self.request_timeout)),
        }
    }
}

/// Reads Server-Sent Events from a body that arrives in chunks, split anywhere.
pub fn read_events<S, B, E>(body: S) -> impl Stream<Item = Result<SseEvent, ClientError>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<ClientError>,
{
    body.eventsource().map(|item| match item {
        Ok(event) => Ok(SseEvent { id: event.id, event: event.event, data: event.data }),
        Err(EventStreamError::Transport(e)) => Err(e.into()),
        Err(EventStreamError::Utf8(e)) => Err(ClientError::Sse(e.to_string())),
        Err(EventStreamError::Parser(e)) => Err(ClientError::Sse(e.to_string())),
    })
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Http(e)
    }
}

impl From<std::convert::Infallible> for ClientError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

fn url(base: &str, path: &str) -> String {
    if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// Passes 2xx answers through and turns the rest into [`ClientError::Api`].
async fn check(response: Response) -> Result<Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    // The body is read only to explain the error; if it cannot be read, the status still does.
    let text = response.text().await.unwrap_or_default();
    Err(api_error(status, &text))
}

fn api_error(status: StatusCode, text: &str) -> ClientError {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => ClientError::Api { status: status.as_u16(), code: body.code, message: body.message },
        Err(_) => {
            let mut message = text.trim().to_string();
            if message.is_empty() {
                message = status.canonical_reason().unwrap_or("no reason given").to_string();
            }
            if message.len() > MAX_ERROR_TEXT {
                let mut end = MAX_ERROR_TEXT;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
            }
            ClientError::Api { status: status.as_u16(), code: format!("http_{}", status.as_u16()), message }
        }
    }
}

async fn decode<R: DeserializeOwned>(response: Response) -> Result<R, ClientError> {
    let bytes = response.bytes().await.map_err(ClientError::Http)?;
    serde_json::from_slice(&bytes).map_err(ClientError::Decode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_checked_and_trimmed() {
        let client = Client::new("http://127.0.0.1:5050/", "secret").expect("valid base");
        assert_eq!(client.base(), "http://127.0.0.1:5050");
        assert_eq!(url(client.base(), "/v1/agents"), "http://127.0.0.1:5050/v1/agents");
        assert_eq!(url(client.base(), "v1/agents"), "http://127.0.0.1:5050/v1/agents");
        assert_eq!(Client::new("127.0.0.1:5050", "t").expect("no scheme means http").base(), "http://127.0.0.1:5050");
        assert!(matches!(Client::new("http://bad host", "t"), Err(ClientError::InvalidBase { .. })));
        assert_eq!(Client::new("https://master:5050/", "t").expect("https").base(), "https://master:5050");
        assert!(matches!(Client::new("ftp://master", "t"), Err(ClientError::InvalidBase { .. })));
        let missing = TlsOptions { ca: Some("/nonexistent/ca.pem".into()), identity: None };
        assert!(matches!(Client::with_tls("https://master", "t", &missing), Err(ClientError::Tls(_))));
        assert!(!format!("{client:?}").contains("secret"));
    }

    #[tokio::test]
    async fn requests_fail_over_to_the_next_replica_that_answers() {
        // The first address has nothing listening; the second answers every request with 204.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let dead = format!("http://{}", closed.local_addr().expect("address"));
        drop(closed);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let live = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
            }
        });
        let client = Client::new(&format!("{dead}, {live}/"), "t").expect("client");
        assert_eq!(client.base(), dead);
        client.post_empty("/v1/agents/a/heartbeat").await.expect("the second replica answers");
        assert_eq!(client.base(), live, "later requests go straight to the replica that answered");
        assert!(matches!(Client::new(" , ", "t"), Err(ClientError::InvalidBase { .. })));
    }

    #[tokio::test]
    async fn a_stream_that_never_answers_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        // Accepts and holds the connection without ever answering.
        let server = tokio::spawn(async move { listener.accept().await.map(|(socket, _)| socket) });
        let client = Client::new(&base, "t").expect("client").with_request_timeout(Duration::from_millis(200));
        let opened = client.events("/v1/agents/a/commands", Some("7")).await;
        assert!(matches!(opened, Err(ClientError::Timeout(_))));
        drop(server);
    }

    #[test]
    fn error_bodies_become_api_errors() {
        let e = api_error(StatusCode::NOT_FOUND, r#"{"code":"unknown_agent","message":"no such agent"}"#);
        assert!(e.is_not_found());
        assert!(matches!(e, ClientError::Api { ref code, .. } if code == "unknown_agent"));
        let e = api_error(StatusCode::BAD_GATEWAY, "");
        assert!(matches!(e, ClientError::Api { status: 502, ref message, .. } if message == "Bad Gateway"));
    }
}
