//! Services and their deployments (`crate::services` schedules them).

use super::*;
use agora_api::services::{Rollback, Scale, ServiceList, ServiceSpec};

pub(super) async fn put(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let id: String = call.param("id")?;
    let spec: ServiceSpec = call.body()?;
    json(&ctx.master.put_service(&id, spec).await?)
}

pub(super) async fn list(ctx: Arc<Ctx>, _: Call) -> Reply_ {
    json(&ServiceList { services: ctx.master.services().await? })
}

pub(super) async fn get(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.service(&call.param::<String>("id")?).await?)
}

pub(super) async fn delete(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.delete_service(&call.param::<String>("id")?).await?)
}

pub(super) async fn scale(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let id: String = call.param("id")?;
    let scale: Scale = call.body()?;
    json(&ctx.master.scale_service(&id, scale.instances).await?)
}

pub(super) async fn restart(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.restart_service(&call.param::<String>("id")?).await?)
}

pub(super) async fn rollback(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    let id: String = call.param("id")?;
    // An empty body is the default: the version before the current one.
    let rollback: Rollback = call.body_or_default()?;
    json(&ctx.master.rollback_service(&id, rollback).await?)
}

pub(super) async fn endpoints(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.service_endpoints(&call.param::<String>("id")?).await?)
}

pub(super) async fn deployments(ctx: Arc<Ctx>, _: Call) -> Reply_ {
    json(&ctx.master.deployments().await?)
}

pub(super) async fn cancel_deployment(ctx: Arc<Ctx>, call: Call) -> Reply_ {
    json(&ctx.master.cancel_deployment(&call.param::<String>("id")?).await?)
}
