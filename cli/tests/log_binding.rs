//! Issue 15, item 2, end to end: a real `agora dev` and its agent running real tasks. A log
//! read, and a follow, go to the task the reader was authorised for: a framework that reads its
//! own ended task while another principal's framework runs a task of the same id gets its own
//! output, and never the other's.

mod common;

use agora_api::framework::{Decline, Filters, Roles};
use agora_api::operator::TaskList;
use agora_api::TaskState;
use common::*;
use futures::StreamExt as _;
use std::time::Duration;

const ALICE_MARKER: &str = "alice-marker";
const BOB_MARKER: &str = "bob-marker";

/// The whole body of a log request, read within [`DEADLINE`].
async fn read_all(response: reqwest::Response) -> String {
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + DEADLINE;
    while let Some(chunk) = tokio::time::timeout_at(until, body.next()).await.expect("the answer ends in time") {
        seen.extend_from_slice(&chunk.expect("bytes"));
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_reads_and_follows_its_own_ended_task_not_another_principals_running_task_of_the_same_id() {
    let cluster = Cluster::start(&[]).await;
    let (alice_token, bob_token) = (cluster.issue_token("framework", "alice"), cluster.issue_token("framework", "bob"));
    let mut a = Framework::register(cluster.client_with(&alice_token), registration("a")).await;
    let offers = a.offers().await;
    let line = format!("echo {ALICE_MARKER}");
    a.launch(&offers[0], vec![shell_task(&offers[0].agent_id, "same", &line, 0.1, 32.0)]).await.expect("launch");
    loop {
        let status = a.update("same", true).await;
        if status.state.is_terminal() {
            assert_eq!(status.state, TaskState::Finished, "{status:?}");
            break;
        }
    }
    // Alice wants nothing more, so that bob is offered the agent.
    a.client.post_no_content(&a.path("suppress"), &Roles::default()).await.expect("suppress");
    let held: agora_api::operator::OfferList = a.client.get("/v1/offers").await.expect("offers");
    if !held.offers.is_empty() {
        let decline = Decline {
            offer_ids: held.offers.iter().map(|o| o.id.clone()).collect(),
            filters: Filters { refuse_secs: Some(3600.0) },
        };
        a.client.post_no_content(&a.path("decline"), &decline).await.expect("decline");
    }

    // Bob runs a task of the same id that keeps writing.
    let mut b = Framework::register(cluster.client_with(&bob_token), registration("b")).await;
    let offers = b.offers().await;
    let line = format!("while true; do echo {BOB_MARKER}; sleep 0.05; done");
    b.launch(&offers[0], vec![shell_task(&offers[0].agent_id, "same", &line, 0.1, 32.0)]).await.expect("launch");
    while b.update("same", true).await.state != TaskState::Running {}
    let (bob_log, _) = eventually(DEADLINE, "bob's task to write", || {
        let client = b.client.clone();
        async move { client.get_bytes("/v1/tasks/same/logs").await.ok().filter(|(body, _)| !body.is_empty()) }
    })
    .await;
    assert!(String::from_utf8_lossy(&bob_log).contains(BOB_MARKER), "bob reads his own task");
    let tasks: TaskList = cluster.client().get("/v1/tasks").await.expect("tasks");
    let same: Vec<_> = tasks.tasks.iter().filter(|t| t.task_id.as_str() == "same").map(|t| t.state).collect();
    assert_eq!(same.len(), 2, "two frameworks have a task `same`: {same:?}");

    // Alice, without framework_id, reads and follows her own task, and never bob's.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/tasks/same/logs", cluster.url);
    let response = http.get(&url).bearer_auth(&alice_token).send().await.expect("read");
    assert_eq!(response.status(), 200, "alice reads her own task");
    let read = read_all(response).await;
    assert_eq!(read, format!("{ALICE_MARKER}\n"));
    let response = http.get(format!("{url}?follow=true")).bearer_auth(&alice_token).send().await.expect("follow");
    assert_eq!(response.status(), 200, "alice follows her own task");
    let followed = read_all(response).await;
    assert_eq!(followed, format!("{ALICE_MARKER}\n"));
    assert!(!read.contains(BOB_MARKER) && !followed.contains(BOB_MARKER));
    // A read from an offset past her output waits on her ended task, not on bob's output.
    let tail = http.get(format!("{url}?offset=13&wait_secs=1")).bearer_auth(&alice_token).send().await.expect("read");
    assert_eq!(tail.status(), 200);
    assert_eq!(tokio::time::timeout(Duration::from_secs(10), tail.text()).await.expect("in time").expect("body"), "");
}
