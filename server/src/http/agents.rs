//! The agent API: registration, the command stream, status updates, heartbeats and log chunks.

use super::*;

pub(super) fn routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
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
        .and(raw_query())
        .and(body())
        .then(|id: AgentId, request_id: String, ctx: Arc<Ctx>, auth: Option<String>, query: String, data: Bytes| async move {
            respond(
                async {
                    // Authorization first: a caller without the right token learns nothing else.
                    let principal = ctx.authorize_agent_api(&auth)?;
                    ctx.master.check_agent_owner(&id, principal.as_deref()).await?;
                    let info: LogChunkInfo = parse_query(&query)?;
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
