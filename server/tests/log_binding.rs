//! Log reads through the HTTP API, with the agent played by the test so that it sees every
//! read the master asks for: a read, and every chunk of a follow, go to the task that was
//! authorised, even when another framework starts a task of the same id meanwhile (issue 15).

mod common;

use agora_api::agent::{AgentCommand, ReadLogCommand};
use agora_server::Kind;
use common::cluster::{Client, Cluster};
use serde_json::json;
use std::time::Duration;

const ALICE_OUTPUT: &str = "alice-output\n";
const BOB_OUTPUT: &str = "bob-output, which alice must never see\n";

/// An agent's command stream, read as the agent.
struct Commands {
    response: reqwest::Response,
    buffer: String,
}

impl Commands {
    async fn open(agent: &Client, id: &str) -> Commands {
        let url = format!("{}/v1/agents/{id}/commands", agent.base);
        let response = agent.http.get(url).bearer_auth(&agent.token).send().await.expect("command stream");
        assert_eq!(response.status(), 200);
        Commands { response, buffer: String::new() }
    }

    /// The next command other than a ping, within 10 s.
    async fn next(&mut self) -> AgentCommand {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = ("", String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                match AgentCommand::parse(name, &data).expect("a well-formed command") {
                    Some(AgentCommand::Ping) | None => {}
                    Some(command) => return command,
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("a command within 10 s; unread: {}", self.buffer))
                .expect("the stream stays open")
                .expect("the stream does not end");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn next_read_log(&mut self) -> ReadLogCommand {
        match self.next().await {
            AgentCommand::ReadLog(read) => read,
            other => panic!("expected a read_log command, got {other:?}"),
        }
    }

    async fn next_launch(&mut self, task: &str) {
        match self.next().await {
            AgentCommand::Launch(launch) if launch.task.task_id.as_str() == task => {}
            other => panic!("expected the launch of {task}, got {other:?}"),
        }
    }
}

/// Answers a read as the agent would, from each framework's own `stdout` of task `same`:
/// alice's task has ended, bob's runs on.
async fn answer(agent: &Client, agent_id: &str, read: &ReadLogCommand, alice: &str) {
    let (file, ended) = if read.framework_id.as_str() == alice { (ALICE_OUTPUT, true) } else { (BOB_OUTPUT, false) };
    let start = (read.offset as usize).min(file.len());
    let url = format!(
        "{}/v1/agents/{agent_id}/logs/{}?offset={start}&found=true&task_ended={ended}",
        agent.base, read.request_id
    );
    let response =
        agent.http.post(url).bearer_auth(&agent.token).body(file[start..].to_string()).send().await.expect("post");
    assert_eq!(response.status(), 204);
}

/// Registers a framework of `client`'s principal and opens its event stream.
async fn register(client: &Client, name: &str) -> (String, reqwest::Response) {
    let (status, body) = client.post("/v1/frameworks", json!({"name": name, "roles": ["*"]})).await;
    assert_eq!(status, 200, "{body}");
    let id = body["framework_id"].as_str().expect("id").to_string();
    let url = format!("{}/v1/frameworks/{id}/events", client.base);
    let stream = client.http.get(url).bearer_auth(&client.token).send().await.expect("stream");
    (id, stream)
}

/// Waits for an offer to `framework` and launches task `same` on it.
async fn launch_same(cluster: &Cluster, client: &Client, framework: &str, agent: &str, line: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let offer = loop {
        if let Some(offer) = cluster.offer_ids(framework).await.into_iter().next() {
            break offer;
        }
        assert!(tokio::time::Instant::now() < deadline, "an offer for {framework}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let task = json!({"task_id": "same", "agent_id": agent, "resources": {"cpus": 0.1, "mem": 32},
                      "command": {"shell": line}});
    let accept = json!({"offer_ids": [offer], "operations": [{"type": "launch", "tasks": [task]}]});
    let (status, body) = client.post(&format!("/v1/frameworks/{framework}/accept"), accept).await;
    assert_eq!(status, 202, "{body}");
}

/// Alice's framework ran task `same` on agent `x`, which has ended; bob's framework is
/// offered `x` and has launched nothing yet.
struct Scene {
    cluster: Cluster,
    agent: Client,
    x: String,
    commands: Commands,
    alice: Client,
    bob: Client,
    a: String,
    b: String,
    _streams: Vec<reqwest::Response>,
}

async fn scene() -> Scene {
    let cluster = Cluster::empty().await;
    let agent = Client::new(&cluster.server, Kind::Agent);
    let x = cluster.add_agent("x", json!({}), 4.0).await;
    let mut commands = Commands::open(&agent, &x).await;
    let alice = Client::with_principal(&cluster.server, Kind::Framework, "alice");
    let bob = Client::with_principal(&cluster.server, Kind::Framework, "bob");
    let (a, a_stream) = register(&alice, "a").await;
    launch_same(&cluster, &alice, &a, &x, "echo alice-output").await;
    commands.next_launch("same").await;
    cluster.task_ended(&x, &a, "same", "finished").await;
    // Alice steps aside, so that bob is offered the agent.
    let (status, body) = alice.post(&format!("/v1/frameworks/{a}/suppress"), json!({})).await;
    assert_eq!(status, 202, "{body}");
    let (b, b_stream) = register(&bob, "b").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cluster.offer_ids(&b).await.is_empty() {
        let held = cluster.offer_ids(&a).await;
        if !held.is_empty() {
            let decline = json!({"offer_ids": held, "filters": {"refuse_secs": 3600}});
            let (status, body) = alice.post(&format!("/v1/frameworks/{a}/decline"), decline).await;
            assert_eq!(status, 202, "{body}");
        }
        assert!(tokio::time::Instant::now() < deadline, "an offer for bob");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Scene { cluster, agent, x, commands, alice, bob, a, b, _streams: vec![a_stream, b_stream] }
}

async fn task_states(cluster: &Cluster) -> Vec<(String, String)> {
    let tasks = cluster.operator.get("/v1/tasks").await;
    let tasks = tasks["tasks"].as_array().expect("tasks").iter();
    tasks.map(|t| (t["framework_id"].as_str().unwrap_or("").to_string(), t["state"].to_string())).collect()
}

#[tokio::test]
async fn a_framework_reads_its_own_ended_task_while_another_runs_one_of_the_same_id() {
    let mut s = scene().await;
    launch_same(&s.cluster, &s.bob, &s.b, &s.x, "while true; do echo bob; done").await;
    s.commands.next_launch("same").await;
    assert_eq!(task_states(&s.cluster).await.len(), 2, "both frameworks have a task `same`");

    // Without framework_id, alice's read goes to her task, not to bob's running one.
    let url = format!("{}/v1/tasks/same/logs", s.alice.base);
    let request = s.alice.http.get(url).bearer_auth(&s.alice.token).send();
    let mut request = tokio::spawn(request);
    let read = tokio::select! {
        read = s.commands.next_read_log() => read,
        answered = &mut request => {
            let response = answered.expect("join").expect("response");
            panic!("answered {} without asking the agent: {}", response.status(), response.text().await.unwrap_or_default())
        }
    };
    assert_eq!(read.framework_id.as_str(), s.a, "alice's read must go to alice's task");
    // Only the agent asked may answer.
    let y = s.cluster.add_agent("y", json!({}), 1.0).await;
    let url = format!("{}/v1/agents/{y}/logs/{}?offset=0&found=true&task_ended=true", s.agent.base, read.request_id);
    let forged = s.agent.http.post(url).bearer_auth(&s.agent.token).body("forged").send().await.expect("post");
    assert_eq!(forged.status(), 404);
    answer(&s.agent, &s.x, &read, &s.a).await;
    let response = request.await.expect("join").expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), ALICE_OUTPUT);

    // Bob reads his own.
    let url = format!("{}/v1/tasks/same/logs", s.bob.base);
    let request = tokio::spawn(s.bob.http.get(url).bearer_auth(&s.bob.token).send());
    let read = s.commands.next_read_log().await;
    assert_eq!(read.framework_id.as_str(), s.b);
    answer(&s.agent, &s.x, &read, &s.a).await;
    let response = request.await.expect("join").expect("response");
    assert_eq!(response.text().await.expect("body"), BOB_OUTPUT);
    s.cluster.stop();
}

#[tokio::test]
async fn every_chunk_of_a_follow_reads_the_task_that_was_authorised() {
    let mut s = scene().await;
    // Alice follows her ended task while it is the only task `same`.
    let url = format!("{}/v1/tasks/same/logs?follow=true", s.alice.base);
    let response = s.alice.http.get(url).bearer_auth(&s.alice.token).send().await.expect("follow");
    assert_eq!(response.status(), 200);
    let first = s.commands.next_read_log().await;
    assert_eq!(first.framework_id.as_str(), s.a);
    // Before the agent answers, bob starts a task of the same id on the same agent.
    launch_same(&s.cluster, &s.bob, &s.b, &s.x, "while true; do echo bob; done").await;
    s.commands.next_launch("same").await;
    answer(&s.agent, &s.x, &first, &s.a).await;
    // The follow asks for more of alice's task, never of bob's.
    let second = s.commands.next_read_log().await;
    assert_eq!(second.framework_id.as_str(), s.a, "the follow's next read must stay on alice's task");
    assert_eq!(second.offset, ALICE_OUTPUT.len() as u64);
    answer(&s.agent, &s.x, &second, &s.a).await;
    let body = tokio::time::timeout(Duration::from_secs(10), response.text()).await.expect("the follow ends");
    assert_eq!(body.expect("body"), ALICE_OUTPUT);
    s.cluster.stop();
}

#[tokio::test]
async fn a_framework_cannot_tell_another_principals_task_from_none() {
    let s = scene().await;
    // Bob has no task `same` yet: alice's is not his to read, with or without its framework.
    let (status, body) = s.bob.send(reqwest::Method::GET, "/v1/tasks/same/logs", None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_task")), "{body}");
    let (status, body) = s.bob.send(reqwest::Method::GET, "/v1/tasks/same/logs?follow=true", None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_task")), "{body}");
    // Named by her framework id, it gets the answer of a task that does not exist, with
    // nothing in it that confirms her framework's id.
    let with_framework = format!("/v1/tasks/same/logs?framework_id={}", s.a);
    let (status, body) = s.bob.send(reqwest::Method::GET, &with_framework, None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unknown_task")), "{body}");
    assert!(!body.to_string().contains(s.a.as_str()), "{body}");
    s.cluster.stop();
}
