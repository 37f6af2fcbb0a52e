//! The Rust SDK's example framework (`sdk/rust/examples/framework.rs`), run against a real
//! `agora dev`: what its documentation shows works as shown.

mod common;
#[path = "../../sdk/rust/examples/framework.rs"]
mod example;

use agora_api::TaskState;
use common::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_framework_runs_a_task_and_prints_its_output() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.issue_token("framework", "example");
    let client = agora_client::Client::new(&cluster.url, &token).expect("client");
    let run = example::run_once(&client, "echo hello from Agora");
    let (state, output) = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the example ends within a minute")
        .expect("the example runs");
    assert_eq!((state, output.as_str()), (TaskState::Finished, "hello from Agora\n"));
    // It tore itself down.
    let frameworks = cluster.client().get::<agora_api::operator::FrameworkList>("/v1/frameworks").await;
    assert_eq!(frameworks.expect("frameworks").frameworks, vec![]);
}
