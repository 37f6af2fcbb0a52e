//! The framework API: registration, the event stream, and the calls on offers and tasks.

use super::*;
use crate::master::StreamKey;
use agora_api::framework::{Accept, Acknowledge, Decline, Demand, Kill, Reconcile, RegisterFramework, Roles};
use agora_api::{FrameworkId, TaskId};

pub(super) async fn register(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: RegisterFramework = call.body()?;
    json(&ctx.master.register_framework(call.caller()?, req).await?)
}

pub(super) async fn teardown(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    ctx.master.teardown(call.caller()?, &call.param("id")?).await?;
    status(StatusCode::NO_CONTENT)
}

pub(super) async fn events(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let id: FrameworkId = call.param("id")?;
    let last = streams::last_event_id(&call)?;
    let (subscribed, position, generation) = ctx.master.open_framework_stream(call.caller()?, &id, last).await?;
    let first = (subscribed.name(), subscribed.data());
    Ok(streams::event_stream(ctx.clone(), StreamKey::Framework(id), generation, position, Some(first)))
}

pub(super) async fn accept(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Accept = call.body()?;
    ctx.master.accept(call.caller()?, &call.param("id")?, req).await?;
    accepted()
}

pub(super) async fn decline(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Decline = call.body()?;
    ctx.master.decline(call.caller()?, &call.param("id")?, req).await?;
    accepted()
}

pub(super) async fn revive(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Roles = call.body_or_default()?;
    ctx.master.revive(call.caller()?, &call.param("id")?, &req.roles).await?;
    accepted()
}

pub(super) async fn suppress(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Roles = call.body_or_default()?;
    ctx.master.suppress(call.caller()?, &call.param("id")?, &req.roles).await?;
    accepted()
}

pub(super) async fn acknowledge(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Acknowledge = call.body()?;
    ctx.master.acknowledge(call.caller()?, &call.param("id")?, req).await?;
    accepted()
}

pub(super) async fn reconcile(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Reconcile = call.body_or_default()?;
    json(&ctx.master.reconcile(call.caller()?, &call.param("id")?, req).await?)
}

pub(super) async fn kill(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Kill = call.body_or_default()?;
    let task_id: TaskId = call.param("task_id")?;
    ctx.master.kill(call.caller()?, &call.param("id")?, &task_id, req).await?;
    accepted()
}

pub(super) async fn set_demand(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let req: Demand = call.body()?;
    ctx.master.set_demand(call.caller()?, &call.param("id")?, req).await?;
    status(StatusCode::NO_CONTENT)
}
