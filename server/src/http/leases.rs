//! What an autoscaler (or another operators' tool) calls: named leases and the decisions it
//! appends to the operator stream.

use super::*;
use agora_api::operator::{AcquireLease, AutoscalerEvent, ReleaseLease};

pub(super) async fn acquire(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let name: String = call.param("name")?;
    let req: AcquireLease = call.body()?;
    json(&ctx.master.acquire_lease(call.caller()?, &name, req).await?)
}

pub(super) async fn get(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let name: String = call.param("name")?;
    json(&ctx.master.lease(&name).await?)
}

pub(super) async fn release(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let name: String = call.param("name")?;
    let query: ReleaseLease = call.query()?;
    ctx.master.release_lease(call.caller()?, &name, &query.holder).await?;
    status(StatusCode::NO_CONTENT)
}

pub(super) async fn autoscaler_event(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let event: AutoscalerEvent = call.body()?;
    ctx.master.autoscaler_event(call.caller()?, event).await?;
    status(StatusCode::NO_CONTENT)
}
