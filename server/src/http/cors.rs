//! Cross-origin requests from web pages on the origins an operator allows (`--cors-origins`).
//! A browser asks first (a preflight `OPTIONS`) before any request that carries a bearer token,
//! and hands a page an answer only if the answer names the page's origin. With no origin
//! allowed (the default) nothing changes: `OPTIONS` is a 405 like any method a path lacks.
//!
//! Tokens travel in the `Authorization` header, never in cookies, so an allowed origin gets
//! nothing a page could not already send with a token it holds.

use super::router::Router;
use super::Response;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

/// The request headers a page may send: the token, the JSON body's type, and the id an event
/// stream resumes after.
const ALLOWED_HEADERS: &str = "authorization, content-type, last-event-id";
/// How long a browser may reuse a preflight's answer, in seconds.
const MAX_AGE_SECS: &str = "600";

/// The allowed origins: `scheme://host[:port]` each, or `*` for any.
#[derive(Clone, Debug, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Checks each origin: `*`, or a scheme, a host and an optional port, without a path.
    pub fn new(origins: Vec<String>) -> Result<Cors, String> {
        for origin in &origins {
            if origin != "*" && !is_origin(origin) {
                return Err(format!("`{origin}` is not an origin: give scheme://host[:port], or *"));
            }
        }
        Ok(Cors { origins })
    }

    /// The request's origin, when it is one this server answers.
    fn allowed<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?;
        self.origins.iter().any(|o| o == "*" || o.eq_ignore_ascii_case(text)).then_some(origin)
    }

    /// The request's `Origin`, kept only when some origin is allowed (the answer needs it).
    pub fn origin_of(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        if self.origins.is_empty() {
            return None;
        }
        headers.get(header::ORIGIN).cloned()
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`), or `None`
    /// when the request is not one or no origin is allowed at all.
    pub fn preflight(&self, router: &Router, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
        if self.origins.is_empty()
            || method != Method::OPTIONS
            || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let Some(origin) = self.allowed(headers.get(header::ORIGIN)) else {
            return Some(super::error_reply(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "this origin may not call the API from a browser (see the server's --cors-origins)",
            ));
        };
        let Some(methods) = router.methods_of(path) else {
            return Some(super::error_reply(StatusCode::NOT_FOUND, "not_found", "no such path"));
        };
        let mut response = super::from_warp(warp::Reply::into_response(StatusCode::NO_CONTENT));
        let answer = response.headers_mut();
        answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if let Ok(methods) = HeaderValue::from_str(&methods.join(", ")) {
            answer.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        answer.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
        answer.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        answer.insert(header::VARY, HeaderValue::from_static("origin"));
        Some(response)
    }

    /// Lets the page of an allowed origin read `response` (and its `Retry-After`).
    pub fn allow_reading(&self, origin: Option<&HeaderValue>, response: &mut Response) {
        if let Some(origin) = self.allowed(origin) {
            let answer = response.headers_mut();
            answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            answer.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("retry-after"));
            answer.append(header::VARY, HeaderValue::from_static("origin"));
        }
    }
}

/// `scheme://host[:port]`: what a browser sends as `Origin`.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else { return false };
    let host = rest.rsplit_once(':').map_or(rest, |(host, port)| if port.parse::<u16>().is_ok() { host } else { rest });
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        for good in ["https://ui.example.com", "http://127.0.0.1:8080", "http://[::1]:3000", "*"] {
            assert!(Cors::new(vec![good.to_string()]).is_ok(), "{good}");
        }
        for bad in ["ui.example.com", "https://ui.example.com/", "https://", "ftp://x", "https://a/b"] {
            assert!(Cors::new(vec![bad.to_string()]).is_err(), "{bad}");
        }
    }
}
