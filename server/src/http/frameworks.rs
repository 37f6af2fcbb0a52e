//! The framework API: registration, the event stream, and the calls on offers and tasks.

use super::*;

pub(super) fn routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
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
