//! End-to-end tests: a real `agora dev` (server and agent), real `agora agent` processes running
//! real commands, the real CLI, and frameworks speaking the HTTP API. Numbers in test names
//! refer to the points of the core issue.

mod common;

use agora_agent::cgroups::Cgroups;
use agora_api::framework::{
    Accept, Decline, Filters, FrameworkEvent, Kill, Operation, Reconcile, ReconcileTask, RegisterFramework, Roles,
};
use agora_api::operator::{AgentList, AgentState, FrameworkList, TaskList};
use agora_api::{Resources, TaskState};
use common::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_dev_prints_url_and_token_and_the_cli_finds_them() {
    let cluster = Cluster::start(&[]).await;
    let printed = cluster.dev_stdout();
    assert!(printed.contains(&cluster.url), "agora dev prints its URL: {printed}");
    assert!(printed.contains(&cluster.token), "agora dev prints the admin token");
    // Without AGORA_ADDR or AGORA_TOKEN the CLI reads what agora dev wrote to its data directory.
    let out = std::process::Command::new(AGORA)
        .args(["agents", "--json"])
        .env_remove("AGORA_ADDR")
        .env_remove("AGORA_TOKEN")
        .env("AGORA_DATA_DIR", cluster.data_dir())
        .output()
        .expect("agora agents");
    assert!(out.status.success(), "{}", stderr(&out));
    let list: AgentList = serde_json::from_str(&stdout(&out)).expect("--json prints the API's JSON");
    assert_eq!(list.agents.len(), 1);
    assert_eq!(list.agents[0].total.cpus, 4.0, "--resources sets what the agent offers");
    assert_eq!(list.agents[0].total.mem, 4096.0);
    // The token may come from a file, by flag or by AGORA_TOKEN_FILE, so that it is on no
    // command line; the file wins over AGORA_TOKEN.
    let token_file = cluster.scratch().join("cli.token");
    std::fs::write(&token_file, format!("{}\n", cluster.token)).expect("token file");
    for by_flag in [true, false] {
        let mut cmd = std::process::Command::new(AGORA);
        cmd.args(["agents", "--json"]).env("AGORA_ADDR", &cluster.url).env("AGORA_TOKEN", "not-a-token");
        match by_flag {
            true => cmd.arg("--token-file").arg(&token_file).env_remove("AGORA_TOKEN_FILE"),
            false => cmd.env("AGORA_TOKEN_FILE", &token_file),
        };
        let out = cmd.output().expect("agora agents");
        assert!(out.status.success(), "token file by flag {by_flag}: {}", stderr(&out));
    }
    // A server that is not there is reported plainly; an address without a scheme is HTTP.
    let out = std::process::Command::new(AGORA)
        .args(["agents"])
        .env("AGORA_ADDR", "127.0.0.1:1")
        .env("AGORA_TOKEN", &cluster.token)
        .output()
        .expect("agora agents");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach the server"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_run_streams_output_and_exits_with_the_task_exit_code() {
    let cluster = Cluster::start(&[]).await;
    let out = cluster
        .cli(&["run", "--cpus", "0.1", "--mem", "32", "--", "sh", "-c", "echo hello; echo oops >&2; exit 3"])
        .output()
        .expect("agora run");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("hello"), "stdout: {}", stdout(&out));
    assert!(stderr(&out).contains("oops"), "stderr: {}", stderr(&out));
    let ok = cluster.cli(&["run", "--", "true"]).output().expect("agora run");
    assert_eq!(ok.status.code(), Some(0), "stderr: {}", stderr(&ok));
    // A long script, with newlines, names its framework and task by its first words.
    let script = format!("x={}\nset -e\necho long", "y".repeat(2000));
    let long = cluster.cli(&["run", "--", "sh", "-c", &script]).output().expect("agora run");
    assert_eq!((long.status.code(), stdout(&long).as_str()), (Some(0), "long\n"), "stderr: {}", stderr(&long));
    // agora run tears its framework down when done.
    let frameworks: FrameworkList = cluster.client().get("/v1/frameworks").await.expect("frameworks");
    assert!(frameworks.frameworks.is_empty(), "{frameworks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_ctrl_c_kills_the_task() {
    let cluster = Cluster::start(&[]).await;
    let marker = cluster.scratch().join("started");
    let line = format!("touch {}; sleep 1000", marker.display());
    let mut child = cluster.cli(&["run", "--kill-grace", "1", "--", "sh", "-c", &line]).spawn().expect("agora run");
    eventually(DEADLINE, "the task to start", || {
        let exists = marker.exists();
        async move { exists.then_some(()) }
    })
    .await;
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert_eq!(status.code(), Some(130));
    let tasks: TaskList = cluster.client().get("/v1/tasks").await.expect("tasks");
    assert_eq!(tasks.tasks[0].state, TaskState::Killed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p3_lists_print_tables_and_json() {
    let cluster = Cluster::start(&[]).await;
    let run = cluster.cli(&["run", "--name", "listed", "--", "true"]).output().expect("run");
    assert!(run.status.success(), "{}", stderr(&run));
    let mut framework = Framework::register(cluster.client(), registration("lister")).await;
    let offers = framework.offers().await;
    framework
        .launch(&offers[0], vec![shell_task(&offers[0].agent_id, "sleeper", "sleep 30", 0.5, 64.0)])
        .await
        .expect("launch");
    framework.update("sleeper", true).await;

    let agents = cluster.cli(&["agents"]).output().expect("agents");
    assert!(stdout(&agents).starts_with("ID"), "{}", stdout(&agents));
    assert!(stdout(&agents).contains("active"));
    let frameworks = cluster.cli(&["frameworks"]).output().expect("frameworks");
    assert!(stdout(&frameworks).contains("lister"), "{}", stdout(&frameworks));
    let tasks = cluster.cli(&["tasks"]).output().expect("tasks");
    assert!(stdout(&tasks).contains("sleeper") && stdout(&tasks).contains("listed"), "{}", stdout(&tasks));
    let json = cluster.cli(&["tasks", "--json", "--state", "finished"]).output().expect("tasks --json");
    let list: TaskList = serde_json::from_str(&stdout(&json)).expect("json");
    assert_eq!(list.tasks.len(), 1);
    assert_eq!(list.tasks[0].name, "listed");
    let frameworks_json = cluster.cli(&["frameworks", "--json"]).output().expect("frameworks --json");
    let list: FrameworkList = serde_json::from_str(&stdout(&frameworks_json)).expect("json");
    assert_eq!(list.frameworks.len(), 1);
    // `--output json` is `--json`; `--output wide` adds columns; the two flags do not mix.
    let agents_json = cluster.cli(&["agents", "--output", "json"]).output().expect("agents --output json");
    let list: AgentList = serde_json::from_str(&stdout(&agents_json)).expect("json");
    assert_eq!(list.agents.len(), 1);
    let wide = cluster.cli(&["tasks", "-o", "wide", "--state", "running"]).output().expect("tasks -o wide");
    let header = stdout(&wide).lines().next().unwrap_or_default().to_string();
    assert!(header.contains("HEALTHY") && header.contains("MESSAGE"), "{header}");
    assert!(stdout(&wide).contains("sleeper"), "{}", stdout(&wide));
    let wide = cluster.cli(&["frameworks", "-o", "wide"]).output().expect("frameworks -o wide");
    assert!(stdout(&wide).contains("PRINCIPAL") && stdout(&wide).contains("admin"), "{}", stdout(&wide));
    let both = cluster.cli(&["agents", "--json", "-o", "wide"]).output().expect("agents");
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    let bad_state = cluster.cli(&["tasks", "--state", "sleeping"]).output().expect("tasks");
    assert_eq!(bad_state.status.code(), Some(2), "{}", stderr(&bad_state));
    assert!(stderr(&bad_state).contains("running"), "the states are listed: {}", stderr(&bad_state));
    // The exit codes are written down.
    let help = cluster.cli(&["--help"]).output().expect("agora --help");
    assert!(stdout(&help).contains("Exit codes:") && stdout(&help).contains("141"), "{}", stdout(&help));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_offers_launch_and_updates_through_the_framework_api() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("api")).await;
    let offers = framework.offers().await;
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert_eq!(offer.framework_id, framework.id);
    assert_eq!(offer.resources.cpus, 4.0);
    assert_eq!(offer.role, "*");
    let agent = offer.agent_id.clone();
    framework
        .launch(
            offer,
            vec![shell_task(&agent, "ok", "echo hi", 0.1, 32.0), shell_task(&agent, "bad", "exit 7", 0.1, 32.0)],
        )
        .await
        .expect("accept");
    let mut states = std::collections::HashMap::<String, Vec<TaskState>>::new();
    let mut last = std::collections::HashMap::new();
    while states.values().filter(|s| s.last().is_some_and(|s| s.is_terminal())).count() < 2 {
        if let FrameworkEvent::Update(u) = framework.next_event().await {
            framework.ack(&u.status).await;
            assert!(u.status.update_id.is_some());
            states.entry(u.status.task_id.to_string()).or_default().push(u.status.state);
            last.insert(u.status.task_id.to_string(), u.status);
        }
    }
    assert_eq!(states["ok"], vec![TaskState::Staging, TaskState::Running, TaskState::Finished]);
    assert_eq!(states["bad"], vec![TaskState::Staging, TaskState::Running, TaskState::Failed]);
    assert_eq!(last["bad"].exit_code, Some(7));
    assert_eq!(last["bad"].reason.as_deref(), Some("command_exited"));
    assert_eq!(last["ok"].exit_code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_unacknowledged_updates_are_sent_again() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("forgetful")).await;
    let offers = framework.offers().await;
    framework
        .launch(&offers[0], vec![shell_task(&offers[0].agent_id, "t", "sleep 60", 0.1, 32.0)])
        .await
        .expect("accept");
    assert_eq!(framework.update("t", false).await.state, TaskState::Staging);
    let first = framework.update("t", false).await;
    assert_eq!(first.state, TaskState::Running);
    // Not acknowledged: the same update comes again, with the same id.
    let again = framework.update("t", false).await;
    assert_eq!((again.state, &again.update_id), (TaskState::Running, &first.update_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_decline_filters_an_agent_until_revive_while_others_get_it() {
    let cluster = Cluster::start(&[]).await;
    let mut first = Framework::register(cluster.client(), registration("first")).await;
    let offers = first.offers().await;
    let decline = Decline { offer_ids: vec![offers[0].id.clone()], filters: Filters { refuse_secs: Some(3600.0) } };
    first.client.post_no_content(&first.path("decline"), &decline).await.expect("decline");
    // A second framework gets the declined resources.
    let mut second = Framework::register(cluster.client(), registration("second")).await;
    let offers = second.offers().await;
    assert_eq!(offers[0].resources.cpus, 4.0);
    second
        .client
        .post_no_content(
            &second.path("decline"),
            &Decline { offer_ids: vec![offers[0].id.clone()], filters: Filters { refuse_secs: Some(3600.0) } },
        )
        .await
        .expect("decline");
    // Nobody gets an offer now: both filter the only agent.
    let outstanding: agora_api::operator::OfferList = cluster.client().get("/v1/offers").await.expect("offers");
    assert!(outstanding.offers.is_empty());
    // Revive clears the filter and the offer comes back.
    first.client.post_no_content(&first.path("revive"), &Roles::default()).await.expect("revive");
    let offers = first.offers().await;
    assert_eq!(offers[0].resources.cpus, 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_kill_sends_sigterm_then_sigkill_after_the_grace_period() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("killer")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();
    let pid_file = cluster.scratch().join("stubborn.pid");
    let line = format!("trap '' TERM; echo $$ > {}; while true; do sleep 0.1; done", pid_file.display());
    let mut stubborn = shell_task(&agent, "stubborn", &line, 0.1, 32.0);
    stubborn.kill_grace_period_secs = Some(0.5);
    let polite = shell_task(&agent, "polite", "sleep 1000", 0.1, 32.0);
    framework.launch(&offers[0], vec![stubborn, polite]).await.expect("accept");
    for task in ["stubborn", "polite"] {
        while framework.update(task, true).await.state != TaskState::Running {}
    }
    for task in ["stubborn", "polite"] {
        let path = format!("/v1/frameworks/{}/tasks/{task}/kill", framework.id);
        framework.client.post_no_content(&path, &Kill::default()).await.expect("kill");
    }
    let mut killed = 0;
    while killed < 2 {
        if let FrameworkEvent::Update(u) = framework.next_event().await {
            framework.ack(&u.status).await;
            if u.status.state.is_terminal() {
                assert_eq!(u.status.state, TaskState::Killed, "{u:?}");
                killed += 1;
            }
        }
    }
    let pid: i32 = std::fs::read_to_string(&pid_file).expect("pid").trim().parse().expect("pid");
    // Killed with its group: once its parent (the supervising shell) is gone, it is a zombie
    // until init reaps it, which may come just after the update.
    eventually(DEADLINE, "the TERM-ignoring shell to be gone", || async {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err().then_some(())
    })
    .await;
    let unknown = format!("/v1/frameworks/{}/tasks/nope/kill", framework.id);
    let err = framework.client.post_no_content(&unknown, &Kill::default()).await.expect_err("unknown task");
    assert_eq!(err.status(), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_reconcile_returns_latest_states() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("reconciler")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();
    framework
        .launch(
            &offers[0],
            vec![shell_task(&agent, "long", "sleep 60", 0.1, 32.0), shell_task(&agent, "short", "true", 0.1, 32.0)],
        )
        .await
        .expect("accept");
    while framework.update("short", true).await.state != TaskState::Finished {}
    let all: agora_api::framework::Reconciled =
        framework.client.post(&framework.path("reconcile"), &Reconcile::default()).await.expect("reconcile all");
    assert_eq!(all.statuses.len(), 1, "all active tasks: {all:?}");
    assert_eq!(all.statuses[0].task_id.as_str(), "long");
    let named = Reconcile {
        tasks: vec![
            ReconcileTask { task_id: "short".into(), agent_id: None },
            ReconcileTask { task_id: "ghost".into(), agent_id: None },
        ],
    };
    let some: agora_api::framework::Reconciled =
        framework.client.post(&framework.path("reconcile"), &named).await.expect("reconcile named");
    assert_eq!(some.statuses[0].state, TaskState::Finished);
    assert_eq!(some.statuses[1].state, TaskState::Unknown);
    assert!(some.statuses.iter().all(|s| s.reason.as_deref() == Some("reconciliation")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p4_teardown_and_failover_timeout_kill_tasks_and_reconnect_keeps_them() {
    let cluster = Cluster::start(&[]).await;
    let client = cluster.client();
    // Torn down explicitly.
    let mut doomed = Framework::register(client.clone(), registration("doomed")).await;
    let offers = doomed.offers().await;
    doomed
        .launch(&offers[0], vec![shell_task(&offers[0].agent_id, "victim", "sleep 1000", 0.1, 32.0)])
        .await
        .expect("accept");
    while doomed.update("victim", true).await.state != TaskState::Running {}
    client.delete(&format!("/v1/frameworks/{}", doomed.id)).await.expect("teardown");
    wait_for_task_state(&cluster, "victim", TaskState::Killed).await;
    let again = RegisterFramework { id: Some(doomed.id.clone()), ..registration("doomed") };
    let err = client.post::<_, serde_json::Value>("/v1/frameworks", &again).await.expect_err("torn down ids stay dead");
    assert_eq!(err.status(), Some(409));

    // Reconnects within its failover timeout: keeps its task.
    let patient = RegisterFramework { failover_timeout_secs: 3600.0, ..registration("patient") };
    let mut framework = Framework::register(client.clone(), patient.clone()).await;
    let offers = framework.offers().await;
    framework
        .launch(&offers[0], vec![shell_task(&offers[0].agent_id, "kept", "sleep 1000", 0.1, 32.0)])
        .await
        .expect("accept");
    while framework.update("kept", true).await.state != TaskState::Running {}
    let id = framework.id.clone();
    drop(framework);
    wait_for_connected(&cluster, &id, false).await;
    let back: agora_api::framework::FrameworkRegistered = client
        .post("/v1/frameworks", &RegisterFramework { id: Some(id.clone()), ..patient })
        .await
        .expect("re-register");
    assert_eq!(back.framework_id, id);
    // It wants nothing more: suppressed, it leaves the agent's resources to the next framework.
    client.post_no_content(&format!("/v1/frameworks/{id}/suppress"), &Roles::default()).await.expect("suppress");
    let _framework = Framework::subscribe(client.clone(), id.clone(), None).await;
    let tasks: TaskList = client.get(&format!("/v1/tasks?framework_id={id}")).await.expect("tasks");
    assert_eq!(tasks.tasks[0].state, TaskState::Running);

    // Does not come back within a 1 s failover timeout: torn down, task killed.
    let hasty = RegisterFramework { failover_timeout_secs: 1.0, ..registration("hasty") };
    let mut framework = Framework::register(client.clone(), hasty).await;
    let offers = framework.offers().await;
    framework
        .launch(&offers[0], vec![shell_task(&offers[0].agent_id, "orphan", "sleep 1000", 0.1, 32.0)])
        .await
        .expect("accept");
    while framework.update("orphan", true).await.state != TaskState::Running {}
    drop(framework);
    wait_for_task_state(&cluster, "orphan", TaskState::Killed).await;
}

async fn wait_for_task_state(cluster: &Cluster, task: &str, state: TaskState) {
    let client = cluster.client();
    eventually(DEADLINE, &format!("task {task} to be {}", state.as_str()), || {
        let client = client.clone();
        async move {
            let tasks: TaskList = client.get("/v1/tasks").await.ok()?;
            // An empty name matches any task.
            let named = |t: &&agora_api::operator::TaskView| task.is_empty() || t.task_id.as_str() == task;
            tasks.tasks.iter().filter(named).any(|t| t.state == state).then_some(())
        }
    })
    .await
}

async fn wait_for_connected(cluster: &Cluster, id: &agora_api::FrameworkId, connected: bool) {
    let client = cluster.client();
    eventually(DEADLINE, "the framework's connection state", || {
        let client = client.clone();
        let path = format!("/v1/frameworks/{id}");
        async move {
            let view: agora_api::operator::FrameworkView = client.get(&path).await.ok()?;
            (view.connected == connected).then_some(())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_agents_join_are_lost_when_killed_and_come_back() {
    let mut cluster = Cluster::start(&["--agent-timeout", "2", "--heartbeat-interval", "1"]).await;
    let index = cluster.spawn_agent("second", "cpus:2,mem:1024");
    let second = cluster.agent_id_by_hostname("second").await;
    cluster.wait_for_agents(2).await;
    let out = cluster.cli(&["agents"]).output().expect("agents");
    assert!(stdout(&out).contains("second"));

    // A partition-aware framework and one that is not both run a task on the second agent. Each
    // refuses every other offer, and the rest of the agent once it has launched, so that the
    // next framework is offered what it needs.
    let aware = RegisterFramework {
        capabilities: vec![agora_api::framework::Capability::PartitionAware],
        ..registration("aware")
    };
    let mut frameworks = Vec::new();
    for (i, registration) in [aware, registration("classic")].into_iter().enumerate() {
        let mut framework = Framework::register(cluster.client(), registration).await;
        let task_id = format!("on-second-{i}");
        let refuse = Filters { refuse_secs: Some(3600.0) };
        loop {
            let offers = framework.offers().await;
            let (mine, others): (Vec<_>, Vec<_>) = offers.into_iter().partition(|o| o.agent_id == second);
            if !others.is_empty() {
                let decline =
                    Decline { offer_ids: others.iter().map(|o| o.id.clone()).collect(), filters: refuse.clone() };
                framework.client.post_no_content(&framework.path("decline"), &decline).await.expect("decline");
            }
            let Some(offer) = mine.first() else { continue };
            let accept = agora_api::framework::Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![agora_api::framework::Operation::Launch {
                    tasks: vec![shell_task(&second, &task_id, "sleep 1000", 0.1, 32.0)],
                }],
                filters: refuse.clone(),
            };
            framework.client.post_no_content(&framework.path("accept"), &accept).await.expect("accept");
            break;
        }
        while framework.update(&task_id, true).await.state != TaskState::Running {}
        frameworks.push(framework);
    }

    // A third framework holds the rest of the second agent as an outstanding offer.
    let mut holder = Framework::register(cluster.client(), registration("holder")).await;
    let held = loop {
        if let Some(offer) = holder.offers().await.into_iter().find(|o| o.agent_id == second) {
            break offer;
        }
    };

    // SIGKILL the agent: within the agent timeout its offers are rescinded and its tasks are
    // unreachable (or lost).
    cluster.agent_process(index).kill().expect("SIGKILL");
    loop {
        if let FrameworkEvent::Rescind(r) = holder.next_event().await {
            if r.offer_id == held.id {
                break;
            }
        }
    }
    let aware_state = frameworks[0].update("on-second-0", true).await;
    assert_eq!(aware_state.state, TaskState::Unreachable);
    assert_eq!(aware_state.reason.as_deref(), Some("agent_removed"));
    let classic_state = frameworks[1].update("on-second-1", true).await;
    assert_eq!(classic_state.state, TaskState::Lost);
    let agents: AgentList = cluster.client().get("/v1/agents").await.expect("agents");
    assert!(agents.agents.iter().any(|a| a.id == second && a.state == AgentState::Unreachable));

    // Started again, it registers again under the same id.
    cluster.spawn_agent("second", "cpus:2,mem:1024");
    cluster.wait_for_agents(2).await;
    assert_eq!(cluster.agent_id_by_hostname("second").await, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p6_concurrent_accepts_never_overcommit_and_drf_shares_offers() {
    let mut cluster = Cluster::start(&["--resources", "cpus:2,mem:2048"]).await;
    cluster.spawn_agent("b", "cpus:2,mem:2048");
    cluster.wait_for_agents(2).await;
    // The first framework to subscribe is offered both agents. It declines them with no
    // filter to speak of (refuse_secs 0): the refusal still holds for the next round, which
    // offers both to the other framework. When that one gives one back the same way, the first
    // gets it: each holds one agent, as their equal DRF shares say.
    let mut a = Framework::register(cluster.client(), registration("a")).await;
    let mut first = Vec::new();
    while first.len() < 2 {
        first.extend(a.offers().await);
    }
    let mut b = Framework::register(cluster.client(), registration("b")).await;
    let decline = |offers: &[agora_api::Offer]| Decline {
        offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
        filters: Filters { refuse_secs: Some(0.0) },
    };
    a.client.post_no_content(&a.path("decline"), &decline(&first)).await.expect("decline");
    let mut offers_b = Vec::new();
    while offers_b.len() < 2 {
        offers_b.extend(b.offers().await);
    }
    let given_back = offers_b.split_off(1);
    b.client.post_no_content(&b.path("decline"), &decline(&given_back)).await.expect("decline");
    let offers_a = a.offers().await;
    assert_eq!(offers_a.len(), 1, "{offers_a:?}");
    assert_eq!(offers_a[0].agent_id, given_back[0].agent_id);
    assert_ne!(offers_a[0].agent_id, offers_b[0].agent_id);

    // Many accepts race on the same offer: exactly one wins, and no agent is over-committed.
    let offer = offers_a[0].clone();
    let mut attempts = Vec::new();
    for i in 0..16 {
        let client = a.client.clone();
        let path = a.path("accept");
        let task = shell_task(&offer.agent_id, &format!("race-{i}"), "sleep 30", 1.5, 64.0);
        let accept = agora_api::framework::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![agora_api::framework::Operation::Launch { tasks: vec![task] }],
            filters: Default::default(),
        };
        attempts.push(tokio::spawn(async move { client.post_no_content(&path, &accept).await }));
    }
    let mut won = 0;
    for attempt in attempts {
        match attempt.await.expect("join") {
            Ok(()) => won += 1,
            Err(e) => assert_eq!(e.status(), Some(400), "{e}"),
        }
    }
    assert_eq!(won, 1);
    let agents: AgentList = cluster.client().get("/v1/agents").await.expect("agents");
    for agent in &agents.agents {
        assert!(agent.used.plus(&agent.offered).fits_in(&agent.total), "over-committed: {agent:?}");
    }
    // Resources beyond the offer are refused and change nothing.
    let greedy = shell_task(&offers_b[0].agent_id, "greedy", "true", 3.0, 64.0);
    let err = b.launch(&offers_b[0], vec![greedy]).await.expect_err("too big");
    assert_eq!(err.status(), Some(400));
    b.launch(&offers_b[0], vec![shell_task(&offers_b[0].agent_id, "fits", "true", 2.0, 64.0)])
        .await
        .expect("the offer is intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p7_tokens_are_required_and_checked() {
    let cluster = Cluster::start(&[]).await;
    let http = reqwest::Client::new();
    for token in [None, Some("garbage"), Some("eyJhbGciOiJFZERTQSJ9.e30.AAAA")] {
        let mut request = http.get(format!("{}/v1/agents", cluster.url));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 401);
        let body: agora_api::ErrorBody = response.json().await.expect("JSON error body");
        assert_eq!(body.code, "unauthorized");
    }
    // A token from another cluster's key is forged as far as this one is concerned.
    let other = tempfile::tempdir().expect("tempdir");
    let keys = agora_server::Keys::load_or_create(other.path()).expect("keys");
    let forged = keys.issue(agora_server::Kind::Operator, "mallory", 60).expect("token");
    assert_eq!(
        cluster.client_with(&forged).get::<AgentList>("/v1/agents").await.expect_err("forged").status(),
        Some(401)
    );
    // An expired token, signed with this cluster's own key, is refused.
    let keys = agora_server::Keys::load_or_create(&cluster.data_dir()).expect("the cluster key");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs();
    let claims = agora_server::auth::Claims {
        sub: "late".into(),
        kind: agora_server::Kind::Operator,
        iat: now - 7200,
        exp: now - 3600,
        roles: None,
        users: None,
    };
    let expired = keys.sign(&claims).expect("sign");
    let err = cluster.client_with(&expired).get::<AgentList>("/v1/agents").await.expect_err("expired");
    assert_eq!(err.status(), Some(401));
    // Issued tokens work within their kind.
    let framework_token = cluster.issue_token("framework", "fw");
    let client = cluster.client_with(&framework_token);
    let _framework = Framework::register(client.clone(), registration("with-own-token")).await;
    let agent_token = cluster.issue_token("agent", "ag");
    let err = cluster
        .client_with(&agent_token)
        .post::<_, serde_json::Value>("/v1/frameworks", &registration("nope"))
        .await
        .expect_err("agents cannot register frameworks");
    assert_eq!(err.status(), Some(403));
    for open in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        assert_eq!(http.get(format!("{}{open}", cluster.url)).send().await.expect("get").status(), 200, "{open}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p9_metrics_expose_the_cluster() {
    let cluster = Cluster::start(&[]).await;
    let run = cluster.cli(&["run", "--", "true"]).output().expect("run");
    assert!(run.status.success());
    let text = reqwest::get(format!("{}/metrics", cluster.url)).await.expect("metrics").text().await.expect("text");
    for needle in [
        "agora_agents{state=\"active\"} 1",
        "agora_frameworks{state=\"connected\"} 0",
        "agora_tasks{state=\"running\"} 0",
        "agora_offers_outstanding 0",
        "agora_allocation_round_duration_seconds_bucket",
        "agora_resources_total{resource=\"cpus\"} 4.0",
        "agora_resources_used{resource=\"mem\"}",
        "agora_tasks_launched_total 1",
    ] {
        assert!(text.contains(needle), "metrics lack `{needle}`:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p11_bad_input_gets_a_clear_error_and_changes_nothing() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("careful")).await;
    let offers = framework.offers().await;
    let offer = &offers[0];
    let agent = offer.agent_id.clone();
    let http = reqwest::Client::new();
    let accept_url = format!("{}{}", cluster.url, framework.path("accept"));
    for (body, code) in [
        ("{not json", "malformed_json"),
        ("{\"offer_ids\": [], \"operations\": [], \"surprise\": 1}", "invalid_body"),
        ("{\"offer_ids\": [\"no-such-offer\"], \"operations\": []}", "unknown_offer"),
    ] {
        let response = http.post(&accept_url).bearer_auth(&cluster.token).body(body).send().await.expect("post");
        assert_eq!(response.status(), 400, "{body}");
        let error: agora_api::ErrorBody = response.json().await.expect("JSON body");
        assert_eq!(error.code, code, "{body}");
    }
    // Half-valid accepts apply nothing: a good task beside a bad one does not launch.
    let good = shell_task(&agent, "good", "true", 0.1, 32.0);
    let mut negative = shell_task(&agent, "negative", "true", 0.1, 32.0);
    negative.resources = Resources::new(-1.0, 32.0);
    let err = framework.launch(offer, vec![good.clone(), negative]).await.expect_err("negative resources");
    assert_eq!(err.status(), Some(400));
    let bad_id = shell_task(&agent, "bad id with spaces", "true", 0.1, 32.0);
    assert_eq!(framework.launch(offer, vec![good.clone(), bad_id]).await.expect_err("bad id").status(), Some(400));
    let tasks: TaskList = cluster.client().get("/v1/tasks").await.expect("tasks");
    assert!(tasks.tasks.is_empty(), "nothing was launched: {tasks:?}");
    // The offer is still good; used once, it is gone.
    framework.launch(offer, vec![good.clone()]).await.expect("valid accept");
    let twice =
        framework.launch(offer, vec![shell_task(&agent, "again", "true", 0.1, 32.0)]).await.expect_err("used twice");
    assert_eq!(twice.status(), Some(400));
    // Oversized bodies are refused, before they are sent when the client announces the size...
    let response = raw_request(
        &cluster.url,
        &format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n",
            framework.path("accept"),
            cluster.token,
            5 * 1024 * 1024
        ),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("body_too_large"), "{response}");
    // ...and as they arrive when it does not.
    let chunked = futures::stream::iter((0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let response =
        http.post(&accept_url).bearer_auth(&cluster.token).body(reqwest::Body::wrap_stream(chunked)).send().await;
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p10_streams_resume_exactly_after_a_cut_in_a_burst_of_1000_updates() {
    use agora_api::agent::{AgentRegistered, RegisterAgent, StatusUpdates};
    let cluster = Cluster::start(&[]).await;
    // A simulated agent speaking the real agent protocol, so the burst is exactly known.
    let agent_client = cluster.client_with(&cluster.issue_token("agent", "sim"));
    let registered: AgentRegistered = agent_client
        .post(
            "/v1/agents",
            &RegisterAgent {
                agent_id: None,
                hostname: "sim".into(),
                resources: Resources::new(1.0, 1024.0),
                reserved: Default::default(),
                attributes: Default::default(),
                tasks: vec![],
                containerizers: vec![],
            },
        )
        .await
        .expect("register the simulated agent");
    let sim = registered.agent_id;
    let mut framework = Framework::register(cluster.client(), registration("reader")).await;
    loop {
        let offers = framework.offers().await;
        if let Some(offer) = offers.iter().find(|o| o.agent_id == sim) {
            framework.launch(offer, vec![shell_task(&sim, "burst", "true", 0.5, 32.0)]).await.expect("accept");
            break;
        }
        let ids = offers.iter().map(|o| o.id.clone()).collect();
        let decline = Decline { offer_ids: ids, filters: Filters { refuse_secs: Some(3600.0) } };
        framework.client.post_no_content(&framework.path("decline"), &decline).await.expect("decline");
    }
    assert_eq!(framework.update("burst", false).await.state, TaskState::Staging);

    // The agent reports 1,000 updates in batches while the framework reads them.
    let framework_id = framework.id.clone();
    let poster = tokio::spawn(async move {
        for batch in 0..20 {
            let updates = (batch * 50..batch * 50 + 50)
                .map(|n| agora_api::TaskStatus {
                    task_id: "burst".into(),
                    framework_id: framework_id.clone(),
                    agent_id: sim.clone(),
                    state: TaskState::Running,
                    reason: None,
                    message: None,
                    exit_code: None,
                    healthy: Some(n % 2 == 0),
                    update_id: Some(agora_api::UpdateId::from(format!("u{n}").as_str())),
                    timestamp: agora_api::types::now_secs(),
                    latest_state: None,
                })
                .collect();
            let path = format!("/v1/agents/{sim}/updates");
            agent_client.post_no_content(&path, &StatusUpdates { updates }).await.expect("post updates");
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 500 {
        seen.push(framework.update("burst", false).await.update_id.expect("id").to_string());
    }
    // Cut the connection mid-burst and resume from the last event id on a new one.
    let last = framework.last_event_id.clone();
    let client = framework.client.clone();
    let id = framework.id.clone();
    drop(framework);
    let mut framework = Framework::subscribe(client, id, Some(&last)).await;
    while seen.len() < 1000 {
        seen.push(framework.update("burst", false).await.update_id.expect("id").to_string());
    }
    poster.await.expect("poster");
    let expected: Vec<String> = (0..1000).map(|n| format!("u{n}")).collect();
    assert_eq!(seen, expected, "every update once, in order");
}

/// Sends raw request bytes and returns the first bytes the server answers.
async fn raw_request(url: &str, request: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(DEADLINE, stream.read(&mut answer)).await.expect("an answer").expect("read");
    String::from_utf8_lossy(&answer[..n]).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p6_several_frameworks_launching_concurrently_never_overcommit() {
    let mut cluster = Cluster::start(&["--resources", "cpus:1,mem:512"]).await;
    cluster.spawn_agent("b", "cpus:1,mem:512");
    cluster.wait_for_agents(2).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A watcher checks invariant 1 the whole time through the operator API.
    let watcher = {
        let client = cluster.client();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut checks = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let agents: AgentList = client.get("/v1/agents").await.expect("agents");
                for agent in &agents.agents {
                    assert!(agent.used.plus(&agent.offered).fits_in(&agent.total), "over-committed: {agent:?}");
                }
                checks += 1;
            }
            checks
        })
    };
    // Three frameworks race for the same two agents, each launching as many short tasks as
    // every offer holds until it has launched 30.
    let mut workers = Vec::new();
    for f in 0..3 {
        let client = cluster.client();
        workers.push(tokio::spawn(async move {
            let mut framework = Framework::register(client, registration(&format!("racer-{f}"))).await;
            let mut launched = 0;
            let mut round = 0;
            while launched < 30 {
                // Updates are acknowledged, as every framework must: the agent sends a task's
                // next update, and so its end, only after the previous one is acknowledged.
                let offers = match framework.next_event().await {
                    FrameworkEvent::Offers(o) => o.offers,
                    FrameworkEvent::Update(u) => {
                        framework.ack(&u.status).await;
                        continue;
                    }
                    _ => continue,
                };
                round += 1;
                for (o, offer) in offers.iter().enumerate() {
                    let n = (offer.resources.cpus / 0.1 + 1e-6).floor() as usize;
                    if n == 0 {
                        let decline =
                            Decline { offer_ids: vec![offer.id.clone()], filters: Filters { refuse_secs: Some(0.0) } };
                        let _ = framework.client.post_no_content(&framework.path("decline"), &decline).await;
                        continue;
                    }
                    let tasks = (0..n)
                        .map(|t| shell_task(&offer.agent_id, &format!("r{f}-{round}-{o}-{t}"), "true", 0.1, 16.0))
                        .collect();
                    // An accept may race with a rescind; a 400 then is the right answer.
                    match framework.launch(offer, tasks).await {
                        Ok(()) => launched += n,
                        Err(e) => assert_eq!(e.status(), Some(400), "{e}"),
                    }
                }
            }
            launched
        }));
    }
    let mut launched = 0;
    for worker in workers {
        launched += worker.await.expect("framework");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let checks = watcher.await.expect("watcher");
    assert!(launched >= 3 * 30, "tasks were launched: {launched}");
    assert!(checks > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_run_behaves_like_a_local_command_in_a_pipeline() {
    let cluster = Cluster::start(&[]).await;
    // No `--` needed; options after the command are the command's.
    let out = cluster.cli(&["run", "echo", "-n", "hi"]).output().expect("agora run");
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "hi"), "{}", stderr(&out));
    // A command that does not exist: 127, as a shell says.
    let out = cluster.cli(&["run", "--", "/no/such/program"]).output().expect("agora run");
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    // `agora run ... | head`: when our output closes, the task is killed and we leave (141).
    let mut child = cluster
        .cli(&["run", "--", "sh", "-c", "while true; do echo y; done"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("agora run");
    let mut pipe = child.stdout.take().expect("stdout");
    let mut first = [0u8; 2];
    std::io::Read::read_exact(&mut pipe, &mut first).expect("the task's output");
    assert_eq!(&first, b"y\n");
    drop(pipe);
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert_eq!(status.code(), Some(141));
    wait_for_task_state(&cluster, "", TaskState::Killed).await;
    // The lists stop quietly on a closed pipe too.
    let mut list = cluster.cli(&["tasks"]).stdout(std::process::Stdio::piped()).spawn().expect("agora tasks");
    drop(list.stdout.take());
    let status = tokio::task::spawn_blocking(move || list.wait()).await.expect("join").expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p5_an_agent_with_a_refused_token_stops_and_says_why() {
    let cluster = Cluster::start(&[]).await;
    let out = std::process::Command::new(AGORA)
        .args(["agent", "--master", &cluster.url, "--token", "not-a-token", "--work-dir"])
        .arg(cluster.scratch().join("refused"))
        .output();
    let out = tokio::time::timeout(DEADLINE, tokio::task::spawn_blocking(move || out)).await.expect("it stops");
    let out = out.expect("join").expect("agora agent");
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("refused the agent token"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p2_run_rides_out_a_server_restart() {
    // The built-in agent is too small for the task, so it runs on an agent of its own, which
    // outlives the restart of `agora dev`.
    let mut cluster = Cluster::start(&["--resources", "cpus:0.05,mem:64"]).await;
    cluster.spawn_agent("outside", "cpus:1,mem:512");
    cluster.wait_for_agents(2).await;
    let gate = cluster.scratch().join("gate");
    let line = format!("echo started; while [ ! -e {} ]; do sleep 0.05; done; echo done; exit 4", gate.display());
    let mut run = cluster
        .cli(&["run", "--", "sh", "-c", &line])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("agora run");
    let mut out = run.stdout.take().expect("stdout");
    let mut started = [0u8; 8];
    std::io::Read::read_exact(&mut out, &mut started).expect("the task starts");
    assert_eq!(&started, b"started\n");
    cluster.restart_dev().await;
    std::fs::write(&gate, "").expect("open the gate");
    let status = tokio::task::spawn_blocking(move || run.wait()).await.expect("join").expect("wait");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).expect("the rest of the output");
    assert_eq!((status.code(), rest.as_str()), (Some(4), "done\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_logs_follow_a_running_task_until_it_ends() {
    use futures::StreamExt as _;
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("logs")).await;
    let offers = framework.offers().await;
    let gate = cluster.scratch().join("log-gate");
    let line =
        format!("echo first; while [ ! -e {} ]; do sleep 0.05; done; echo second >&2; echo last", gate.display());
    framework
        .launch(&offers[0], vec![shell_task(&offers[0].agent_id, "chatty", &line, 0.1, 32.0)])
        .await
        .expect("accept");
    while framework.update("chatty", true).await.state != TaskState::Running {}
    let url = |stream: &str| format!("{}/v1/tasks/chatty/logs?stream={stream}&follow=true", cluster.url);
    let http = reqwest::Client::new();
    let response = http.get(url("stdout")).bearer_auth(&cluster.token).send().await.expect("follow");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut seen = Vec::new();
    while !seen.ends_with(b"first\n") {
        seen.extend_from_slice(&body.next().await.expect("more output").expect("bytes"));
    }
    // The answer stays open while the task runs, and ends when it has.
    std::fs::write(&gate, "").expect("open the gate");
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk.expect("bytes"));
    }
    assert_eq!(String::from_utf8_lossy(&seen), "first\nlast\n");
    // Once the task is over, a follow returns what there is and ends; offsets are honoured.
    let stderr = http.get(url("stderr")).bearer_auth(&cluster.token).send().await.expect("follow");
    assert_eq!(stderr.text().await.expect("text"), "second\n");
    let tail =
        http.get(format!("{}&offset=6", url("stdout"))).bearer_auth(&cluster.token).send().await.expect("follow");
    assert_eq!(tail.text().await.expect("text"), "last\n");
    // Unknown tasks and missing tokens get JSON errors, as everywhere else.
    let unknown =
        http.get(format!("{}/v1/tasks/nope/logs?follow=true", cluster.url)).bearer_auth(&cluster.token).send().await;
    assert_eq!(unknown.expect("answer").status(), 404);
    let anonymous = http.get(url("stdout")).send().await.expect("answer");
    assert_eq!(anonymous.status(), 401);
    let error: agora_api::ErrorBody = anonymous.json().await.expect("JSON error");
    assert_eq!(error.code, "unauthorized");
}

/// An idle framework holds every offer and never answers. `agora dev` times its offers out
/// after 10 s, as declines, so `agora run` gets the agent and its task runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_framework_does_not_starve_agora_run_under_agora_dev() {
    let cluster = Cluster::start(&[]).await;
    let mut idle = Framework::register(cluster.client(), registration("idle")).await;
    let offers = idle.offers().await;
    assert!(!offers.is_empty());
    let mut run = cluster.cli(&["run", "--", "echo", "ran"]).stdout(std::process::Stdio::piped()).spawn().expect("run");
    // Bounded: 10 s for the offer to time out, and the rest for the run.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while run.try_wait().expect("agora run").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = run.kill();
            panic!("agora run was starved by an idle framework for 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = run.wait_with_output().expect("agora run");
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "ran\n"));
}

/// `agora logs TASK` prints what a task wrote; `-f` follows it until the task ends;
/// `--stderr` reads the other stream; an unknown task is an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agora_logs_prints_and_follows_a_tasks_output() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("logs")).await;
    let offers = framework.offers().await;
    let gate = cluster.scratch().join("log-gate");
    let line = format!("echo first; echo oops >&2; while [ ! -e {} ]; do sleep 0.05; done; echo last", gate.display());
    framework
        .launch(&offers[0], vec![shell_task(&offers[0].agent_id, "talker", &line, 0.1, 32.0)])
        .await
        .expect("accept");
    while framework.update("talker", true).await.state != TaskState::Running {}
    eventually(DEADLINE, "the task's first line", || async {
        let out = cluster.cli(&["logs", "talker"]).output().expect("agora logs");
        (out.status.success() && stdout(&out) == "first\n").then_some(())
    })
    .await;
    let out = cluster.cli(&["logs", "--stderr", "talker"]).output().expect("agora logs --stderr");
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "oops\n"), "{}", stderr(&out));
    // Following: it prints what is there, waits while the task runs, and exits when it ends.
    let follower =
        cluster.cli(&["logs", "-f", "talker"]).stdout(std::process::Stdio::piped()).spawn().expect("agora logs -f");
    std::fs::write(&gate, "").expect("open the gate");
    let out = follower.wait_with_output().expect("agora logs -f ends with its task");
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), "first\nlast\n"));
    let out = cluster.cli(&["logs", "no-such-task"]).output().expect("agora logs");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown_task"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_keeps_frameworks_tasks_and_agents_across_a_restart() {
    // The built-in agent stops with `agora dev`; the task runs on an agent of its own.
    let mut cluster = Cluster::start(&["--resources", "cpus:0.05,mem:64"]).await;
    cluster.spawn_agent("outside", "cpus:1,mem:512");
    let outside = cluster.agent_id_by_hostname("outside").await;
    let mut reg = registration("durable");
    reg.failover_timeout_secs = 600.0;
    let mut framework = Framework::register(cluster.client(), reg).await;
    let offer = loop {
        if let Some(o) = framework.offers().await.into_iter().find(|o| o.agent_id == outside) {
            break o;
        }
    };
    framework.launch(&offer, vec![shell_task(&outside, "long", "sleep 600", 0.5, 64.0)]).await.expect("launch");
    assert_eq!(framework.update("long", true).await.state, TaskState::Staging);
    assert_eq!(framework.update("long", true).await.state, TaskState::Running);
    let (id, last_event_id) = (framework.id.clone(), framework.last_event_id.clone());
    drop(framework);

    cluster.restart_dev().await;
    // Known at once, from the file, before anything registers again.
    let client = cluster.client();
    let frameworks: FrameworkList = client.get("/v1/frameworks").await.expect("frameworks");
    let view = frameworks.frameworks.iter().find(|f| f.id == id).expect("the framework is still known");
    assert_eq!((view.name.as_str(), view.tasks, view.failover_timeout_secs), ("durable", 1, 600.0));
    let tasks: TaskList = client.get("/v1/tasks").await.expect("tasks");
    assert_eq!(tasks.tasks.iter().find(|t| t.task_id.as_str() == "long").map(|t| t.state), Some(TaskState::Running));
    let agents: AgentList = client.get("/v1/agents").await.expect("agents");
    assert!(agents.agents.iter().any(|a| a.id == outside), "the agent is still known");
    // The framework resumes its stream without registering again, and can still kill its task.
    let mut framework = Framework::subscribe(cluster.client(), id, Some(&last_event_id)).await;
    let kill = format!("/v1/frameworks/{}/tasks/long/kill", framework.id);
    framework.client.post_no_content(&kill, &Kill::default()).await.expect("kill");
    loop {
        let status = framework.update("long", true).await;
        if status.state.is_terminal() {
            assert_eq!(status.state, TaskState::Killed);
            break;
        }
    }
}

/// `agora dev` on the embedded store, SIGKILLed while four clients write: each client sets roles
/// `wJ-0000`, `wJ-0001`, ... one after another, each once the last was acknowledged. After the
/// restart, what each client finds is a prefix of what it wrote (nothing after a gap), with at
/// most the one write in flight at the kill beyond what was acknowledged. The store's writer
/// commits in the order of the commits, in whole batches, so a kill loses only a tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_server_keeps_a_prefix_of_what_it_acknowledged() {
    const WRITERS: usize = 16;
    let mut cluster = Cluster::start(&[]).await;
    let acked: Arc<Vec<std::sync::atomic::AtomicUsize>> =
        Arc::new((0..WRITERS).map(|_| std::sync::atomic::AtomicUsize::new(0)).collect());
    let http = reqwest::Client::new();
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (http, url, token, acked) = (http.clone(), cluster.url.clone(), cluster.token.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            // Bounded: the server is killed long before the last.
            for i in 0..100_000 {
                let path = format!("{url}/v1/roles/w{writer}-{i:05}");
                let sent = http.put(&path).bearer_auth(&token).json(&serde_json::json!({"weight": 1.0})).send().await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        acked[writer].store(i + 1, std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => return,
                }
            }
        }));
    }
    let total = || acked.iter().map(|a| a.load(std::sync::atomic::Ordering::SeqCst)).sum::<usize>();
    eventually(DEADLINE, "400 acknowledged writes", || async { (total() >= 400).then_some(()) }).await;
    let pid = nix::unistd::Pid::from_raw(cluster.dev_pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL agora dev");
    for writer in writers {
        writer.await.expect("writer");
    }
    let acknowledged: Vec<usize> = acked.iter().map(|a| a.load(std::sync::atomic::Ordering::SeqCst)).collect();

    cluster.restart_dev().await;
    let roles: agora_api::operator::RoleList = cluster.client().get("/v1/roles").await.expect("roles");
    let mut kept = 0;
    for (writer, acknowledged) in acknowledged.iter().enumerate() {
        let prefix = format!("w{writer}-");
        let mut found: Vec<usize> = roles
            .roles
            .iter()
            .filter_map(|r| r.role.strip_prefix(&prefix).map(|n| n.parse().expect("a number")))
            .collect();
        found.sort_unstable();
        let expected: Vec<usize> = (0..found.len()).collect();
        assert_eq!(found, expected, "writer {writer}'s writes kept are not a prefix of its writes");
        assert!(found.len() <= acknowledged + 1, "writer {writer}: {} kept, {acknowledged} acknowledged", found.len());
        kept += found.len();
    }
    assert!(kept > 0, "nothing was kept of {acknowledged:?}");
    eprintln!("acknowledged {acknowledged:?}, kept {kept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_token_acts_only_as_the_agents_its_principal_registered() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.spawn_agent("honest", "cpus:1,mem:256");
    let honest = cluster.agent_id_by_hostname("honest").await;
    let mallory = cluster.client_with(&cluster.issue_token("agent", "mallory"));
    let forbidden = |result: Result<(), agora_client::ClientError>, what: &str| {
        assert_eq!(result.expect_err(what).status(), Some(403), "{what}");
    };
    let path = |verb: &str| format!("/v1/agents/{honest}/{verb}");
    forbidden(mallory.post_empty(&path("heartbeat")).await, "a heartbeat as another agent");
    let updates = agora_api::agent::StatusUpdates { updates: vec![] };
    forbidden(mallory.post_no_content(&path("updates"), &updates).await, "updates as another agent");
    forbidden(mallory.events(&path("commands"), None).await.map(drop), "another agent's commands");
    let takeover = agora_api::agent::RegisterAgent {
        agent_id: Some(honest.clone()),
        hostname: "mallory".into(),
        resources: Resources::new(64.0, 65536.0),
        reserved: Default::default(),
        attributes: Default::default(),
        tasks: vec![],
        containerizers: vec![],
    };
    let taken: Result<serde_json::Value, _> = mallory.post("/v1/agents", &takeover).await;
    assert_eq!(taken.expect_err("registering under another agent's id").status(), Some(403));
    // Its own agent, it may register; an operator may act as any agent.
    let own = agora_api::agent::RegisterAgent { agent_id: None, ..takeover };
    let _: agora_api::agent::AgentRegistered = mallory.post("/v1/agents", &own).await.expect("its own agent");
    cluster.client().post_empty(&path("heartbeat")).await.expect("an operator may");
    // The honest agent was not disturbed.
    let agents: AgentList = cluster.client().get("/v1/agents").await.expect("agents");
    let view = agents.agents.iter().find(|a| a.id == honest).expect("still there");
    assert_eq!((view.hostname.as_str(), view.total.cpus), ("honest", 1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_token_sees_only_its_own_frameworks_tasks_offers_and_logs() {
    let cluster = Cluster::start(&[]).await;
    let alice = cluster.client_with(&cluster.issue_token("framework", "alice"));
    let bob = cluster.client_with(&cluster.issue_token("framework", "bob"));
    let mut a = Framework::register(alice, registration("a")).await;
    let offers = a.offers().await;
    a.launch(&offers[0], vec![shell_task(&offers[0].agent_id, "secret", "echo alice", 0.1, 32.0)])
        .await
        .expect("launch");
    while !a.update("secret", true).await.state.is_terminal() {}
    let b = Framework::register(bob.clone(), registration("b")).await;
    // Bob sees his framework only, none of Alice's tasks or offers, and none of her logs.
    let frameworks: FrameworkList = bob.get("/v1/frameworks").await.expect("frameworks");
    assert_eq!(frameworks.frameworks.iter().map(|f| f.id.clone()).collect::<Vec<_>>(), vec![b.id.clone()]);
    let tasks: TaskList = bob.get("/v1/tasks").await.expect("tasks");
    assert!(tasks.tasks.is_empty(), "bob sees alice's tasks: {:?}", tasks.tasks);
    let offers: agora_api::operator::OfferList = bob.get("/v1/offers").await.expect("offers");
    assert!(offers.offers.iter().all(|o| o.framework_id == b.id));
    let status = |r: Result<serde_json::Value, agora_client::ClientError>| r.expect_err("refused").status();
    // Alice's framework id, and her task named by it, get the same 404 as unknown ones.
    let unknown = bob.get::<serde_json::Value>("/v1/frameworks/no-such-framework").await.expect_err("unknown");
    let hers = bob.get::<serde_json::Value>(&format!("/v1/frameworks/{}", a.id)).await.expect_err("hers");
    let same = |e: &agora_client::ClientError| match e {
        agora_client::ClientError::Api { status, code, message } => {
            (*status, code.clone(), message.replace(a.id.as_str(), "ID").replace("no-such-framework", "ID"))
        }
        other => panic!("{other}"),
    };
    assert_eq!(same(&unknown), same(&hers));
    assert_eq!(same(&hers).0, 404);
    let offers_path = |id: &str| format!("/v1/frameworks/{id}/decline");
    let decline = agora_api::framework::Decline { offer_ids: vec![], filters: Default::default() };
    let unknown = bob.post_no_content(&offers_path("no-such-framework"), &decline).await.expect_err("unknown");
    let hers = bob.post_no_content(&offers_path(a.id.as_str()), &decline).await.expect_err("hers");
    assert_eq!(same(&unknown), same(&hers));
    // Framework ids are chosen by frameworks: bob cannot take over alice's.
    let takeover = agora_api::framework::RegisterFramework { id: Some(a.id.clone()), ..registration("b") };
    let taken = bob.post::<_, serde_json::Value>("/v1/frameworks", &takeover).await.expect_err("taken");
    assert!(
        matches!(&taken, agora_client::ClientError::Api { status: 409, code, .. } if code == "framework_id_taken"),
        "{taken}"
    );
    let logs = bob.get_bytes("/v1/tasks/secret/logs").await.map(drop);
    assert_eq!(logs.expect_err("alice's logs").status(), Some(404), "as if there were no such task");
    let logs = bob.get_bytes(&format!("/v1/tasks/secret/logs?framework_id={}", a.id)).await.map(drop);
    assert_eq!(logs.expect_err("alice's logs, named").status(), Some(404));
    assert_eq!(status(bob.events("/v1/events", None).await.map(|_| serde_json::Value::Null)), Some(403));
    // Alice sees her own, and an operator sees everything.
    let (body, _) = a.client.get_bytes("/v1/tasks/secret/logs").await.expect("her own logs");
    assert_eq!(String::from_utf8_lossy(&body), "alice\n");
    let all: FrameworkList = cluster.client().get("/v1/frameworks").await.expect("frameworks");
    assert_eq!(all.frameworks.len(), 2);
    assert!(all.frameworks.iter().any(|f| f.principal == "alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_keep_old_tokens_valid_until_the_old_key_is_removed() {
    let cluster = Cluster::start(&[]).await;
    let keys = |args: &[&str]| {
        let out = std::process::Command::new(AGORA)
            .arg("keys")
            .args(args)
            .arg("--data-dir")
            .arg(cluster.data_dir())
            .output()
            .expect("agora keys");
        assert!(out.status.success(), "agora keys {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let before = cluster.issue_token("operator", "before");
    let old_kid = keys(&["list"]).split_whitespace().next().expect("a kid").to_string();
    let new_kid = keys(&["rotate"]).trim().to_string();
    let listed = keys(&["list"]);
    assert!(
        listed.contains(&format!("{new_kid}  active")) && listed.contains(&format!("{old_kid}  retired")),
        "{listed}"
    );
    // A token of the new key is accepted once the server has read the keys again; the old one still is.
    let after = cluster.issue_token("operator", "after");
    let accepted = |token: String| {
        let client = cluster.client_with(&token);
        async move { client.get::<serde_json::Value>("/v1/cluster").await.map_err(|e| e.status()) }
    };
    eventually(DEADLINE, "the new key to be accepted", || async { accepted(after.clone()).await.ok() }).await;
    accepted(before.clone()).await.expect("the old key's token still works");
    // Removing the old key revokes its tokens.
    keys(&["remove", &old_kid]);
    eventually(DEADLINE, "the old key's token to be refused", || async {
        (accepted(before.clone()).await.err() == Some(Some(401))).then_some(())
    })
    .await;
    accepted(after.clone()).await.expect("the new key's token still works");
    // The active key cannot be removed.
    let out = std::process::Command::new(AGORA)
        .args(["keys", "remove", &new_kid, "--data-dir"])
        .arg(cluster.data_dir())
        .output()
        .expect("agora keys remove");
    assert!(!out.status.success() && stderr(&out).contains("rotate first"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_tokens_is_held_back_without_starving_good_clients() {
    let cluster = Cluster::start(&[]).await;
    // The attacker speaks from 127.0.0.2 (loopback answers for all of 127/8); good clients from 127.0.0.1.
    let attacker =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().expect("client");
    let url = format!("{}/v1/cluster", cluster.url);
    let flood = {
        let (attacker, url) = (attacker.clone(), url.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            for _ in 0..500 {
                let status =
                    attacker.get(&url).bearer_auth("forged.token.value").send().await.expect("answer").status();
                *statuses.entry(status.as_u16()).or_default() += 1;
            }
            (statuses, started.elapsed().as_secs_f64())
        })
    };
    let good = cluster.client();
    for _ in 0..50 {
        let _: serde_json::Value = good.get("/v1/cluster").await.expect("a good client is served throughout");
    }
    let (statuses, secs) = flood.await.expect("flood");
    // Checked: the burst of 20, plus 5 a second for as long as the flood lasted; turned away: the rest.
    let checked = statuses.get(&401).copied().unwrap_or(0);
    let most = 20 + (5.0 * secs).ceil() as usize + 1;
    assert!(checked >= 20 && checked <= most, "{checked} failures checked in {secs:.1} s: {statuses:?}");
    assert_eq!(statuses.get(&429).copied().unwrap_or(0), 500 - checked, "{statuses:?}");
    let refused = attacker.get(&url).bearer_auth("forged.token.value").send().await.expect("answer");
    if refused.status() == 429 {
        assert!(refused.headers().contains_key("retry-after"));
        let body: agora_api::ErrorBody = refused.json().await.expect("a JSON error");
        assert_eq!(body.code, "too_many_auth_failures");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_token_registers_only_with_the_roles_it_names() {
    let cluster = Cluster::start(&[]).await;
    let out = std::process::Command::new(AGORA)
        .args(["token", "issue", "--kind", "framework", "--name", "etl", "--roles", "analytics, analytics/nightly"])
        .arg("--data-dir")
        .arg(cluster.data_dir())
        .output()
        .expect("agora token issue");
    assert!(out.status.success(), "{}", stderr(&out));
    let etl = cluster.client_with(stdout(&out).trim());
    let with_roles = |roles: &[&str]| RegisterFramework {
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..registration("etl")
    };
    let ok: agora_api::framework::FrameworkRegistered =
        etl.post("/v1/frameworks", &with_roles(&["analytics"])).await.expect("its own role");
    assert!(!ok.framework_id.as_str().is_empty());
    let refused: Result<serde_json::Value, _> = etl.post("/v1/frameworks", &with_roles(&["analytics", "web"])).await;
    assert_eq!(refused.expect_err("another role").status(), Some(403));
    // --roles is for framework tokens only.
    let out = std::process::Command::new(AGORA)
        .args(["token", "issue", "--kind", "agent", "--name", "x", "--roles", "a", "--data-dir"])
        .arg(cluster.data_dir())
        .output()
        .expect("agora token issue");
    assert!(!out.status.success());
}

/// `agora run` on `cluster` with `token`; returns (success, stdout, stderr).
fn run_with(cluster: &Cluster, token: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["run", "--cpus", "0.1", "--mem", "16"];
    all.extend(args);
    let out = cluster.cli(&all).env("AGORA_TOKEN", token).output().expect("agora run");
    (out.status.success(), stdout(&out), stderr(&out))
}

#[tokio::test]
async fn tasks_run_as_an_unprivileged_user_and_name_others_only_when_both_token_and_agent_allow() {
    if !nix::unistd::Uid::effective().is_root() {
        // Only root can switch users: a non-root agent runs tasks as itself, and refuses others.
        let cluster = Cluster::start(&[]).await;
        let me = nix::unistd::User::from_uid(nix::unistd::Uid::effective()).ok().flatten().expect("me").name;
        let (ok, out, _) = run_with(&cluster, &cluster.token, &["--", "id", "-un"]);
        assert!(ok && out.trim() == me, "{out}");
        return;
    }
    // Debian's `daemon` user (uid 1) stands in for a service account.
    let cluster = Cluster::start(&["--task-users", "daemon"]).await;
    let (ok, out, err) = run_with(&cluster, &cluster.token, &["--", "sh", "-c", "id -un; echo $HOME; touch here"]);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("nobody"), "the default task user: {out}");
    assert!(lines.next().is_some_and(|home| home.contains("sandboxes")), "HOME is the sandbox: {out}");

    // A framework token issued with --users daemon may ask for daemon.
    let issue = |extra: &[&str]| {
        let out = std::process::Command::new(AGORA)
            .args(["token", "issue", "--kind", "framework", "--name", "svc", "--data-dir"])
            .arg(cluster.data_dir())
            .args(extra)
            .output()
            .expect("agora token issue");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out).trim().to_string()
    };
    let svc = issue(&["--users", "daemon"]);
    let (ok, out, err) = run_with(&cluster, &svc, &["--user", "daemon", "--", "id", "-un"]);
    assert!(ok && out.trim() == "daemon", "{out} {err}");
    // ... but not for root, which the token does not name: 403 before anything launches.
    let (ok, _, err) = run_with(&cluster, &svc, &["--user", "root", "--", "id", "-un"]);
    assert!(!ok && err.contains("may not run tasks as user `root`"), "{err}");
    // A token without --users names no one.
    let plain = issue(&[]);
    let (ok, _, err) = run_with(&cluster, &plain, &["--user", "daemon", "--", "true"]);
    assert!(!ok && err.contains("may not run tasks as user `daemon`"), "{err}");
    // An operator may name anyone, but the agent still refuses what its allow-list lacks.
    let (ok, _, err) = run_with(&cluster, &cluster.token, &["--user", "root", "--", "id", "-un"]);
    assert!(!ok && err.contains("does not run tasks as `root`"), "{err}");
    let (ok, _, err) = run_with(&cluster, &cluster.token, &["--user", "-x", "--", "true"]);
    assert!(!ok && err.contains("not a user name"), "{err}");

    // Root needs the explicit flag.
    let dir = common::task_dir();
    let out = std::process::Command::new(AGORA)
        .args(["dev", "--listen", "127.0.0.1:0", "--task-user", "root", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("agora dev");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--allow-root-tasks"), "{}", stderr(&out));
    let root = Cluster::start(&["--task-user", "root", "--allow-root-tasks"]).await;
    let (ok, out, err) = run_with(&root, &root.token, &["--", "id", "-u"]);
    assert!(ok && out.trim() == "0", "{out} {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_set_and_listed_from_the_cli() {
    let cluster = Cluster::start(&[]).await;
    let set = cluster
        .cli(&["role", "set", "eng/backend", "--weight", "2", "--guarantee", "cpus:1", "--limit", "cpus:3,mem:2048"])
        .output()
        .expect("role set");
    assert!(set.status.success(), "{}", stderr(&set));
    assert_eq!(stdout(&set), "eng/backend: weight 2, guarantee cpus:1, limit cpus:3,mem:2048\n");
    // A later change keeps what it does not name.
    let set = cluster.cli(&["role", "set", "eng/backend", "--limit", "none"]).output().expect("role set");
    assert!(set.status.success(), "{}", stderr(&set));
    assert_eq!(stdout(&set), "eng/backend: weight 2, guarantee cpus:1, limit -\n");
    let bad = cluster.cli(&["role", "set", "eng", "--weight", "0"]).output().expect("role set");
    assert!(!bad.status.success() && stderr(&bad).contains("invalid_weight"), "{}", stderr(&bad));

    let table = cluster.cli(&["roles"]).output().expect("roles");
    let text = stdout(&table);
    assert!(text.starts_with("ROLE"), "{text}");
    let row = text.lines().find(|l| l.starts_with("eng/backend")).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("cpus:1"), "{row}");
    assert!(text.lines().any(|l| l.starts_with("eng ")), "the parent role is listed: {text}");
    let json = cluster.cli(&["roles", "--json"]).output().expect("roles --json");
    let list: agora_api::operator::RoleList = serde_json::from_str(&stdout(&json)).expect("json");
    let backend = list.roles.iter().find(|r| r.role == "eng/backend").expect("eng/backend");
    assert_eq!(backend.weight, 2.0);
    assert!(backend.quota.limit.is_empty());

    // `agora why` for a framework that registered and never subscribed to its events.
    let registered: agora_api::framework::FrameworkRegistered =
        cluster.client().post("/v1/frameworks", &registration("quiet")).await.expect("register");
    let why = cluster.cli(&["why", registered.framework_id.as_str()]).output().expect("why");
    assert!(why.status.success(), "{}", stderr(&why));
    assert!(stdout(&why).contains("is not offered more:\n  not_connected: "), "{}", stdout(&why));
    let unknown = cluster.cli(&["why", "nothing"]).output().expect("why");
    assert!(!unknown.status.success() && stderr(&unknown).contains("unknown_framework"), "{}", stderr(&unknown));
}

/// An operator drains the dev agent from the CLI: the framework is sent an inverse offer, its
/// task is killed (no grace period), `agora agents` shows the agent drained, and it is offered
/// again once reactivated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_are_drained_and_reactivated_from_the_cli() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("mover")).await;
    let offer = framework.offers().await.remove(0);
    let task = shell_task(&offer.agent_id, "long", "sleep 600", 0.1, 32.0);
    framework.launch(&offer, vec![task]).await.expect("launch");
    while framework.update("long", true).await.state != TaskState::Running {}

    let drain = cluster.cli(&["node", "drain", offer.agent_id.as_str()]).output().expect("node drain");
    assert!(drain.status.success(), "{}", stderr(&drain));
    loop {
        match framework.next_event().await {
            FrameworkEvent::InverseOffers(inverse) => {
                assert_eq!(inverse.inverse_offers[0].tasks, vec![agora_api::TaskId::from("long")]);
                break;
            }
            FrameworkEvent::Update(u) => framework.ack(&u.status).await,
            _ => {}
        }
    }
    let mut state = TaskState::Running;
    while !state.is_terminal() {
        state = framework.update("long", true).await.state;
    }
    assert_eq!(state, TaskState::Killed);
    eventually(DEADLINE, "the agent shows drained", || async {
        let table = cluster.cli(&["agents"]).output().expect("agents");
        stdout(&table).contains("active,drained").then_some(())
    })
    .await;

    let reactivate = cluster.cli(&["node", "reactivate", offer.agent_id.as_str()]).output().expect("reactivate");
    assert!(reactivate.status.success(), "{}", stderr(&reactivate));
    assert!(!framework.offers().await.is_empty(), "offered again");
    let unknown = cluster.cli(&["node", "deactivate", "nothing"]).output().expect("deactivate");
    assert!(!unknown.status.success() && stderr(&unknown).contains("unknown_agent"), "{}", stderr(&unknown));
}

/// A persistent volume on a real agent: made from reserved disk, its directory lives outside
/// the sandboxes and is linked into each task that uses it, so what one task writes the next
/// reads; destroying it deletes the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_volume_keeps_files_across_tasks_until_destroyed() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.spawn_agent("vol", "cpus:2,mem:1024,disk:512,cpus(db):1,mem(db):256,disk(db):256");
    cluster.wait_for_agents(2).await;
    let db = RegisterFramework { roles: vec!["db".into()], ..registration("db") };
    let mut framework = Framework::register(cluster.client(), db).await;
    create_volume(&framework, "db", "pgdata", 128.0, "var/data").await;

    let with_volume = |o: &agora_api::Offer| o.volumes.iter().any(|v| v.id == "pgdata");
    let volume_dir = cluster.agent_work_dir("vol").join("volumes/pgdata");
    for (task, line) in [
        ("writer", "echo kept > var/data/file && test -L var/data"),
        ("reader", r#"test "$(cat var/data/file)" = kept && echo more >> var/data/file"#),
    ] {
        let offer = offer_where(&framework, "an offer with the volume", with_volume).await;
        assert_eq!(offer.reservation.as_deref(), Some("db"));
        let mut info = shell_task(&offer.agent_id, task, line, 0.1, 32.0);
        info.volumes = vec!["pgdata".into()];
        framework.launch(&offer, vec![info]).await.expect("launch");
        let status = framework.terminal(task).await;
        assert_eq!((status.state, status.exit_code), (TaskState::Finished, Some(0)), "{task}: {status:?}");
    }
    assert_eq!(std::fs::read_to_string(volume_dir.join("file")).expect("the volume's file"), "kept\nmore\n");

    let offer = offer_where(&framework, "an offer with the volume", with_volume).await;
    let destroy = Operation::DestroyVolume { id: "pgdata".into() };
    let accept = Accept { offer_ids: vec![offer.id.clone()], operations: vec![destroy], filters: Filters::default() };
    framework.client.post_no_content(&framework.path("accept"), &accept).await.expect("destroy the volume");
    eventually(DEADLINE, "the agent to delete the volume", || async { (!volume_dir.exists()).then_some(()) }).await;

    // The reservation shows in `agora roles`.
    let roles = cluster.cli(&["roles"]).output().expect("roles");
    let text = stdout(&roles);
    assert!(text.starts_with("ROLE") && text.contains("RESERVED"), "{text}");
    let row = text.lines().find(|l| l.starts_with("db ")).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("cpus:1,disk:256,mem:256"), "{row}");
}

/// An agent that must isolate tasks in cgroups, and a framework whose offers come only from it.
/// `None` (the reason printed) where this host cannot isolate tasks.
async fn isolated(name: &str) -> Option<(Cluster, Framework, agora_api::Offer)> {
    if !can_isolate(&format!("the isolation test on agent `{name}`")) {
        return None;
    }
    let mut cluster = Cluster::start(&[]).await;
    cluster.spawn_agent_with(name, "cpus:2,mem:1024", &["--isolation", "cgroups"]);
    cluster.wait_for_agents(2).await;
    let framework = Framework::register(cluster.client(), registration(name)).await;
    let offer = offer_where(&framework, "an offer of the isolated agent", |o| o.hostname == name).await;
    Some((cluster, framework, offer))
}

/// The host's cgroups as the agent `agent` sees them (v1 or v2), and a task's group name.
fn task_cgroup(cluster: &Cluster, agent: &str, framework: &Framework, task: &str) -> (Arc<dyn Cgroups>, String) {
    let root = agora_agent::cgroups::agent_root(&cluster.agent_work_dir(agent));
    let cgroups = agora_agent::cgroups::detect(Path::new("/sys/fs/cgroup"), &root).expect("cgroups").expect("a driver");
    (cgroups, agora_agent::cgroups::task_group(&framework.id, &task.into()))
}

/// A task that allocates twice its `mem` is killed by the kernel and reported `failed` with
/// reason `container_limitation_memory`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_over_its_memory_limit_fails_with_a_memory_limitation() {
    let Some((_cluster, mut framework, offer)) = isolated("mem").await else { return };
    // `tail` keeps the whole line, 64 MiB of zeros without a newline, in memory.
    let line = "head -c 67108864 /dev/zero | tail > /dev/null";
    framework.launch(&offer, vec![shell_task(&offer.agent_id, "hog", line, 0.5, 32.0)]).await.expect("launch");
    let status = framework.terminal("hog").await;
    assert_eq!(status.state, TaskState::Failed, "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("container_limitation_memory"), "{status:?}");
}

/// A busy loop with `cpus: 0.5` uses at most about half a CPU, by its cgroup's own accounting;
/// a kill ends everything in the cgroup, even what left the process group, and removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_gets_its_cpu_quota_and_a_kill_ends_its_whole_cgroup() {
    let Some((cluster, mut framework, offer)) = isolated("cpu").await else { return };
    let marker = cluster.scratch().join("escaped.pid");
    let line = format!("setsid sleep 600 & echo $! > {}; while :; do :; done", marker.display());
    framework.launch(&offer, vec![shell_task(&offer.agent_id, "spin", &line, 0.5, 64.0)]).await.expect("launch");
    while framework.update("spin", true).await.state != TaskState::Running {}
    let (cgroups, group) = task_cgroup(&cluster, "cpu", &framework, "spin");
    let usage = || cgroups.cpu_usage(&group).expect("the task's cgroup accounting").as_secs_f64();
    let escaped: i32 = eventually(DEADLINE, "the escaped child's pid", || async {
        std::fs::read_to_string(&marker).ok()?.trim().parse().ok()
    })
    .await;
    let (cpu_before, wall_before) = (usage(), std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu, wall) = (usage() - cpu_before, wall_before.elapsed().as_secs_f64());
    assert!(cpu / wall <= 0.55, "{cpu:.3} s of CPU in {wall:.3} s");
    assert!(cpu > 0.0, "the loop ran");

    let kill = agora_api::framework::Kill { grace_period_secs: Some(1.0) };
    framework.client.post_no_content(&framework.path("tasks/spin/kill"), &kill).await.expect("kill");
    assert_eq!(framework.terminal("spin").await.state, TaskState::Killed);
    eventually(DEADLINE, "the escaped child to be gone", || async {
        (!Path::new(&format!("/proc/{escaped}")).exists()).then_some(())
    })
    .await;
    eventually(DEADLINE, "the task's cgroup to be removed", || async {
        cgroups.cpu_usage(&group).is_none().then_some(())
    })
    .await;
}

/// `task` with a health check every 0.2 s, failures forgiven for `grace` seconds.
fn checked(mut task: agora_api::TaskInfo, check: agora_api::Check, grace: f64, failures: u32) -> agora_api::TaskInfo {
    task.health_check = Some(agora_api::HealthCheck {
        check,
        delay_secs: 0.0,
        interval_secs: 0.2,
        timeout_secs: 2.0,
        grace_period_secs: grace,
        consecutive_failures: failures,
    });
    task
}

/// The next update of `task` that is not `staging` or a plain `running`.
async fn health_update(framework: &mut Framework, task: &str) -> agora_api::TaskStatus {
    loop {
        let status = framework.update(task, true).await;
        if status.healthy.is_some() || status.state.is_terminal() {
            return status;
        }
    }
}

/// A command health check run by the agent: its results reach the framework as `running`
/// updates with `healthy`, and after `consecutive_failures` failures in a row the agent kills
/// the task, reported `killed` with reason `task_unhealthy`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_health_check_reports_health_and_kills_a_task_that_fails_it() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("checked")).await;
    let offer = framework.offers().await.remove(0);
    let flag = cluster.scratch().join("healthy");
    std::fs::write(&flag, "").expect("flag");
    let check = agora_api::Check::Command(format!("test -f {}", flag.display()));
    let task = checked(shell_task(&offer.agent_id, "svc", "sleep 600", 0.1, 32.0), check, 0.0, 3);
    framework.launch(&offer, vec![task]).await.expect("launch");
    let status = health_update(&mut framework, "svc").await;
    assert_eq!((status.state, status.healthy), (TaskState::Running, Some(true)), "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("task_health_check_status_updated"));

    std::fs::remove_file(&flag).expect("unflag");
    let status = health_update(&mut framework, "svc").await;
    assert_eq!((status.state, status.healthy), (TaskState::Running, Some(false)), "{status:?}");
    let status = health_update(&mut framework, "svc").await;
    assert_eq!((status.state, status.healthy), (TaskState::Killed, Some(false)), "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("task_unhealthy"), "{status:?}");
}

/// HTTP and TCP health checks: a task serving HTTP on its port is healthy; one checked on a
/// port nothing listens on is killed once its checks fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_tcp_health_checks_probe_the_tasks_ports() {
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("probed")).await;
    let offer = framework.offers().await.remove(0);
    let [first, _] = offer.resources.ports[0];
    let mut server =
        shell_task(&offer.agent_id, "web", "exec python3 -m http.server $PORT0 --bind 127.0.0.1", 0.2, 64.0);
    server.resources.ports = vec![[first, first]];
    // The grace period covers Python's start: the checks that fail meanwhile do not count.
    let server =
        checked(server, agora_api::Check::Http(agora_api::HttpProbe { port: first, path: "/".into() }), 60.0, 3);
    let silent = shell_task(&offer.agent_id, "silent", "sleep 600", 0.1, 32.0);
    let silent = checked(silent, agora_api::Check::Tcp(agora_api::TcpProbe { port: first + 1 }), 0.0, 2);
    framework.launch(&offer, vec![server, silent]).await.expect("launch");

    // Either may come first: read both tasks' updates as they come.
    let (mut web, mut silent) = (None, None);
    while web.is_none() || silent.is_none() {
        if let FrameworkEvent::Update(u) = framework.next_event().await {
            framework.ack(&u.status).await;
            let status = u.status;
            match status.task_id.as_str() {
                "web" if status.healthy.is_some() && web.is_none() => web = Some(status),
                "silent" if status.state.is_terminal() => silent = Some(status),
                _ => {}
            }
        }
    }
    let (web, silent) = (web.expect("web"), silent.expect("silent"));
    assert_eq!((web.state, web.healthy), (TaskState::Running, Some(true)), "{web:?}");
    assert_eq!((silent.state, silent.reason.as_deref()), (TaskState::Killed, Some("task_unhealthy")), "{silent:?}");
    assert_eq!(silent.healthy, Some(false));
}

/// Sandboxes of ended tasks are deleted once older than `--sandbox-max-age-secs`; those of
/// running tasks stay, however old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_tasks_sandboxes_are_collected_by_age() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.spawn_agent_with("gc", "cpus:1,mem:256", &["--sandbox-max-age-secs", "1"]);
    cluster.wait_for_agents(2).await;
    let mut framework = Framework::register(cluster.client(), registration("gc")).await;
    let offer = offer_where(&framework, "an offer of the collecting agent", |o| o.hostname == "gc").await;
    let tasks = vec![
        shell_task(&offer.agent_id, "brief", "echo hi", 0.1, 32.0),
        shell_task(&offer.agent_id, "long", "sleep 600", 0.1, 32.0),
    ];
    framework.launch(&offer, tasks).await.expect("launch");
    assert_eq!(framework.terminal("brief").await.state, TaskState::Finished);
    let sandboxes = cluster.agent_work_dir("gc").join("sandboxes").join(framework.id.as_str());
    eventually(DEADLINE, "the ended task's sandbox to go", || async {
        (!sandboxes.join("brief").exists()).then_some(())
    })
    .await;
    assert!(sandboxes.join("long").join("stdout").exists(), "a running task's sandbox stays");
}

/// SIGKILL an agent and start it again: it registers under the same id, its running task kept
/// running and is watched again, and the task's later exit reaches the framework with its exit
/// code. An update the framework had not acknowledged is sent again by the new agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_reattaches_to_its_tasks_and_reports_their_exits() {
    let mut cluster = Cluster::start(&[]).await;
    let index = cluster.spawn_agent("phoenix", "cpus:2,mem:1024");
    cluster.wait_for_agents(2).await;
    let agent_id = cluster.agent_id_by_hostname("phoenix").await;
    let mut framework = Framework::register(cluster.client(), registration("survivor")).await;
    let offer = offer_where(&framework, "an offer of phoenix", |o| o.hostname == "phoenix").await;
    let (flag, pid_file) = (cluster.scratch().join("finish"), cluster.scratch().join("long.pid"));
    let line =
        format!("echo $$ > {}; while [ ! -f {} ]; do sleep 0.1; done; exit 7", pid_file.display(), flag.display());
    let tasks = vec![
        shell_task(&offer.agent_id, "long", &line, 0.1, 32.0),
        shell_task(&offer.agent_id, "quick", "exit 3", 0.1, 32.0),
    ];
    framework.launch(&offer, tasks).await.expect("launch");
    while framework.update("long", true).await.state != TaskState::Running {}
    // `quick`'s end arrives and is not acknowledged.
    let mut quick = framework.update("quick", false).await;
    while !quick.state.is_terminal() {
        framework.ack(&quick).await;
        quick = framework.update("quick", false).await;
    }
    let pid: i32 = eventually(DEADLINE, "the task's pid", || async {
        std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
    })
    .await;

    let agent = cluster.agent_process(index);
    agent.kill().expect("SIGKILL the agent");
    agent.wait().expect("reaped");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "the task outlives its agent");
    // The unacknowledged update is in the dead agent's checkpoint.
    let checkpoint = cluster.agent_work_dir("phoenix").join("meta").join(framework.id.as_str()).join("quick.json");
    assert!(checkpoint.exists(), "{}", checkpoint.display());

    // A process in a task group no checkpoint names (as when an agent dies between starting a
    // task and recording it): the new agent ends it.
    let (cgroups, _) = task_cgroup(&cluster, "phoenix", &framework, "unused");
    let limits = agora_agent::cgroups::Limits { cpus: 0.1, mem_mib: 32.0, pids: 10, deny_devices: Vec::new() };
    cgroups.create("stray", &limits).expect("a stray group");
    let mut stray = std::process::Command::new("sleep").arg("600").spawn().expect("sleep");
    cgroups.add("stray", stray.id() as i32).expect("into the stray group");

    cluster.spawn_agent("phoenix", "cpus:2,mem:1024");
    let stray_ended = std::sync::Mutex::new(&mut stray);
    eventually(DEADLINE, "the stray process to end", || {
        let ended = stray_ended.lock().ok().and_then(|mut child| child.try_wait().ok().flatten());
        async move { ended.map(|_| ()) }
    })
    .await;
    eventually(DEADLINE, "the stray group to go", || async { cgroups.cpu_usage("stray").is_none().then_some(()) })
        .await;
    // The update, sent again (by either agent: the new one holds it from the checkpoint).
    let again = framework.update("quick", true).await;
    assert_eq!((again.state, again.exit_code, again.update_id), (TaskState::Failed, Some(3), quick.update_id));
    // Only the new agent, which read the checkpoint, can take the acknowledgement and forget it.
    eventually(DEADLINE, "the new agent to take the acknowledgement", || async {
        (!checkpoint.exists()).then_some(())
    })
    .await;
    assert_eq!(cluster.agent_id_by_hostname("phoenix").await, agent_id, "the same agent id");

    std::fs::write(&flag, "").expect("flag");
    let status = framework.terminal("long").await;
    assert_eq!((status.state, status.exit_code), (TaskState::Failed, Some(7)), "{status:?}");
}

/// An agent upgrade: SIGTERM stops `agora agent` and leaves its three tasks running; a new
/// binary put in the old one's place (renamed over it, as a package upgrade does) starts on the
/// same work directory, takes the tasks over under the same agent id, and reports their exit
/// codes. No task starts twice. An agent started with `--kill-tasks-on-exit` kills its task
/// when it stops, as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_upgraded_in_place_keeps_its_tasks_running() {
    let test = "an_agent_upgraded_in_place_keeps_its_tasks_running";
    let cluster = Cluster::start(&[]).await;
    let dir = cluster.scratch().to_path_buf();
    let binary = dir.join("bin").join("agora");
    std::fs::create_dir_all(binary.parent().expect("bin")).expect("bin dir");
    std::fs::copy(AGORA, &binary).expect("the old binary");
    // With cgroups where the host has them, so that the tasks' groups are seen to survive too.
    let isolation = if can_isolate(test) { "cgroups" } else { "none" };
    let token = cluster.issue_token("agent", "upgraded");
    let start_agent = |binary: &Path| {
        agent_command(binary, &dir, &cluster.url, &token, "upgraded", "cpus:2,mem:1024")
            .args(["--isolation", isolation])
            .spawn()
            .expect("agora agent starts")
    };
    let mut agent = TaskReaper { agent: Some(start_agent(&binary)), pids: Vec::new() };
    let agent_id = cluster.agent_id_by_hostname("upgraded").await;

    let mut framework = Framework::register(cluster.client(), registration("upgrade")).await;
    let offer = offer_where(&framework, "an offer of the agent", |o| o.hostname == "upgraded").await;
    // Each task notes every start of its own, then waits (bounded) for its flag and exits.
    let codes = [("t0", 0), ("t3", 3), ("t7", 7)];
    let tasks = codes
        .iter()
        .map(|(id, code)| {
            let line = format!(
                "echo $$ >> {d}/{id}.starts; for _ in $(seq 1200); do [ -f {d}/{id}.go ] && exit {code}; sleep 0.1; done; exit 99",
                d = dir.display()
            );
            shell_task(&offer.agent_id, id, &line, 0.1, 32.0)
        })
        .collect();
    framework.launch(&offer, tasks).await.expect("launch");
    let mut running = std::collections::BTreeSet::new();
    while running.len() < codes.len() {
        if let FrameworkEvent::Update(u) = framework.next_event().await {
            framework.ack(&u.status).await;
            assert!(!u.status.state.is_terminal(), "{:?}", u.status);
            if u.status.state == TaskState::Running {
                running.insert(u.status.task_id.to_string());
            }
        }
    }
    for (id, _) in codes {
        let pid: i32 = eventually(DEADLINE, "the task's pid", || async {
            std::fs::read_to_string(dir.join(format!("{id}.starts"))).ok()?.trim().parse().ok()
        })
        .await;
        agent.pids.push(pid);
    }

    // SIGTERM: the agent leaves in good order, the tasks stay.
    let mut old = agent.agent.take().expect("the agent");
    common::replicas::signal(&old, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM the agent");
    let status = old.wait().expect("the agent exits");
    assert!(status.success(), "agora agent exits 0 on SIGTERM: {status:?}");
    let log = std::fs::read_to_string(dir.join("upgraded.stderr")).unwrap_or_default();
    assert!(log.contains("tasks keep running"), "{log}");
    for pid in &agent.pids {
        assert!(Path::new(&format!("/proc/{pid}")).exists(), "task {pid} outlives its agent");
    }

    // The upgrade: a new file renamed over the binary, started on the same work directory.
    let staged = dir.join("bin").join("agora.new");
    std::fs::copy(AGORA, &staged).expect("the new binary");
    std::fs::rename(&staged, &binary).expect("replaced");
    agent.agent = Some(start_agent(&binary));
    // Both agents log to the same file: the second registration is the new agent's.
    let log = eventually(DEADLINE, "the new agent to register", || async {
        let log = std::fs::read_to_string(dir.join("upgraded.stderr")).ok()?;
        (log.matches("registered with the master").count() == 2).then_some(log)
    })
    .await;
    let registered = format!("registered with the master agent_id={agent_id}");
    assert_eq!(log.matches(&registered).count(), 2, "the same agent id: {log}");
    assert_eq!(log.matches("re-attached to a running task").count(), 3, "{log}");

    for (id, _) in codes {
        std::fs::write(dir.join(format!("{id}.go")), "").expect("flag");
    }
    let ended = framework.terminals(codes.len()).await;
    for (id, code) in codes {
        let status = &ended[id];
        let state = if code == 0 { TaskState::Finished } else { TaskState::Failed };
        assert_eq!((status.state, status.exit_code), (state, Some(code)), "{status:?}");
        assert_eq!(status.agent_id, agent_id);
        let starts = std::fs::read_to_string(dir.join(format!("{id}.starts"))).expect("starts");
        assert_eq!(starts.lines().count(), 1, "{id} started once: {starts}");
    }

    // The old behaviour on request: --kill-tasks-on-exit kills the task when the agent stops.
    let mut killer = agent.agent.take().expect("the agent");
    common::replicas::signal(&killer, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM the agent");
    killer.wait().expect("the agent exits");
    let mut killer = TaskReaper {
        agent: Some(
            agent_command(&binary, &dir, &cluster.url, &token, "upgraded", "cpus:2,mem:1024")
                .args(["--isolation", isolation, "--kill-tasks-on-exit"])
                .spawn()
                .expect("agora agent starts"),
        ),
        pids: Vec::new(),
    };
    eventually(DEADLINE, "the third agent to register", || async {
        let log = std::fs::read_to_string(dir.join("upgraded.stderr")).ok()?;
        (log.matches(&registered).count() == 3).then_some(())
    })
    .await;
    // Offers made before it registered were rescinded when it did.
    let offer = offer_where(&framework, "an offer of the agent again", |o| o.hostname == "upgraded").await;
    let line = format!("echo $$ > {}/doomed.pid; exec sleep 600", dir.display());
    framework.launch(&offer, vec![shell_task(&offer.agent_id, "doomed", &line, 0.1, 32.0)]).await.expect("launch");
    let mut update = framework.update("doomed", true).await;
    while update.state != TaskState::Running {
        assert!(!update.state.is_terminal(), "{update:?}");
        update = framework.update("doomed", true).await;
    }
    let pid: i32 = eventually(DEADLINE, "the doomed task's pid", || async {
        std::fs::read_to_string(dir.join("doomed.pid")).ok()?.trim().parse().ok()
    })
    .await;
    killer.pids.push(pid);
    let child = killer.agent.take().expect("the agent");
    common::replicas::signal(&child, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM the agent");
    let mut child = child;
    child.wait().expect("the agent exits");
    eventually(DEADLINE, "the task to end with its agent", || async {
        (!Path::new(&format!("/proc/{pid}")).exists()).then_some(())
    })
    .await;
    let status = framework.terminal("doomed").await;
    assert_eq!(status.state, TaskState::Killed, "{status:?}");
}

/// `--token-file` takes the place of an AGORA_TOKEN the agent's environment happens to hold (a
/// user's shell exporting their own token), as it does for the other verbs: it was refused as
/// a conflict. An empty token file is an error that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_token_file_takes_the_place_of_agora_token() {
    let cluster = Cluster::start(&[]).await;
    let dir = cluster.scratch().to_path_buf();
    let token = cluster.issue_token("agent", "filed");
    let agent = agent_command(Path::new(AGORA), &dir, &cluster.url, &token, "filed", "cpus:1,mem:256")
        .env("AGORA_TOKEN", "not-a-token")
        .arg("--kill-tasks-on-exit")
        .spawn()
        .expect("agora agent starts");
    let _agent = TaskReaper { agent: Some(agent), pids: Vec::new() };
    cluster.agent_id_by_hostname("filed").await;

    let empty = dir.join("empty.token");
    std::fs::write(&empty, "\n").expect("empty token file");
    let out = std::process::Command::new(AGORA)
        .args(["agent", "--master", &cluster.url, "--token-file"])
        .arg(&empty)
        .arg("--work-dir")
        .arg(dir.join("agents").join("empty"))
        .output()
        .expect("agora agent");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is empty"), "{}", stderr(&out));
}

/// An agent started under `umask 077` (as a hardened host's service manager may start it) makes
/// its work directory and the sandboxes' parents traversable all the same: a task run as
/// `nobody` reaches its sandbox and finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_under_a_strict_umask_still_runs_tasks_as_nobody() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!(
            "skipped an_agent_under_a_strict_umask_still_runs_tasks_as_nobody: not root, so tasks run as this user"
        );
        return;
    }
    let cluster = Cluster::start(&[]).await;
    let dir = cluster.scratch().to_path_buf();
    let wrapper = dir.join("agora-umask-077");
    std::fs::write(&wrapper, format!("#!/bin/sh\numask 077\nexec {AGORA} \"$@\"\n")).expect("wrapper");
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let token = cluster.issue_token("agent", "strict");
    let agent = agent_command(&wrapper, &dir, &cluster.url, &token, "strict", "cpus:1,mem:256")
        .arg("--kill-tasks-on-exit")
        .spawn()
        .expect("agora agent starts");
    let _agent = TaskReaper { agent: Some(agent), pids: Vec::new() };
    let mut framework = Framework::register(cluster.client(), registration("strict")).await;
    let offer = offer_where(&framework, "an offer of the agent", |o| o.hostname == "strict").await;
    let task = shell_task(&offer.agent_id, "whoami", "id -un; echo written > $AGORA_SANDBOX/out", 0.1, 32.0);
    framework.launch(&offer, vec![task]).await.expect("launch");
    let status = framework.terminal("whoami").await;
    assert_eq!(status.state, TaskState::Finished, "{status:?}");
    let work_dir = cluster.agent_work_dir("strict");
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).expect("stat").permissions());
    assert_eq!(mode(&work_dir) & 0o777, 0o711, "the work directory, made by the agent");
    assert_eq!(mode(&work_dir.join("sandboxes")) & 0o777, 0o711);
    let sandbox = work_dir.join("sandboxes").join(framework.id.as_str()).join("whoami");
    assert_eq!(std::fs::read_to_string(sandbox.join("stdout")).expect("stdout").trim(), "nobody");
    assert_eq!(std::fs::read_to_string(sandbox.join("out")).expect("out").trim(), "written");
}

/// Ends, when a test stops (passing or not), the agent it holds and the task processes it
/// names, which would outlive an agent that leaves its tasks running.
struct TaskReaper {
    agent: Option<std::process::Child>,
    pids: Vec<i32>,
}

impl Drop for TaskReaper {
    fn drop(&mut self) {
        if let Some(agent) = &mut self.agent {
            stop(agent);
        }
        for pid in &self.pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// GPUs found with `nvidia-smi` (a stand-in script here, listing two) are offered as `gpus`
/// and handed out whole: a task sees only its own in `CUDA_VISIBLE_DEVICES`, and its cgroup
/// denies it the device files of the others (device nodes made for the test: opening an
/// allowed one fails with ENXIO, there being no driver, a denied one with EPERM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpus_are_discovered_and_each_task_reaches_only_its_own() {
    let test = "gpus_are_discovered_and_each_task_reaches_only_its_own";
    if !can_isolate(test) {
        return;
    }
    if cgroup_v2_only() {
        // v2 controls devices with eBPF programs, which the agent does not load: there a task
        // is denied other GPUs' device files by nothing but CUDA_VISIBLE_DEVICES.
        eprintln!("skipped {test}: cgroup v2 only, where the agent does not enforce device rules");
        return;
    }
    let mut cluster = Cluster::start(&[]).await;
    let dir = cluster.scratch().to_path_buf();
    let smi = dir.join("nvidia-smi");
    std::fs::write(&smi, "#!/bin/sh\necho '0, GPU-aaaa, Stand-in GPU'\necho '1, GPU-bbbb, Stand-in GPU'\n")
        .expect("script");
    let made = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "chmod 755 {smi} && mknod {d}/nvidia0 c 195 0 && mknod {d}/nvidia1 c 195 1 && chmod 666 {d}/nvidia0 {d}/nvidia1",
            smi = smi.display(),
            d = dir.display()
        ))
        .status()
        .expect("sh");
    assert!(made.success(), "device nodes need root");
    let smi_arg = smi.display().to_string();
    cluster.spawn_agent_with("gpu", "cpus:2,mem:1024", &["--isolation", "cgroups", "--nvidia-smi", &smi_arg]);
    cluster.wait_for_agents(2).await;
    let framework = Framework::register(cluster.client(), registration("cuda")).await;
    let offer = offer_where(&framework, "an offer of the GPU agent", |o| o.hostname == "gpu").await;
    assert_eq!(offer.resources.gpus, 2.0);

    let line = format!(
        "echo \"$CUDA_VISIBLE_DEVICES\" > {d}/$AGORA_TASK_ID.env; \
         for n in 0 1; do cat {d}/nvidia$n 2>&1 | tail -n 1 > {d}/$AGORA_TASK_ID.$n; done; sleep 600",
        d = dir.display()
    );
    let task = |id: &str, gpus: f64| {
        let mut task = shell_task(&offer.agent_id, id, &line, 0.1, 32.0);
        task.resources.gpus = gpus;
        task
    };
    framework.launch(&offer, vec![task("a", 1.0), task("b", 1.0), task("none", 0.0)]).await.expect("launch");
    let read = |name: String| {
        let path = dir.join(name);
        async move { std::fs::read_to_string(&path).ok().filter(|t| t.ends_with('\n')) }
    };
    let mut seen = Vec::new();
    for id in ["a", "b", "none"] {
        let visible = eventually(DEADLINE, "the task's devices", || read(format!("{id}.env"))).await;
        for n in ["0", "1"] {
            let opened = eventually(DEADLINE, "the task's open", || read(format!("{id}.{n}"))).await;
            let own = matches!((visible.trim(), n), ("GPU-aaaa", "0") | ("GPU-bbbb", "1"));
            let expected = if own { "No such device or address" } else { "Operation not permitted" };
            assert!(opened.contains(expected), "task {id} (GPUs `{}`), nvidia{n}: {opened}", visible.trim());
        }
        seen.push(visible.trim().to_string());
    }
    seen.sort();
    assert_eq!(seen, vec!["", "GPU-aaaa", "GPU-bbbb"], "each GPU to one task, none to the task that asked for none");
}

/// An agent's own Prometheus metrics (`--metrics-listen`): resources total and used, tasks by
/// state, and launches that failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_serves_its_metrics() {
    let mut cluster = Cluster::start(&[]).await;
    cluster.spawn_agent_with("metered", "cpus:2,mem:1024", &["--metrics-listen", "127.0.0.1:0"]);
    cluster.wait_for_agents(2).await;
    let framework = Framework::register(cluster.client(), registration("metered")).await;
    let offer = offer_where(&framework, "an offer of the metered agent", |o| o.hostname == "metered").await;
    let mut broken = shell_task(&offer.agent_id, "broken", "unused", 0.1, 32.0);
    broken.command = agora_api::Command::Argv(vec!["/nonexistent/program".into()]);
    let tasks = vec![shell_task(&offer.agent_id, "steady", "sleep 600", 0.5, 64.0), broken];
    framework.launch(&offer, tasks).await.expect("launch");

    let address_file = cluster.agent_work_dir("metered").join("metrics.address");
    let address = eventually(DEADLINE, "the metrics address", || async {
        std::fs::read_to_string(&address_file).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
    })
    .await;
    let wanted = [
        "agora_agent_resources_total{resource=\"cpus\"} 2.0",
        "agora_agent_resources_used{resource=\"cpus\"} 0.5",
        "agora_agent_tasks{state=\"running\"} 1",
        "agora_agent_tasks{state=\"failed\"} 1",
        "agora_agent_container_launch_errors_total 1",
    ];
    eventually(DEADLINE, "the agent's metrics", || async {
        let text = reqwest::get(format!("http://{address}/metrics")).await.ok()?.text().await.ok()?;
        wanted.iter().all(|w| text.lines().any(|l| l == *w)).then_some(())
    })
    .await;
}
