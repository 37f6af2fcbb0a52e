//! HTTP routes (warp): authentication, body limits and JSON parsing at the edge, then a call
//! into the master. Every failure leaves as `{"code","message"}` with a 4xx or 5xx status.

use crate::auth::{Area, Claims, Keys, Kind};
use crate::error::{error_response, ServerError};
use crate::logs::{Chunk, LogRelay, LogRequest};
use crate::master::{Master, StreamKey, StreamRead, TaskLocation};
use crate::store::StreamId;
use agora_api::agent::{LogChunkInfo, LogStream, RegisterAgent, StatusUpdates};
use agora_api::framework::{Accept, Acknowledge, Decline, Kill, Reconcile, RegisterFramework, Roles};
use agora_api::operator::{
    AgentList, CreateVolume, DrainAgent, FrameworkList, OfferList, ReserveResources, RoleConfig, RoleList, TaskList,
};
use agora_api::{AgentId, FrameworkId, TaskId, TaskState};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// The largest request body accepted: a launch of 1,000 tasks fits comfortably.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Events read from a log per wake-up, and buffered per stream: a slow reader holds back
/// only its own stream (the writer waits), never the master.
const STREAM_BATCH: usize = 256;

/// What every handler needs.
pub struct Ctx {
    pub master: Arc<Master>,
    pub keys: Arc<Keys>,
    pub shutdown: watch::Receiver<bool>,
    pub logs: LogRelay,
    pub auth_failures: crate::ratelimit::AuthFailures,
    pub edge: crate::serve::EdgeConfig,
    /// The last `/metrics` exposition and when it was made: scrapes within a second share it.
    pub metrics_cache: tokio::sync::Mutex<Option<(tokio::time::Instant, String)>>,
}

type Reply_ = Result<Response, ServerError>;

fn respond(result: Reply_) -> Response {
    result.unwrap_or_else(Reply::into_response)
}

fn accepted() -> Reply_ {
    Ok(StatusCode::ACCEPTED.into_response())
}

fn json<T: serde::Serialize>(value: &T) -> Reply_ {
    Ok(warp::reply::json(value).into_response())
}

/// Parses a JSON body.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ServerError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() { "malformed_json" } else { "invalid_body" };
        ServerError::bad(code, format!("the request body is not valid: {e}"))
    })
}

/// Parses a JSON body; an empty body means the type's default.
fn parse_or_default<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ServerError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(body)
    }
}

fn with_ctx(ctx: Arc<Ctx>) -> impl Filter<Extract = (Arc<Ctx>,), Error = Infallible> + Clone {
    warp::any().map(move || ctx.clone())
}

fn authorization() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("authorization").or(warp::any().map(|| None)).unify()
}

/// The request body, at most [`MAX_BODY_BYTES`], whether or not the client sent a length.
fn body() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length").and(warp::body::stream()).and_then(
        |length: Option<u64>, stream| async move {
            if length.is_some_and(|l| l > MAX_BODY_BYTES) {
                return Err(warp::reject::custom(BodyTooLarge));
            }
            collect_body(stream).await
        },
    )
}

async fn collect_body<B: bytes::Buf>(
    stream: impl futures::Stream<Item = Result<B, warp::Error>>,
) -> Result<Bytes, Rejection> {
    use futures::StreamExt as _;
    let mut stream = std::pin::pin!(stream);
    let mut collected = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| warp::reject::custom(BodyUnreadable))?;
        if collected.len() + chunk.remaining() > MAX_BODY_BYTES as usize {
            return Err(warp::reject::custom(BodyTooLarge));
        }
        while chunk.has_remaining() {
            let n = chunk.chunk().len();
            collected.extend_from_slice(chunk.chunk());
            chunk.advance(n);
        }
    }
    Ok(collected.freeze())
}

#[derive(Debug)]
struct BodyTooLarge;
impl warp::reject::Reject for BodyTooLarge {}

#[derive(Debug)]
struct BodyUnreadable;
impl warp::reject::Reject for BodyUnreadable {}

impl Ctx {
    fn authorize(&self, header: &Option<String>, area: Area) -> Result<Claims, ServerError> {
        self.keys.authorize(header.as_deref(), area)
    }

    /// Authorizes a call of the agent API; returns the agent token's principal, `None` for an
    /// operator. The master checks that the principal registered the agent it acts as.
    fn authorize_agent_api(&self, header: &Option<String>) -> Result<Option<String>, ServerError> {
        let claims = self.authorize(header, Area::AgentApi)?;
        Ok((claims.kind == Kind::Agent).then_some(claims.sub))
    }

    /// The frameworks whose tasks, offers and logs a token may read: `None` for all (operators
    /// and viewers), else those its framework principal registered.
    async fn readable_frameworks(&self, claims: &Claims) -> Result<Option<HashSet<FrameworkId>>, ServerError> {
        if claims.kind != Kind::Framework {
            return Ok(None);
        }
        let frameworks = self.master.frameworks().await?;
        Ok(Some(frameworks.into_iter().filter(|f| f.principal == claims.sub).map(|f| f.id).collect()))
    }

    /// Fails unless the token may read `framework`'s tasks and logs. Another principal's
    /// framework gets the 404 of an unknown one: its id is not confirmed to a stranger.
    async fn may_read_framework(&self, claims: &Claims, framework: &FrameworkId) -> Result<(), ServerError> {
        if claims.kind == Kind::Framework
            && self.master.framework_principal(framework).await? != Some(claims.sub.clone())
        {
            return Err(unknown_framework(framework));
        }
        Ok(())
    }

    /// Finds the task a log request names among those the token may read, and checks that it
    /// may. The read is bound to what this returns: nothing looks the task up again.
    async fn readable_task(
        &self,
        claims: &Claims,
        framework_id: Option<&FrameworkId>,
        task_id: &TaskId,
    ) -> Result<TaskLocation, ServerError> {
        // Without a framework, only the token's own frameworks are searched: another
        // principal's task of the same id, live or not, is not the one asked for.
        let readable = match framework_id {
            Some(_) => None,
            None => self.readable_frameworks(claims).await?,
        };
        let task = self.master.task_location(framework_id, task_id, readable.as_ref()).await?;
        // As if there were no such task: a stranger learns nothing of the framework.
        let unknown_task = |_| ServerError::not_found("task", "unknown_task", task_id);
        self.may_read_framework(claims, &task.framework_id).await.map_err(unknown_task)?;
        Ok(task)
    }

    /// A framework token acts only on frameworks its principal registered; another
    /// principal's framework gets the 404 of an unknown one.
    async fn authorize_framework(&self, header: &Option<String>, id: &FrameworkId) -> Result<Claims, ServerError> {
        let claims = self.authorize(header, Area::FrameworkApi)?;
        if claims.kind == Kind::Framework {
            match self.master.framework_principal(id).await? {
                Some(principal) if principal != claims.sub => return Err(unknown_framework(id)),
                _ => {}
            }
        }
        Ok(claims)
    }
}

/// How long one `/metrics` exposition serves: reading the gauges reads the store, so a flood
/// of scrapes costs one read a second.
const METRICS_CACHE: std::time::Duration = std::time::Duration::from_secs(1);

impl Ctx {
    /// The metrics exposition, made at most once per [`METRICS_CACHE`].
    async fn metrics_text(&self) -> Result<String, ServerError> {
        let mut cache = self.metrics_cache.lock().await;
        if let Some((made, text)) = cache.as_ref().filter(|(made, _)| made.elapsed() < METRICS_CACHE) {
            tracing::trace!(age = ?made.elapsed(), "metrics from the cache");
            return Ok(text.clone());
        }
        let text = self.master.metrics.render(&self.master.gauges().await?);
        *cache = Some((tokio::time::Instant::now(), text.clone()));
        Ok(text)
    }
}

/// Checks `--metrics-token`. Their digests are compared, so that how long the comparison takes
/// tells nothing of the token's bytes.
fn check_metrics_token(header: Option<&str>, token: &str) -> Result<(), ServerError> {
    let given = header.and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("").trim();
    let digest = |text: &str| ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    if digest(given).as_ref() != digest(token).as_ref() {
        return Err(ServerError::Unauthorized {
            message: "/metrics needs the metrics token: Authorization: Bearer <token>".into(),
        });
    }
    Ok(())
}

/// The answer about a framework a token may not see: the same as for one that does not exist.
fn unknown_framework(id: &FrameworkId) -> ServerError {
    ServerError::not_found("framework", "unknown_framework", id)
}

/// All routes, with rejections turned into JSON errors.
pub fn routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let system = system_routes(ctx.clone());
    let frameworks = framework_routes(ctx.clone());
    let agents = agent_routes(ctx.clone());
    let operators = operator_routes(ctx);
    system.or(frameworks).unify().or(agents).unify().or(operators).unify().recover(handle_rejection).unify().boxed()
}

fn system_routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let healthz = warp::path!("healthz").and(warp::get()).map(|| "ok".into_response());
    let readyz = warp::path!("readyz").and(warp::get()).map(|| "ready".into_response());
    let metrics = warp::path!("metrics").and(warp::get()).and(with_ctx(ctx)).and(authorization()).then(
        |ctx: Arc<Ctx>, auth: Option<String>| async move {
            respond(
                async {
                    if let Some(token) = &ctx.edge.metrics_token {
                        check_metrics_token(auth.as_deref(), token)?;
                    }
                    let text = ctx.metrics_text().await?;
                    let content_type = "text/plain; version=0.0.4; charset=utf-8";
                    Ok(warp::reply::with_header(text, "content-type", content_type).into_response())
                }
                .await,
            )
        },
    );
    let openapi = warp::path!("openapi.json").and(warp::get()).map(|| {
        warp::reply::with_header(agora_api::openapi_json(), "content-type", "application/json").into_response()
    });
    healthz.or(readyz).unify().or(metrics).unify().or(openapi).unify().boxed()
}

fn framework_routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let c = || with_ctx(ctx.clone()).and(authorization());
    let register = warp::path!("v1" / "frameworks").and(warp::post()).and(c()).and(body()).then(
        |ctx: Arc<Ctx>, auth: Option<String>, body: Bytes| async move {
            respond(
                async {
                    let claims = ctx.authorize(&auth, Area::FrameworkApi)?;
                    let req: RegisterFramework = parse(&body)?;
                    if let Some(role) = req.roles.iter().find(|r| !claims.may_use_role(r)) {
                        return Err(ServerError::Forbidden {
                            message: format!("this token's frameworks may not register with role `{role}`"),
                        });
                    }
                    if let (Some(id), Kind::Framework) = (&req.id, claims.kind) {
                        // Ids are chosen by frameworks, so a taken one cannot pass for unknown.
                        ctx.authorize_framework(&auth, id).await.map_err(|_| ServerError::Conflict {
                            code: "framework_id_taken",
                            message: format!("framework id {id} is taken: register without an id, or with another"),
                        })?;
                    }
                    json(&ctx.master.register_framework(req, &claims.sub).await?)
                }
                .await,
            )
        },
    );
    let teardown = warp::path!("v1" / "frameworks" / FrameworkId).and(warp::delete()).and(c()).then(
        |id: FrameworkId, ctx: Arc<Ctx>, auth: Option<String>| async move {
            respond(
                async {
                    let claims = ctx.authorize_framework(&auth, &id).await?;
                    // Only an operator may tear down a framework that is not registered (its tasks
                    // were reported by agents after the store was lost).
                    if claims.kind != Kind::Operator && ctx.master.framework_principal(&id).await?.is_none() {
                        return Err(ServerError::not_found("framework", "unknown_framework", &id));
                    }
                    ctx.master.teardown(&id).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                .await,
            )
        },
    );
    let events = warp::path!("v1" / "frameworks" / FrameworkId / "events")
        .and(warp::get())
        .and(c())
        .and(warp::header::optional::<String>("last-event-id"))
        .then(|id: FrameworkId, ctx: Arc<Ctx>, auth: Option<String>, last: Option<String>| async move {
            respond(
                async {
                    ctx.authorize_framework(&auth, &id).await?;
                    let last = parse_last_event_id(last)?;
                    let (subscribed, position, generation) = ctx.master.open_framework_stream(&id, last).await?;
                    let first = (subscribed.name(), subscribed.data());
                    Ok(event_stream(ctx.clone(), StreamKey::Framework(id), generation, position, Some(first)))
                }
                .await,
            )
        });

    /// A `POST /v1/frameworks/{id}/<verb>` route whose body `read` turns into a `T`.
    fn verb<T, F>(
        ctx: &Arc<Ctx>,
        name: &'static str,
        read: fn(&Bytes) -> Result<T, ServerError>,
        call: F,
    ) -> BoxedFilter<(Response,)>
    where
        T: Send + 'static,
        F: Fn(Arc<Master>, FrameworkId, T, Claims) -> futures::future::BoxFuture<'static, Reply_>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        warp::path("v1")
            .and(warp::path("frameworks"))
            .and(warp::path::param::<FrameworkId>())
            .and(warp::path(name))
            .and(warp::path::end())
            .and(warp::post())
            .and(with_ctx(ctx.clone()))
            .and(authorization())
            .and(body())
            .then(move |id: FrameworkId, ctx: Arc<Ctx>, auth: Option<String>, body: Bytes| {
                let call = call.clone();
                async move {
                    respond(
                        async {
                            let claims = ctx.authorize_framework(&auth, &id).await?;
                            call(ctx.master.clone(), id, read(&body)?, claims).await
                        }
                        .await,
                    )
                }
            })
            .boxed()
    }

    use futures::FutureExt as _;
    let accept = verb(&ctx, "accept", parse::<Accept>, |m, id, req, claims| {
        async move {
            check_task_users(&req, &claims)?;
            m.accept(&id, req).await.and_then(|_| accepted())
        }
        .boxed()
    });
    let decline = verb(&ctx, "decline", parse::<Decline>, |m, id, req, _| {
        async move { m.decline(&id, req).await.and_then(|_| accepted()) }.boxed()
    });
    let revive = verb(&ctx, "revive", parse_or_default::<Roles>, |m, id, req, _| {
        async move { m.revive(&id, &req.roles).await.and_then(|_| accepted()) }.boxed()
    });
    let suppress = verb(&ctx, "suppress", parse_or_default::<Roles>, |m, id, req, _| {
        async move { m.suppress(&id, &req.roles).await.and_then(|_| accepted()) }.boxed()
    });
    let acknowledge = verb(&ctx, "acknowledge", parse::<Acknowledge>, |m, id, req, _| {
        async move { m.acknowledge(&id, req).await.and_then(|_| accepted()) }.boxed()
    });
    let reconcile = verb(&ctx, "reconcile", parse_or_default::<Reconcile>, |m, id, req, _| {
        async move { json(&m.reconcile(&id, req).await?) }.boxed()
    });
    let kill = warp::path!("v1" / "frameworks" / FrameworkId / "tasks" / TaskId / "kill")
        .and(warp::post())
        .and(c())
        .and(body())
        .then(|id: FrameworkId, task_id: TaskId, ctx: Arc<Ctx>, auth: Option<String>, body: Bytes| async move {
            respond(
                async {
                    ctx.authorize_framework(&auth, &id).await?;
                    let req: Kill = parse_or_default(&body)?;
                    ctx.master.kill(&id, &task_id, req).await?;
                    accepted()
                }
                .await,
            )
        });
    register
        .or(teardown)
        .unify()
        .or(events)
        .unify()
        .boxed()
        .or(accept)
        .unify()
        .or(decline)
        .unify()
        .or(revive)
        .unify()
        .or(suppress)
        .unify()
        .or(acknowledge)
        .unify()
        .or(reconcile)
        .unify()
        .or(kill)
        .unify()
        .boxed()
}

fn agent_routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let c = || with_ctx(ctx.clone()).and(authorization());
    let register = warp::path!("v1" / "agents").and(warp::post()).and(c()).and(body()).then(
        |ctx: Arc<Ctx>, auth: Option<String>, body: Bytes| async move {
            respond(
                async {
                    let principal = ctx.authorize_agent_api(&auth)?;
                    let req: RegisterAgent = parse(&body)?;
                    json(&ctx.master.register_agent(req, principal.as_deref()).await?)
                }
                .await,
            )
        },
    );
    let commands = warp::path!("v1" / "agents" / AgentId / "commands")
        .and(warp::get())
        .and(c())
        .and(warp::header::optional::<String>("last-event-id"))
        .then(|id: AgentId, ctx: Arc<Ctx>, auth: Option<String>, last: Option<String>| async move {
            respond(
                async {
                    let principal = ctx.authorize_agent_api(&auth)?;
                    let last = parse_last_event_id(last)?;
                    let (position, generation) = ctx.master.open_agent_stream(&id, last, principal.as_deref()).await?;
                    Ok(event_stream(ctx.clone(), StreamKey::Agent(id), generation, position, None))
                }
                .await,
            )
        });
    let updates = warp::path!("v1" / "agents" / AgentId / "updates").and(warp::post()).and(c()).and(body()).then(
        |id: AgentId, ctx: Arc<Ctx>, auth: Option<String>, body: Bytes| async move {
            respond(
                async {
                    let principal = ctx.authorize_agent_api(&auth)?;
                    let req: StatusUpdates = parse(&body)?;
                    ctx.master.agent_updates(&id, req, principal.as_deref()).await?;
                    accepted()
                }
                .await,
            )
        },
    );
    let heartbeat = warp::path!("v1" / "agents" / AgentId / "heartbeat").and(warp::post()).and(c()).then(
        |id: AgentId, ctx: Arc<Ctx>, auth: Option<String>| async move {
            respond(
                async {
                    let principal = ctx.authorize_agent_api(&auth)?;
                    ctx.master.agent_heartbeat(&id, principal.as_deref()).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                .await,
            )
        },
    );
    let log_chunk = warp::path!("v1" / "agents" / AgentId / "logs" / String)
        .and(warp::post())
        .and(c())
        .and(warp::query::<HashMap<String, String>>().or(warp::any().map(HashMap::new)).unify())
        .and(body())
        .then(|id: AgentId, request_id: String, ctx: Arc<Ctx>, auth: Option<String>, query, data: Bytes| async move {
            respond(
                async {
                    // Authorization first: a caller without the right token learns nothing else.
                    let principal = ctx.authorize_agent_api(&auth)?;
                    ctx.master.check_agent_owner(&id, principal.as_deref()).await?;
                    let info = log_chunk_info(&query)?;
                    if ctx.logs.deliver(&ctx.master, &id, &request_id, Chunk { info, data }).await? {
                        Ok(StatusCode::NO_CONTENT.into_response())
                    } else {
                        Err(ServerError::not_found("log request", "unknown_request", request_id))
                    }
                }
                .await,
            )
        });
    register.or(commands).unify().or(updates).unify().or(heartbeat).unify().or(log_chunk).unify().boxed()
}

fn operator_routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let c = || with_ctx(ctx.clone()).and(authorization());
    let read = |ctx: &Ctx, auth: &Option<String>| ctx.authorize(auth, Area::Read);
    let cluster = warp::path!("v1" / "cluster").and(warp::get()).and(c()).then(move |ctx: Arc<Ctx>, auth| async move {
        respond(
            async {
                read(&ctx, &auth)?;
                json(&ctx.master.cluster().await?)
            }
            .await,
        )
    });
    let agents = warp::path!("v1" / "agents").and(warp::get()).and(c()).then(move |ctx: Arc<Ctx>, auth| async move {
        respond(
            async {
                read(&ctx, &auth)?;
                json(&AgentList { agents: ctx.master.agents().await? })
            }
            .await,
        )
    });
    let agent = warp::path!("v1" / "agents" / AgentId).and(warp::get()).and(c()).then(
        move |id, ctx: Arc<Ctx>, auth| async move {
            respond(
                async {
                    read(&ctx, &auth)?;
                    json(&ctx.master.agent(&id).await?)
                }
                .await,
            )
        },
    );
    let frameworks =
        warp::path!("v1" / "frameworks").and(warp::get()).and(c()).then(move |ctx: Arc<Ctx>, auth| async move {
            respond(
                async {
                    let claims = read(&ctx, &auth)?;
                    let mut frameworks = ctx.master.frameworks().await?;
                    if claims.kind == Kind::Framework {
                        frameworks.retain(|f| f.principal == claims.sub);
                    }
                    json(&FrameworkList { frameworks })
                }
                .await,
            )
        });
    let framework = warp::path!("v1" / "frameworks" / FrameworkId).and(warp::get()).and(c()).then(
        move |id, ctx: Arc<Ctx>, auth| async move {
            respond(
                async {
                    let claims = read(&ctx, &auth)?;
                    let view = ctx.master.framework(&id).await?;
                    if claims.kind == Kind::Framework && view.principal != claims.sub {
                        return Err(unknown_framework(&id));
                    }
                    json(&view)
                }
                .await,
            )
        },
    );
    let tasks = warp::path!("v1" / "tasks")
        .and(warp::get())
        .and(c())
        .and(warp::query::<HashMap<String, String>>().or(warp::any().map(HashMap::new)).unify())
        .then(move |ctx: Arc<Ctx>, auth, query: HashMap<String, String>| async move {
            respond(
                async {
                    let claims = read(&ctx, &auth)?;
                    let state = match query.get("state") {
                        Some(s) => Some(TaskState::parse(&s.to_ascii_lowercase()).ok_or_else(|| {
                            let states: Vec<&str> = TaskState::ALL.iter().map(|st| st.as_str()).collect();
                            ServerError::bad(
                                "invalid_state",
                                format!("`{s}` is not a task state: {}", states.join(", ")),
                            )
                        })?),
                        None => None,
                    };
                    let framework_id = query.get("framework_id").map(|f| FrameworkId::from(f.as_str()));
                    let agent_id = query.get("agent_id").map(|a| AgentId::from(a.as_str()));
                    let mut tasks = ctx.master.tasks(framework_id.as_ref(), agent_id.as_ref(), state).await?;
                    if let Some(own) = ctx.readable_frameworks(&claims).await? {
                        tasks.retain(|t| own.contains(&t.framework_id));
                    }
                    json(&TaskList { tasks })
                }
                .await,
            )
        });
    let logs = warp::path!("v1" / "tasks" / TaskId / "logs")
        .and(warp::get())
        .and(c())
        .and(warp::query::<HashMap<String, String>>().or(warp::any().map(HashMap::new)).unify())
        .then(|task_id: TaskId, ctx: Arc<Ctx>, auth: Option<String>, query: HashMap<String, String>| async move {
            respond(task_logs(&ctx, &auth, task_id, &query).await)
        });
    let events = warp::path!("v1" / "events")
        .and(warp::get())
        .and(c())
        .and(warp::header::optional::<String>("last-event-id"))
        .then(move |ctx: Arc<Ctx>, auth, last: Option<String>| async move {
            respond(
                async {
                    // Every task of every framework passes here: not for framework tokens.
                    if read(&ctx, &auth)?.kind == Kind::Framework {
                        return Err(ServerError::Forbidden {
                            message: "the operator stream is for operators and viewers".into(),
                        });
                    }
                    let position = match parse_last_event_id(last)? {
                        Some(id) => Some(id),
                        None => ctx.master.store.last_id(&StreamKey::Operator.store_key()).await?,
                    };
                    Ok(event_stream(ctx.clone(), StreamKey::Operator, 0, position, None))
                }
                .await,
            )
        });
    let offers = warp::path!("v1" / "offers").and(warp::get()).and(c()).then(move |ctx: Arc<Ctx>, auth| async move {
        respond(
            async {
                let claims = read(&ctx, &auth)?;
                let mut offers = ctx.master.offers().await?;
                if let Some(own) = ctx.readable_frameworks(&claims).await? {
                    offers.retain(|o| own.contains(&o.framework_id));
                }
                json(&OfferList { offers })
            }
            .await,
        )
    });
    let diagnostics = warp::path!("v1" / "frameworks" / FrameworkId / "diagnostics").and(warp::get()).and(c()).then(
        move |id: FrameworkId, ctx: Arc<Ctx>, auth| async move {
            respond(
                async {
                    let claims = read(&ctx, &auth)?;
                    // An unknown framework is a 404 for every reader, as for the framework itself.
                    let diagnostics = ctx.master.diagnostics(&id).await?;
                    ctx.may_read_framework(&claims, &id).await?;
                    json(&diagnostics)
                }
                .await,
            )
        },
    );
    let roles = warp::path!("v1" / "roles").and(warp::get()).and(c()).then(move |ctx: Arc<Ctx>, auth| async move {
        respond(
            async {
                read(&ctx, &auth)?;
                json(&RoleList { roles: ctx.master.roles().await? })
            }
            .await,
        )
    });
    // The rest of the path is the role: `eng/backend` is written as is.
    let set_role =
        warp::path("v1").and(warp::path("roles")).and(warp::path::tail()).and(warp::put()).and(c()).and(body()).then(
            move |tail: warp::path::Tail, ctx: Arc<Ctx>, auth, body: Bytes| async move {
                respond(
                    async {
                        ctx.authorize(&auth, Area::Operate)?;
                        let role = percent_decoded(tail.as_str()).ok_or_else(|| {
                            ServerError::bad("invalid_role", "the role in the path is not valid UTF-8")
                        })?;
                        json(&ctx.master.set_role(&role, parse::<RoleConfig>(&body)?).await?)
                    }
                    .await,
                )
            },
        );
    cluster
        .or(diagnostics)
        .unify()
        .or(roles)
        .unify()
        .or(set_role)
        .unify()
        .or(agent_admin_routes(ctx.clone()))
        .unify()
        .or(agents)
        .unify()
        .or(agent)
        .unify()
        .or(frameworks)
        .unify()
        .or(framework)
        .unify()
        .or(tasks)
        .unify()
        .or(offers)
        .unify()
        .or(events)
        .unify()
        .or(logs)
        .unify()
        .boxed()
}

/// Operators' changes to agents: maintenance, reservations and volumes. Boxed apart from the
/// other operator routes: one chain of them all takes rustc minutes to type-check.
fn agent_admin_routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
    let c = || with_ctx(ctx.clone()).and(authorization());
    let drain = warp::path!("v1" / "agents" / AgentId / "drain").and(warp::post()).and(c()).and(body()).then(
        move |id: AgentId, ctx: Arc<Ctx>, auth, body: Bytes| async move {
            respond(
                async {
                    ctx.authorize(&auth, Area::Operate)?;
                    ctx.master.drain_agent(&id, parse_or_default::<DrainAgent>(&body)?).await?;
                    accepted()
                }
                .await,
            )
        },
    );
    let deactivate = warp::path!("v1" / "agents" / AgentId / "deactivate").and(warp::post()).and(c()).then(
        move |id: AgentId, ctx: Arc<Ctx>, auth| async move {
            respond(
                async {
                    ctx.authorize(&auth, Area::Operate)?;
                    ctx.master.deactivate_agent(&id).await?;
                    accepted()
                }
                .await,
            )
        },
    );
    let reactivate = warp::path!("v1" / "agents" / AgentId / "reactivate").and(warp::post()).and(c()).then(
        move |id: AgentId, ctx: Arc<Ctx>, auth| async move {
            respond(
                async {
                    ctx.authorize(&auth, Area::Operate)?;
                    ctx.master.reactivate_agent(&id).await?;
                    accepted()
                }
                .await,
            )
        },
    );
    let reserve = warp::path!("v1" / "agents" / AgentId / String).and(warp::post()).and(c()).and(body()).and_then(
        move |id: AgentId, verb: String, ctx: Arc<Ctx>, auth, body: Bytes| async move {
            if verb != "reserve" && verb != "unreserve" {
                return Err(warp::reject::not_found());
            }
            Ok::<_, warp::Rejection>(respond(
                async {
                    let claims = ctx.authorize(&auth, Area::Operate)?;
                    let req = parse::<ReserveResources>(&body)?;
                    let view = if verb == "reserve" {
                        ctx.master.reserve(&id, req, &claims.sub).await?
                    } else {
                        ctx.master.unreserve(&id, req).await?
                    };
                    json(&view)
                }
                .await,
            ))
        },
    );
    let create_volume = warp::path!("v1" / "agents" / AgentId / "volumes").and(warp::post()).and(c()).and(body()).then(
        move |id: AgentId, ctx: Arc<Ctx>, auth, body: Bytes| async move {
            respond(
                async {
                    let claims = ctx.authorize(&auth, Area::Operate)?;
                    json(&ctx.master.create_volume(&id, parse::<CreateVolume>(&body)?, &claims.sub).await?)
                }
                .await,
            )
        },
    );
    let destroy_volume = warp::path!("v1" / "agents" / AgentId / "volumes" / String).and(warp::delete()).and(c()).then(
        move |id: AgentId, volume: String, ctx: Arc<Ctx>, auth| async move {
            respond(
                async {
                    ctx.authorize(&auth, Area::Operate)?;
                    json(&ctx.master.destroy_volume(&id, &volume).await?)
                }
                .await,
            )
        },
    );
    // Volumes before `reserve`, which takes the body before it knows the verb.
    create_volume
        .or(destroy_volume)
        .unify()
        .or(drain)
        .unify()
        .or(deactivate)
        .unify()
        .or(reactivate)
        .unify()
        .or(reserve)
        .unify()
        .boxed()
}

/// A path segment with its `%XX` escapes decoded; `None` if the result is not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// What an agent says of the log chunk it posts, from the query.
fn log_chunk_info(query: &HashMap<String, String>) -> Result<LogChunkInfo, ServerError> {
    let invalid = |name: &str| ServerError::bad("invalid_query", format!("{name} is missing or malformed"));
    let flag = |name: &str| match query.get(name).map(String::as_str) {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        _ => Err(invalid(name)),
    };
    let offset = query.get("offset").and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| invalid("offset"))?;
    // Agents before `refused` existed do not send it.
    let refused = query.contains_key("refused") && flag("refused")?;
    Ok(LogChunkInfo { offset, found: flag("found")?, task_ended: flag("task_ended")?, refused })
}

/// The framework a task log read names, if any, and what it asks for, from its query.
fn log_request(query: &HashMap<String, String>) -> Result<(Option<FrameworkId>, LogRequest), ServerError> {
    let number = |name: &str, default: f64| -> Result<f64, ServerError> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => {
                v.parse::<f64>().map_err(|_| ServerError::bad("invalid_query", format!("{name} must be a number")))
            }
        }
    };
    let stream = match query.get("stream").map(String::as_str) {
        None | Some("stdout") => LogStream::Stdout,
        Some("stderr") => LogStream::Stderr,
        Some(other) => {
            return Err(ServerError::bad("invalid_query", format!("stream `{other}` is not stdout or stderr")))
        }
    };
    let count = |name: &str, default: u64| match query.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ServerError::bad("invalid_query", format!("{name} must be a whole number of bytes"))),
    };
    // `follow=true` is served by `follow_logs`; anything else but `false` is a mistake.
    if let Some(follow) = query.get("follow").filter(|f| *f != "true" && *f != "false") {
        return Err(ServerError::bad("invalid_query", format!("follow must be true or false, not `{follow}`")));
    }
    let wait_secs = number("wait_secs", 0.0)?;
    if !wait_secs.is_finite() || wait_secs < 0.0 {
        return Err(ServerError::bad("invalid_query", "wait_secs must be a non-negative number"));
    }
    let framework_id = query.get("framework_id").map(|f| FrameworkId::from(f.as_str()));
    let request = LogRequest {
        stream,
        offset: count("offset", 0)?,
        max_bytes: count("max_bytes", crate::logs::MAX_CHUNK_BYTES)?,
        wait_secs,
    };
    Ok((framework_id, request))
}

async fn task_logs(ctx: &Ctx, auth: &Option<String>, task_id: TaskId, query: &HashMap<String, String>) -> Reply_ {
    let claims = ctx.authorize(auth, Area::Read)?;
    let (framework_id, request) = log_request(query)?;
    let task = ctx.readable_task(&claims, framework_id.as_ref(), &task_id).await?;
    let _slot = ctx.logs.reader_slot(&reader_key(&claims))?;
    let stream = request.stream;
    // A long-polling reader must not hold up a shutdown.
    let mut shutdown = ctx.shutdown.clone();
    let chunk = tokio::select! {
        chunk = ctx.logs.read(&ctx.master, &task, &task_id, &request) => chunk?,
        _ = shutdown.wait_for(|stopping| *stopping) => {
            return Err(ServerError::Timeout { code: "shutting_down", message: "the server is shutting down".into() });
        }
    };
    if chunk.info.refused {
        return Err(refusal(&chunk.data));
    }
    if !chunk.info.found {
        return Err(ServerError::not_found("log file", "log_not_found", stream.as_str()));
    }
    let next = chunk.info.offset.saturating_add(chunk.data.len() as u64);
    let mut response = Response::new(chunk.data.into());
    let headers = response.headers_mut();
    headers.insert("content-type", warp::http::HeaderValue::from_static("application/octet-stream"));
    headers.insert("x-agora-offset", chunk.info.offset.into());
    headers.insert("x-agora-next-offset", next.into());
    headers.insert(
        "x-agora-task-ended",
        warp::http::HeaderValue::from_static(if chunk.info.task_ended { "true" } else { "false" }),
    );
    Ok(response)
}

/// The agent would not read the file (its task may have planted a link or a FIFO there); the
/// agent's reason is the chunk's body.
fn refusal(reason: &[u8]) -> ServerError {
    let reason = String::from_utf8_lossy(&reason[..reason.len().min(1024)]);
    ServerError::Conflict { code: "log_refused", message: format!("the agent refused to read the log: {reason}") }
}

/// Whose log reads count together: one principal of one kind of token.
fn reader_key(claims: &Claims) -> String {
    format!("{:?}:{}", claims.kind, claims.sub)
}

/// How long each read of a followed log waits for new output before asking again.
const FOLLOW_WAIT_SECS: f64 = 10.0;

/// `GET /v1/tasks/{id}/logs?follow=true`: the task's output as it is written, until the task
/// ends. `None` for any other request. Served outside warp, which cannot stream such a body.
pub fn follow_logs(
    ctx: &Arc<Ctx>,
    request: &hyper::Request<hyper::body::Incoming>,
) -> Option<impl std::future::Future<Output = hyper::Response<crate::serve::Body>>> {
    if request.method() != warp::http::Method::GET {
        return None;
    }
    let task_id = request.uri().path().strip_prefix("/v1/tasks/")?.strip_suffix("/logs")?;
    if task_id.contains('/') {
        return None;
    }
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if query.get("follow").map(String::as_str) != Some("true") {
        return None;
    }
    let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (ctx, task_id) = (ctx.clone(), TaskId::from(task_id));
    Some(async move {
        let response = match start_follow(&ctx, &auth, task_id, &query).await {
            Ok(response) => return response,
            Err(e) => e.into_response(),
        };
        use http_body_util::BodyExt as _;
        response.map(|body| body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed())
    })
}

async fn start_follow(
    ctx: &Arc<Ctx>,
    auth: &Option<String>,
    task_id: TaskId,
    query: &HashMap<String, String>,
) -> Result<hyper::Response<crate::serve::Body>, ServerError> {
    use http_body_util::BodyExt as _;
    let claims = ctx.authorize(auth, Area::Read)?;
    let (framework_id, mut request) = log_request(query)?;
    request.wait_secs = FOLLOW_WAIT_SECS;
    // Unknown tasks get a 404 now, rather than an empty stream. Every chunk below reads this
    // task, the one checked here, even if another of the same id starts meanwhile.
    let task = ctx.readable_task(&claims, framework_id.as_ref(), &task_id).await?;
    // Held as long as the follow goes on.
    let slot = ctx.logs.reader_slot(&reader_key(&claims))?;
    // A task per follower feeds a channel: the body stays `Sync` whatever the store's futures are.
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let mut shutdown = ctx.shutdown.clone();
        loop {
            let chunk = tokio::select! {
                chunk = ctx.logs.read(&ctx.master, &task, &task_id, &request) => chunk,
                _ = shutdown.wait_for(|stopping| *stopping) => return,
                _ = tx.closed() => return,
            };
            let chunk = match chunk {
                Ok(chunk) if chunk.info.found && !chunk.info.refused => chunk,
                // The agent is gone or the file is: the stream ends, and the reader can ask again.
                _ => return,
            };
            if !chunk.data.is_empty() {
                request.offset = chunk.info.offset.saturating_add(chunk.data.len() as u64);
                if tx.send(chunk.data).await.is_err() {
                    return;
                }
            } else if chunk.info.task_ended {
                return;
            }
        }
    });
    let chunks = futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), |data| {
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(hyper::body::Frame::data(data))
    });
    let body = http_body_util::StreamBody::new(chunks).boxed();
    let mut response = hyper::Response::new(body);
    response.headers_mut().insert("content-type", warp::http::HeaderValue::from_static("application/octet-stream"));
    Ok(response)
}

fn parse_last_event_id(value: Option<String>) -> Result<Option<StreamId>, ServerError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => crate::master::parse_event_id(v).map(Some),
    }
}

/// Ends the stream's bookkeeping when its connection task stops, however it stops.
struct StreamGuard {
    master: Arc<Master>,
    key: StreamKey,
    generation: u64,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let (master, key, generation) = (self.master.clone(), self.key.clone(), self.generation);
        // Drop cannot wait: the bookkeeping runs on, if the runtime still does.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Tried again for a while if the store is away (a Redis restart): a framework
                // that stays marked connected would never start its failover timeout.
                for attempt in 0..60 {
                    match master.close_stream(&key, generation).await {
                        Ok(()) => return,
                        Err(e) if attempt == 59 => tracing::warn!(error = %e, "could not record a stream's end"),
                        Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
                    }
                }
            });
        }
    }
}

/// Serves a stream as Server-Sent Events: `first` (if any), then every event after
/// `position`, then new events as they come, with a heartbeat each interval. The response body
/// is the stream itself: no task or channel per connection, since with 10,000 subscribers
/// those cost more than the events. When the client goes away hyper drops the body, and the
/// stream's guard records the end. While idle the stream waits on the store's notifier for
/// its key, holding no store connection.
fn event_stream(
    ctx: Arc<Ctx>,
    key: StreamKey,
    generation: u64,
    position: Option<StreamId>,
    first: Option<(&'static str, String)>,
) -> Response {
    let period = ctx.master.config.heartbeat_interval;
    let feed = Feed {
        guard: StreamGuard { master: ctx.master.clone(), key: key.clone(), generation },
        notify: ctx.master.store.watch(&key.store_key()),
        heartbeat: tokio::time::interval_at(tokio::time::Instant::now() + period, period),
        shutdown: ctx.shutdown.clone(),
        ctx,
        after: position,
        first,
        pending: None,
        ended: false,
    };
    let events = futures::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    // warp wants a `Sync` body; the store's futures need not be. Only the body's owner polls it.
    warp::sse::reply(sync_wrapper::SyncStream::new(Box::pin(events))).into_response()
}

/// The state of one event stream between the events it yields.
struct Feed {
    ctx: Arc<Ctx>,
    guard: StreamGuard,
    notify: Arc<tokio::sync::Notify>,
    heartbeat: tokio::time::Interval,
    shutdown: watch::Receiver<bool>,
    /// The id of the last event yielded.
    after: Option<StreamId>,
    first: Option<(&'static str, String)>,
    /// Events read and not yet yielded (at most one batch).
    pending: Option<std::vec::IntoIter<crate::store::Entry>>,
    ended: bool,
}

impl Feed {
    /// The next event: one read, or a heartbeat, or an `error` event that ends the stream.
    /// `None` when the stream has ended or the server is shutting down.
    async fn next(&mut self) -> Option<warp::sse::Event> {
        if self.ended {
            return None;
        }
        if let Some((name, data)) = self.first.take() {
            return Some(self.sse(name, &data));
        }
        loop {
            if let Some(entry) = self.pending.as_mut().and_then(Iterator::next) {
                self.after = StreamId::parse(&entry.id).or(self.after);
                return Some(warp::sse::Event::default().id(entry.id).event(entry.name).data(entry.data));
            }
            self.pending = None;
            // Register for the wake-up before reading, so an event appended in between is not
            // missed.
            let notify = self.notify.clone();
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (key, generation) = (&self.guard.key, self.guard.generation);
            match self.ctx.master.read_stream(key, generation, self.after, STREAM_BATCH).await {
                Ok(StreamRead::Events(events)) if events.is_empty() => {}
                Ok(StreamRead::Events(events)) => {
                    self.pending = Some(events.into_iter());
                    continue;
                }
                Ok(StreamRead::Ended { code, message }) => {
                    return Some(self.end(&serde_json::json!({"code": code, "message": message})));
                }
                Err(e) => {
                    // The store failed: end the stream; the client reconnects and resumes.
                    tracing::warn!(error = %e, "an event stream ended: the store failed");
                    return Some(self.end(&serde_json::json!({"code": e.code(), "message": e.to_string()})));
                }
            }
            let beat = tokio::select! {
                _ = &mut notified => false,
                _ = self.heartbeat.tick() => true,
                _ = self.shutdown.wait_for(|stopping| *stopping) => return None,
            };
            if beat {
                let name = match self.guard.key {
                    StreamKey::Framework(_) | StreamKey::Operator => "heartbeat",
                    StreamKey::Agent(_) => "ping",
                };
                return Some(self.sse(name, "{}"));
            }
        }
    }

    /// An event that carries the position reached as its id.
    fn sse(&self, name: &str, data: &str) -> warp::sse::Event {
        let id = self.after.map(|a| a.to_string()).unwrap_or_else(|| "0-0".to_string());
        warp::sse::Event::default().id(id).event(name).data(data)
    }

    /// The `error` event that ends the stream.
    fn end(&mut self, error: &serde_json::Value) -> warp::sse::Event {
        self.ended = true;
        self.sse("error", &error.to_string())
    }
}

async fn handle_rejection(rejection: Rejection) -> Result<Response, Infallible> {
    let (status, code, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "not_found", "no such path".to_string())
    } else if rejection.find::<BodyTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {MAX_BODY_BYTES} bytes"),
        )
    } else if rejection.find::<BodyUnreadable>().is_some() {
        (StatusCode::BAD_REQUEST, "body_unreadable", "the request body could not be read".to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this path does not take that method".to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, "invalid_query", e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, "invalid_header", e.to_string())
    } else {
        (StatusCode::BAD_REQUEST, "bad_request", format!("{rejection:?}"))
    };
    Ok(error_response(status, code, &message))
}

/// Refuses an accept whose tasks name OS users the token may not run as.
fn check_task_users(accept: &Accept, claims: &Claims) -> Result<(), ServerError> {
    let tasks = accept.operations.iter().flat_map(|op| match op {
        agora_api::framework::Operation::Launch { tasks } => tasks.as_slice(),
        _ => &[],
    });
    for task in tasks {
        if let Some(user) = task.user.as_deref().filter(|user| !claims.may_run_as(user)) {
            return Err(ServerError::Forbidden {
                message: format!("task {}: this token may not run tasks as user `{user}`", task.task_id),
            });
        }
    }
    Ok(())
}
