//! The EC2 autoscaler end to end: `agora-autoscaler` against moto's EC2 server (through a proxy
//! that injects faults), a real `agora dev`, and a real `agora agent` for each instance moto
//! runs (`common::cloud`). Each test has its own cluster, moto and autoscaler(s), and skips
//! where moto is not installed (`.ci/moto` installs it).

mod common;

use agora_api::operator::{AutoscalerEvent, Lease};
use agora_api::services::{ServiceSpec, ServiceView};
use agora_api::TaskState;
use common::cloud::*;
use common::*;
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

/// Scaling out means launching, agents joining and tasks starting on a 2-core machine.
const SCALE_DEADLINE: Duration = Duration::from_secs(180);

/// A cluster, its cloud and the autoscaler's decisions as the operator stream carries them.
/// (Dropped in this order: the stream, the cloud's agents and moto, then `agora dev`.)
struct Scene {
    decisions: Decisions,
    cloud: Cloud,
    cluster: Cluster,
    /// The stderr files of the autoscalers started, for failure messages.
    logs: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

/// A test that fails says what the scene saw, whichever assertion failed.
impl Drop for Scene {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("what the scene saw:\n{}", self.report());
        }
    }
}

impl Scene {
    /// moto, `agora dev` with a built-in agent of `dev_resources`, and the cloud played for it;
    /// `None` where moto is not installed.
    async fn start(dev_resources: &str) -> Option<Scene> {
        let mut cloud = Cloud::start().await?;
        let cluster = Cluster::start(&["--resources", dev_resources]).await;
        cloud.play(&cluster);
        let decisions = Decisions::watch(cluster.client());
        Some(Scene { decisions, cloud, cluster, logs: Default::default() })
    }

    fn autoscaler(&self, holder: &str) -> AutoscalerProcess {
        let process = self.cloud.autoscaler(&self.cluster, holder);
        self.logs.lock().expect("logs").push(process.stderr.clone());
        process
    }

    /// What a failure message needs: the decisions, the proxy's launches, the player's agents,
    /// and the end of each autoscaler's log.
    fn report(&self) -> String {
        let mut out = format!("decisions:\n{}\n", self.decisions.summary());
        out += &format!("RunInstances seen by the proxy:\n{:#?}\n", self.cloud.runs());
        out += &format!("agents of instances (started/stopped):\n{:#?}\n", self.cloud.agent_log());
        out += &format!("faults left: {:?}\n", self.cloud.faults_left());
        for path in self.logs.lock().expect("logs").iter() {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            out += &format!("--- {} (last 40 lines):\n{tail}\n", path.display());
        }
        out
    }

    /// Polls `check` (every quarter second: each look asks moto or the API) until it yields a
    /// value, or fails past `within`.
    async fn wait<T, F, Fut>(&self, within: Duration, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let until = std::time::Instant::now() + within;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            self.cloud.assert_playing();
            if std::time::Instant::now() > until {
                panic!("timed out after {within:?} waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The decisions so far, once `check` finds in them what it looks for: an event posted
    /// after the action it tells of may come after the test saw the action's effect.
    async fn decided(&self, what: &str, check: impl Fn(&[AutoscalerEvent]) -> bool) -> Vec<AutoscalerEvent> {
        let check = &check;
        self.wait(Duration::from_secs(30), what, || async move {
            let all = self.decisions.all();
            check(&all).then_some(all)
        })
        .await
    }

    async fn service(&self, id: &str) -> Option<ServiceView> {
        self.cluster.client().get_service(id).await.ok()
    }

    /// The lease the autoscalers share, once one took it.
    async fn lease(&self) -> Option<Lease> {
        self.cluster.client().get::<Lease>("/v1/leases/agora-autoscaler").await.ok()
    }
}

/// `instances` sleepers of `cpus` and `mem`, within `constraints`, scaled down by `kill`.
fn sleepers(instances: u32, cpus: f64, mem: f64, constraints: serde_json::Value, kill: &str) -> ServiceSpec {
    serde_json::from_value(serde_json::json!({
        "instances": instances,
        "task": {"resources": {"cpus": cpus, "mem": mem}, "command": {"shell": "exec sleep 600"}},
        "constraints": constraints,
        "kill_selection": kill,
    }))
    .expect("a valid spec")
}

fn running(view: &ServiceView) -> Vec<&agora_api::services::InstanceView> {
    view.instances.iter().filter(|i| i.state == TaskState::Running && !i.killing).collect()
}

/// `agora dev` with room for two of the eight half-cpu instances of service `web`: the other
/// six wait, and the autoscaler must add two m5.large agents (two cpus each) for them, and no
/// more. Returns once all eight run.
async fn scale_out(scene: &Scene, autoscaler: &AutoscalerProcess, kill: &str) -> ServiceView {
    let client = scene.cluster.client();
    client.put_service("web", &sleepers(8, 0.5, 256.0, serde_json::json!([]), kill)).await.expect("put the service");
    let view = scene
        .wait(SCALE_DEADLINE, "all 8 instances of web to run", || async {
            autoscaler.assert_running();
            scene.service("web").await.filter(|v| running(v).len() == 8)
        })
        .await;
    let moto = scene.cloud.live().await;
    for instance in running(&view) {
        if let Some(id) = instance_of(&instance.hostname) {
            assert!(moto.iter().any(|i| i.id == id), "{} runs on an instance moto does not run", instance.task_id);
        }
    }
    view
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_scales_out_to_exactly_what_places_it() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let autoscaler = scene.autoscaler("solo");
    let view = scale_out(&scene, &autoscaler, "youngest_first").await;

    // Six half-cpu instances need three cpus: two agents of two cpus, launched once.
    let all = scene.cloud.instances().await;
    assert_eq!(all.len(), 2, "exactly two instances, ever: {all:#?}");
    for instance in &all {
        assert!(instance.live(), "{instance:?}");
        assert_eq!(instance.instance_type, INSTANCE_TYPE);
        assert_eq!(instance.tags.get("agora:cluster").map(String::as_str), Some(CLUSTER));
        assert_eq!(instance.tags.get("agora:role").map(String::as_str), Some("agent"));
        assert_eq!(instance.tags.get("agora:pool").map(String::as_str), Some(POOL));
        let token = instance.tags.get("agora:launch").expect("the launch's token as a tag");
        assert!(scene.cloud.runs().iter().any(|r| &r.client_token == token), "a token the proxy saw: {token}");
    }
    let ids: BTreeSet<String> = all.iter().map(|i| i.id.clone()).collect();
    let runs = scene.cloud.runs();
    assert!(runs.iter().all(|r| r.forwarded && r.fault.is_none() && !r.replayed));
    let launched: BTreeSet<String> = runs.iter().flat_map(|r| r.instance_ids.clone()).collect();
    assert_eq!(launched, ids, "the proxy's launches are moto's instances");
    assert_eq!(runs.iter().map(|r| r.instance_ids.len()).sum::<usize>(), 2);

    // The operator stream says so, and the metrics count it.
    let launched_ids = |all: &[AutoscalerEvent]| -> BTreeSet<String> {
        all.iter().filter(|e| e.action == "launch").flat_map(|e| e.instance_ids.clone()).collect()
    };
    let all = scene.decided("launch decisions on the operator stream", |all| launched_ids(all) == ids).await;
    assert_eq!(launched_ids(&all), ids);
    let launches: Vec<&AutoscalerEvent> = all.iter().filter(|e| e.action == "launch").collect();
    for e in &launches {
        assert_eq!(e.holder, "solo");
        assert_eq!(e.pool.as_deref(), Some(POOL));
        assert_eq!(e.instance_type.as_deref(), Some(INSTANCE_TYPE));
        assert!(e.reason.contains("service/web"), "{}", e.reason);
    }
    let total = scene
        .wait(Duration::from_secs(30), "the metrics", || autoscaler.metric("agora_autoscaler_launched_total", &[]))
        .await;
    assert_eq!(total, 2.0, "agora_autoscaler_launched_total");
    let by_pool = autoscaler.metric("agora_autoscaler_launched_total", &["pool=\"general\""]).await;
    assert_eq!(by_pool, Some(2.0));
    assert_eq!(autoscaler.metric("agora_autoscaler_leader", &[]).await, Some(1.0));

    // The two new agents joined with what an m5.large offers, and hold the six.
    let started: Vec<AgentRecord> = scene.cloud.agent_log();
    assert_eq!(started.len(), 2, "{started:#?}");
    assert!(started.iter().all(|r| r.started && ids.contains(&r.instance_id)));
    let agents = scene.cluster.client().list_agents().await.expect("agents");
    for id in &ids {
        let agent = agents.agents.iter().find(|a| a.hostname == hostname_of(id)).expect("the instance's agent");
        assert_eq!((agent.total.cpus, agent.total.mem), (2.0, 7168.0), "m5.large less mem_reserve_mb");
        assert_eq!(agent.attributes.get("instance_id"), Some(id));
        assert_eq!(agent.attributes.get("cluster").map(String::as_str), Some(CLUSTER));
    }
    let on_new = running(&view).iter().filter(|i| instance_of(&i.hostname).is_some()).count();
    assert_eq!(on_new, 6, "six instances on the new agents: {:#?}", view.instances);

    // It stays there: more rounds launch nothing.
    autoscaler.wait_rounds(5.0).await;
    assert_eq!(scene.cloud.runs().len(), runs.len(), "no launch once all runs");
    assert_eq!(scene.cloud.instances().await.len(), 2);
    assert_eq!(scene.cloud.agent_log().len(), 2, "no agent stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_back_drains_and_terminates_only_idle_agents() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let autoscaler = scene.autoscaler("solo");
    // The oldest go first: the two on the dev agent, then those on the new agents, so that the
    // one left runs on an agent the autoscaler launched.
    scale_out(&scene, &autoscaler, "oldest_first").await;
    assert_eq!(scene.cloud.live().await.len(), 2);
    let client = scene.cluster.client();
    client.scale_service("web", 1).await.expect("scale to 1");

    let kept = scene
        .wait(Duration::from_secs(90), "web to be down to one instance", || async {
            let view = scene.service("web").await?;
            (view.instances.len() == 1 && running(&view).len() == 1).then(|| view.instances[0].clone())
        })
        .await;
    let keeper = instance_of(&kept.hostname)
        .unwrap_or_else(|| panic!("the youngest instance runs on a new agent: {kept:?}"))
        .to_string();
    let keeper_agent = kept.agent_id.clone();

    // The other agent idles, is drained, and its instance terminated; the keeper's stays, and
    // so does its agent and its task, at every look.
    let other = scene
        .wait(Duration::from_secs(120), "the idle agent's instance to be terminated and its agent stopped", || async {
            let view = scene.service("web").await?;
            let instances = scene.cloud.instances().await;
            let task = view.instances.iter().find(|i| i.task_id == kept.task_id);
            assert!(
                task.is_some_and(|t| t.state == TaskState::Running && t.agent_id == keeper_agent),
                "the kept instance still runs where it ran: {:#?}",
                view.instances
            );
            let keeper_state = instances.iter().find(|i| i.id == keeper).map(|i| i.state.clone());
            assert!(
                matches!(keeper_state.as_deref(), Some("pending" | "running")),
                "the instance under a running task was terminated ({keeper_state:?})",
            );
            assert!(
                scene.cloud.agent_log().iter().all(|r| r.instance_id != keeper || r.started),
                "the agent under a running task was stopped",
            );
            let others: Vec<_> = instances.iter().filter(|i| i.id != keeper).collect();
            let done = others.len() == 1 && !others[0].live() && scene.cloud.agents_running() == vec![keeper.clone()];
            done.then(|| others[0].clone())
        })
        .await;

    // Through a drain, then a termination, each said on the operator stream.
    let other_agent = scene
        .cluster
        .client()
        .list_agents()
        .await
        .expect("agents")
        .agents
        .into_iter()
        .find(|a| a.hostname == hostname_of(&other.id))
        .expect("the drained agent is still known")
        .id;
    let drained = |all: &[AutoscalerEvent]| {
        all.iter().position(|e| e.action == "drain" && e.agent_id.as_ref() == Some(&other_agent))
    };
    let ended = |all: &[AutoscalerEvent]| {
        all.iter().position(|e| e.action == "terminate" && e.instance_ids.contains(&other.id))
    };
    let all = scene.decided("the drain and the termination", |all| ended(all).is_some()).await;
    assert!(drained(&all).is_some() && drained(&all) < ended(&all), "drained, then terminated");
    let drains = scene.decisions.of("drain");
    assert!(drains.iter().all(|e| e.agent_id.as_ref() != Some(&keeper_agent)), "the keeper was drained");
    let terminations = scene.decisions.of("terminate");
    assert!(terminations.iter().all(|e| !e.instance_ids.contains(&keeper)), "the keeper was terminated");
    let terminated = scene
        .wait(Duration::from_secs(30), "the metrics", || autoscaler.metric("agora_autoscaler_terminated_total", &[]))
        .await;
    assert_eq!(terminated, 1.0);

    // And it stays so: the keeper is not idle, the dev agent is not the autoscaler's.
    autoscaler.wait_rounds(5.0).await;
    let live = scene.cloud.live().await;
    assert_eq!(live.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), vec![keeper.clone()]);
    let view = scene.service("web").await.expect("web");
    assert_eq!(running(&view).len(), 1);
    assert_eq!(running(&view)[0].task_id, kept.task_id);
    assert_eq!(scene.cloud.runs().len(), 1, "no launch while scaling in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_constraint_launches_nothing_and_says_why() {
    let Some(scene) = Scene::start("cpus:4,mem:4096,disk:1024").await else { return };
    let autoscaler = scene.autoscaler("solo");
    let client = scene.cluster.client();
    let constraint = serde_json::json!([["rack", "IS", "r9"]]);
    client.put_service("nowhere", &sleepers(1, 0.1, 16.0, constraint, "youngest_first")).await.expect("put");

    let why = scene
        .wait(Duration::from_secs(60), "an unplaceable decision", || async {
            autoscaler.assert_running();
            scene.decisions.of("unplaceable").into_iter().next()
        })
        .await;
    assert!(why.reason.contains("service/nowhere"), "{}", why.reason);
    assert!(
        why.reason.contains("rack") && why.reason.contains("r9") && why.reason.contains("constraint"),
        "{}",
        why.reason
    );
    assert_eq!(why.count, 1);

    // Round after round, it neither launches nor repeats itself.
    autoscaler.wait_rounds(5.0).await;
    assert!(scene.cloud.runs().is_empty(), "no RunInstances");
    assert!(!scene.cloud.actions().iter().any(|a| a == "RunInstances"));
    assert!(scene.cloud.instances().await.is_empty());
    assert!(scene.decisions.of("launch").is_empty());
    assert_eq!(scene.decisions.of("unplaceable").len(), 1, "said once");
    assert_eq!(autoscaler.metric("agora_autoscaler_unplaceable_instances", &[]).await, Some(1.0));
    assert_eq!(autoscaler.metric("agora_autoscaler_launched_total", &[]).await, Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_launches_fall_back_and_retries_do_not_double() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let (a, b) = (scene.cloud.subnet_a().to_string(), scene.cloud.subnet_b().to_string());
    // The first subnet has no capacity; in the second, the first try is throttled and the
    // second launches but its answer is lost.
    scene.cloud.fault(FaultRule::in_subnet(Fault::Capacity, &a));
    scene.cloud.fault(FaultRule::any(Fault::Throttle));
    scene.cloud.fault(FaultRule::any(Fault::LoseAnswer));
    let autoscaler = scene.autoscaler("solo");
    let client = scene.cluster.client();
    // One and a half cpus fit on no agent there is: exactly one new instance places it.
    client.put_service("big", &sleepers(1, 1.5, 256.0, serde_json::json!([]), "youngest_first")).await.expect("put");

    let view = scene
        .wait(SCALE_DEADLINE, "big to run", || async {
            autoscaler.assert_running();
            scene.service("big").await.filter(|v| running(v).len() == 1)
        })
        .await;
    let all = scene.cloud.instances().await;
    assert_eq!(all.len(), 1, "one instance, ever: {all:#?}");
    let instance = &all[0];
    assert!(instance.live());
    assert_eq!(instance.subnet, b, "launched in the second subnet after the first had no capacity");
    assert_eq!(instance.zone, scene.cloud.subnets[1].1);
    assert_eq!(running(&view)[0].hostname, hostname_of(&instance.id));

    let runs = scene.cloud.runs();
    assert!(runs.len() >= 3);
    assert_eq!(
        (runs[0].subnet.as_str(), runs[0].fault.clone(), runs[0].forwarded),
        (a.as_str(), Some(Fault::Capacity), false)
    );
    assert_eq!(
        (runs[1].subnet.as_str(), runs[1].fault.clone(), runs[1].forwarded),
        (b.as_str(), Some(Fault::Throttle), false)
    );
    assert_eq!(
        (runs[2].subnet.as_str(), runs[2].fault.clone(), runs[2].forwarded),
        (b.as_str(), Some(Fault::LoseAnswer), true)
    );
    assert_eq!(runs[2].instance_ids, vec![instance.id.clone()]);
    assert_eq!(runs[1].client_token, runs[2].client_token, "a throttled launch is retried under its token");
    assert_ne!(runs[0].client_token, runs[1].client_token, "another subnet is another launch");
    // After the lost answer it looked for the instance by its launch tag and sent nothing more
    // (a resend under the same token would be answered by the proxy as by EC2, which would hide
    // a missing look: so none is allowed).
    assert_eq!(runs.len(), 3, "no RunInstances after the lost answer: {runs:#?}");
    assert_eq!(instance.tags.get("agora:launch"), Some(&runs[2].client_token));
    assert!(scene.cloud.faults_left().is_empty(), "every fault was met");

    // The failure was said before the launch that followed it.
    scene.decided("the launch decision", |all| all.iter().any(|e| e.action == "launch")).await;
    let failed = scene.decisions.of("launch_failed");
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].reason.contains("InsufficientInstanceCapacity") && failed[0].reason.contains(&a),
        "{}",
        failed[0].reason
    );
    let launches = scene.decisions.of("launch");
    assert_eq!(launches.len(), 1);
    assert_eq!(launches[0].instance_ids, vec![instance.id.clone()]);
    assert_eq!(autoscaler.metric("agora_autoscaler_failed_total", &["reason=\"capacity\""]).await, Some(1.0));
    assert_eq!(autoscaler.metric("agora_autoscaler_launched_total", &[]).await, Some(1.0));

    // Rounds later, still one.
    autoscaler.wait_rounds(5.0).await;
    assert_eq!(scene.cloud.instances().await.len(), 1);
    assert_eq!(scene.cloud.runs().len(), runs.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_acting_replica_is_replaced_without_doubling() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let replicas = [scene.autoscaler("alpha"), scene.autoscaler("beta")];
    let first = scene
        .wait(Duration::from_secs(60), "a replica to take the lease", || async {
            scene.lease().await.filter(|l| !l.holder.is_empty())
        })
        .await;
    assert!(["alpha", "beta"].contains(&first.holder.as_str()), "{first:?}");
    // moto launches the first RunInstances at once, but its answer is held: the acting replica
    // is killed with its launch in flight, before it learns what it launched.
    scene.cloud.fault(FaultRule::any(Fault::Hold(Duration::from_secs(5))));
    let client = scene.cluster.client();
    client.put_service("web", &sleepers(8, 0.5, 256.0, serde_json::json!([]), "youngest_first")).await.expect("put");
    scene
        .wait(Duration::from_secs(60), "the first launch to reach moto", || async {
            scene.cloud.runs().iter().any(|r| r.forwarded).then_some(())
        })
        .await;
    let acting = scene.lease().await.expect("the lease");
    let (dead, survivor) = if acting.holder == "alpha" { (0, 1) } else { (1, 0) };
    assert_eq!(replicas[dead].holder, acting.holder);
    replicas[dead].kill();
    let in_flight = scene.cloud.runs();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].instance_ids.len(), 2, "one launch of two instances: {in_flight:?}");

    // The standby takes the lease once it expires, and counts what the dead one launched.
    let taken = scene
        .wait(Duration::from_secs(60), "the standby to take the lease", || async {
            replicas[survivor].assert_running();
            scene.lease().await.filter(|l| l.holder == replicas[survivor].holder)
        })
        .await;
    assert!(taken.epoch > acting.epoch, "{taken:?} after {acting:?}");
    scene
        .wait(SCALE_DEADLINE, "all 8 instances of web to run", || async {
            replicas[survivor].assert_running();
            scene.service("web").await.filter(|v| running(v).len() == 8)
        })
        .await;
    replicas[survivor].wait_rounds(5.0).await;
    let all = scene.cloud.instances().await;
    assert_eq!(all.len(), 2, "two instances, ever: {all:#?}");
    assert!(all.iter().all(Ec2Instance::live), "{all:#?}");
    let runs = scene.cloud.runs();
    assert_eq!(runs.iter().filter(|r| r.forwarded).count(), 1, "one launch reached moto");
    // The dead replica never learnt what it launched; the new holder launched nothing.
    let reported: Vec<String> = scene.decisions.of("launch").into_iter().flat_map(|e| e.instance_ids).collect();
    assert!(reported.iter().all(|id| in_flight[0].instance_ids.contains(id)), "launched more: {reported:?}");
    assert_eq!(replicas[survivor].metric("agora_autoscaler_leader", &[]).await, Some(1.0));
}

/// A replica that keeps retrying a launch must not go on once its lease may have passed to
/// another: either it stops retrying (its lease unrenewed for half its time to live), or it
/// renews the lease as it goes. Either way two instances, not four.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_retrying_a_launch_past_its_lease_does_not_double() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let replicas = [scene.autoscaler("alpha"), scene.autoscaler("beta")];
    let first = scene
        .wait(Duration::from_secs(60), "a replica to take the lease", || async {
            scene.lease().await.filter(|l| !l.holder.is_empty())
        })
        .await;
    // The acting replica's launch is throttled three times; with its backoff, its fourth try
    // comes 3.5 s after the first, past the lease's 3 s, and is slow (2 s) to be acted on. By
    // then the other replica holds the lease and has planned (and launched) for the same work.
    let throttled =
        Fault::Tries(vec![Fault::Throttle, Fault::Throttle, Fault::Throttle, Fault::Stall(Duration::from_secs(2))]);
    scene.cloud.fault(FaultRule::any(throttled));
    let client = scene.cluster.client();
    client.put_service("web", &sleepers(8, 0.5, 256.0, serde_json::json!([]), "youngest_first")).await.expect("put");
    scene
        .wait(SCALE_DEADLINE, "all 8 instances of web to run", || async {
            replicas.iter().for_each(AutoscalerProcess::assert_running);
            scene.service("web").await.filter(|v| running(v).len() == 8)
        })
        .await;
    let acting = scene.lease().await.expect("the lease");
    let holder = replicas.iter().find(|r| r.holder == acting.holder).expect("the holder is one of the two");
    holder.wait_rounds(5.0).await;

    let runs = scene.cloud.runs();
    let stuck = runs.first().map(|r| r.client_token.clone()).expect("a launch");
    let retries = runs.iter().filter(|r| r.client_token == stuck).count();
    let taken_over = acting.holder != first.holder || acting.epoch > first.epoch;
    let all = scene.cloud.instances().await;
    assert_eq!(
        all.len(),
        2,
        "two instances, ever (lease at first {first:?}, now {acting:?}; the first launch was tried {retries} \
         time(s), the lease {} hands): {all:#?}",
        if taken_over { "changed" } else { "did not change" }
    );
    assert_eq!(runs.iter().filter(|r| r.forwarded && !r.replayed).count(), 1, "one launch reached moto");
}

/// A framework that declares what it waits for (`PUT /v1/frameworks/{id}/demand`) gets agents
/// for it, and gives them back once it declares nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frameworks_declared_demand_is_scaled_for() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let autoscaler = scene.autoscaler("solo");
    let framework = Framework::register(scene.cluster.client(), registration("batch")).await;
    let demand: agora_api::framework::Demand = serde_json::from_value(serde_json::json!({
        "tasks": [{"count": 2, "resources": {"cpus": 2.0, "mem": 1024.0}}]
    }))
    .expect("a demand");
    scene.cluster.client().set_demand(&framework.id, &demand).await.expect("declare the demand");
    scene
        .wait(SCALE_DEADLINE, "two agents of the cloud to join", || async {
            let agents = scene.cluster.client().list_agents().await.ok()?;
            let joined = agents.agents.iter().filter(|a| a.attributes.contains_key("instance_id")).count();
            (joined == 2).then_some(())
        })
        .await;
    let launches = scene.decided("the launch decisions", |all| all.iter().any(|e| e.action == "launch")).await;
    assert!(
        launches
            .iter()
            .filter(|e| e.action == "launch")
            .all(|e| e.reason.contains(&format!("framework/{}", framework.id))),
        "{launches:?}"
    );
    autoscaler.wait_rounds(5.0).await;
    assert_eq!(scene.cloud.instances().await.len(), 2, "one m5.large per 2-cpu task, no more");

    // Nothing declared: the agents are idle, drained and terminated.
    let none: agora_api::framework::Demand = serde_json::from_value(serde_json::json!({"tasks": []})).expect("empty");
    scene.cluster.client().set_demand(&framework.id, &none).await.expect("clear the demand");
    scene
        .wait(SCALE_DEADLINE, "the cloud's instances to be terminated", || async {
            autoscaler.assert_running();
            scene.cloud.live().await.is_empty().then_some(())
        })
        .await;
    scene
        .decided("both terminations on the stream", |all| all.iter().filter(|e| e.action == "terminate").count() == 2)
        .await;
}

/// A pool of `spot_then_on_demand` launches on-demand, in the same round, when spot has no
/// capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spot_without_capacity_falls_back_to_on_demand() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let spot = FaultRule { market: Some("spot".into()), ..FaultRule::any(Fault::Capacity) };
    scene.cloud.fault(spot);
    let autoscaler = scene.cloud.autoscaler_with(&scene.cluster, "solo", &[], "  market: spot_then_on_demand\n");
    scene.logs.lock().expect("logs").push(autoscaler.stderr.clone());
    let client = scene.cluster.client();
    client.put_service("web", &sleepers(3, 0.5, 256.0, serde_json::json!([]), "youngest_first")).await.expect("put");
    scene
        .wait(SCALE_DEADLINE, "all 3 instances of web to run", || async {
            autoscaler.assert_running();
            scene.service("web").await.filter(|v| running(v).len() == 3)
        })
        .await;
    let runs = scene.cloud.runs();
    let markets: Vec<(&str, bool)> = runs.iter().map(|r| (r.market.as_str(), r.forwarded)).collect();
    assert_eq!(markets, vec![("spot", false), ("", true)], "spot refused, then on-demand: {runs:#?}");
    assert_ne!(runs[0].client_token, runs[1].client_token, "another launch, another token");
    assert_eq!(scene.cloud.instances().await.len(), 1);
    // Rounds later (any event of the fallback's round is on the stream by then): no failure.
    autoscaler.wait_rounds(3.0).await;
    assert!(scene.decisions.of("launch_failed").is_empty(), "the fallback succeeded in the same round");
}

/// `--dry-run` prints what it would launch, says so on the operator stream, and launches
/// nothing, takes no lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_its_decisions_and_takes_none() {
    let Some(scene) = Scene::start("cpus:1,mem:2048,disk:1024").await else { return };
    let autoscaler = scene.cloud.autoscaler_with(&scene.cluster, "dry", &["--dry-run"], "");
    scene.logs.lock().expect("logs").push(autoscaler.stderr.clone());
    let client = scene.cluster.client();
    client.put_service("web", &sleepers(8, 0.5, 256.0, serde_json::json!([]), "youngest_first")).await.expect("put");
    let printed = scene
        .wait(Duration::from_secs(60), "a launch printed on stdout", || async {
            let out = std::fs::read_to_string(&autoscaler.stdout).unwrap_or_default();
            let decisions: Vec<AutoscalerEvent> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
            decisions.into_iter().find(|d| d.action == "launch")
        })
        .await;
    assert!(printed.dry_run, "{printed:?}");
    assert_eq!(printed.count, 2, "what would place the six waiting instances: {printed:?}");
    assert!(printed.instance_ids.is_empty(), "nothing launched: {printed:?}");
    let on_stream = scene.decided("the dry-run launch on the operator stream", |all| {
        all.iter().any(|e| e.action == "launch" && e.dry_run)
    });
    on_stream.await;
    autoscaler.wait_rounds(5.0).await;
    assert!(scene.cloud.runs().is_empty(), "no RunInstances: {:?}", scene.cloud.runs());
    assert!(scene.cloud.instances().await.is_empty());
    assert!(scene.lease().await.is_none_or(|l| l.holder.is_empty()), "a dry run takes no lease");
    let out = std::fs::read_to_string(&autoscaler.stdout).unwrap_or_default();
    let launches = out.lines().filter(|l| l.contains("\"action\":\"launch\"")).count();
    assert_eq!(launches, 1, "printed once, not every round:\n{out}");
}

/// `agora autoscaler ARGS` is `agora-autoscaler ARGS`, the binary beside `agora`.
#[test]
fn agora_autoscaler_runs_the_autoscaler_beside_it() {
    let out = std::process::Command::new(AGORA).args(["autoscaler", "--help"]).output().expect("agora autoscaler");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(help.contains("Usage: agora-autoscaler") && help.contains("--dry-run"), "{help}");
    let out = std::process::Command::new(AGORA)
        .args(["autoscaler", "--config", "/nonexistent.yaml", "--master", "http://127.0.0.1:9", "--token", "t"])
        .output()
        .expect("agora autoscaler");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent.yaml"));
}

/// Not a check but a measurement (BENCHMARKS.md): where the time from a service's waiting
/// instance to its `running` goes, five times over, each instance needing an agent of its own.
/// `cargo test -p agora --test autoscaler -- --ignored --nocapture scale_out_latency`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn scale_out_latency() {
    use agora_api::operator::OperatorEvent;
    use futures::StreamExt as _;
    use std::time::Instant;
    let Some(scene) = Scene::start("cpus:0.5,mem:2048,disk:1024").await else { return };
    let autoscaler = scene.autoscaler("solo");
    autoscaler.wait_rounds(1.0).await;
    // The operator stream, each event with when the test read it.
    let timeline: std::sync::Arc<std::sync::Mutex<Vec<(Instant, OperatorEvent)>>> = Default::default();
    let (into, client) = (timeline.clone(), scene.cluster.client());
    let mut events = client.operator_events(None).await.expect("the operator stream");
    let reader = tokio::spawn(async move {
        while let Some(Ok(event)) = events.next().await {
            if let Ok(Some(parsed)) = OperatorEvent::parse(&event.event, &event.data) {
                into.lock().expect("timeline").push((Instant::now(), parsed));
            }
        }
    });
    let mut rows = Vec::new();
    for i in 0..5 {
        let id = format!("big{i}");
        let asked = Instant::now();
        client.put_service(&id, &sleepers(1, 2.0, 256.0, serde_json::json!([]), "youngest_first")).await.expect("put");
        let view = scene
            .wait(SCALE_DEADLINE, "the instance to run", || async {
                scene.service(&id).await.filter(|v| running(v).len() == 1)
            })
            .await;
        let task = running(&view)[0].task_id.clone();
        let at = |found: &dyn Fn(&OperatorEvent) -> bool| {
            let seen = timeline.lock().expect("timeline");
            seen.iter().find(|(t, e)| *t >= asked && found(e)).map(|(t, _)| *t)
        };
        let wanted = format!("service/{id}");
        let launched = scene
            .wait(Duration::from_secs(30), "the launch on the stream", || async {
                at(&|e| matches!(e, OperatorEvent::Autoscaler(a) if a.action == "launch" && a.reason.contains(&wanted)))
            })
            .await;
        let joined = at(&|e| matches!(e, OperatorEvent::AgentAdded(_))).expect("an agent joined");
        let running_at = scene
            .wait(Duration::from_secs(30), "running on the stream", || async {
                at(&|e| matches!(e, OperatorEvent::TaskUpdated(t) if t.status.task_id == task && t.status.state == TaskState::Running))
            })
            .await;
        rows.push((launched - asked, joined - launched, running_at - joined, running_at - asked));
    }
    reader.abort();
    let decision = autoscaler.metric("agora_autoscaler_decision_seconds_sum", &[]).await.unwrap_or(0.0)
        / autoscaler.rounds().await.unwrap_or(1.0);
    let calls = autoscaler.metric("agora_autoscaler_launch_seconds_count", &[]).await.unwrap_or(1.0);
    let call = autoscaler.metric("agora_autoscaler_launch_seconds_sum", &[]).await.unwrap_or(0.0) / calls;
    println!("mean decision (a round's reads and plan): {:.1} ms over every round", decision * 1000.0);
    println!("mean EC2 launch call (RunInstances through the proxy to moto): {:.1} ms", call * 1000.0);
    println!("| run | put to launch decided (round wait + decision + call) | launch to agent joined | joined to running | total |");
    for (i, (decide, join, start, total)) in rows.iter().enumerate() {
        println!("| {i} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |", ms(*decide), ms(*join), ms(*start), ms(*total));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
