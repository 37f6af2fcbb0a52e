//! The agent API: registration, the command stream, status updates, heartbeats and log chunks.

use super::*;
use crate::logs::Chunk;
use crate::master::StreamKey;
use agora_api::agent::{LogChunkInfo, RegisterAgent, StatusUpdates};
use agora_api::AgentId;

pub(super) async fn register(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: RegisterAgent = call.body()?;
    json(&ctx.master.register_agent(call.caller()?, req).await?)
}

pub(super) async fn commands(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let id: AgentId = call.param("id")?;
    let last = streams::last_event_id(&call)?;
    let (position, generation) = ctx.master.open_agent_stream(call.caller()?, &id, last).await?;
    Ok(streams::event_stream(ctx.clone(), StreamKey::Agent(id), generation, position, None))
}

pub(super) async fn updates(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: StatusUpdates = call.body()?;
    ctx.master.agent_updates(call.caller()?, &call.param("id")?, req).await?;
    accepted()
}

pub(super) async fn heartbeat(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    ctx.master.agent_heartbeat(call.caller()?, &call.param("id")?).await?;
    status(StatusCode::NO_CONTENT)
}

/// A chunk of a task's log that an agent sends in answer to a read the master asked for.
pub(super) async fn log_chunk(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let id: AgentId = call.param("id")?;
    let request_id: String = call.param("request_id")?;
    // Ownership first: a caller that may not act as this agent learns nothing else.
    ctx.master.check_agent_owner(call.caller()?, &id).await?;
    let info: LogChunkInfo = call.query()?;
    let chunk = Chunk { info, data: call.raw_body().clone() };
    if ctx.logs.deliver(&ctx.master, &id, &request_id, chunk).await? {
        status(StatusCode::NO_CONTENT)
    } else {
        Err(ServerError::not_found("log request", "unknown_request", request_id))
    }
}
