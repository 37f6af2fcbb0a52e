//! The server's one error type, and the one place that maps errors to HTTP statuses and the
//! `{"code","message"}` body. Causes stay in `#[source]`; messages are for the client.

use agora_api::ErrorBody;
use warp::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The request is malformed or asks for something impossible; nothing changed.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    Forbidden { message: String },
    #[error("{what} {id} is unknown")]
    NotFound { what: &'static str, code: &'static str, id: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The caller has too many of something at once (log reads), or sends too much (commands
    /// to an agent); it may retry later, after `retry_after` seconds if known.
    #[error("{message}")]
    TooMany { code: &'static str, message: String, retry_after: Option<u64> },
    /// The request body is larger than the server takes.
    #[error("{message}")]
    TooLarge { message: String },
    /// Another part (an agent) did not answer in time.
    #[error("{message}")]
    Timeout { code: &'static str, message: String },
    #[error("I/O error: {context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
    /// A TLS certificate or key that cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The state store did not answer; the client should try again.
    #[error("the state store is unavailable: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl ServerError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ServerError::BadRequest { code, message: message.into() }
    }

    pub fn not_found(what: &'static str, code: &'static str, id: impl std::fmt::Display) -> Self {
        ServerError::NotFound { what, code, id: id.to_string() }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ServerError::Io { context: context.into(), source }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ServerError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ServerError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServerError::Conflict { .. } => StatusCode::CONFLICT,
            ServerError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServerError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ServerError::Io { .. } | ServerError::Internal(_) | ServerError::Tls(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ServerError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ServerError::BadRequest { code, .. }
            | ServerError::Conflict { code, .. }
            | ServerError::TooMany { code, .. }
            | ServerError::Timeout { code, .. } => code,
            ServerError::Unauthorized { .. } => "unauthorized",
            ServerError::TooLarge { .. } => "body_too_large",
            ServerError::Forbidden { .. } => "forbidden",
            ServerError::NotFound { code, .. } => code,
            ServerError::Io { .. } | ServerError::Internal(_) | ServerError::Tls(_) => "internal",
            ServerError::Store(_) => "store_unavailable",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code().to_string(), message: self.to_string() }
    }
}

/// Builds the JSON error response for a status, code and message.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> warp::reply::Response {
    let body = ErrorBody { code: code.to_string(), message: message.to_string() };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

impl warp::Reply for ServerError {
    fn into_response(self) -> warp::reply::Response {
        if self.status().is_server_error() {
            tracing::error!(error = %self, source = ?std::error::Error::source(&self), "request failed");
        }
        let mut response = error_response(self.status(), self.code(), &self.to_string());
        if let ServerError::TooMany { retry_after: Some(secs), .. } = self {
            response.headers_mut().insert(http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

use warp::Reply as _;
