//! The one list of routes: each operation's method, path, `operationId` and handler. The router
//! matches a request's path (with `matchit`, on the document's own path templates), admits its
//! caller by the operation's rule in [`crate::master::policy`], reads its body, and calls the
//! handler. The OpenAPI test compares this list with the document, both ways.

use super::{Ctx, Reply_, Response, MAX_BODY_BYTES};
use crate::error::ServerError;
use crate::master::policy::{self, Caller, Rule};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{HeaderMap, Method};
use http_body_util::BodyExt as _;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;

type Handler = Box<dyn Fn(Arc<Ctx>, Call) -> BoxFuture<'static, Reply_> + Send + Sync>;

/// One operation of the API.
pub struct Route {
    pub method: Method,
    /// As the router matches it: the document's template, where a last parameter written
    /// `{*name}` takes the rest of the path, slashes included.
    pub path: &'static str,
    pub operation: &'static str,
    rule: Rule,
    handler: Handler,
}

impl Route {
    /// The path as the OpenAPI document writes it.
    pub fn documented_path(&self) -> String {
        self.path.replace("{*", "{")
    }
}

/// A route for `method` on `path`, served by `handler`. Panics if the operation has no rule in
/// the policy: a server must not start with an operation nobody decided about (the tests start
/// one, so such a route cannot land).
pub(super) fn route<F, Fut>(method: Method, path: &'static str, operation: &'static str, handler: F) -> Route
where
    F: Fn(Arc<Ctx>, Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply_> + Send + 'static,
{
    let rule = policy::rule(operation).unwrap_or_else(|| panic!("operation {operation} has no rule in the policy"));
    Route { method, path, operation, rule, handler: Box::new(move |ctx, call| Box::pin(handler(ctx, call))) }
}

/// What a handler gets: who calls, the path's parameters, the query, the headers and the body.
pub struct Call {
    caller: Option<Caller>,
    params: Vec<(String, String)>,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Call {
    /// Who calls: every operation that is not public has one.
    pub fn caller(&self) -> Result<&Caller, ServerError> {
        self.caller.as_ref().ok_or_else(|| ServerError::Internal("a public operation asked for its caller".into()))
    }

    /// A path parameter, by its name in the path template.
    pub fn param<T: std::str::FromStr>(&self, name: &str) -> Result<T, ServerError> {
        let value = self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let value = value.ok_or_else(|| ServerError::Internal(format!("the route has no parameter {name}")))?;
        value.parse().map_err(|_| ServerError::bad("invalid_path", format!("{name} is not valid")))
    }

    /// A header's value; a value that is not text is a 400.
    pub fn header(&self, name: &str) -> Result<Option<&str>, ServerError> {
        match self.headers.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .map(Some)
                .map_err(|_| ServerError::bad("invalid_header", format!("the {name} header is not valid text"))),
        }
    }

    /// Parses the query into its declared type (`TaskFilter`, `LogQuery`, ...): a value that
    /// does not fit is a 400 `invalid_query` that says which.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, ServerError> {
        super::parse_query(&self.query)
    }

    /// Parses the JSON body.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ServerError> {
        super::parse(&self.body)
    }

    /// Parses the JSON body; an empty body means the type's default.
    pub fn body_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ServerError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            Ok(T::default())
        } else {
            self.body()
        }
    }

    pub fn raw_body(&self) -> &Bytes {
        &self.body
    }
}

/// The routes, indexed by path.
pub struct Router {
    routes: Vec<Route>,
    /// By path template: the indexes of its routes in `routes`, one per method.
    paths: matchit::Router<Vec<usize>>,
}

impl Router {
    pub fn new(routes: Vec<Route>) -> Router {
        let mut paths = matchit::Router::new();
        let mut by_path: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            match by_path.iter_mut().find(|(p, _)| *p == route.path) {
                Some((_, indexes)) => indexes.push(i),
                None => by_path.push((route.path, vec![i])),
            }
        }
        for (path, indexes) in by_path {
            // A conflict is a programming error, caught by every test that starts a server.
            if let Err(e) = paths.insert(path, indexes) {
                panic!("route {path} conflicts with another: {e}");
            }
        }
        Router { routes, paths }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The methods a path takes, or `None` for a path no route has.
    pub fn methods_of(&self, path: &str) -> Option<Vec<&str>> {
        let matched = self.paths.at(path).ok()?;
        Some(matched.value.iter().map(|&i| self.routes[i].method.as_str()).collect())
    }

    /// Serves one request: 404 for a path no route has, 405 for a method its routes do not take,
    /// 401 or 403 for a caller the operation's rule does not admit; otherwise the handler's
    /// answer. A caller is authenticated before its body is read: a stranger's upload is
    /// refused at its headers and never buffered.
    pub async fn serve(
        &self,
        ctx: Arc<Ctx>,
        address: std::net::IpAddr,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Response {
        let (parts, body) = request.into_parts();
        let Ok(matched) = self.paths.at(parts.uri.path()) else {
            return super::error_reply(http::StatusCode::NOT_FOUND, "not_found", "no such path");
        };
        let Some(route) = matched.value.iter().map(|&i| &self.routes[i]).find(|r| r.method == parts.method) else {
            let allowed: Vec<&str> = matched.value.iter().map(|&i| self.routes[i].method.as_str()).collect();
            let mut response = super::error_reply(
                http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path does not take that method",
            );
            if let Ok(value) = http::HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(http::header::ALLOW, value);
            }
            return response;
        };
        let params = matched.params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let caller = match route.rule {
            Rule::Public => None,
            Rule::Tokens { .. } => {
                let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
                let admitted = ctx.keys.verify_header(header).map(|claims| Caller::new(claims, Some(address)));
                let admitted = admitted.and_then(|caller| route.rule.admit(&caller, route.operation).map(|()| caller));
                match admitted {
                    Ok(caller) => Some(caller),
                    Err(e) => {
                        let mut response = super::error(e);
                        if parts.method != Method::GET {
                            // The body is not read: the connection cannot carry another request.
                            response.headers_mut().insert("connection", http::HeaderValue::from_static("close"));
                        }
                        return response;
                    }
                }
            }
        };
        let body = if parts.method == Method::GET {
            Bytes::new()
        } else {
            match read_body(&parts.headers, body).await {
                Ok(body) => body,
                Err(e) => return super::error(e),
            }
        };
        let query = parts.uri.query().unwrap_or("").to_string();
        let call = Call { caller, params, query, headers: parts.headers, body };
        (route.handler)(ctx, call).await.unwrap_or_else(super::error)
    }
}

/// The request body, at most [`MAX_BODY_BYTES`], whether or not the client sent a length.
async fn read_body(headers: &HeaderMap, body: hyper::body::Incoming) -> Result<Bytes, ServerError> {
    let too_large =
        || ServerError::TooLarge { message: format!("request bodies are limited to {MAX_BODY_BYTES} bytes") };
    let length = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    if length.and_then(|l| l.parse::<u64>().ok()).is_some_and(|l| l > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES as usize);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ServerError::bad("body_unreadable", "the request body could not be read")),
    }
}
