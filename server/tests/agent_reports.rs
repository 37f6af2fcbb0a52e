//! What an agent may report when it registers, through the HTTP API (issue 15, item 4). An
//! agent token speaks only for its own tasks: a task of a framework the master never placed on
//! that agent is refused, so are tasks larger than the agent, and nobody's share changes
//! because of such a report. Agents that come back after a restart or a loss of the store still
//! get their tasks adopted.

mod common;

use agora_server::Kind;
use common::cluster::{Client, Cluster};
use serde_json::{json, Value};
use std::time::Duration;

/// What the API shows of everyone's usage and shares: frameworks, roles, agents, the cluster
/// and every task with its resources (not its state, which the agent may report).
async fn shares(cluster: &Cluster) -> Value {
    let sorted = |mut rows: Vec<Value>| {
        rows.sort_by_key(|r| r.to_string());
        Value::Array(rows)
    };
    let list = |value: &Value, name: &str, fields: &[&str]| {
        let rows = value[name].as_array().expect(name).iter();
        sorted(rows.map(|row| Value::Array(fields.iter().map(|f| row[*f].clone()).collect())).collect())
    };
    let frameworks = cluster.operator.get("/v1/frameworks").await;
    let roles = cluster.operator.get("/v1/roles").await;
    let agents = cluster.operator.get("/v1/agents").await;
    let tasks = cluster.operator.get("/v1/tasks").await;
    let total = cluster.operator.get("/v1/cluster").await;
    json!({
        "frameworks": list(&frameworks, "frameworks", &["id", "used", "offered", "tasks"]),
        "roles": list(&roles, "roles", &["role", "allocated", "consumed", "dominant_share"]),
        "agents": list(&agents, "agents", &["id", "total", "used", "tasks"]),
        "tasks": list(&tasks, "tasks", &["framework_id", "task_id", "agent_id", "resources"]),
        "cluster": [total["total"], total["used"], total["tasks"]],
    })
}

/// A task as an agent reports it at registration.
fn running(framework: &str, task: &str, agent: &str, cpus: f64, mem: f64) -> Value {
    json!({
        "framework_id": framework,
        "task": {"task_id": task, "agent_id": agent, "resources": {"cpus": cpus, "mem": mem},
                 "command": {"shell": "sleep 600"}},
        "status": {"task_id": task, "framework_id": framework, "agent_id": agent, "state": "running",
                   "timestamp": 1.0},
    })
}

fn registration(agent: &str, hostname: &str, tasks: Vec<Value>) -> Value {
    json!({"agent_id": agent, "hostname": hostname, "resources": {"cpus": 8, "mem": 8192}, "tasks": tasks})
}

/// Registers a framework of `client`'s principal in `role` and opens its event stream.
async fn subscribe(client: &Client, role: &str) -> (String, reqwest::Response) {
    let registration = json!({"name": role, "roles": [role], "failover_timeout_secs": 3600});
    let (status, body) = client.post("/v1/frameworks", registration).await;
    assert_eq!(status, 200, "{body}");
    let id = body["framework_id"].as_str().expect("id").to_string();
    let url = format!("{}/v1/frameworks/{id}/events", client.base);
    let stream = client.http.get(url).bearer_auth(&client.token).send().await.expect("stream");
    (id, stream)
}

/// Waits for an offer to `framework` on `agent` and launches task `task` of one CPU from it.
async fn launch_on(cluster: &Cluster, client: &Client, framework: &str, agent: &str, task: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let offer = loop {
        let offers = cluster.offers_of(framework).await;
        if let Some(offer) = offers.into_iter().find(|o| o["agent_id"] == agent) {
            break offer["id"].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "an offer for {framework} on {agent}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let task = json!({"task_id": task, "agent_id": agent, "resources": {"cpus": 1, "mem": 128},
                      "command": {"shell": "sleep 600"}});
    let accept = json!({"offer_ids": [offer], "operations": [{"type": "launch", "tasks": [task]}]});
    let (status, body) = client.post(&format!("/v1/frameworks/{framework}/accept"), accept).await;
    assert_eq!(status, 202, "{body}");
}

/// Suppresses `framework` and declines what it holds.
async fn step_aside(cluster: &Cluster, client: &Client, framework: &str) {
    let (status, body) = client.post(&format!("/v1/frameworks/{framework}/suppress"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let held = cluster.offer_ids(framework).await;
    if !held.is_empty() {
        let decline = json!({"offer_ids": held, "filters": {"refuse_secs": 3600}});
        let (status, body) = client.post(&format!("/v1/frameworks/{framework}/decline"), decline).await;
        assert_eq!(status, 202, "{body}");
    }
}

/// Reads an event stream until its text holds every one of `needles`.
async fn read_until(stream: &mut reqwest::Response, needles: &[&str], seen: &mut String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !needles.iter().all(|n| seen.contains(n)) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("{needles:?} within 10 s; read: {seen}"))
            .expect("the stream stays open")
            .expect("the stream does not end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// An honest agent `h`; mallory's agent `e`; framework `f` (principal "framework", role
/// `web`) with a task on each, and framework `g` (principal "bob", role `batch`) with a task
/// on `h` only. Nothing is offered, so what the API shows holds still.
struct Scene {
    cluster: Cluster,
    mallory: Client,
    e: String,
    f: String,
    g: String,
    /// Agent `e`'s command stream, read as mallory.
    commands: reqwest::Response,
    /// Framework `g`'s event stream, read as bob.
    g_events: reqwest::Response,
}

async fn scene() -> Scene {
    let mut cluster = Cluster::empty().await;
    let h = cluster.add_agent("h", json!({}), 4.0).await;
    let mallory = Client::with_principal(&cluster.server, Kind::Agent, "mallory");
    let (status, body) =
        mallory.post("/v1/agents", json!({"hostname": "e", "resources": {"cpus": 8, "mem": 8192}})).await;
    assert_eq!(status, 200, "{body}");
    let e = body["agent_id"].as_str().expect("agent id").to_string();
    let url = format!("{}/v1/agents/{e}/commands", mallory.base);
    let commands = mallory.http.get(url).bearer_auth(&mallory.token).send().await.expect("command stream");
    assert_eq!(commands.status(), 200);

    let bob = Client::with_principal(&cluster.server, Kind::Framework, "bob");
    let (g, g_events) = subscribe(&bob, "batch").await;
    launch_on(&cluster, &bob, &g, &h, "g-on-h").await;
    step_aside(&cluster, &bob, &g).await;
    let (f, f_stream) = subscribe(&cluster.framework, "web").await;
    cluster.streams.push(f_stream);
    launch_on(&cluster, &cluster.framework, &f, &h, "f-on-h").await;
    launch_on(&cluster, &cluster.framework, &f, &e, "f-on-e").await;
    step_aside(&cluster, &cluster.framework, &f).await;
    // Offers made before a framework stepped aside are declined too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cluster.operator.get("/v1/offers").await["offers"] != json!([]) {
        step_aside(&cluster, &bob, &g).await;
        step_aside(&cluster, &cluster.framework, &f).await;
        assert!(tokio::time::Instant::now() < deadline, "offers left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Scene { cluster, mallory, e, f, g, commands, g_events }
}

#[tokio::test]
async fn an_agent_reporting_a_task_of_another_principals_framework_is_refused_and_no_share_changes() {
    let mut s = scene().await;
    let before = shares(&s.cluster).await;
    // Mallory's agent comes back with f's task, which f launched there, and a task of g, which
    // never ran there: g's share would grow by two CPUs it does not use.
    let report = registration(
        &s.e,
        "e",
        vec![running(&s.f, "f-on-e", &s.e, 1.0, 128.0), running(&s.g, "planted", &s.e, 2.0, 256.0)],
    );
    let (status, body) = s.mallory.post("/v1/agents", report).await;
    assert_eq!(status, 200, "the agent registers, and its own task is adopted: {body}");
    assert_eq!(shares(&s.cluster).await, before, "a refused task changed someone's share");
    let tasks = s.cluster.operator.get("/v1/tasks").await;
    let states: Vec<(&str, &str)> = tasks["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| (t["task_id"].as_str().unwrap_or(""), t["state"].as_str().unwrap_or("")))
        .collect();
    assert!(states.contains(&("f-on-e", "running")), "f's task on e is adopted as reported: {states:?}");
    assert!(!states.iter().any(|(t, _)| *t == "planted"), "{states:?}");
    // The agent is told to stop the task it may not run.
    let mut seen = String::new();
    read_until(&mut s.commands, &["event:kill", "\"task_id\":\"planted\""], &mut seen).await;
    // A brand-new agent of mallory's fares no better.
    let (status, body) = s
        .mallory
        .post(
            "/v1/agents",
            json!({"hostname": "e2", "resources": {"cpus": 8, "mem": 8192},
                                    "tasks": [running(&s.f, "planted-too", "whatever", 1.0, 128.0)]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Its resources lower every dominant share; what each framework and role holds is the same.
    let after = shares(&s.cluster).await;
    assert_eq!(after["frameworks"], before["frameworks"]);
    let held = |shares: &Value| {
        let roles = shares["roles"].as_array().expect("roles").iter();
        roles.map(|r| [r[0].clone(), r[1].clone(), r[2].clone()]).collect::<Vec<_>>()
    };
    assert_eq!(held(&after), held(&before));
    s.cluster.stop();
}

/// An update for a task the store has no record of, from an agent that framework never placed
/// a task on, is not passed on: the framework would take a stranger's word that its task ended.
#[tokio::test]
async fn an_agent_sending_an_update_for_a_task_of_another_principals_framework_is_not_passed_on() {
    let mut s = scene().await;
    let forged = json!({"task_id": "forged", "framework_id": s.g, "agent_id": s.e, "state": "finished",
                        "timestamp": 1.0, "update_id": "u-forged"});
    let (status, body) = s.mallory.post(&format!("/v1/agents/{}/updates", s.e), json!({"updates": [forged]})).await;
    assert_eq!(status, 202, "the batch is taken, so that the agent's other updates are not held up: {body}");
    // It is acknowledged for the agent, which would otherwise send it again for ever.
    let mut seen = String::new();
    read_until(&mut s.commands, &["event:acknowledge", "u-forged"], &mut seen).await;
    // g asks for offers again: the offers arrive on its stream after anything sent before.
    let bob = Client::with_principal(&s.cluster.server, Kind::Framework, "bob");
    let (status, body) = bob.post(&format!("/v1/frameworks/{}/revive", s.g), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let mut g_seen = String::new();
    read_until(&mut s.g_events, &["event:offers"], &mut g_seen).await;
    assert!(!g_seen.contains("forged"), "g was told of a task an agent made up: {g_seen}");
    let events = s.cluster.operator.get("/v1/tasks").await;
    assert!(!events.to_string().contains("forged"), "{events}");
    s.cluster.stop();
}

#[tokio::test]
async fn an_agent_reporting_a_task_of_a_billion_cpus_is_refused_and_no_share_changes() {
    let s = scene().await;
    let before = shares(&s.cluster).await;
    // f did launch on e, so e may report f's tasks, but not more than e has.
    let report = registration(
        &s.e,
        "e",
        vec![running(&s.f, "f-on-e", &s.e, 1.0, 128.0), running(&s.f, "huge", &s.e, 1e9, 128.0)],
    );
    let (status, body) = s.mallory.post("/v1/agents", report).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_resources")), "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    // Tasks that each fit but together do not are refused the same way.
    let many: Vec<Value> = (0..9).map(|i| running(&s.f, &format!("part-{i}"), &s.e, 1.0, 128.0)).collect();
    let (status, body) = s.mallory.post("/v1/agents", registration(&s.e, "e", many)).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_resources")), "{body}");
    assert_eq!(shares(&s.cluster).await, before, "a refused registration changed someone's share");
    let tasks = s.cluster.operator.get("/v1/tasks").await;
    let f_on_e = tasks["tasks"].as_array().expect("tasks").iter().find(|t| t["task_id"] == "f-on-e").cloned();
    assert_eq!(f_on_e.map(|t| t["state"].clone()), Some(json!("staging")), "nothing of the report was applied");
    s.cluster.stop();
}

#[tokio::test]
async fn an_agent_that_registers_again_with_its_own_tasks_keeps_them() {
    let s = scene().await;
    let before = shares(&s.cluster).await;
    let report = registration(&s.e, "e", vec![running(&s.f, "f-on-e", &s.e, 1.0, 128.0)]);
    let (status, body) = s.mallory.post("/v1/agents", report).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(shares(&s.cluster).await, before);
    let view = s.cluster.operator.get(&format!("/v1/frameworks/{}", s.f)).await;
    assert_eq!((view["tasks"].as_u64(), view["used"]["cpus"].as_f64()), (Some(2), Some(2.0)), "{view}");
    // Its task, once ended, may still be reported (its last update unacknowledged), even
    // after f stopped having tasks there.
    let update = json!({"task_id": "f-on-e", "framework_id": s.f, "agent_id": s.e, "state": "finished",
                        "timestamp": 1.0, "update_id": "u-1"});
    let (status, body) = s.mallory.post(&format!("/v1/agents/{}/updates", s.e), json!({"updates": [update]})).await;
    assert!(status < 300, "{body}");
    let mut ended = running(&s.f, "f-on-e", &s.e, 1.0, 128.0);
    ended["status"]["state"] = json!("finished");
    let (status, body) = s.mallory.post("/v1/agents", registration(&s.e, "e", vec![ended])).await;
    assert_eq!(status, 200, "{body}");
    let view = s.cluster.operator.get(&format!("/v1/frameworks/{}", s.f)).await;
    assert_eq!((view["tasks"].as_u64(), view["used"]["cpus"].as_f64()), (Some(1), Some(1.0)), "{view}");
    s.cluster.stop();
}

/// After the store lost everything, agents come back before their frameworks or after them;
/// either way the tasks they run are adopted, not killed.
#[tokio::test]
async fn tasks_of_frameworks_the_store_lost_are_adopted_whichever_registers_first() {
    let cluster = Cluster::empty().await;
    let agent = Client::new(&cluster.server, Kind::Agent);
    // The agent first: its framework is unknown, so nobody's share changes until it is back.
    let report = registration("back-1", "one", vec![running("lost-1", "t1", "back-1", 1.0, 128.0)]);
    let (status, body) = agent.post("/v1/agents", report).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        cluster.framework.post("/v1/frameworks", json!({"id": "lost-1", "name": "one", "roles": ["*"]})).await;
    assert_eq!(status, 200, "{body}");
    let view = cluster.operator.get("/v1/frameworks/lost-1").await;
    assert_eq!((view["tasks"].as_u64(), view["used"]["cpus"].as_f64()), (Some(1), Some(1.0)), "{view}");
    // The framework first, back under its id: the agent that follows still reports its task.
    let (status, body) =
        cluster.framework.post("/v1/frameworks", json!({"id": "lost-2", "name": "two", "roles": ["*"]})).await;
    assert_eq!(status, 200, "{body}");
    let report = registration("back-2", "two", vec![running("lost-2", "t2", "back-2", 1.0, 128.0)]);
    let (status, body) = agent.post("/v1/agents", report).await;
    assert_eq!(status, 200, "{body}");
    let view = cluster.operator.get("/v1/frameworks/lost-2").await;
    assert_eq!((view["tasks"].as_u64(), view["used"]["cpus"].as_f64()), (Some(1), Some(1.0)), "{view}");
    cluster.stop();
}
