//! What operators and dashboards read, and what operators change: roles, maintenance,
//! reservations and volumes.

use super::*;
use crate::master::StreamKey;
use agora_api::operator::{
    AgentList, CreateVolume, DrainAgent, FrameworkList, OfferList, ReserveResources, RoleConfig, RoleList, TaskFilter,
    TaskList,
};
use agora_api::AgentId;

pub(super) async fn cluster(ctx: Arc<Ctx>, _: Call) -> Reply_ {
    json(&ctx.master.cluster().await?)
}

pub(super) async fn agents(ctx: Arc<Ctx>, _: Call) -> Reply_ {
    json(&AgentList { agents: ctx.master.agents().await? })
}

pub(super) async fn agent(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.agent(&call.param("id")?).await?)
}

pub(super) async fn frameworks(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&FrameworkList { frameworks: ctx.master.frameworks(call.caller()?).await? })
}

pub(super) async fn framework(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.framework(call.caller()?, &call.param("id")?).await?)
}

pub(super) async fn tasks(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let filter: TaskFilter = call.query()?;
    json(&TaskList { tasks: ctx.master.tasks(call.caller()?, &filter).await? })
}

pub(super) async fn offers(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&OfferList { offers: ctx.master.offers(call.caller()?).await? })
}

pub(super) async fn diagnostics(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.diagnostics(call.caller()?, &call.param("id")?).await?)
}

/// The operator stream: every task of every framework passes here, so the policy admits
/// operators and viewers only.
pub(super) async fn events(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let position = ctx.master.open_operator_stream(streams::last_event_id(&call)?).await?;
    Ok(streams::event_stream(ctx.clone(), StreamKey::Operator, 0, position, None))
}

pub(super) async fn roles(ctx: Arc<Ctx>, _: Call) -> Reply_ {
    json(&RoleList { roles: ctx.master.roles().await? })
}

pub(super) async fn set_role(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let role: String = call.param("role")?;
    let role = percent_decoded(&role)
        .ok_or_else(|| ServerError::bad("invalid_role", "the role in the path is not valid UTF-8"))?;
    let config: RoleConfig = call.body()?;
    json(&ctx.master.set_role(call.caller()?, &role, config).await?)
}

pub(super) async fn drain(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: DrainAgent = call.body_or_default()?;
    ctx.master.drain_agent(call.caller()?, &call.param("id")?, req).await?;
    accepted()
}

pub(super) async fn deactivate(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    ctx.master.deactivate_agent(call.caller()?, &call.param("id")?).await?;
    accepted()
}

pub(super) async fn reactivate(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    ctx.master.reactivate_agent(call.caller()?, &call.param("id")?).await?;
    accepted()
}

pub(super) async fn reserve(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: ReserveResources = call.body()?;
    json(&ctx.master.reserve(call.caller()?, &call.param::<AgentId>("id")?, req).await?)
}

pub(super) async fn unreserve(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: ReserveResources = call.body()?;
    json(&ctx.master.unreserve(call.caller()?, &call.param::<AgentId>("id")?, req).await?)
}

pub(super) async fn create_volume(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: CreateVolume = call.body()?;
    json(&ctx.master.create_volume(call.caller()?, &call.param::<AgentId>("id")?, req).await?)
}

pub(super) async fn destroy_volume(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let volume: String = call.param("volume_id")?;
    json(&ctx.master.destroy_volume(call.caller()?, &call.param::<AgentId>("id")?, &volume).await?)
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
