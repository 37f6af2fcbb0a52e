//! Attacks a task makes on its agent through its sandbox. The agent runs as root and the task
//! as `nobody`, who owns the sandbox and may put anything there: each test performs one attack
//! with a real task on a real `agora dev`, and reads the outcome through the real log API and
//! the real CLI.

mod common;

use agora_api::TaskState;
use agora_client::ClientError;
use common::{eventually, offer_where, registration, shell_task, Cluster, Framework, DEADLINE};
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

/// Whether the host lets these tests run: only a root agent switches to another user, and
/// only then is following a task's link a way into someone else's files.
fn as_root(test: &str) -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("skipped {test}: it needs root, so that the agent runs tasks as another user");
    }
    root
}

/// A file only root may read, holding `marker`.
fn root_only_file(cluster: &Cluster, marker: &str) -> PathBuf {
    let path = cluster.scratch().join("root-only");
    std::fs::write(&path, marker).expect("writes the secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// Launches a shell task on an outstanding offer and waits for its end.
async fn run_to_end(framework: &mut Framework, task: &str, line: &str) -> agora_api::TaskStatus {
    let offer = offer_where(framework, "an offer", |_| true).await;
    framework.launch(&offer, vec![shell_task(&offer.agent_id, task, line, 0.1, 32.0)]).await.expect("launch");
    let status = framework.terminal(task).await;
    status
}

async fn read_log(framework: &Framework, task: &str, stream: &str) -> Result<Vec<u8>, ClientError> {
    let path = format!("/v1/tasks/{task}/logs?framework_id={}&stream={stream}", framework.id);
    framework.client.get_bytes(&path).await.map(|(body, _)| body.to_vec())
}

/// Asserts that reading `stream` of `task` is refused with a message that says why.
async fn assert_refused(framework: &Framework, task: &str, stream: &str, why: &str, secret: &str) {
    match read_log(framework, task, stream).await {
        Err(ClientError::Api { status: 409, code, message }) => {
            assert_eq!(code, "log_refused");
            assert!(message.contains(&format!("{stream} is {why}")), "{message}");
            assert!(secret.is_empty() || !message.contains(secret), "{message}");
        }
        other => panic!("reading {stream} of {task} must be refused, got {other:?}"),
    }
}

/// The agent keeps serving after a refusal: a plain task's output reads as usual.
async fn assert_serving(framework: &mut Framework, task: &str) {
    let status = run_to_end(framework, task, "echo still-serving").await;
    assert_eq!(status.state, TaskState::Finished, "{status:?}");
    let body = read_log(framework, task, "stdout").await.expect("a plain log reads");
    assert_eq!(&body[..], b"still-serving\n");
}

/// The attack of issue 15: a task replaces its own `stdout` and `stderr` with links to a file
/// only root may read, and asks for its logs. The log API and `agora run` refuse them, and the
/// file's content never leaves the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_swapped_for_links_to_a_root_file_is_refused() {
    if !as_root("output_swapped_for_links_to_a_root_file_is_refused") {
        return;
    }
    let cluster = Cluster::start(&[]).await;
    let secret_text = "TOP-SECRET-shadow-line";
    let secret = root_only_file(&cluster, secret_text);

    // `agora run` follows the output as it comes: it prints none of the file, and says why.
    let script = format!("rm stdout && ln -s {} stdout && sleep 1 && echo done >&2", secret.display());
    let out = cluster.cli(&["run", "--cpus", "0.1", "--mem", "16", "--", "sh", "-c", &script]).output().expect("run");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains(secret_text) && !stderr.contains(secret_text), "{stdout}{stderr}");
    assert!(stderr.contains("stdout is a symbolic link"), "{stderr}");

    let mut framework = Framework::register(cluster.client(), registration("attacker")).await;
    let line = format!("rm stdout stderr && ln -s {0} stdout && ln -s {0} stderr", secret.display());
    let status = run_to_end(&mut framework, "links", &line).await;
    assert_eq!(status.state, TaskState::Finished, "{status:?}");
    assert_refused(&framework, "links", "stdout", "a symbolic link", secret_text).await;
    assert_refused(&framework, "links", "stderr", "a symbolic link", secret_text).await;
    // A follower gets nothing of the file either.
    let url = format!("{}/v1/tasks/links/logs?framework_id={}&follow=true", cluster.url, framework.id);
    let followed = reqwest::Client::new().get(url).bearer_auth(&cluster.token).send().await.expect("follow");
    assert!(!followed.text().await.expect("body").contains(secret_text));

    assert_serving(&mut framework, "after-links").await;
}

/// A task replaces its `stdout` with a FIFO that no one writes to, then stays up. Opening the
/// FIFO would block the agent's reader until a writer came: reads must be refused at once, and
/// many of them must not use up the agent's reader slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_fifo_neither_blocks_readers_nor_uses_up_read_slots() {
    if !as_root("a_planted_fifo_neither_blocks_readers_nor_uses_up_read_slots") {
        return;
    }
    let cluster = Cluster::start(&[]).await;
    let mut framework = Framework::register(cluster.client(), registration("fifo")).await;
    let offer = offer_where(&framework, "an offer", |_| true).await;
    let line = "rm stdout && mkfifo stdout && exec sleep 1000";
    framework.launch(&offer, vec![shell_task(&offer.agent_id, "fifo", line, 0.1, 32.0)]).await.expect("launch");
    while framework.update("fifo", true).await.state != TaskState::Running {}
    eventually(DEADLINE, "the FIFO to be refused", || {
        let read = read_log(&framework, "fifo", "stdout");
        async move { matches!(read.await, Err(ClientError::Api { status: 409, .. })).then_some(()) }
    })
    .await;
    assert_refused(&framework, "fifo", "stdout", "a FIFO", "").await;

    // More reads than the agent has reader slots (64), each asking to wait for output, a few
    // at a time: a reader stuck on the FIFO would keep its slot, and the later ones would time
    // out. Every one is answered, with the refusal.
    use futures::StreamExt as _;
    let path = format!("/v1/tasks/fifo/logs?framework_id={}&wait_secs=20", framework.id);
    let reads = futures::stream::iter(0..100).map(|_| {
        let (client, path) = (framework.client.clone(), path.clone());
        async move { client.get_bytes(&path).await }
    });
    let answers: Vec<_> = reads.buffer_unordered(8).collect().await;
    for read in answers {
        assert!(matches!(&read, Err(ClientError::Api { status: 409, code, .. }) if code == "log_refused"), "{read:?}");
    }
    assert_serving(&mut framework, "after-fifo").await;
}

/// The memory limit of the cgroup process `pid` is in (v1 or v2), read where the kernel says.
fn memory_limit(pid: i32) -> Option<u64> {
    let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let file = groups.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        match controllers {
            "" => Some(format!("/sys/fs/cgroup{path}/memory.max")),
            c if c.split(',').any(|c| c == "memory") => {
                Some(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
            }
            _ => None,
        }
    })?;
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Frameworks choose their ids. With a `.` between framework and task ids, framework `cgv.web`'s
/// task `1` and framework `cgv`'s task `web.1` would share one cgroup: the second would set
/// the first's limits, and ending either would kill both. They get a group each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_whose_ids_join_alike_get_their_own_cgroups() {
    if !as_root("tasks_whose_ids_join_alike_get_their_own_cgroups") {
        return;
    }
    let mut cluster = Cluster::start(&[]).await;
    cluster.spawn_agent_with("cg", "cpus:2,mem:1024", &["--isolation", "cgroups"]);
    cluster.wait_for_agents(2).await;
    let root = agora_agent::cgroups::agent_root(&cluster.agent_work_dir("cg"));
    let Some(cgroups) = agora_agent::cgroups::detect(std::path::Path::new("/sys/fs/cgroup"), &root).expect("cgroups")
    else {
        eprintln!("skipped tasks_whose_ids_join_alike_get_their_own_cgroups: this host has no cgroups");
        return;
    };
    let mut started = Vec::new();
    for (framework_id, task, mem) in [("cgv.web", "1", 64.0), ("cgv", "web.1", 96.0)] {
        let registration =
            agora_api::framework::RegisterFramework { id: Some(framework_id.into()), ..registration(framework_id) };
        let mut framework = Framework::register(cluster.client(), registration).await;
        let offer = offer_where(&framework, "an offer of the isolated agent", |o| o.hostname == "cg").await;
        let info = shell_task(&offer.agent_id, task, "echo $$; exec sleep 1000", 0.1, mem);
        framework.launch(&offer, vec![info]).await.expect("launch");
        while framework.update(task, true).await.state != TaskState::Running {}
        // The rest of the agent goes to the next framework.
        let list: agora_api::operator::OfferList = framework.client.get("/v1/offers").await.expect("offers");
        let offer_ids = list.offers.into_iter().filter(|o| o.framework_id == framework.id).map(|o| o.id).collect();
        let filters = agora_api::framework::Filters { refuse_secs: Some(3600.0) };
        let decline = agora_api::framework::Decline { offer_ids, filters };
        framework.client.post_no_content(&framework.path("decline"), &decline).await.expect("decline");
        let pid: i32 = eventually(DEADLINE, "the task's pid", || {
            let read = read_log(&framework, task, "stdout");
            async move { String::from_utf8(read.await.ok()?).ok()?.trim().parse().ok() }
        })
        .await;
        started.push((framework, task, pid, mem));
    }
    for (_, task, pid, mem) in &started {
        assert_eq!(memory_limit(*pid), Some(*mem as u64 * 1024 * 1024), "task {task}'s own limit");
    }

    // Ending the first task ends its group, and only its own.
    let (mut first, second) = (started.remove(0), started.remove(0));
    let kill = agora_api::framework::Kill { grace_period_secs: Some(0.0) };
    first.0.client.post_no_content(&first.0.path("tasks/1/kill"), &kill).await.expect("kill");
    first.0.terminal("1").await;
    let group = agora_agent::cgroups::task_group(&first.0.id, &"1".into());
    eventually(DEADLINE, "the first task's cgroup to be removed", || async {
        cgroups.cpu_usage(&group).is_none().then_some(())
    })
    .await;
    assert_eq!(memory_limit(second.2), Some(96 * 1024 * 1024), "the second task runs on in its own group");
}

/// Tasks inherit `PATH`, `LANG`, `LC_*` and `TZ` of the agent's environment, and nothing else:
/// the harness starts every agent with `AGENT_ONLY_SECRET` set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_see_none_of_the_agents_own_environment() {
    let cluster = Cluster::start(&[]).await;
    let out = cluster.cli(&["run", "--cpus", "0.1", "--mem", "16", "--", "env"]).output().expect("agora run");
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{env}{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(env.lines().any(|l| l.starts_with("AGORA_TASK_ID=")), "{env}");
    assert!(!env.contains("AGENT_ONLY_SECRET"), "{env}");
}

/// A task plants links in its sandbox: its `stdout` to a root-only file, and the directory its
/// volume sits in to a root-owned directory elsewhere. Later its id comes back: the master keeps
/// one ended task (`--max-completed-tasks 1`) and the agent has restarted, so neither remembers
/// it. The relaunched task gets a new sandbox: its output is its own and the root-only file is
/// untouched, and its volume is linked through a directory the agent made, not the planted link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_relaunched_under_a_reused_id_gets_a_new_sandbox() {
    use agora_api::framework::RegisterFramework;
    if !as_root("a_task_relaunched_under_a_reused_id_gets_a_new_sandbox") {
        return;
    }
    let mut cluster = Cluster::start(&["--max-completed-tasks", "1"]).await;
    let resources = "cpus:2,mem:1024,disk:512,cpus(db):1,mem(db):256,disk(db):256";
    let agent = cluster.spawn_agent("vol", resources);
    cluster.wait_for_agents(2).await;
    let secret = root_only_file(&cluster, "root-only-content\n");
    let victim = cluster.scratch().join("victim");
    std::fs::create_dir_all(&victim).expect("a root-owned directory");

    let db = RegisterFramework { roles: vec!["db".into()], ..registration("db") };
    let mut framework = Framework::register(cluster.client(), db).await;
    common::create_volume(&framework, "db", "pgdata", 64.0, "data/pg").await;

    let with_volume = |o: &agora_api::Offer| o.volumes.iter().any(|v| v.id == "pgdata");
    let run = async |framework: &mut Framework, task: &str, line: &str| {
        let offer = offer_where(framework, "an offer with the volume", with_volume).await;
        let mut info = shell_task(&offer.agent_id, task, line, 0.1, 32.0);
        info.volumes = vec!["pgdata".into()];
        framework.launch(&offer, vec![info]).await.expect("launch");
        let status = framework.terminal(task).await;
        assert_eq!(status.state, TaskState::Finished, "{task}: {status:?}");
    };
    let plant = format!(
        "echo kept > data/pg/file && rm -rf data stdout && ln -s {} data && ln -s {} stdout",
        victim.display(),
        secret.display()
    );
    run(&mut framework, "reused", &plant).await;
    // Another task ends after it, so the master forgets the first one's id.
    run(&mut framework, "pusher", "true").await;
    // A restarted agent has forgotten which tasks it ran.
    common::stop(cluster.agent_process(agent));
    cluster.wait_for_agents(1).await;
    cluster.spawn_agent("vol", resources);
    cluster.wait_for_agents(2).await;

    run(&mut framework, "reused", "cat data/pg/file && test ! -L data && echo fresh").await;
    let body = read_log(&framework, "reused", "stdout").await.expect("the new task's own output");
    assert_eq!(String::from_utf8_lossy(&body), "kept\nfresh\n");
    assert_eq!(std::fs::read_to_string(&secret).expect("the secret"), "root-only-content\n");
    assert!(!victim.join("pg").exists(), "the agent followed the planted link to link the volume");
}
