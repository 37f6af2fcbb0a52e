//! A small HTTP client for Agora's JSON API: bearer authentication, `{"code","message"}` error
//! bodies, and Server-Sent Events streams. Shared by the agent, the CLI and integration tests.

use agora_api::ErrorBody;
use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::pin::Pin;
use std::time::Duration;

/// How long to wait for a TCP connection to the master.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default limit on a whole request and answer, except event streams which are unlimited.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Probes a quiet connection so that an event stream to a vanished master fails instead of
/// waiting forever on a half-open socket.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);
/// The most of an unparseable error body kept in [`ClientError::Api`]'s message.
const MAX_ERROR_TEXT: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not an absolute `http://` URL.
    #[error("invalid base URL `{base}`: {reason}")]
    InvalidBase { base: String, reason: String },
    /// The request did not complete: connection refused, timeout, broken stream.
    #[error("HTTP request failed: {0}")]
    Http(#[source] reqwest::Error),
    /// The server answered with a non-2xx status.
    #[error("{status} {code}: {message}")]
    Api { status: u16, code: String, message: String },
    /// A streaming request got no answer headers in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A 2xx answer whose body is not the expected JSON.
    #[error("cannot decode the answer: {0}")]
    Decode(#[source] serde_json::Error),
    /// A request body that cannot be written as JSON.
    #[error("cannot encode the request: {0}")]
    Encode(#[source] serde_json::Error),
    /// An event stream that is not valid Server-Sent Events.
    #[error("malformed event stream: {0}")]
    Sse(String),
}

impl ClientError {
    /// The HTTP status of an API error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether no connection could be made (nothing listens there, or it is unreachable).
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Http(e) if e.is_connect())
    }
}

/// One Server-Sent Event. `id` is the stream's last event id (empty if the server never sent
/// one); `event` is `message` when the server gave no name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub id: String,
    pub event: String,
    pub data: String,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<SseEvent, ClientError>> + Send>>;
/// A body read as it arrives.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ClientError>> + Send>>;

/// A client for one Agora server. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    request_timeout: Duration,
}

impl fmt::Debug for Client {
    // Written by hand so that the token never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("token", &"<redacted>").finish()
    }
}

impl Client {
    /// A client for the server at `base` (such as `http://127.0.0.1:5050`; a trailing slash is
    /// dropped) that sends `token` as a bearer token on every request.
    pub fn new(base: &str, token: &str) -> Result<Client, ClientError> {
        let base = base.trim_end_matches('/');
        // `127.0.0.1:5050` means `http://127.0.0.1:5050`.
        let with_scheme;
        let base = if base.contains("://") {
            base
        } else {
            with_scheme = format!("http://{base}");
            with_scheme.as_str()
        };
        let invalid = |reason: String| ClientError::InvalidBase { base: base.to_string(), reason };
        let url = reqwest::Url::parse(base).map_err(|e| invalid(e.to_string()))?;
        // Built without TLS support for now, so refuse https up front rather than at every call.
        if url.scheme() != "http" {
            return Err(invalid(format!("scheme `{}` is not supported, use http", url.scheme())));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a base URL has no query or fragment".to_string()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .build()
            .map_err(ClientError::Http)?;
        Ok(Client { base: base.to_string(), token: token.to_string(), http, request_timeout: DEFAULT_REQUEST_TIMEOUT })
    }

    /// Replaces the limit on each non-streaming request, and on the wait for a stream's answer
    /// headers (30 s by default).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Client {
        self.request_timeout = timeout;
        self
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        let response = self.send(self.request(Method::GET, path)).await?;
        decode(response).await
    }

    pub async fn post<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        let response = self.send(self.json_request(Method::POST, path, body)?).await?;
        decode(response).await
    }

    /// POSTs `body` and accepts any 2xx answer, ignoring its body.
    pub async fn post_no_content<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<(), ClientError> {
        self.send(self.json_request(Method::POST, path, body)?).await.map(drop)
    }

    /// POSTs without a body and accepts any 2xx answer, ignoring its body.
    pub async fn post_empty(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::POST, path)).await.map(drop)
    }

    /// POSTs raw bytes as `application/octet-stream` and accepts any 2xx answer.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<(), ClientError> {
        let request = self.request(Method::POST, path).header(CONTENT_TYPE, "application/octet-stream").body(body);
        self.send(request).await.map(drop)
    }

    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, path)).await.map(drop)
    }

    /// GETs `path` and yields the answer's body as it arrives, with no overall timeout, for
    /// answers that last as long as their producer (such as a followed task output).
    pub async fn get_stream(&self, path: &str) -> Result<ByteStream, ClientError> {
        let request = self.http.get(self.url(path)).bearer_auth(&self.token);
        let response = self.open_stream(request).await?;
        Ok(Box::pin(response.bytes_stream().map(|chunk| chunk.map_err(ClientError::Http))))
    }

    /// GETs `path` and returns the raw body with the answer's headers, for answers that are
    /// bytes rather than JSON (task logs).
    pub async fn get_bytes(&self, path: &str) -> Result<(bytes::Bytes, reqwest::header::HeaderMap), ClientError> {
        let response = self.send(self.request(Method::GET, path)).await?;
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(ClientError::Http)?;
        Ok((body, headers))
    }

    /// Opens an SSE stream; yields events in order. Does not reconnect by itself: when the
    /// stream ends or fails, open a new one with the last id seen.
    pub async fn events(&self, path: &str, last_event_id: Option<&str>) -> Result<EventStream, ClientError> {
        // No overall timeout here: the stream is meant to stay open for hours.
        let mut request = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = self.open_stream(request).await?;
        let events = response.bytes_stream().eventsource().map(|item| match item {
            Ok(event) => Ok(SseEvent { id: event.id, event: event.event, data: event.data }),
            Err(EventStreamError::Transport(e)) => Err(ClientError::Http(e)),
            Err(e) => Err(ClientError::Sse(e.to_string())),
        });
        Ok(Box::pin(events))
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.token).timeout(self.request_timeout)
    }

    fn json_request<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<RequestBuilder, ClientError> {
        // Serialised here rather than by reqwest so that an encoding failure has its own variant.
        let bytes = serde_json::to_vec(body).map_err(ClientError::Encode)?;
        Ok(self.request(method, path).header(CONTENT_TYPE, "application/json").body(bytes))
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
        assert_eq!(client.url("/v1/agents"), "http://127.0.0.1:5050/v1/agents");
        assert_eq!(client.url("v1/agents"), "http://127.0.0.1:5050/v1/agents");
        assert_eq!(Client::new("127.0.0.1:5050", "t").expect("no scheme means http").base(), "http://127.0.0.1:5050");
        assert!(matches!(Client::new("http://bad host", "t"), Err(ClientError::InvalidBase { .. })));
        assert!(matches!(Client::new("https://master", "t"), Err(ClientError::InvalidBase { .. })));
        assert!(!format!("{client:?}").contains("secret"));
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
