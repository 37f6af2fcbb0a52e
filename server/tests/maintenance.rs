//! Maintenance through the HTTP API: operators drain, deactivate and reactivate agents. A
//! held agent is offered to no one; a drained agent's frameworks get inverse offers, and its
//! tasks are killed once the grace period is over.

mod common;

use agora_server::{Kind, MasterConfig};
use common::cluster::{Client, Cluster};
use serde_json::{json, Value};
use std::time::Duration;

/// Reads an event stream until its text holds `needle`; returns what was read.
async fn read_until(stream: &mut reqwest::Response, needle: &str, seen: &mut String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(needle) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("`{needle}` within 10 s; read: {seen}"))
            .expect("the stream stays open")
            .expect("the stream does not end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn wait_for(cluster: &Cluster, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let offers = cluster.operator.get("/v1/offers").await;
        if check(&offers) {
            return offers;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {offers}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn on_agent(offers: &Value, agent: &str) -> Vec<Value> {
    offers["offers"].as_array().expect("offers").iter().filter(|o| o["agent_id"] == agent).cloned().collect()
}

/// A cluster with agents `a` and `b`, timers every 100 ms.
async fn two_agents() -> (Cluster, String, String) {
    let config = MasterConfig { allocation_interval: Duration::from_millis(100), ..Default::default() };
    let cluster = Cluster::empty_with(config).await;
    let a = cluster.add_agent("a", json!({}), 2.0).await;
    let b = cluster.add_agent("b", json!({}), 2.0).await;
    (cluster, a, b)
}

async fn post(client: &Client, path: &str, body: Value) -> (u16, Value) {
    client.post(path, body).await
}

#[tokio::test]
async fn a_drained_agent_is_offered_to_no_one_and_its_tasks_are_killed_after_the_grace_period() {
    let (mut cluster, a, b) = two_agents().await;
    let agent = Client::new(&cluster.server, Kind::Agent);
    let url = format!("{}/v1/agents/{a}/commands", agent.base);
    let mut commands = agent.http.get(url).bearer_auth(&agent.token).send().await.expect("command stream");
    let framework = cluster.subscribe("web").await;
    let offers =
        wait_for(&cluster, "an offer on each agent", |o| !on_agent(o, &a).is_empty() && !on_agent(o, &b).is_empty())
            .await;
    let offer = &on_agent(&offers, &a)[0];
    let task = json!({"task_id": "web-1", "agent_id": a, "resources": {"cpus": 1, "mem": 128},
                      "command": {"shell": "sleep 600"}});
    let accept = json!({"offer_ids": [offer["id"]], "operations": [{"type": "launch", "tasks": [task]}]});
    let (status, body) = post(&cluster.framework, &format!("/v1/frameworks/{framework}/accept"), accept).await;
    assert_eq!(status, 202, "{body}");
    let mut sent = String::new();
    read_until(&mut commands, "launch", &mut sent).await;

    let (status, body) =
        post(&cluster.operator, &format!("/v1/agents/{a}/drain"), json!({"grace_period_secs": 0.5})).await;
    assert_eq!(status, 202, "{body}");
    let view = cluster.operator.get(&format!("/v1/agents/{a}")).await;
    assert_eq!(view["maintenance"]["mode"], "draining", "{view}");
    assert_eq!(view["drained"], false, "a task is still on it: {view}");

    // The framework is told to move its task, by when.
    let mut events = String::new();
    read_until(&mut cluster.streams[0], "inverse_offers", &mut events).await;
    read_until(&mut cluster.streams[0], "web-1", &mut events).await;
    assert!(events.contains("\"deadline\""), "{events}");
    // Nothing of agent a is offered while it drains; b still is.
    let (status, _) = post(&cluster.framework, &format!("/v1/frameworks/{framework}/decline"), json!({
        "offer_ids": on_agent(&cluster.operator.get("/v1/offers").await, &b).iter().map(|o| o["id"].clone()).collect::<Vec<_>>(),
        "filters": {"refuse_secs": 0}
    }))
    .await;
    assert_eq!(status, 202);
    let offers = wait_for(&cluster, "b offered again", |o| !on_agent(o, &b).is_empty()).await;
    assert!(on_agent(&offers, &a).is_empty(), "{offers}");

    // The grace period over, the task is killed.
    read_until(&mut commands, "event:kill", &mut sent).await;
    read_until(&mut commands, "\"task_id\":\"web-1\",\"grace_period_secs\"", &mut sent).await;

    // Reactivated: the inverse offer is rescinded and the agent is offered again.
    let view = cluster.operator.get(&format!("/v1/agents/{a}")).await;
    let inverse_offer_id = view["maintenance"]["inverse_offer_id"].as_str().expect("inverse offer id").to_string();
    let (status, body) = post(&cluster.operator, &format!("/v1/agents/{a}/reactivate"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    read_until(&mut cluster.streams[0], &format!("\"offer_id\":\"{inverse_offer_id}\""), &mut events).await;
    wait_for(&cluster, "a offered again", |o| !on_agent(o, &a).is_empty()).await;
    let view = cluster.operator.get(&format!("/v1/agents/{a}")).await;
    assert!(view.get("maintenance").is_none() || view["maintenance"].is_null(), "{view}");
    cluster.stop();
}

#[tokio::test]
async fn a_deactivated_agent_keeps_its_tasks_and_is_offered_again_when_reactivated() {
    let (mut cluster, a, b) = two_agents().await;
    let framework = cluster.subscribe("batch").await;
    wait_for(&cluster, "both agents offered", |o| o["offers"].as_array().map(Vec::len) == Some(2)).await;
    for agent in [&a, &b] {
        let (status, body) = post(&cluster.operator, &format!("/v1/agents/{agent}/deactivate"), json!({})).await;
        assert_eq!(status, 202, "{body}");
    }
    // Its offers are rescinded, and with every agent held the framework is told why.
    let offers = wait_for(&cluster, "offers rescinded", |o| o["offers"] == json!([])).await;
    assert_eq!(offers["offers"], json!([]));
    let diagnostics = cluster.diagnostics(&framework).await;
    assert_eq!(diagnostics["roles"][0]["reasons"][0]["code"], "agents_in_maintenance", "{diagnostics}");
    let view = cluster.operator.get(&format!("/v1/agents/{a}")).await;
    assert_eq!(view["maintenance"]["mode"], "deactivated", "{view}");
    assert_eq!(view["state"], "active", "it is still heard from: {view}");

    let (status, body) = post(&cluster.operator, &format!("/v1/agents/{a}/reactivate"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let offers = wait_for(&cluster, "a offered again", |o| !on_agent(o, &a).is_empty()).await;
    assert!(on_agent(&offers, &b).is_empty(), "b is still deactivated: {offers}");
    cluster.stop();
}

#[tokio::test]
async fn bad_maintenance_requests_get_a_4xx() {
    let (cluster, a, _) = two_agents().await;
    let (status, body) = post(&cluster.operator, "/v1/agents/nobody/drain", json!({})).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_agent")), "{body}");
    for grace in [json!(-1), json!(1e12)] {
        let (status, body) =
            post(&cluster.operator, &format!("/v1/agents/{a}/drain"), json!({"grace_period_secs": grace})).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_grace_period")), "{body}");
    }
    let (status, body) = post(&cluster.operator, &format!("/v1/agents/{a}/drain"), json!({"grace": 1})).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")), "{body}");
    let (status, _) = post(&cluster.framework, &format!("/v1/agents/{a}/deactivate"), json!({})).await;
    assert_eq!(status, 403, "frameworks do not hold agents");
    let view = cluster.operator.get(&format!("/v1/agents/{a}")).await;
    assert!(view.get("maintenance").is_none(), "nothing changed: {view}");
    cluster.stop();
}
