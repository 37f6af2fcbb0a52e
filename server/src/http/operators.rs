//! What operators and dashboards read, and what operators change: roles, maintenance,
//! reservations and volumes.

use super::*;

pub(super) fn routes(ctx: Arc<Ctx>) -> BoxedFilter<(Response,)> {
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
    let tasks = warp::path!("v1" / "tasks").and(warp::get()).and(c()).and(raw_query()).then(
        move |ctx: Arc<Ctx>, auth, query: String| async move {
            respond(
                async {
                    let claims = read(&ctx, &auth)?;
                    let filter: TaskFilter = parse_query(&query)?;
                    let (framework, agent) = (filter.framework_id.as_ref(), filter.agent_id.as_ref());
                    let mut tasks = ctx.master.tasks(framework, agent, filter.state).await?;
                    if let Some(own) = ctx.readable_frameworks(&claims).await? {
                        tasks.retain(|t| own.contains(&t.framework_id));
                    }
                    json(&TaskList { tasks })
                }
                .await,
            )
        },
    );
    let logs = warp::path!("v1" / "tasks" / TaskId / "logs").and(warp::get()).and(c()).and(raw_query()).then(
        |task_id: TaskId, ctx: Arc<Ctx>, auth: Option<String>, query: String| async move {
            respond(task_logs(&ctx, &auth, task_id, &query).await)
        },
    );
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
                    let position = ctx.master.open_operator_stream(parse_last_event_id(last)?).await?;
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
