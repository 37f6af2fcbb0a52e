//! Unit tests of the master's rules, on an in-memory store. The HTTP API, both stores and
//! real processes are exercised in `server/tests/` and `cli/tests/`.

use super::records::key;
use super::*;
use agora_api::agent::{RegisterAgent, RunningTask, StatusUpdates};
use agora_api::framework::{Accept, Kill, Operation, Reconcile, RegisterFramework};
use agora_api::operator::TaskFilter;
use agora_api::Offer;
use std::collections::BTreeMap;

/// The caller of the operations under test: an operator.
fn op() -> Caller {
    Caller::operator("test")
}

fn registration() -> RegisterFramework {
    RegisterFramework {
        id: None,
        name: "t".into(),
        roles: vec!["*".into()],
        failover_timeout_secs: 60.0,
        capabilities: vec![],
        offer_constraints: BTreeMap::new(),
        offer_filters: BTreeMap::new(),
    }
}

fn agent_registration(id: Option<AgentId>, tasks: Vec<RunningTask>) -> RegisterAgent {
    RegisterAgent {
        agent_id: id,
        hostname: "h".into(),
        resources: Resources::parse("cpus:4,mem:4096,ports:[31000-31010]").expect("resources"),
        reserved: BTreeMap::new(),
        attributes: BTreeMap::new(),
        tasks,
        containerizers: vec![agora_api::Containerizer::Process],
    }
}

/// Takes the lease, so the test can run rounds, and heartbeats the replica (the streams it
/// holds count as connected); returns the epoch.
async fn lead(master: &Master) -> u64 {
    master.store.zadd(key::REPLICAS, &master.replica, now_secs()).await.expect("heartbeat");
    let lease = master.store.acquire_lease(&master.replica, Duration::from_secs(60)).await.expect("lease");
    lease.expect("a lease").epoch
}

async fn allocate(master: &Master) {
    let epoch = lead(master).await;
    master.allocate(epoch).await.expect("round");
}

/// A master with one agent and one connected framework holding an offer for all of it.
async fn setup() -> (Arc<Master>, AgentId, FrameworkId, Offer) {
    let master = Master::in_memory(MasterConfig::default());
    let agent = master.register_agent(&op(), agent_registration(None, vec![])).await.expect("agent").agent_id;
    let framework =
        master.register_framework(&Caller::operator("p"), registration()).await.expect("framework").framework_id;
    master.open_framework_stream(&op(), &framework, None).await.expect("stream");
    allocate(&master).await;
    let offer = master.offers(&op()).await.expect("offers").pop().expect("an offer");
    (master, agent, framework, offer)
}

fn task(agent: &AgentId, id: &str, ports: Vec<[u16; 2]>) -> TaskInfo {
    let resources = Resources { cpus: 0.1, mem: 32.0, ports, ..Default::default() };
    TaskInfo::new(id, agent.clone(), resources, agora_api::Command::Shell("true".into())).name(id)
}

fn launch(offer: &Offer, tasks: Vec<TaskInfo>) -> Accept {
    Accept {
        offer_ids: vec![offer.id.clone()],
        operations: vec![Operation::Launch { tasks }],
        filters: Default::default(),
    }
}

/// Every event of a stream, from its start.
async fn events(master: &Master, stream: StreamKey) -> Vec<(String, String)> {
    let entries = master.store.read_stream(&stream.store_key(), None, usize::MAX).await.expect("read");
    entries.into_iter().map(|e| (e.name, e.data)).collect()
}

fn status(task: &TaskInfo, framework: &FrameworkId, state: TaskState, update: &str) -> TaskStatus {
    TaskStatus {
        task_id: task.task_id.clone(),
        framework_id: framework.clone(),
        agent_id: task.agent_id.clone(),
        state,
        reason: None,
        message: None,
        exit_code: None,
        healthy: None,
        update_id: Some(UpdateId::from(update)),
        timestamp: 0.0,
        latest_state: None,
    }
}

fn running(framework: &FrameworkId, t: &TaskInfo, update: &str) -> RunningTask {
    RunningTask {
        framework_id: framework.clone(),
        task: t.clone(),
        status: status(t, framework, TaskState::Running, update),
    }
}

#[tokio::test]
async fn a_port_is_given_to_one_task_only() {
    let (master, agent, framework, offer) = setup().await;
    let both = launch(&offer, vec![task(&agent, "a", vec![[31000, 31005]]), task(&agent, "b", vec![[31003, 31008]])]);
    let err = master.accept(&op(), &framework, both).await.expect_err("overlapping ports");
    assert_eq!(err.code(), "duplicate_port");
    let apart = launch(&offer, vec![task(&agent, "a", vec![[31000, 31001]]), task(&agent, "b", vec![[31002, 31003]])]);
    master.accept(&op(), &framework, apart).await.expect("distinct ports");
}

#[tokio::test]
async fn an_offer_is_used_once_and_its_rest_is_offered_again() {
    let (master, agent, framework, offer) = setup().await;
    master.accept(&op(), &framework, launch(&offer, vec![task(&agent, "a", vec![])])).await.expect("launch");
    let again = master.accept(&op(), &framework, launch(&offer, vec![task(&agent, "b", vec![])])).await;
    assert_eq!(again.expect_err("the offer is used").code(), "unknown_offer");
    allocate(&master).await;
    let rest = master.offers(&op()).await.expect("offers").pop().expect("the rest is offered");
    assert!((rest.resources.cpus - 3.9).abs() < 1e-9, "offered {:?}", rest.resources);
    let view = master.agent(&agent).await.expect("agent");
    assert_eq!((view.used.cpus, view.tasks), (0.1, 1));
}

#[tokio::test]
async fn a_resent_terminal_update_reaches_the_framework_again_and_ids_are_not_reused() {
    let (master, agent, framework, offer) = setup().await;
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("launch");
    let finished = status(&t, &framework, TaskState::Finished, "u1");
    for _ in 0..2 {
        master.agent_updates(&op(), &agent, StatusUpdates { updates: vec![finished.clone()] }).await.expect("update");
    }
    let delivered = events(&master, StreamKey::Framework(framework.clone()))
        .await
        .into_iter()
        .filter(|(name, data)| name == "update" && data.contains("\"u1\""))
        .count();
    assert_eq!(delivered, 2, "the resend is delivered, not acknowledged by the master");
    let commands = events(&master, StreamKey::Agent(agent.clone())).await;
    assert!(!commands.iter().any(|(name, _)| name == "acknowledge"));
    allocate(&master).await;
    let offer = master.offers(&op()).await.expect("offers").pop().expect("an offer");
    let err = master.accept(&op(), &framework, launch(&offer, vec![t])).await.expect_err("reused id");
    assert_eq!(err.code(), "duplicate_task");
}

#[tokio::test]
async fn a_kill_asked_for_is_sent_again_when_the_agent_registers_again() {
    let (master, agent, framework, offer) = setup().await;
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("launch");
    master.kill(&op(), &framework, &t.task_id, Kill::default()).await.expect("kill");
    let reg = agent_registration(Some(agent.clone()), vec![running(&framework, &t, "u1")]);
    master.register_agent(&op(), reg).await.expect("re-register");
    let (position, generation) = master.open_agent_stream(&op(), &agent, None).await.expect("stream");
    let StreamRead::Events(read) =
        master.read_stream(&StreamKey::Agent(agent.clone()), generation, position, 100).await.expect("read")
    else {
        panic!("the stream is open");
    };
    assert!(read.iter().any(|e| e.name == "kill"), "the kill is queued after the registration");
    assert!(!read.iter().any(|e| e.name == "launch"), "commands from before the registration are not sent again");
    // Used resources are the task's, counted once.
    assert_eq!(master.agent(&agent).await.expect("agent").used.cpus, 0.1);
}

#[tokio::test]
async fn a_framework_that_registers_after_its_agents_gets_its_tasks_back() {
    let master = Master::in_memory(MasterConfig::default());
    let framework = FrameworkId::from("fw-1");
    let agent = AgentId::from("agent-1");
    let t = task(&agent, "t", vec![]);
    let reg = agent_registration(Some(agent.clone()), vec![running(&framework, &t, "u")]);
    master.register_agent(&op(), reg).await.expect("agent");
    let again = RegisterFramework { id: Some(framework.clone()), ..registration() };
    master.register_framework(&Caller::operator("p"), again).await.expect("framework");
    let view = master.framework(&op(), &framework).await.expect("view");
    assert_eq!((view.tasks, view.used.cpus), (1, 0.1));
}

/// Stops every framework from receiving offers, so a test decides who gets what.
async fn suppress_all(master: &Master) {
    for id in master.store.members(key::FRAMEWORKS).await.expect("frameworks") {
        master.suppress(&op(), &FrameworkId::from(id.as_str()), &[]).await.expect("suppress");
    }
}

#[tokio::test]
async fn tasks_on_an_unreachable_agent_do_not_count_against_their_framework() {
    let config = MasterConfig { agent_timeout: Duration::from_millis(1), ..MasterConfig::default() };
    let master = Master::in_memory(config);
    let first_agent = master.register_agent(&op(), agent_registration(None, vec![])).await.expect("agent").agent_id;
    let holder =
        master.register_framework(&Caller::operator("p"), registration()).await.expect("framework").framework_id;
    master.open_framework_stream(&op(), &holder, None).await.expect("stream");
    allocate(&master).await;
    let offer = master.offers(&op()).await.expect("offers").pop().expect("an offer");
    // `holder` runs a big task on the first agent, which then goes silent.
    let mut big = task(&first_agent, "big", vec![]);
    big.resources.cpus = 3.9;
    master.accept(&op(), &holder, launch(&offer, vec![big])).await.expect("launch");
    suppress_all(&master).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let epoch = lead(&master).await;
    master.reap(epoch).await.expect("reap");
    assert_eq!(master.agent(&first_agent).await.expect("agent").state, agora_api::operator::AgentState::Unreachable);
    // A second framework runs a small task on a second agent.
    let second = RegisterAgent { hostname: "h2".into(), ..agent_registration(None, vec![]) };
    let second_agent = master.register_agent(&op(), second).await.expect("agent").agent_id;
    let other =
        master.register_framework(&Caller::operator("p"), registration()).await.expect("framework").framework_id;
    master.open_framework_stream(&op(), &other, None).await.expect("stream");
    allocate(&master).await;
    let offer =
        master.offers(&op()).await.expect("offers").into_iter().find(|o| o.framework_id == other).expect("offer");
    master.accept(&op(), &other, launch(&offer, vec![task(&second_agent, "small", vec![])])).await.expect("launch");
    // The rest of the second agent goes to `holder`, whose share in the reachable cluster is 0.
    master.revive(&op(), &holder, &[]).await.expect("revive");
    allocate(&master).await;
    let offers = master.offers(&op()).await.expect("offers");
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].framework_id, holder);
}

#[tokio::test]
async fn latest_state_frees_a_finished_tasks_resources_before_the_acknowledgements() {
    let (master, agent, framework, offer) = setup().await;
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("launch");
    // `running` was never acknowledged; its resend says the task has since finished.
    let mut update = status(&t, &framework, TaskState::Running, "u1");
    update.latest_state = Some(TaskState::Finished);
    master.agent_updates(&op(), &agent, StatusUpdates { updates: vec![update] }).await.expect("update");
    assert_eq!(master.agent(&agent).await.expect("agent").used.cpus, 0.0);
    let forwarded = events(&master, StreamKey::Framework(framework.clone())).await;
    assert!(forwarded.iter().all(|(_, data)| !data.contains("latest_state")), "frameworks get plain statuses");
    // The final update, once it comes, is what the views and reconciliation show.
    let mut finished = status(&t, &framework, TaskState::Finished, "u2");
    finished.exit_code = Some(0);
    master.agent_updates(&op(), &agent, StatusUpdates { updates: vec![finished] }).await.expect("update");
    let reconciled = master.reconcile(&op(), &framework, Reconcile::default()).await.expect("reconcile");
    assert!(reconciled.statuses.is_empty());
    let task_view = master
        .tasks(&op(), &TaskFilter { framework_id: Some(framework.clone()), ..Default::default() })
        .await
        .expect("tasks")
        .pop()
        .expect("the task");
    assert_eq!((task_view.state, task_view.status.exit_code), (TaskState::Finished, Some(0)));
}

#[tokio::test]
async fn a_stream_resumes_after_the_id_given_and_a_newer_connection_replaces_an_older_one() {
    let (master, agent, framework, offer) = setup().await;
    let (_, start, first) = master.open_framework_stream(&op(), &framework, None).await.expect("stream");
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("launch");
    let (_, _, second) = master.open_framework_stream(&op(), &framework, start).await.expect("stream");
    let stream = StreamKey::Framework(framework.clone());
    match master.read_stream(&stream, first, start, 100).await.expect("read") {
        StreamRead::Ended { code, .. } => assert_eq!(code, "superseded"),
        StreamRead::Events(_) => panic!("the older connection is replaced"),
    }
    let StreamRead::Events(read) = master.read_stream(&stream, second, start, 100).await.expect("read") else {
        panic!("the newer connection reads");
    };
    assert_eq!(read.len(), 1, "only what came after the id: {read:?}");
    assert!(read[0].data.contains("staging"));
}

#[tokio::test]
async fn a_deposed_leader_changes_nothing() {
    let master = Master::in_memory(MasterConfig::default());
    master.register_agent(&op(), agent_registration(None, vec![])).await.expect("agent");
    let framework =
        master.register_framework(&Caller::operator("p"), registration()).await.expect("framework").framework_id;
    master.open_framework_stream(&op(), &framework, None).await.expect("stream");
    let old = lead(&master).await;
    // Another replica takes the lease (this one's expired).
    master.store.release_lease(&master.replica).await.expect("release");
    let new = master.store.acquire_lease("other", Duration::from_secs(60)).await.expect("lease").expect("lease");
    assert!(new.epoch > old);
    master.allocate(old).await.expect("a refused round is not an error");
    assert!(master.offers(&op()).await.expect("offers").is_empty(), "the old epoch's offers were refused");
    master.allocate(new.epoch).await.expect("round");
    assert_eq!(master.offers(&op()).await.expect("offers").len(), 1);
}

#[tokio::test]
async fn tasks_of_a_framework_that_never_came_back_can_be_torn_down() {
    let master = Master::in_memory(MasterConfig::default());
    let (framework, agent) = (FrameworkId::from("gone-fw"), AgentId::from("agent-1"));
    let t = task(&agent, "t", vec![]);
    let reg = agent_registration(Some(agent.clone()), vec![running(&framework, &t, "u")]);
    master.register_agent(&op(), reg).await.expect("agent");
    master.teardown(&op(), &framework).await.expect("teardown of an orphaned framework");
    let commands = events(&master, StreamKey::Agent(agent)).await;
    assert!(commands.iter().any(|(name, data)| name == "kill" && data.contains("gone-fw")));
    let again = RegisterFramework { id: Some(framework.clone()), ..registration() };
    assert_eq!(
        master.register_framework(&Caller::operator("p"), again).await.expect_err("removed").code(),
        "framework_removed"
    );
    let unknown = master.teardown(&op(), &FrameworkId::from("never-seen")).await.expect_err("unknown");
    assert_eq!(unknown.code(), "unknown_framework");
}

#[tokio::test]
async fn an_acknowledgement_for_a_task_no_longer_kept_still_reaches_the_agent() {
    let (master, agent, framework, offer) = setup().await;
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("launch");
    let finished = status(&t, &framework, TaskState::Finished, "u-final");
    master.agent_updates(&op(), &agent, StatusUpdates { updates: vec![finished] }).await.expect("update");
    // Many newer tasks ended since: this one's record was trimmed away.
    let mut txn = crate::store::Txn::default();
    txn.op(crate::store::Op::ZTrim {
        zset: key::TASKS_DONE.to_string(),
        keep: 0,
        record_prefix: key::TASK_PREFIX.to_string(),
    });
    master.store.commit(&txn).await.expect("trim");
    assert!(master.store.get_one(&key::task(&framework, &t.task_id)).await.expect("get").is_none());
    let ack = agora_api::framework::Acknowledge {
        task_id: t.task_id.clone(),
        agent_id: agent.clone(),
        update_id: UpdateId::from("u-final"),
    };
    master.acknowledge(&op(), &framework, ack).await.expect("the acknowledgement is passed on");
    let commands = events(&master, StreamKey::Agent(agent)).await;
    assert!(commands.iter().any(|(name, data)| name == "acknowledge" && data.contains("u-final")));
}

#[tokio::test]
async fn an_agent_that_missed_trimmed_commands_must_register_again() {
    use crate::store::{embedded::Embedded, Store, StoreConfig};
    let store =
        Store::Embedded(Arc::new(Embedded::in_memory(StoreConfig { stream_retention: 5, ..Default::default() })));
    let master = Master::new(MasterConfig::default(), store);
    let agent = master.register_agent(&op(), agent_registration(None, vec![])).await.expect("agent").agent_id;
    let ping = agora_api::agent::AgentCommand::Ping;
    let refused = master.send_agent_command(&agent, &ping).await.expect_err("no stream open yet");
    assert_eq!(refused.code(), "agent_not_connected");
    master.open_agent_stream(&op(), &agent, None).await.expect("stream");
    master.send_agent_command(&agent, &ping).await.expect("command");
    let first = master.store.last_id(&key::agent_commands(&agent)).await.expect("last").expect("an entry");
    // Resuming right after it is fine while it is kept.
    master.open_agent_stream(&op(), &agent, Some(first)).await.expect("resume");
    for _ in 0..10 {
        master.send_agent_command(&agent, &ping).await.expect("command");
    }
    let err = master.open_agent_stream(&op(), &agent, Some(first)).await.expect_err("commands were trimmed");
    assert_eq!((err.status().as_u16(), err.code()), (404, "commands_trimmed"));
    // From the latest position it is fine again.
    let last = master.store.last_id(&key::agent_commands(&agent)).await.expect("last");
    master.open_agent_stream(&op(), &agent, last).await.expect("resume from the end");
}

#[tokio::test]
async fn a_duplicate_of_a_task_on_another_agent_is_stopped_without_holding_up_other_updates() {
    let (master, agent, framework, offer) = setup().await;
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("launch");
    // A second agent reports a task with the same ids (as after a store loss and a relaunch).
    let other = RegisterAgent { hostname: "h2".into(), ..agent_registration(None, vec![]) };
    let mut copy = t.clone();
    let registered = master.register_agent(&op(), other).await.expect("agent");
    let other = registered.agent_id;
    copy.agent_id = other.clone();
    let reg = RegisterAgent {
        hostname: "h2".into(),
        ..agent_registration(Some(other.clone()), vec![running(&framework, &copy, "c1")])
    };
    master.register_agent(&op(), reg).await.expect("re-register");
    // The original keeps its agent; the duplicate is killed and holds nothing.
    let view = master
        .tasks(&op(), &TaskFilter { framework_id: Some(framework.clone()), ..Default::default() })
        .await
        .expect("tasks");
    assert_eq!(
        view.iter().filter(|v| v.task_id == t.task_id).map(|v| v.agent_id.clone()).collect::<Vec<_>>(),
        vec![agent.clone()]
    );
    assert_eq!(master.agent(&other).await.expect("agent").tasks, 0);
    // Its updates, batched with others, are acknowledged for it; the batch goes through.
    let mut dup = status(&copy, &framework, TaskState::Running, "c2");
    dup.agent_id = other.clone();
    master.agent_updates(&op(), &other, StatusUpdates { updates: vec![dup] }).await.expect("the batch is taken");
    let commands = events(&master, StreamKey::Agent(other)).await;
    assert!(commands.iter().any(|(name, _)| name == "kill"), "the duplicate is killed: {commands:?}");
    assert!(commands.iter().any(|(name, data)| name == "acknowledge" && data.contains("c2")));
}

#[tokio::test]
async fn an_accept_that_lands_while_its_agent_registers_again_is_not_left_staging() {
    let (master, agent, framework, offer) = setup().await;
    let (reached, release) = master.pauses.arm("registration: tasks read");
    let registering = {
        let (master, agent) = (master.clone(), agent.clone());
        tokio::spawn(async move { master.register_agent(&op(), agent_registration(Some(agent), vec![])).await })
    };
    reached.await.expect("the registration read the agent's tasks");
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("the accept lands in the gap");
    let _ = release.send(());
    registering.await.expect("join").expect("registered");
    // The registration saw the task: the agent, which does not run it, made it gone. It is not
    // left staging, holding resources, with a launch the new stream would never send.
    let state = master
        .tasks(&op(), &TaskFilter { framework_id: Some(framework.clone()), ..Default::default() })
        .await
        .expect("tasks")
        .pop()
        .map(|v| v.state);
    assert_eq!(state, Some(TaskState::Gone));
    assert_eq!(master.agent(&agent).await.expect("agent").used.cpus, 0.0);
}

#[tokio::test]
async fn an_accept_that_lands_during_a_teardown_is_killed_with_the_rest() {
    let (master, agent, framework, offer) = setup().await;
    let (reached, release) = master.pauses.arm("teardown: tasks read");
    let tearing = {
        let (master, framework) = (master.clone(), framework.clone());
        tokio::spawn(async move { master.teardown(&op(), &framework).await })
    };
    reached.await.expect("the teardown read the framework's tasks");
    let t = task(&agent, "t", vec![]);
    master.accept(&op(), &framework, launch(&offer, vec![t.clone()])).await.expect("the accept lands in the gap");
    let _ = release.send(());
    tearing.await.expect("join").expect("torn down");
    let commands = events(&master, StreamKey::Agent(agent)).await;
    assert!(
        commands.iter().any(|(name, data)| name == "kill" && data.contains("\"t\"")),
        "the task launched in the gap is killed: {commands:?}"
    );
}

/// A new leader gives every agent a whole agent timeout to be heard before marking it
/// unreachable, however long ago the store last saw it (the embedded store keeps heartbeats in
/// memory only, so after a restart the times it has are old). Then a silent agent is marked.
#[tokio::test]
async fn a_new_leader_waits_one_agent_timeout_before_marking_silent_agents() {
    let config = MasterConfig {
        agent_timeout: Duration::from_millis(600),
        allocation_interval: Duration::from_millis(50),
        ..MasterConfig::default()
    };
    let master = Master::in_memory(config);
    let agent = master.register_agent(&op(), agent_registration(None, vec![])).await.expect("agent").agent_id;
    // Last seen an hour ago, as after a long outage.
    master.store.zadd(key::AGENTS_SEEN, agent.as_str(), now_secs() - 3600.0).await.expect("seen");
    let framework =
        master.register_framework(&Caller::operator("p"), registration()).await.expect("framework").framework_id;
    master.open_framework_stream(&op(), &framework, None).await.expect("stream");
    master.store.zadd(key::REPLICAS, &master.replica, now_secs()).await.expect("replica heartbeat");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let leader = tokio::spawn(master.clone().run_leader_loop(stopped));
    // The first loop turn reaps, then allocates: an offer for the agent means it was not
    // marked when the leader took over.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while master.offers(&op()).await.expect("offers").is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no offer from the new leader");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let offered = master.offers(&op()).await.expect("offers");
    assert_eq!(offered[0].agent_id, agent, "the silent agent is offered during the grace");
    // Once the grace is over, the silent agent is marked unreachable.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while master.agent(&agent).await.expect("agent").state != agora_api::operator::AgentState::Unreachable {
        assert!(tokio::time::Instant::now() < deadline, "the silent agent was never marked unreachable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(true);
    leader.await.expect("the leader loop ends");
}

/// Container volume paths are absolute, without `..` or `:` (docker reads a bind as
/// `source:destination:mode`, so a `:` would change what is mounted, or how).
#[test]
fn container_volume_paths_must_be_clean() {
    use agora_api::containers::{ContainerVolume, VolumeMode};
    let with = |container_path: &str, host_path: &str| {
        let mut container = agora_api::ContainerInfo::new(agora_api::Containerizer::Docker, "busybox");
        container.volumes = vec![ContainerVolume {
            container_path: container_path.into(),
            host_path: host_path.into(),
            mode: VolumeMode::Rw,
        }];
        TaskInfo::new("t", AgentId::from("a"), Resources::new(0.1, 32.0), agora_api::Command::Shell("true".into()))
            .container(container)
    };
    assert!(validate_task(&with("/data", "/srv/data")).is_ok());
    for (container_path, host_path) in
        [("/data:ro", "/srv/data"), ("/data", "/srv/a:/etc"), ("/data/../etc", "/srv"), ("data", "/srv"), ("/", "/srv")]
    {
        let refused = validate_task(&with(container_path, host_path)).expect_err(container_path);
        assert_eq!(refused.code(), "invalid_container", "{container_path} {host_path}");
    }
}
