//! What an autoscaler calls, through the real HTTP API of a real `agora dev` (and of replicas
//! sharing a real Redis): named leases (taken, renewed, expired, released, raced for), its
//! decisions on the operator stream, and the demand frameworks declare.

mod common;

use agora_api::framework::{Demand, DemandTasks};
use agora_api::operator::{AcquireLease, AutoscalerEvent, Lease, OperatorEvent};
use agora_api::{AgentId, Resources};
use agora_client::{Client, ClientError};
use common::replicas::Replicas;
use common::{eventually, registration, Cluster, DEADLINE};
use futures::StreamExt as _;

fn lease_request(holder: &str, ttl_secs: f64) -> AcquireLease {
    AcquireLease { holder: holder.to_string(), ttl_secs }
}

/// The status and code of an API error; panics on success or on any other error.
fn refusal<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String, String) {
    match result {
        Err(e @ ClientError::Api { .. }) => {
            (e.status().expect("a status"), e.code().expect("a code").to_string(), e.to_string())
        }
        other => panic!("expected the server to refuse, got {other:?}"),
    }
}

/// One lease's life, through `one` and `two` (two replicas, or one server twice): two holders
/// race for it, the winner renews it, lets it expire and the other takes it, then releases
/// it and the first takes it at once. Each taking raises the epoch; renewals keep it.
async fn lease_lifecycle(one: &Client, two: &Client, name: &str) {
    // The race: exactly one holder wins; the other is told who holds it.
    let (request_a, request_b) = (lease_request("holder-a", 30.0), lease_request("holder-b", 30.0));
    let (a, b) = tokio::join!(one.acquire_lease(name, &request_a), two.acquire_lease(name, &request_b));
    let (won, lost, won_by, lost_by) = match (a, b) {
        (Ok(lease), Err(e)) => (lease, Err::<Lease, _>(e), "holder-a", "holder-b"),
        (Err(e), Ok(lease)) => (lease, Err(e), "holder-b", "holder-a"),
        other => panic!("exactly one holder must win the race: {other:?}"),
    };
    let (status, code, message) = refusal(lost);
    assert_eq!((status, code.as_str()), (409, "lease_held"), "{message}");
    assert!(message.contains(won_by), "the refusal names the holder: {message}");
    assert_eq!(won.holder, won_by);
    assert_eq!(won.name, name);
    let first_epoch = won.epoch;
    assert!(won.expires_at > agora_api::types::now_secs() + 20.0, "{won:?}");
    let (winner, loser) = if won_by == "holder-a" { (one, two) } else { (two, one) };

    // Renewal keeps the epoch and moves the expiry; both replicas see it.
    let renewed = winner.acquire_lease(name, &lease_request(won_by, 60.0)).await.expect("renewal");
    assert_eq!((renewed.holder.as_str(), renewed.epoch), (won_by, first_epoch));
    assert!(renewed.expires_at > won.expires_at, "{renewed:?} after {won:?}");
    assert_eq!(loser.get_lease(name).await.expect("get the lease"), renewed);

    // Released by someone who does not hold it: nothing changes.
    loser.release_lease(name, lost_by).await.expect("a release by another holder is no error");
    assert_eq!(winner.get_lease(name).await.expect("get the lease"), renewed);

    // A short renewal, then expiry: the other holder takes it once it has expired, and not
    // before (each refusal says it is held).
    let short = winner.acquire_lease(name, &lease_request(won_by, 1.0)).await.expect("a short renewal");
    assert_eq!(short.epoch, first_epoch);
    let taken = eventually(DEADLINE, "the lease to expire and be taken", || async {
        match loser.acquire_lease(name, &lease_request(lost_by, 30.0)).await {
            Ok(lease) => Some(lease),
            Err(e) => {
                assert_eq!((e.status(), e.code()), (Some(409), Some("lease_held")), "{e}");
                None
            }
        }
    })
    .await;
    assert!(agora_api::types::now_secs() >= short.expires_at - 0.5, "taken before it expired: {taken:?}");
    assert_eq!((taken.holder.as_str(), taken.epoch), (lost_by, first_epoch + 1));
    // The old holder cannot have it back while it is held.
    let (status, code, _) = refusal(winner.acquire_lease(name, &lease_request(won_by, 30.0)).await);
    assert_eq!((status, code.as_str()), (409, "lease_held"));

    // Released by its holder, it is free at once.
    loser.release_lease(name, lost_by).await.expect("release");
    let released = winner.get_lease(name).await.expect("get the released lease");
    assert_eq!((released.holder.as_str(), released.epoch), ("", first_epoch + 1));
    let again = winner.acquire_lease(name, &lease_request(won_by, 30.0)).await.expect("taken after the release");
    assert_eq!((again.holder.as_str(), again.epoch), (won_by, first_epoch + 2));
    // Releasing twice is no error.
    loser.release_lease(name, lost_by).await.expect("an idempotent release");
    assert_eq!(loser.get_lease(name).await.expect("get"), again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_lease_is_raced_for_renewed_expires_and_is_released() {
    let cluster = Cluster::start(&[]).await;
    let operator = cluster.client();
    lease_lifecycle(&operator, &operator.clone(), "autoscaler").await;

    // Leases are independent of each other.
    let other = operator.acquire_lease("autoscaler.other", &lease_request("holder-b", 30.0)).await.expect("another");
    assert_eq!(other.epoch, 1);

    // Bad names, holders and times are refused, and a lease never taken is unknown.
    let long = "n".repeat(129);
    for bad in ["bad:name", "white space", long.as_str()] {
        let (status, code, message) = refusal(operator.acquire_lease(bad, &lease_request("h", 10.0)).await);
        assert_eq!((status, code.as_str()), (400, "invalid_lease_name"), "{bad}: {message}");
        assert_eq!(refusal(operator.get_lease(bad).await).0, 400, "{bad}");
    }
    for (holder, ttl) in [("", 10.0), ("h", 0.0), ("h", -1.0), ("h", 3600.5)] {
        let (status, _, message) = refusal(operator.acquire_lease("fine", &lease_request(holder, ttl)).await);
        assert_eq!(status, 400, "holder {holder:?} ttl {ttl}: {message}");
    }
    let http = reqwest::Client::new();
    let unknown_field = http
        .put(format!("{}/v1/leases/fine", cluster.url))
        .bearer_auth(&cluster.token)
        .json(&serde_json::json!({"holder": "h", "ttl_secs": 5, "extra": 1}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(unknown_field.status(), 400);
    let no_holder = http
        .delete(format!("{}/v1/leases/fine", cluster.url))
        .bearer_auth(&cluster.token)
        .send()
        .await
        .expect("answer");
    assert_eq!(no_holder.status(), 400, "a release names its holder");
    let (status, code, _) = refusal(operator.get_lease("never-taken").await);
    assert_eq!((status, code.as_str()), (404, "unknown_lease"));

    // Operators only: a framework or viewer token may not take or release one; a viewer may
    // read one.
    let viewer = cluster.client_with(&cluster.issue_token("viewer", "watcher"));
    let framework = cluster.client_with(&cluster.issue_token("framework", "alice"));
    for client in [&viewer, &framework] {
        let (status, code, _) = refusal(client.acquire_lease("autoscaler", &lease_request("intruder", 30.0)).await);
        assert_eq!((status, code.as_str()), (403, "forbidden"));
        assert_eq!(refusal(client.release_lease("autoscaler", "holder-a").await).0, 403);
    }
    let held = operator.get_lease("autoscaler").await.expect("get");
    assert!(held.holder.starts_with("holder-"), "{held:?}");
    assert_eq!(viewer.get_lease("autoscaler").await.expect("a viewer reads it"), held);
    assert_eq!(refusal(framework.get_lease("autoscaler").await).0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autoscaler_event_appears_on_the_operator_stream() {
    let cluster = Cluster::start(&[]).await;
    let operator = cluster.client();
    let mut events = operator.operator_events(None).await.expect("the operator stream");
    let agent_id = cluster.wait_for_agents(1).await.agents[0].id.clone();
    let sent = AutoscalerEvent {
        action: "launch".into(),
        reason: "2 tasks of framework f wait for cpus:8 mem:64\nno agent has room".into(),
        holder: "autoscaler-1".into(),
        dry_run: true,
        pool: Some("general".into()),
        instance_type: Some("m7i.2xlarge".into()),
        instance_ids: vec!["i-0123456789abcdef0".into(), "i-0fedcba9876543210".into()],
        agent_id: Some(agent_id),
        count: 2,
    };
    operator.autoscaler_event(&sent).await.expect("post the event");
    let received = tokio::time::timeout(DEADLINE, async {
        while let Some(event) = events.next().await {
            let event = event.expect("a well-formed event");
            if event.event == "autoscaler" {
                return (event.data.clone(), OperatorEvent::parse(&event.event, &event.data).expect("parses"));
            }
        }
        panic!("the operator stream ended");
    })
    .await
    .expect("the autoscaler event within the deadline");
    assert_eq!(received.1, Some(OperatorEvent::Autoscaler(sent.clone())));
    let data: serde_json::Value = serde_json::from_str(&received.0).expect("JSON");
    assert_eq!(data["action"], "launch");
    assert_eq!(data["holder"], "autoscaler-1");
    assert_eq!(data["dry_run"], true);
    assert_eq!(data["instance_ids"][1], "i-0fedcba9876543210");
    assert_eq!(data["count"], 2);

    // The least an event says: the defaults.
    let minimal: AutoscalerEvent =
        serde_json::from_value(serde_json::json!({"action": "scale_in_skipped", "reason": "", "holder": "h"}))
            .expect("minimal");
    assert!(!minimal.dry_run && minimal.instance_ids.is_empty() && minimal.count == 0);
    operator.autoscaler_event(&minimal).await.expect("a minimal event");

    // Bad events are refused; operators only.
    let bad = [
        AutoscalerEvent { action: String::new(), ..sent.clone() },
        AutoscalerEvent { action: "a".repeat(65), ..sent.clone() },
        AutoscalerEvent { reason: "r".repeat(4097), ..sent.clone() },
        AutoscalerEvent { holder: "h".repeat(256), ..sent.clone() },
        AutoscalerEvent { instance_ids: vec!["i".into(); 1001], ..sent.clone() },
        AutoscalerEvent { agent_id: Some(AgentId::from("not an id")), ..sent.clone() },
    ];
    for event in bad {
        let (status, _, message) = refusal(operator.autoscaler_event(&event).await);
        assert_eq!(status, 400, "{message}");
    }
    for kind in ["viewer", "framework", "agent"] {
        let client = cluster.client_with(&cluster.issue_token(kind, "someone"));
        assert_eq!(refusal(client.autoscaler_event(&sent).await).0, 403, "a {kind} token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_declares_the_demand_an_autoscaler_reads() {
    let cluster = Cluster::start(&[]).await;
    let operator = cluster.client();
    let alice = cluster.client_with(&cluster.issue_token("framework", "alice"));
    let bob = cluster.client_with(&cluster.issue_token("framework", "bob"));
    let mut reg = registration("waiting");
    reg.failover_timeout_secs = 3600.0;
    let id = alice.register_framework(&reg).await.expect("register").framework_id;
    assert!(alice.get_framework(&id).await.expect("view").demand.is_empty());

    let demand = Demand {
        tasks: vec![
            DemandTasks {
                count: 3,
                resources: Resources::new(8.0, 64.0),
                role: Some("*".into()),
                constraints: vec![
                    vec!["zone".into(), "IS".into(), "a".into()],
                    vec!["hostname".into(), "UNIQUE".into()],
                ],
            },
            DemandTasks { count: 1, resources: Resources::new(0.5, 16.0), role: None, constraints: vec![] },
        ],
    };
    alice.set_demand(&id, &demand).await.expect("declare the demand");
    assert_eq!(alice.get_framework(&id).await.expect("view").demand, demand.tasks);
    let listed = operator.list_frameworks().await.expect("list");
    let view = listed.frameworks.iter().find(|f| f.id == id).expect("listed");
    assert_eq!(view.demand, demand.tasks, "operators read it in the list");

    // Another principal's framework is unknown to bob; a viewer may not declare.
    let (status, code, _) = refusal(bob.set_demand(&id, &demand).await);
    assert_eq!((status, code.as_str()), (404, "unknown_framework"));
    let viewer = cluster.client_with(&cluster.issue_token("viewer", "watcher"));
    assert_eq!(refusal(viewer.set_demand(&id, &demand).await).0, 403);
    // An operator may, for any framework.
    operator.set_demand(&id, &demand).await.expect("an operator declares it");

    // Bad demands are refused, and change nothing.
    let entry = |count: u32, role: Option<&str>, constraints: Vec<Vec<String>>| DemandTasks {
        count,
        resources: Resources::new(1.0, 64.0),
        role: role.map(str::to_string),
        constraints,
    };
    let bad = [
        vec![entry(0, None, vec![])],
        vec![entry(100_001, None, vec![])],
        vec![entry(1, Some("not-its-role"), vec![])],
        vec![entry(1, None, vec![vec!["zone".into()]])],
        vec![entry(1, None, vec![vec!["a".into(), "b".into(), "c".into(), "d".into()]])],
        vec![entry(1, None, vec![vec!["zone".into(), "IS".into()]; 17])],
        vec![entry(1, None, vec![]); 1001],
        vec![DemandTasks { resources: Resources::new(-1.0, 0.0), ..entry(1, None, vec![]) }],
    ];
    for tasks in bad {
        let (status, _, message) = refusal(alice.set_demand(&id, &Demand { tasks }).await);
        assert_eq!(status, 400, "{message}");
    }
    assert_eq!(alice.get_framework(&id).await.expect("view").demand, demand.tasks);

    // An empty list clears it; the view then leaves the field out.
    alice.set_demand(&id, &Demand::default()).await.expect("clear");
    let raw: serde_json::Value = operator.get(&format!("/v1/frameworks/{id}")).await.expect("raw view");
    assert!(raw.get("demand").is_none(), "{raw}");

    // It goes with the framework.
    alice.set_demand(&id, &demand).await.expect("declare again");
    alice.teardown_framework(&id).await.expect("teardown");
    assert_eq!(refusal(operator.get_framework(&id).await).0, 404);
    assert_eq!(refusal(alice.set_demand(&id, &demand).await).0, 404);
}

/// On replicas sharing one Redis: a lease taken through one replica is held on the other,
/// its whole life goes the same, and the allocator's own lease is not disturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_lease_is_shared_by_replicas_on_redis() {
    let cluster = Replicas::start(2, 3.0, 5.0).await;
    let leader = cluster.wait_for_leader(None).await;
    assert_eq!(leader.store, "redis");
    let (one, two) = (cluster.client(0), cluster.client(1));
    lease_lifecycle(&one, &two, "autoscaler").await;
    let (status, code, _) = refusal(two.get_lease("never-taken").await);
    assert_eq!((status, code.as_str()), (404, "unknown_lease"));
    let after = cluster.wait_for_leader(None).await;
    assert_eq!((after.leader, after.epoch), (leader.leader, leader.epoch), "the allocator's lease is its own");
}
