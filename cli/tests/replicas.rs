//! The state tier (issue 3): `agora server` replicas sharing one real Redis, with real agents,
//! tasks and frameworks, and the failures the tier must ride out.

mod common;

use agora_api::framework::FrameworkEvent;
use agora_api::operator::TaskList;
use agora_api::{AgentId, Offer, TaskState};
use common::replicas::Replicas;
use common::{eventually, registration, shell_task, Framework, DEADLINE};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Collects offers until there is one on each of `agents` (declining nothing).
async fn offers_on(framework: &mut Framework, agents: &[&AgentId]) -> BTreeMap<AgentId, Offer> {
    let mut found = BTreeMap::new();
    while !agents.iter().all(|a| found.contains_key(*a)) {
        for offer in framework.offers().await {
            found.insert(offer.agent_id.clone(), offer);
        }
    }
    found
}

async fn agent_id(cluster: &Replicas, replica: usize, hostname: &str) -> AgentId {
    let client = cluster.client(replica);
    eventually(DEADLINE, "the agent to register", || {
        let client = client.clone();
        async move {
            let list: agora_api::operator::AgentList = client.get("/v1/agents").await.ok()?;
            list.agents.into_iter().find(|a| a.hostname == hostname).map(|a| a.id)
        }
    })
    .await
}

async fn task_state(cluster: &Replicas, replica: usize, task: &str) -> Option<TaskState> {
    let list: TaskList = cluster.client(replica).get("/v1/tasks").await.ok()?;
    list.tasks.into_iter().find(|t| t.task_id.as_str() == task).map(|t| t.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_one_redis_and_any_answers_any_request() {
    let mut cluster = Replicas::start(3, 1.0, 5.0).await;
    // Every replica sees the same leader and epoch, on Redis.
    let leader = cluster.wait_for_leader(None).await;
    assert_eq!(leader.store, "redis");
    assert!(leader.epoch >= 1);
    let names: Vec<String> = {
        let mut names = Vec::new();
        for i in 0..3 {
            names.push(cluster.cluster_view(i).await.expect("view").replica);
        }
        names
    };
    assert!(names.contains(&leader.leader), "the leader {} is one of {names:?}", leader.leader);

    // Agents on B and C, a framework on A.
    let (b, c) = (cluster.replicas[1].url.clone(), cluster.replicas[2].url.clone());
    cluster.spawn_agent("b1", "cpus:2,mem:512", &b);
    cluster.spawn_agent("c1", "cpus:2,mem:512", &c);
    let (b1, c1) = (agent_id(&cluster, 0, "b1").await, agent_id(&cluster, 2, "c1").await);
    let framework_token = cluster.issue_token("framework", "team-a");
    let mut framework = Framework::register(cluster.client_with(0, &framework_token), registration("f")).await;
    let offers = offers_on(&mut framework, &[&b1, &c1]).await;
    for (agent, task) in [(&b1, "on-b"), (&c1, "on-c")] {
        let offer = &offers[agent];
        framework.launch(offer, vec![shell_task(agent, task, "echo hi", 0.5, 64.0)]).await.expect("launch");
    }
    let mut finished = 0;
    while finished < 2 {
        if let FrameworkEvent::Update(u) = framework.next_event().await {
            framework.ack(&u.status).await;
            if u.status.state == TaskState::Finished {
                finished += 1;
            }
        }
    }
    // Any replica answers any request, with the same answer.
    for replica in 0..3 {
        for task in ["on-b", "on-c"] {
            assert_eq!(task_state(&cluster, replica, task).await, Some(TaskState::Finished), "replica {replica}");
        }
        let framework_view: agora_api::operator::FrameworkView =
            cluster.client(replica).get(&format!("/v1/frameworks/{}", framework.id)).await.expect("framework");
        assert!(framework_view.connected, "replica {replica} sees the framework connected on replica 0");
    }
    // The replicas share key material: a token from other keys is refused by all of them.
    let other_keys = tempfile::tempdir().expect("tempdir");
    agora_server::Keys::load_or_create(other_keys.path()).expect("keys");
    let foreign = common::issue_token(other_keys.path(), "operator", "mallory");
    for replica in 0..3 {
        let refused = cluster.client_with(replica, &foreign).get::<serde_json::Value>("/v1/cluster").await;
        assert_eq!(refused.expect_err("a foreign token").status(), Some(401));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_twice_the_lease_ttl_and_offers_keep_flowing() {
    let ttl = Duration::from_secs(2);
    let mut cluster = Replicas::start(3, ttl.as_secs_f64(), 5.0).await;
    let old = cluster.wait_for_leader(None).await;
    let leader = cluster.leader_index().await;
    let survivor = (leader + 1) % 3;
    let url = cluster.replicas[survivor].url.clone();
    cluster.spawn_agent("a1", "cpus:2,mem:512", &url);
    let a1 = agent_id(&cluster, survivor, "a1").await;

    let killed_at = Instant::now();
    cluster.kill_replica(leader);
    let new = cluster.wait_for_leader(Some(&old.leader)).await;
    let took = killed_at.elapsed();
    assert!(new.epoch > old.epoch, "taking the lease raises the epoch: {} then {}", old.epoch, new.epoch);
    assert!(took <= ttl * 2, "a new leader took {took:?}, more than twice the lease TTL");

    // The new leader allocates: a framework on a survivor gets the agent's resources.
    let mut framework = Framework::register(cluster.client(survivor), registration("after")).await;
    let offers = offers_on(&mut framework, &[&a1]).await;
    framework.launch(&offers[&a1], vec![shell_task(&a1, "t", "true", 0.1, 32.0)]).await.expect("launch");
    assert_eq!(framework.update("t", true).await.state, TaskState::Staging);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_changes_nothing_when_it_wakes() {
    let ttl = Duration::from_secs(1);
    let mut cluster = Replicas::start(2, ttl.as_secs_f64(), 30.0).await;
    let old = cluster.wait_for_leader(None).await;
    let leader = cluster.leader_index().await;
    let other = 1 - leader;
    let url = cluster.replicas[other].url.clone();
    cluster.spawn_agent("a1", "cpus:2,mem:512", &url);
    let a1 = agent_id(&cluster, other, "a1").await;
    let mut framework = Framework::register(cluster.client(other), registration("f")).await;
    offers_on(&mut framework, &[&a1]).await;

    cluster.pause_replica(leader);
    let new = cluster.wait_for_leader(Some(&old.leader)).await;
    assert!(new.epoch > old.epoch);
    cluster.resume_replica(leader);
    // The woken replica learns it no longer leads, and the one agent is never offered twice.
    eventually(DEADLINE, "the woken replica to follow the new leader", || async {
        let view = cluster.cluster_view(leader).await?;
        (view.leader == new.leader && view.epoch == new.epoch).then_some(())
    })
    .await;
    let offers: agora_api::operator::OfferList = cluster.client(other).get("/v1/offers").await.expect("offers");
    let offered: f64 = offers.offers.iter().map(|o| o.resources.cpus).sum();
    assert!(offered <= 2.0, "the agent's 2 cpus are offered at most once, not {offered}");
}
