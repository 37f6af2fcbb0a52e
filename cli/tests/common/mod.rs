//! The shared harness of the end-to-end tests: a real `agora dev` process (server and agent)
//! on port 0 in a temporary directory, extra `agora agent` processes, the real CLI, and a
//! small framework written against the HTTP API.
#![allow(dead_code)]

pub mod cloud;
pub mod replicas;

use agora_api::framework::{Accept, FrameworkEvent, FrameworkRegistered, Operation, RegisterFramework};
use agora_api::operator::AgentList;
use agora_api::{AgentId, Command, FrameworkId, Offer, Resources, TaskInfo, TaskStatus};
use agora_client::{Client, ClientError, EventStream};
use futures::StreamExt as _;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub const AGORA: &str = env!("CARGO_BIN_EXE_agora");
/// Generous: CI machines are small and busy. Tests poll, so a fast run stays fast.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The repository's root (the workspace), for the files tests read from it.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// A loopback port nobody listens on now (for a server the test starts itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// Whether this host lets a test isolate tasks in cgroups: the tests run as root, and cgroups
/// (v1 or v2) are mounted. Prints why the test skips when not.
pub fn can_isolate(test: &str) -> bool {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped {test}: not root, and making cgroups (and device nodes) needs it");
        return false;
    }
    let v1 = Path::new("/sys/fs/cgroup/memory").is_dir();
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").is_file();
    if !v1 && !v2 {
        eprintln!("skipped {test}: no cgroups are mounted at /sys/fs/cgroup");
        return false;
    }
    true
}

/// Whether the host's cgroups are v2 only (no v1 memory hierarchy).
pub fn cgroup_v2_only() -> bool {
    !Path::new("/sys/fs/cgroup/memory").is_dir() && Path::new("/sys/fs/cgroup/cgroup.controllers").is_file()
}

/// Polls `check` until it yields a value or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A temporary directory that tasks can enter and write to. Tests run as root here, so their
/// agents run tasks as `nobody`, and some tasks leave markers in the test's directory.
pub fn task_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

/// Sends SIGTERM, then SIGKILL if the process has not left within a few seconds.
pub fn stop(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Mints a token with `agora token issue` from the key material in `data_dir`.
pub fn issue_token(data_dir: &Path, kind: &str, name: &str) -> String {
    let out = std::process::Command::new(AGORA)
        .args(["token", "issue", "--kind", kind, "--name", name, "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("agora token issue");
    assert!(out.status.success(), "token issue failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}

/// Starts `agora agent` named `name`, with its work directory and logs under `dir`.
pub fn spawn_agent_process(dir: &Path, masters: &str, token: &str, name: &str, resources: &str) -> Child {
    spawn_agent_with(dir, masters, token, name, resources, &[])
}

/// Like [`spawn_agent_process`], with more `agora agent` flags. Its tasks end when it stops.
pub fn spawn_agent_with(dir: &Path, masters: &str, token: &str, name: &str, resources: &str, extra: &[&str]) -> Child {
    agent_command(Path::new(AGORA), dir, masters, token, name, resources)
        // A test's tasks end with it (they would outlive a stopped agent otherwise).
        .arg("--kill-tasks-on-exit")
        .args(extra)
        .spawn()
        .expect("agora agent starts")
}

/// `binary agent` named `name`, with its work directory, token file and logs under `dir`
/// (its stderr appended to `dir/NAME.stderr`), leaving its tasks running when it stops.
pub fn agent_command(
    binary: &Path,
    dir: &Path,
    masters: &str,
    token: &str,
    name: &str,
    resources: &str,
) -> std::process::Command {
    let token_file = dir.join(format!("{name}.token"));
    std::fs::write(&token_file, token).expect("token file");
    let work_dir = dir.join("agents").join(name);
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.stderr")))
        .expect("stderr file");
    let mut command = std::process::Command::new(binary);
    command
        .args(["agent", "--master", masters, "--resources", resources, "--hostname", name])
        .arg("--token-file")
        .arg(&token_file)
        .arg("--work-dir")
        .arg(&work_dir)
        .env("AGORA_LOG", "info")
        // Tasks must not see it: they inherit only PATH, LANG, LC_* and TZ of the agent's.
        .env("AGENT_ONLY_SECRET", "agent-only")
        .stdout(Stdio::null())
        .stderr(stderr);
    command
}

/// `agora dev`'s files in the test's directory: its data directory (made 0700 by `agora dev`,
/// so closed to the tasks, which run as `nobody`) and its built-in agent's work directory.
pub const DATA_SUBDIR: &str = "data";
pub const DEV_AGENT_SUBDIR: &str = "agent";

pub struct Cluster {
    /// The test's scratch directory (0777): tasks write markers here, and agents' work
    /// directories, logs and token files live here. The data directory is `data/` in it.
    pub dir: tempfile::TempDir,
    pub url: String,
    pub token: String,
    dev: Child,
    /// The arguments `agora dev` was started with, to start it again.
    dev_args: Vec<String>,
    agents: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            stop(agent);
        }
        stop(&mut self.dev);
    }
}

/// Starts `agora dev` with its output in `dir` and waits for the address file it writes to
/// `data_dir` once it answers.
async fn start_dev(dir: &Path, data_dir: &Path, args: &[String]) -> (Child, String) {
    let address = data_dir.join("address");
    let _ = std::fs::remove_file(&address);
    let dev = std::process::Command::new(AGORA)
        .args(args)
        .env("AGORA_LOG", "info")
        .env("AGENT_ONLY_SECRET", "agent-only")
        .stdout(std::fs::File::create(dir.join("dev.stdout")).expect("stdout file"))
        .stderr(
            std::fs::OpenOptions::new().create(true).append(true).open(dir.join("dev.stderr")).expect("stderr file"),
        )
        .spawn()
        .expect("agora dev starts");
    let url = eventually(DEADLINE, "agora dev to write its address", || {
        let text = std::fs::read_to_string(&address).ok();
        async move { text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) }
    })
    .await;
    (dev, url)
}

impl Cluster {
    /// `agora dev` with `cpus:4,mem:4096` unless `args` say otherwise; waits for its agent.
    ///
    /// The built-in agent's work directory is `agent/` in the scratch directory (given with
    /// `--agent-work-dir`): left to itself, an `agora dev` run as root would put it in a
    /// directory under /tmp named after the data directory, which nothing would remove.
    pub async fn start(args: &[&str]) -> Cluster {
        let dir = task_dir();
        let mut all = vec!["dev", "--listen", "127.0.0.1:0", "--data-dir"];
        let data_dir = dir.path().join(DATA_SUBDIR).to_str().expect("utf-8 path").to_string();
        all.push(&data_dir);
        let work_dir = dir.path().join(DEV_AGENT_SUBDIR).to_str().expect("utf-8 path").to_string();
        if !args.contains(&"--agent-work-dir") {
            all.extend(["--agent-work-dir", &work_dir]);
        }
        if !args.contains(&"--resources") {
            all.extend(["--resources", "cpus:4,mem:4096,disk:1024"]);
        }
        all.extend(args);
        let dev_args: Vec<String> = all.iter().map(|a| a.to_string()).collect();
        let (dev, url) = start_dev(dir.path(), Path::new(&data_dir), &dev_args).await;
        let token =
            std::fs::read_to_string(Path::new(&data_dir).join("admin.token")).expect("admin token").trim().to_string();
        let cluster = Cluster { dir, url, token, dev, dev_args, agents: Vec::new() };
        cluster.wait_for_agents(1).await;
        cluster
    }

    /// Stops `agora dev` and starts it again on the same address and data directory: a master
    /// restart, which the embedded store's file survives.
    pub async fn restart_dev(&mut self) {
        stop(&mut self.dev);
        let address = self.url.trim_start_matches("http://").to_string();
        let mut args = self.dev_args.clone();
        if let Some(i) = args.iter().position(|a| a == "--listen") {
            args[i + 1] = address;
        }
        let (dev, url) = start_dev(self.dir.path(), &self.data_dir(), &args).await;
        assert_eq!(url, self.url);
        self.dev = dev;
        self.token =
            std::fs::read_to_string(self.data_dir().join("admin.token")).expect("admin token").trim().to_string();
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url, &self.token).expect("client")
    }

    pub fn client_with(&self, token: &str) -> Client {
        Client::new(&self.url, token).expect("client")
    }

    /// The pid of the `agora dev` process.
    pub fn dev_pid(&self) -> u32 {
        self.dev.id()
    }

    /// `agora dev`'s data directory: keys, tokens and state. Tasks cannot reach it.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join(DATA_SUBDIR)
    }

    /// The scratch directory, where tasks may write (markers) and agents' files live.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    pub fn dev_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dev.stderr")).unwrap_or_default()
    }

    pub fn dev_stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dev.stdout")).unwrap_or_default()
    }

    /// The CLI with this cluster's address and token in its environment.
    pub fn cli(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(AGORA);
        cmd.args(args).env("AGORA_ADDR", &self.url).env("AGORA_TOKEN", &self.token).env_remove("AGORA_DATA_DIR");
        cmd
    }

    /// Mints a token with `agora token issue`.
    pub fn issue_token(&self, kind: &str, name: &str) -> String {
        issue_token(&self.data_dir(), kind, name)
    }

    /// Starts `agora agent` with its own work directory; returns its index for `agent_mut`.
    pub fn spawn_agent(&mut self, name: &str, resources: &str) -> usize {
        let token = self.issue_token("agent", name);
        let child = spawn_agent_process(self.dir.path(), &self.url, &token, name, resources);
        self.agents.push(child);
        self.agents.len() - 1
    }

    /// Like [`Cluster::spawn_agent`], with more `agora agent` flags.
    pub fn spawn_agent_with(&mut self, name: &str, resources: &str, extra: &[&str]) -> usize {
        let token = self.issue_token("agent", name);
        let child = spawn_agent_with(self.dir.path(), &self.url, &token, name, resources, extra);
        self.agents.push(child);
        self.agents.len() - 1
    }

    pub fn agent_work_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("agents").join(name)
    }

    /// SIGKILLs agent `index` (no chance to kill its tasks) and waits for it to be gone.
    pub fn kill_agent(&mut self, index: usize) {
        let agent = &mut self.agents[index];
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(agent.id() as i32), nix::sys::signal::Signal::SIGKILL)
            .expect("SIGKILL the agent");
        let _ = agent.wait();
    }

    /// Starts agent `index` again as `name`, on its work directory, with a new token.
    pub fn restart_agent(&mut self, index: usize, name: &str, resources: &str, extra: &[&str]) {
        let token = self.issue_token("agent", name);
        self.agents[index] = spawn_agent_with(self.dir.path(), &self.url, &token, name, resources, extra);
    }

    pub fn agent_process(&mut self, index: usize) -> &mut Child {
        &mut self.agents[index]
    }

    pub async fn wait_for_agents(&self, active: usize) -> AgentList {
        let client = self.client();
        eventually(DEADLINE, "agents to register", || {
            let client = client.clone();
            async move {
                let list: AgentList = client.get("/v1/agents").await.ok()?;
                let n = list.agents.iter().filter(|a| a.state == agora_api::operator::AgentState::Active).count();
                (n == active).then_some(list)
            }
        })
        .await
    }

    pub async fn agent_id_by_hostname(&self, hostname: &str) -> AgentId {
        let client = self.client();
        eventually(DEADLINE, "the agent to register", || {
            let client = client.clone();
            async move {
                let list: AgentList = client.get("/v1/agents").await.ok()?;
                list.agents.into_iter().find(|a| a.hostname == hostname).map(|a| a.id)
            }
        })
        .await
    }
}

/// The framework's outstanding offers that `check` accepts, polled through `GET /v1/offers`
/// (events for them may have gone by while the test waited for updates).
pub async fn offer_where(
    framework: &Framework,
    what: &str,
    check: impl Fn(&agora_api::Offer) -> bool,
) -> agora_api::Offer {
    eventually(DEADLINE, what, || async {
        let list: agora_api::operator::OfferList = framework.client.get("/v1/offers").await.ok()?;
        list.offers.into_iter().find(|o| o.framework_id == framework.id && check(o))
    })
    .await
}

/// Has `framework` make the persistent volume `id` of `disk` MiB, at `container_path` in the
/// sandboxes of the tasks that use it, on an outstanding offer reserved to `role`.
pub async fn create_volume(framework: &Framework, role: &str, id: &str, disk: f64, container_path: &str) {
    use agora_api::framework::{Filters, Operation};
    let reserved = offer_where(framework, "a reserved offer", |o| o.reservation.as_deref() == Some(role)).await;
    let create = Operation::CreateVolume { id: id.into(), disk, container_path: container_path.into() };
    let accept = Accept { offer_ids: vec![reserved.id.clone()], operations: vec![create], filters: Filters::default() };
    framework.client.post_no_content(&framework.path("accept"), &accept).await.expect("create the volume");
}

/// A framework written against the HTTP API, as any client would.
pub struct Framework {
    pub client: Client,
    pub id: FrameworkId,
    pub last_event_id: String,
    /// In a mutex only so that `&Framework` may cross threads; `&mut self` reads it without locking.
    events: tokio::sync::Mutex<EventStream>,
}

pub fn registration(name: &str) -> RegisterFramework {
    RegisterFramework {
        id: None,
        name: name.to_string(),
        roles: vec!["*".into()],
        failover_timeout_secs: 0.0,
        capabilities: vec![],
        offer_constraints: Default::default(),
        offer_filters: Default::default(),
    }
}

pub fn shell_task(agent_id: &AgentId, task_id: &str, line: &str, cpus: f64, mem: f64) -> TaskInfo {
    TaskInfo::new(task_id, agent_id.clone(), Resources::new(cpus, mem), Command::Shell(line.to_string())).name(task_id)
}

impl Framework {
    pub async fn register(client: Client, registration: RegisterFramework) -> Framework {
        let registered: FrameworkRegistered = client.post("/v1/frameworks", &registration).await.expect("register");
        Framework::subscribe(client, registered.framework_id, None).await
    }

    /// Opens the event stream; the first event must be `subscribed`.
    pub async fn subscribe(client: Client, id: FrameworkId, last_event_id: Option<&str>) -> Framework {
        let events = client.events(&format!("/v1/frameworks/{id}/events"), last_event_id).await.expect("subscribe");
        let mut framework = Framework { client, id, last_event_id: String::new(), events: events.into() };
        match framework.next_event().await {
            FrameworkEvent::Subscribed(s) => assert_eq!(s.framework_id, framework.id),
            other => panic!("the first event must be subscribed, got {other:?}"),
        }
        framework
    }

    pub fn path(&self, verb: &str) -> String {
        format!("/v1/frameworks/{}/{verb}", self.id)
    }

    /// The next event other than a heartbeat, within [`DEADLINE`] (heartbeats do not extend it).
    pub async fn next_event(&mut self) -> FrameworkEvent {
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let event = tokio::time::timeout_at(until, self.events.get_mut().next())
                .await
                .expect("an event within the deadline")
                .expect("the stream stays open")
                .expect("a well-formed event");
            self.last_event_id = event.id.clone();
            match FrameworkEvent::parse(&event.event, &event.data).expect("known event shape") {
                Some(FrameworkEvent::Heartbeat) | None => continue,
                Some(e) => return e,
            }
        }
    }

    /// Waits for an `offers` event, skipping others.
    pub async fn offers(&mut self) -> Vec<Offer> {
        loop {
            if let FrameworkEvent::Offers(o) = self.next_event().await {
                return o.offers;
            }
        }
    }

    /// Waits for the next update of `task_id` (skipping other events), acknowledging it if `ack`.
    pub async fn update(&mut self, task_id: &str, ack: bool) -> TaskStatus {
        loop {
            if let FrameworkEvent::Update(u) = self.next_event().await {
                if ack {
                    self.ack(&u.status).await;
                }
                if u.status.task_id.as_str() == task_id {
                    return u.status;
                }
            }
        }
    }

    /// Waits for the terminal update of `task` (acknowledging every update on the way).
    pub async fn terminal(&mut self, task: &str) -> TaskStatus {
        let mut status = self.update(task, true).await;
        while !status.state.is_terminal() {
            status = self.update(task, true).await;
        }
        status
    }

    /// Waits for the terminal updates of `count` tasks (acknowledging every update on the
    /// way); returns them by task id.
    pub async fn terminals(&mut self, count: usize) -> std::collections::BTreeMap<String, TaskStatus> {
        let mut ended = std::collections::BTreeMap::new();
        while ended.len() < count {
            if let FrameworkEvent::Update(u) = self.next_event().await {
                self.ack(&u.status).await;
                if u.status.state.is_terminal() {
                    ended.insert(u.status.task_id.to_string(), u.status);
                }
            }
        }
        ended
    }

    pub async fn ack(&self, status: &TaskStatus) {
        if let Some(update_id) = &status.update_id {
            let ack = agora_api::framework::Acknowledge {
                task_id: status.task_id.clone(),
                agent_id: status.agent_id.clone(),
                update_id: update_id.clone(),
            };
            self.client.post_no_content(&self.path("acknowledge"), &ack).await.expect("acknowledge");
        }
    }

    /// Accepts `offer` with a launch. The future borrows nothing, so it may be sent to a task.
    pub fn launch(
        &self,
        offer: &Offer,
        tasks: Vec<TaskInfo>,
    ) -> impl Future<Output = Result<(), ClientError>> + Send + 'static {
        let accept = Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![Operation::Launch { tasks }],
            filters: Default::default(),
        };
        let (client, path) = (self.client.clone(), self.path("accept"));
        async move { client.post_no_content(&path, &accept).await }
    }
}
