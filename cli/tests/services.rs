//! Services through the API and the CLI, on real agents running real processes: placement by
//! constraints, rolling deploys held to the healthy floor, a version that never becomes
//! healthy and its rollback, replacement of killed instances and backoff of crash loops.

mod common;

use agora_api::services::{ServiceSpec, ServiceView};
use common::*;
use futures::StreamExt as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Long enough for a deployment on this 2-core machine; each wait polls and ends early.
const DEPLOY_DEADLINE: Duration = Duration::from_secs(60);

/// A service spec from JSON, with a default task of `command` (a shell line).
fn spec(value: serde_json::Value) -> ServiceSpec {
    serde_json::from_value(value).expect("a valid spec")
}

/// Waits for the service to satisfy `check`, and returns it.
async fn service_until(
    client: &agora_client::Client,
    id: &str,
    what: &str,
    check: impl Fn(&ServiceView) -> bool,
) -> ServiceView {
    let check = &check;
    eventually(DEPLOY_DEADLINE, what, || {
        let client = client.clone();
        async move { client.get_service(id).await.ok().filter(check) }
    })
    .await
}

/// Hostnames of the service's instances that are not being killed, with their counts.
fn hosts(view: &ServiceView) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for i in view.instances.iter().filter(|i| !i.killing) {
        *counts.entry(i.hostname.clone()).or_default() += 1;
    }
    counts
}

fn running(view: &ServiceView) -> usize {
    view.instances.iter().filter(|i| i.ready).count()
}

/// `agora dev` and four agents on two racks and two zones.
async fn racks() -> Cluster {
    let mut cluster = Cluster::start(&[]).await;
    for (name, rack, zone) in [("a1", "r1", "z1"), ("a2", "r1", "z2"), ("a3", "r2", "z1"), ("a4", "r2", "z2")] {
        let attributes = format!("rack:{rack},zone:{zone}");
        cluster.spawn_agent_with(name, "cpus:2,mem:1024", &["--attributes", &attributes]);
    }
    cluster.wait_for_agents(5).await;
    cluster
}

fn sleeper(instances: u32, constraints: serde_json::Value) -> ServiceSpec {
    spec(serde_json::json!({
        "instances": instances,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exec sleep 600"}},
        "constraints": constraints,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_spread_instances_and_an_impossible_one_says_why() {
    let cluster = racks().await;
    let client = cluster.client();
    // The dev agent has no rack: every constraint on `rack` but UNLIKE keeps it out.
    let on_racks = serde_json::json!(["rack", "LIKE", "r[12]"]);
    client
        .put_service("unique", &sleeper(4, serde_json::json!([["hostname", "UNIQUE"], on_racks])))
        .await
        .expect("put");
    client.put_service("grouped", &sleeper(6, serde_json::json!([["rack", "GROUP_BY", "2"]]))).await.expect("put");
    client.put_service("capped", &sleeper(3, serde_json::json!([["zone", "MAX_PER", "1"]]))).await.expect("put");
    client.put_service("nowhere", &sleeper(1, serde_json::json!([["rack", "CLUSTER", "r9"]]))).await.expect("put");

    let unique = service_until(&client, "unique", "4 unique instances", |v| running(v) == 4).await;
    assert_eq!(hosts(&unique).keys().cloned().collect::<Vec<_>>(), ["a1", "a2", "a3", "a4"]);
    assert!(hosts(&unique).values().all(|n| *n == 1), "one per host: {:?}", hosts(&unique));

    let grouped = service_until(&client, "grouped", "6 grouped instances", |v| running(v) == 6).await;
    let mut per_rack: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &grouped.instances {
        let rack = if ["a1", "a2"].contains(&i.hostname.as_str()) { "r1" } else { "r2" };
        *per_rack.entry(rack).or_default() += 1;
    }
    assert_eq!(per_rack, BTreeMap::from([("r1", 3), ("r2", 3)]), "spread evenly over two racks");

    // Two zones hold one each: the third waits, and says why.
    let capped = service_until(&client, "capped", "2 of 3 placed, and why", |v| {
        running(v) == 2 && v.waiting_reasons.iter().any(|r| r.code == "constraint_unmet")
    })
    .await;
    let zones: BTreeSet<bool> = capped.instances.iter().map(|i| ["a1", "a3"].contains(&i.hostname.as_str())).collect();
    assert_eq!(zones.len(), 2, "one in each zone: {:?}", hosts(&capped));
    let reason = capped.waiting_reasons.iter().find(|r| r.code == "constraint_unmet").expect("the reason");
    assert!(reason.message.contains("MAX_PER") && reason.message.contains("at most 2"), "{}", reason.message);
    assert_eq!(capped.status, agora_api::services::ServiceStatus::Waiting);

    let nowhere =
        service_until(&client, "nowhere", "the reason no agent fits", |v| !v.waiting_reasons.is_empty()).await;
    assert!(nowhere.instances.is_empty());
    assert_eq!(nowhere.waiting_reasons[0].code, "constraint_unmet");
    assert!(nowhere.waiting_reasons[0].message.contains("no active agent meets"), "{:?}", nowhere.waiting_reasons);
    let why = cluster.cli(&["service", "why", "nowhere"]).output().expect("agora service why");
    let text = String::from_utf8_lossy(&why.stdout);
    assert!(why.status.success() && text.contains("constraint_unmet") && text.contains("CLUSTER"), "{text}");
}

/// A health-checked sleeper whose check passes: `version` goes into its environment, so that
/// changing it makes a new version.
fn checked(instances: u32, version: &str, check: &str, strategy: serde_json::Value) -> ServiceSpec {
    spec(serde_json::json!({
        "instances": instances,
        "task": {
            "resources": {"cpus": 0.05, "mem": 16},
            "command": {"shell": "exec sleep 600"},
            "env": {"RELEASE": version},
            "health_check": {"check": {"command": check}, "delay_secs": 0, "interval_secs": 0.3,
                             "grace_period_secs": 0, "consecutive_failures": 2, "timeout_secs": 5},
        },
        "upgrade_strategy": strategy,
        "backoff": {"seconds": 0.5, "factor": 1.5, "max_launch_delay_secs": 5},
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_deploy_keeps_the_healthy_floor_and_is_announced_step_by_step() {
    let cluster = Cluster::start(&[]).await;
    let client = cluster.client();
    let strategy = serde_json::json!({"minimum_health_capacity": 0.5, "maximum_over_capacity": 0});
    client.put_service("web", &checked(6, "one", "true", strategy.clone())).await.expect("put v1");
    let v1 =
        service_until(&client, "web", "6 healthy of version 1", |v| v.healthy == 6 && v.deployment.is_none()).await;
    assert_eq!(v1.version, 1);

    let mut events = client.events("/v1/events", None).await.expect("operator stream");
    let started = client.put_service("web", &checked(6, "two", "true", strategy)).await.expect("put v2");
    assert_eq!(started.version, 2);
    let deployment = started.deployment_id.clone().expect("a deployment");
    // The watcher: every look during the deployment sees at least 3 healthy instances, and
    // never more than 6 instances that count.
    let mut lowest = usize::MAX;
    let mut looks = 0;
    let finished = tokio::time::timeout(DEPLOY_DEADLINE, async {
        loop {
            let view = client.get_service("web").await.expect("get");
            lowest = lowest.min(running(&view));
            looks += 1;
            assert!(view.instances.iter().filter(|i| !i.killing).count() <= 6, "over capacity: {:?}", view.instances);
            if view.deployment.is_none() && view.healthy == 6 {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the deployment finished");
    assert!(lowest >= 3, "a look saw {lowest} healthy instances (of {looks} looks)");
    assert!(finished.instances.iter().all(|i| i.version == 2), "{:?}", finished.instances);

    // The operator stream told it: started, steps, finished, for this deployment.
    let mut names = Vec::new();
    while names.last().map(String::as_str) != Some("deployment_finished") {
        let event = tokio::time::timeout(DEADLINE, events.next()).await.expect("an event").expect("open").expect("ok");
        if event.event.starts_with("deployment_") && event.data.contains(&deployment) {
            names.push(event.event);
        }
    }
    assert_eq!(names.first().map(String::as_str), Some("deployment_started"));
    assert!(names.iter().filter(|n| *n == "deployment_step").count() >= 3, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_never_becomes_healthy_stalls_with_its_reason_and_rolls_back() {
    let cluster = Cluster::start(&[]).await;
    let client = cluster.client();
    let strategy = serde_json::json!({});
    client.put_service("api", &checked(2, "good", "true", strategy.clone())).await.expect("put v1");
    let v1 = service_until(&client, "api", "2 healthy", |v| v.healthy == 2 && v.deployment.is_none()).await;
    let v1_tasks: BTreeSet<String> = v1.instances.iter().map(|i| i.task_id.to_string()).collect();

    client.put_service("api", &checked(2, "bad", "false", strategy)).await.expect("put v2");
    // Its instances fail their checks and are killed; the deployment stays, saying why, and
    // the old instances keep serving.
    let stalled = service_until(&client, "api", "the stalled deployment's reason", |v| {
        v.backoff.as_ref().is_some_and(|b| b.failures >= 2)
            && v.waiting_reasons.iter().any(|r| r.message.contains("task_unhealthy"))
    })
    .await;
    assert!(stalled.deployment.is_some(), "the deployment is still there");
    let serving: BTreeSet<String> =
        stalled.instances.iter().filter(|i| i.ready).map(|i| i.task_id.to_string()).collect();
    assert_eq!(serving, v1_tasks, "the old instances serve on");
    let why = cluster.cli(&["service", "why", "api"]).output().expect("agora service why");
    assert!(
        String::from_utf8_lossy(&why.stdout).contains("task_unhealthy"),
        "{}",
        String::from_utf8_lossy(&why.stdout)
    );

    let rollback = cluster.cli(&["service", "rollback", "api"]).output().expect("agora service rollback");
    let text = String::from_utf8_lossy(&rollback.stdout);
    assert!(rollback.status.success(), "{text}{}", String::from_utf8_lossy(&rollback.stderr));
    assert!(text.contains("deployment finished"), "{text}");
    let back = client.get_service("api").await.expect("get");
    assert_eq!(back.version, 1);
    let now: BTreeSet<String> = back.instances.iter().map(|i| i.task_id.to_string()).collect();
    assert_eq!(now, v1_tasks, "the old version's instances were kept, not restarted");
    assert_eq!(back.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);

    // Again, cancelled through the API: DELETE /v1/deployments/{id} rolls it back to where it
    // started, and the operator stream says the deployment failed.
    let mut events = client.events("/v1/events", None).await.expect("operator stream");
    let started = client.put_service("api", &checked(2, "worse", "false", serde_json::json!({}))).await.expect("v3");
    let deployment = started.deployment_id.expect("a deployment");
    let listed = client.list_deployments().await.expect("deployments");
    assert!(listed.deployments.iter().any(|d| d.id == deployment && d.from_version == Some(1)), "{listed:?}");
    let cancelled = client.cancel_deployment(&deployment).await.expect("cancel");
    assert_eq!(cancelled.version, 1);
    let back = service_until(&client, "api", "back at version 1", |v| {
        v.version == 1 && v.deployment.is_none() && v.healthy == 2
    })
    .await;
    let now: BTreeSet<String> = back.instances.iter().map(|i| i.task_id.to_string()).collect();
    assert_eq!(now, v1_tasks, "the old instances served throughout");
    loop {
        let event = tokio::time::timeout(DEADLINE, events.next()).await.expect("an event").expect("open").expect("ok");
        if event.event == "deployment_failed" && event.data.contains(&deployment) {
            break;
        }
    }
    let err = client.cancel_deployment(&deployment).await.expect_err("it is over");
    assert_eq!(err.code(), Some("unknown_deployment"));
}

/// The pid of the process whose command line is exactly `words`.
fn pid_of(words: &[&str]) -> Option<i32> {
    let want: Vec<u8> = words.iter().flat_map(|w| w.bytes().chain([0])).collect();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        (std::fs::read(entry.path().join("cmdline")).ok()? == want).then_some(pid)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_is_replaced_and_a_crash_loop_backs_off() {
    let cluster = Cluster::start(&[]).await;
    let client = cluster.client();
    let one = spec(serde_json::json!({
        "instances": 1,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exec sleep 6001"}},
    }));
    client.put_service("one", &one).await.expect("put");
    let first = service_until(&client, "one", "1 running", |v| running(v) == 1).await;
    let pid = eventually(DEADLINE, "the instance's process", || async { pid_of(&["sleep", "6001"]) }).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("kill");
    let replaced = service_until(&client, "one", "a replacement", |v| {
        running(v) == 1 && v.instances[0].task_id != first.instances[0].task_id
    })
    .await;
    assert_eq!(replaced.backoff.as_ref().map(|b| b.failures), Some(1), "the kill counted as a failure");

    // A command that exits at once: each failure waits longer, and the view says until when.
    let crashy = spec(serde_json::json!({
        "instances": 1,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exit 3"}},
        "backoff": {"seconds": 0.2, "factor": 2, "max_launch_delay_secs": 30},
    }));
    client.put_service("crashy", &crashy).await.expect("put");
    let delayed = service_until(&client, "crashy", "a backoff of 4 failures", |v| {
        v.backoff.as_ref().is_some_and(|b| b.failures >= 4) && v.status == agora_api::services::ServiceStatus::Delayed
    })
    .await;
    let backoff = delayed.backoff.clone().expect("backoff");
    assert!(backoff.delay_secs >= 0.2 * 2f64.powi(3) - 1e-9, "the delay grows: {backoff:?}");
    let reason = delayed.waiting_reasons.iter().find(|r| r.code == "backoff").expect("a backoff reason");
    assert!(reason.until.is_some() && reason.message.contains("exited with code 3"), "{reason:?}");

    // The metrics say the same, per service.
    let metrics = client.metrics().await.expect("metrics");
    let value = |line: &str| -> f64 {
        let found =
            metrics.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("no `{line}` in\n{metrics}"));
        found[line.len()..].trim().parse().expect("a number")
    };
    assert_eq!(value(r#"agora_service_instances{service="one",state="desired"}"#), 1.0);
    assert_eq!(value(r#"agora_service_instances{service="one",state="healthy"}"#), 1.0);
    assert!(value(r#"agora_service_backoff_failures{service="crashy"}"#) >= 4.0);
    assert_eq!(value(r#"agora_service_instances{service="crashy",state="desired"}"#), 1.0);
    metrics
        .lines()
        .find(|l| l.starts_with(r#"agora_service_launch_delay_seconds{service="crashy"}"#))
        .expect("the delay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operators_change_services_and_the_schedulers_framework_is_its_own() {
    let cluster = Cluster::start(&[]).await;
    let framework_token = cluster.issue_token("framework", "mallory");
    let mallory = cluster.client_with(&framework_token);
    let err = mallory.put_service("web", &sleeper(1, serde_json::json!([]))).await.expect_err("refused");
    assert_eq!(err.status(), Some(403));
    let err = mallory.list_services().await.expect_err("refused");
    assert_eq!(err.status(), Some(403));
    // The scheduler's framework id cannot be taken, nor the framework torn down.
    let mut registration = registration("impostor");
    registration.id = Some(agora_api::FrameworkId::from("agora-services"));
    let err = mallory.register_framework(&registration).await.expect_err("refused");
    assert_eq!(err.code(), Some("framework_id_taken"));
    let client = cluster.client();
    client.put_service("web", &sleeper(1, serde_json::json!([]))).await.expect("put");
    service_until(&client, "web", "running", |v| running(v) == 1).await;
    let err = client.delete("/v1/frameworks/agora-services").await.expect_err("refused");
    assert_eq!(err.code(), Some("framework_reserved"));
    // Bad specs are refused whole, with what is wrong.
    let bad = serde_json::json!({"task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "true"}},
                                 "constraints": [["rack", "SOMETIMES"]]});
    let err = client.put("/v1/services/web", &bad).await.map(|_: serde_json::Value| ()).expect_err("refused");
    assert_eq!(err.code(), Some("invalid_constraint"));
    let err = client.put_service("Web_1", &sleeper(1, serde_json::json!([]))).await.expect_err("refused");
    assert_eq!(err.code(), Some("invalid_id"));
}

/// Asks `server` one question over UDP (or TCP), and returns the answer.
async fn ask(
    server: std::net::SocketAddr,
    name: &str,
    kind: hickory_proto::rr::RecordType,
    tcp: bool,
) -> hickory_proto::op::Message {
    use hickory_proto::op::{Message, Query};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut question = Message::new();
    question.set_id(7).add_query(Query::query(hickory_proto::rr::Name::from_ascii(name).expect("a name"), kind));
    let bytes = question.to_vec().expect("encoded");
    let answer = if tcp {
        let mut stream = tokio::net::TcpStream::connect(server).await.expect("connect");
        stream.write_all(&(bytes.len() as u16).to_be_bytes()).await.expect("write");
        stream.write_all(&bytes).await.expect("write");
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).await.expect("length");
        let mut answer = vec![0u8; u16::from_be_bytes(length) as usize];
        stream.read_exact(&mut answer).await.expect("answer");
        answer
    } else {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        socket.send_to(&bytes, server).await.expect("send");
        let mut answer = vec![0u8; 4096];
        let n =
            tokio::time::timeout(DEADLINE, socket.recv(&mut answer)).await.expect("an answer in time").expect("recv");
        answer.truncate(n);
        answer
    };
    let message = Message::from_vec(&answer).expect("a DNS message");
    assert_eq!(message.id(), 7);
    message
}

/// The ports an SRV answer names, sorted.
fn srv_ports(message: &hickory_proto::op::Message) -> Vec<u16> {
    let mut ports: Vec<u16> = message
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            hickory_proto::rr::RData::SRV(srv) => Some(srv.port()),
            _ => None,
        })
        .collect();
    ports.sort();
    ports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_answers_with_the_endpoints_as_instances_come_and_go() {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;
    let cluster = Cluster::start(&["--dns-listen", "127.0.0.1:0"]).await;
    let dns: std::net::SocketAddr = std::fs::read_to_string(cluster.data_dir().join("dns-address"))
        .expect("agora dev wrote where DNS answers")
        .trim()
        .parse()
        .expect("an address");
    let client = cluster.client();
    let web = |instances: u32| {
        spec(serde_json::json!({
            "instances": instances,
            "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exec sleep 600"},
                     "ports": [{"name": "http"}, {"name": "admin"}]},
        }))
    };
    let mut events = client.events("/v1/events", None).await.expect("operator stream");
    client.put_service("web", &web(2)).await.expect("put");
    // At each count, DNS says what the endpoints say.
    for instances in [2usize, 3, 1] {
        if instances != 2 {
            client.scale_service("web", instances as u32).await.expect("scale");
        }
        let endpoints = eventually(DEPLOY_DEADLINE, "the endpoints at the new count", || {
            let client = client.clone();
            async move { client.service_endpoints("web").await.ok().filter(|e| e.endpoints.len() == instances) }
        })
        .await;
        let mut http: Vec<u16> = endpoints.endpoints.iter().map(|e| e.ports["http"]).collect();
        http.sort();
        let answer = eventually(DEADLINE, "DNS to catch up", || async move {
            let answer = ask(dns, "_http._tcp.web.agora.", RecordType::SRV, false).await;
            (srv_ports(&answer).len() == instances).then_some(answer)
        })
        .await;
        assert_eq!(srv_ports(&answer), http, "SRV names the endpoints' http ports");
        assert!(answer.authoritative());
        assert!(
            answer
                .additionals()
                .iter()
                .any(|r| matches!(r.data(), hickory_proto::rr::RData::A(a) if a.0.is_loopback())),
            "each target's address comes along: {answer:?}"
        );
        let all = ask(dns, "web.agora.", RecordType::SRV, true).await;
        assert_eq!(all.answers().len(), 2 * instances, "both ports of each instance, over TCP");
    }
    // The operator stream told each change: applied in order, they give the endpoints.
    let endpoints = client.service_endpoints("web").await.expect("endpoints");
    let wanted: BTreeSet<String> = endpoints.endpoints.iter().map(|e| e.task_id.to_string()).collect();
    let mut told = BTreeSet::new();
    // Until the scale-down's removals are read too: an early state could match by chance.
    let mut removals = 0;
    while told != wanted || removals < 2 {
        let event = tokio::time::timeout(DEADLINE, events.next()).await.expect("an event").expect("open").expect("ok");
        if event.event != "endpoints_changed" {
            continue;
        }
        let change: agora_api::services::EndpointsEvent =
            serde_json::from_str(&event.data).expect("an endpoints event");
        assert_eq!(change.service_id, "web");
        for e in change.removed {
            removals += 1;
            told.remove(e.task_id.as_str());
        }
        told.extend(change.added.into_iter().map(|e| e.task_id.to_string()));
    }
    let a = ask(dns, "web.agora.", RecordType::A, false).await;
    assert_eq!(a.answers().len(), 1, "one agent, one address: {a:?}");
    assert_eq!(ask(dns, "nosuch.agora.", RecordType::A, false).await.response_code(), ResponseCode::NXDomain);
    assert_eq!(ask(dns, "example.com.", RecordType::A, false).await.response_code(), ResponseCode::Refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_unreachable_past_the_removal_timeout_is_removed_and_its_instances_replaced() {
    let mut cluster = Cluster::start(&["--agent-timeout", "3", "--agent-removal-timeout", "3"]).await;
    let first = cluster.spawn_agent_with("a1", "cpus:1,mem:512", &["--attributes", "rack:r1"]);
    cluster.spawn_agent_with("a2", "cpus:1,mem:512", &["--attributes", "rack:r1"]);
    cluster.wait_for_agents(3).await;
    let client = cluster.client();
    // Replaced only through the removal: the unreachable strategy waits longer.
    let spread = spec(serde_json::json!({
        "instances": 2,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exec sleep 6002"}},
        "constraints": [["hostname", "UNIQUE"], ["rack", "LIKE", "r.*"]],
        "unreachable_strategy": {"inactive_after_secs": 600, "expunge_after_secs": 600},
    }));
    client.put_service("spread", &spread).await.expect("put");
    let before = service_until(&client, "spread", "2 running", |v| running(v) == 2).await;
    let on_a1 = before.instances.iter().find(|i| i.hostname == "a1").expect("an instance on a1").task_id.clone();
    cluster.spawn_agent_with("a3", "cpus:1,mem:512", &["--attributes", "rack:r2"]);
    cluster.wait_for_agents(4).await;
    cluster.kill_agent(first);

    let after = service_until(&client, "spread", "the instance replaced on a3", |v| {
        running(v) == 2 && hosts(v).contains_key("a3") && !hosts(v).contains_key("a1")
    })
    .await;
    assert_eq!(hosts(&after).keys().cloned().collect::<Vec<_>>(), ["a2", "a3"]);
    let agents = client.list_agents().await.expect("agents");
    assert!(agents.agents.iter().all(|a| a.hostname != "a1"), "a1 was removed: {:?}", agents.agents);
    let gone: agora_api::operator::TaskList = client.get("/v1/tasks?state=gone").await.expect("tasks");
    let old = gone.tasks.iter().find(|t| t.task_id == on_a1).expect("the old instance is gone");
    assert_eq!(old.status.reason.as_deref(), Some("agent_removed"));
    // The agent was SIGKILLed: its task's process outlived it. The others go with the service.
    client.delete_service("spread").await.expect("delete");
    eventually(DEPLOY_DEADLINE, "the service to be gone", || {
        let client = client.clone();
        async move { client.get_service("spread").await.err().filter(|e| e.is_not_found()) }
    })
    .await;
    for _ in 0..100 {
        let Some(pid) = pid_of(&["sleep", "6002"]) else { break };
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A web server that answers `GET` with 200 once the file `$MARKER` exists, 503 before.
const READY_SERVER: &str = r#"
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if os.path.exists(os.environ["MARKER"]) else 503)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("0.0.0.0", int(os.environ["PORT_HTTP"])), Handler).serve_forever()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_instances_count_only_once_their_readiness_check_answers() {
    let cluster = Cluster::start(&[]).await;
    let client = cluster.client();
    let marker = |release: &str| cluster.scratch().join(format!("ready-{release}"));
    let ready_spec = |release: &str| {
        spec(serde_json::json!({
            "instances": 2,
            "task": {
                "resources": {"cpus": 0.1, "mem": 64},
                "command": {"argv": ["python3", "-c", READY_SERVER]},
                "env": {"MARKER": marker(release).to_str().expect("utf-8")},
                "ports": [{"name": "http"}],
            },
            "readiness_check": {"port_name": "http", "path": "/ready", "interval_secs": 0.2, "timeout_secs": 2},
        }))
    };
    client.put_service("ready", &ready_spec("one")).await.expect("put v1");
    // Running, and not ready: not endpoints, and the deployment waits, saying why.
    let waiting = service_until(&client, "ready", "2 running, not ready", |v| {
        v.instances.iter().filter(|i| i.state == agora_api::TaskState::Running).count() == 2
            && v.waiting_reasons.iter().any(|r| r.code == "not_ready" && r.instances == 2)
    })
    .await;
    assert!(waiting.instances.iter().all(|i| !i.ready), "{:?}", waiting.instances);
    assert!(waiting.deployment.is_some());
    assert!(client.service_endpoints("ready").await.expect("endpoints").endpoints.is_empty());
    std::fs::write(marker("one"), "").expect("marker");
    let v1 = service_until(&client, "ready", "2 ready", |v| running(v) == 2 && v.deployment.is_none()).await;
    assert_eq!(client.service_endpoints("ready").await.expect("endpoints").endpoints.len(), 2);
    let v1_tasks: BTreeSet<String> = v1.instances.iter().map(|i| i.task_id.to_string()).collect();

    // Version 2 runs but is not ready: the old instances are not killed.
    client.put_service("ready", &ready_spec("two")).await.expect("put v2");
    let held = service_until(&client, "ready", "version 2 running, not ready", |v| {
        let new_running = v.instances.iter().filter(|i| i.version == 2 && i.state == agora_api::TaskState::Running);
        new_running.count() == 2
    })
    .await;
    assert!(held.instances.iter().filter(|i| i.version == 2).all(|i| !i.ready));
    // Several readiness intervals later, still held, the old ones serving.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = client.get_service("ready").await.expect("get");
    let serving: BTreeSet<String> = still.instances.iter().filter(|i| i.ready).map(|i| i.task_id.to_string()).collect();
    assert_eq!(serving, v1_tasks, "only the old instances serve: {:?}", still.instances);
    assert!(still.deployment.is_some());
    std::fs::write(marker("two"), "").expect("marker");
    let v2 = service_until(&client, "ready", "version 2 ready, version 1 gone", |v| {
        running(v) == 2 && v.deployment.is_none() && v.instances.iter().all(|i| i.version == 2)
    })
    .await;
    assert_eq!(v2.instances.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_applies_a_yaml_file_and_follows_the_deployment() {
    let cluster = Cluster::start(&[]).await;
    let file = cluster.scratch().join("web.yaml");
    let yaml = |release: &str| {
        format!(
            "id: web\ninstances: 2\ntask:\n  resources: {{cpus: 0.1, mem: 16}}\n  command: {{shell: \"exec sleep 600\"}}\n  env: {{RELEASE: \"{release}\"}}\n"
        )
    };
    std::fs::write(&file, yaml("1")).expect("write the file");
    let path = file.to_str().expect("utf-8");
    let text = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let applied = text(cluster.cli(&["service", "apply", "-f", path]).output().expect("apply"));
    assert!(
        applied.contains("to version 1 started") && applied.contains("deployment finished: 2 healthy at version 1"),
        "{applied}"
    );
    let list = text(cluster.cli(&["service", "list"]).output().expect("list"));
    let row = list.lines().find(|l| l.starts_with("web ")).unwrap_or_else(|| panic!("no row for web:\n{list}"));
    assert!(row.contains("running") && row.contains("2/2"), "{row}");
    let shown: ServiceView =
        serde_json::from_str(&text(cluster.cli(&["service", "show", "web", "--json"]).output().expect("show")))
            .expect("json");
    assert_eq!((shown.version, shown.instances.len()), (1, 2));
    let scaled = text(cluster.cli(&["service", "scale", "web", "3"]).output().expect("scale"));
    assert!(scaled.contains("deployment finished: 3 healthy at version 1"), "{scaled}");
    let restarted = text(cluster.cli(&["service", "restart", "web"]).output().expect("restart"));
    assert!(restarted.contains("deployment finished: 3 healthy at version 2"), "{restarted}");
    let shown = text(cluster.cli(&["service", "show", "web"]).output().expect("show"));
    assert!(shown.contains("running, version 2 (kept: 2, 1), 3/3 healthy"), "{shown}");

    // --detach returns once the change is accepted.
    std::fs::write(&file, yaml("2")).expect("write the file");
    let detached = text(cluster.cli(&["service", "apply", "-f", path, "--detach"]).output().expect("apply"));
    assert!(detached.contains("to version 3 started") && !detached.contains("finished"), "{detached}");
    let unchanged = text(cluster.cli(&["service", "apply", "-f", path]).output().expect("apply again"));
    assert!(unchanged.contains("nothing to deploy") || unchanged.contains("finished"), "{unchanged}");
    let deleted = text(cluster.cli(&["service", "delete", "web"]).output().expect("delete"));
    assert!(deleted.contains("service web: deleted"), "{deleted}");
    let list = text(cluster.cli(&["service", "list"]).output().expect("list"));
    assert!(!list.contains("web"), "{list}");
    // A file without an id is refused before anything is sent.
    std::fs::write(&file, "instances: 1\n").expect("write the file");
    let out = cluster.cli(&["service", "apply", "-f", path]).output().expect("apply");
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("has no `id`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_instance_is_replaced_and_the_extra_one_killed_when_its_agent_returns() {
    let mut cluster = Cluster::start(&["--agent-timeout", "2", "--agent-removal-timeout", "0"]).await;
    let a1 = cluster.spawn_agent_with("a1", "cpus:1,mem:512", &["--attributes", "rack:r1"]);
    let a2 = cluster.spawn_agent_with("a2", "cpus:1,mem:512", &["--attributes", "rack:r1"]);
    cluster.wait_for_agents(3).await;
    let client = cluster.client();
    let one = spec(serde_json::json!({
        "instances": 1,
        "task": {"resources": {"cpus": 0.1, "mem": 16}, "command": {"shell": "exec sleep 6003"}},
        "constraints": [["rack", "LIKE", "r1"]],
        "unreachable_strategy": {"inactive_after_secs": 0, "expunge_after_secs": 600},
    }));
    client.put_service("one", &one).await.expect("put");
    let first = service_until(&client, "one", "1 running", |v| running(v) == 1).await;
    let old = first.instances[0].clone();
    let (lost, lost_name) = if old.hostname == "a1" { (a1, "a1") } else { (a2, "a2") };
    cluster.kill_agent(lost);
    // Unreachable: replaced at once (inactive after 0 s), and kept (expunged after 600 s).
    let replaced = service_until(&client, "one", "a replacement while the old one is unreachable", |v| {
        running(v) == 1
            && v.instances.iter().any(|i| i.task_id == old.task_id && i.state == agora_api::TaskState::Unreachable)
    })
    .await;
    let new = replaced.instances.iter().find(|i| i.ready).expect("the replacement").clone();
    assert_ne!(new.hostname, lost_name);
    // The agent comes back with the old instance still running: one of the two goes, the
    // youngest (the replacement), as the kill selection says.
    cluster.restart_agent(lost, lost_name, "cpus:1,mem:512", &["--attributes", "rack:r1"]);
    let settled = service_until(&client, "one", "back to one instance", |v| {
        v.instances.len() == 1 && running(v) == 1 && v.deployment.is_none()
    })
    .await;
    assert_eq!(settled.instances[0].task_id, old.task_id, "the youngest went: {:?}", settled.instances);
    client.delete_service("one").await.expect("delete");
}
