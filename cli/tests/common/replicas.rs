//! A cluster of `agora server` replicas sharing one real `redis-server`, with real agents: the
//! harness of the state-tier tests. Every replica, agent and the Redis server is a process of
//! its own, so tests can kill, pause and restart any of them.

use super::{eventually, stop, AGORA, DEADLINE};
use agora_api::operator::ClusterView;
use agora_client::Client;
use agora_server::store::redis_server::RedisServer;
use std::path::{Path, PathBuf};
use std::process::Child;

pub struct Replica {
    child: Option<Child>,
    /// Stopped with SIGSTOP: it answers nothing until resumed.
    paused: bool,
    pub url: String,
    /// `host:port`, to start it again on the same address.
    pub listen: String,
}

pub struct Replicas {
    pub dir: tempfile::TempDir,
    pub redis: RedisServer,
    /// The `--store` address every replica is given.
    pub store: String,
    pub token: String,
    pub replicas: Vec<Replica>,
    lease_ttl: String,
    agent_timeout: String,
    agents: Vec<Child>,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for agent in &mut self.agents {
            stop(agent);
        }
        for replica in &mut self.replicas {
            if let Some(child) = replica.child.as_mut() {
                // A paused replica does not answer SIGTERM: wake it first.
                let _ = signal(child, nix::sys::signal::Signal::SIGCONT);
                stop(child);
            }
        }
    }
}

pub fn signal(child: &Child, signal: nix::sys::signal::Signal) -> nix::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal)
}

/// Starts `agora server` and waits for the line that says where it listens.
pub async fn start_server(dir: &Path, index: usize, args: &[String]) -> (Child, String) {
    let stdout_path = dir.join(format!("server{index}.stdout"));
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("server{index}.stderr")))
        .expect("stderr file");
    let child = std::process::Command::new(AGORA)
        .arg("server")
        .args(args)
        // Every client of these tests, thousands of streams among them, comes from 127.0.0.1.
        .args(["--max-connections-per-address", "0"])
        .env("AGORA_LOG", "info")
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(stderr)
        .spawn()
        .expect("agora server starts");
    let url = eventually(DEADLINE, "agora server to listen", || {
        let text = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        async move {
            let line = text.lines().find(|l| l.starts_with("Agora server listening at "))?;
            Some(line.trim_start_matches("Agora server listening at ").trim().to_string())
        }
    })
    .await;
    (child, url)
}

impl Replicas {
    /// Starts Redis (with an AOF fsynced every second) and `n` replicas on it.
    pub async fn start(n: usize, lease_ttl_secs: f64, agent_timeout_secs: f64) -> Replicas {
        let dir = super::task_dir();
        let redis_dir = dir.path().join("redis");
        std::fs::create_dir_all(&redis_dir).expect("redis dir");
        let redis = RedisServer::start(&redis_dir, true).expect("redis-server starts (apt-get install redis-server)");
        let store = format!("{}?prefix=agora-test", redis.url());
        let mut cluster = Replicas {
            dir,
            redis,
            store,
            token: String::new(),
            replicas: Vec::new(),
            lease_ttl: lease_ttl_secs.to_string(),
            agent_timeout: agent_timeout_secs.to_string(),
            agents: Vec::new(),
        };
        for _ in 0..n {
            // One at a time: the first makes the cluster key the others then read.
            cluster.add_replica("127.0.0.1:0").await;
        }
        cluster.token = cluster.issue_token("operator", "admin");
        cluster.wait_for_leader(None).await;
        cluster
    }

    fn server_args(&self, listen: &str) -> Vec<String> {
        let data_dir = self.data_dir().to_str().expect("utf-8 path").to_string();
        [
            "--listen",
            listen,
            "--data-dir",
            &data_dir,
            "--store",
            &self.store,
            "--lease-ttl",
            &self.lease_ttl,
            "--agent-timeout",
            &self.agent_timeout,
            "--heartbeat-interval",
            "1",
        ]
        .map(str::to_string)
        .to_vec()
    }

    async fn add_replica(&mut self, listen: &str) -> usize {
        let index = self.replicas.len();
        let (child, url) = start_server(self.dir.path(), index, &self.server_args(listen)).await;
        let listen = url.trim_start_matches("http://").to_string();
        self.replicas.push(Replica { child: Some(child), paused: false, url, listen });
        index
    }

    /// Starts replica `index` again on its address, after it was killed or stopped.
    pub async fn restart_replica(&mut self, index: usize) {
        let args = self.server_args(&self.replicas[index].listen);
        let (child, url) = start_server(self.dir.path(), index, &args).await;
        assert_eq!(url, self.replicas[index].url);
        self.replicas[index].child = Some(child);
    }

    /// The replicas' data directory (the cluster key), `data/` in the test's directory; agents'
    /// work directories are beside it, where their tasks can reach them.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join(super::DATA_SUBDIR)
    }

    pub fn process(&self, index: usize) -> &Child {
        self.replicas[index].child.as_ref().expect("the replica runs")
    }

    /// Pauses replica `index` (SIGSTOP), as a long GC pause or a frozen VM would.
    pub fn pause_replica(&mut self, index: usize) {
        signal(self.process(index), nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
        self.replicas[index].paused = true;
    }

    pub fn resume_replica(&mut self, index: usize) {
        signal(self.process(index), nix::sys::signal::Signal::SIGCONT).expect("SIGCONT");
        self.replicas[index].paused = false;
    }

    /// SIGKILLs replica `index`.
    pub fn kill_replica(&mut self, index: usize) {
        if let Some(mut child) = self.replicas[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn client(&self, index: usize) -> Client {
        Client::new(&self.replicas[index].url, &self.token).expect("client")
    }

    pub fn client_with(&self, index: usize, token: &str) -> Client {
        Client::new(&self.replicas[index].url, token).expect("client")
    }

    pub async fn cluster_view(&self, index: usize) -> Option<ClusterView> {
        self.client(index).get("/v1/cluster").await.ok()
    }

    /// Waits until every running replica names the same leader, other than `not`; returns it.
    pub async fn wait_for_leader(&self, not: Option<&str>) -> ClusterView {
        eventually(DEADLINE, "the replicas to agree on a leader", || async move {
            let mut views = Vec::new();
            for (i, r) in self.replicas.iter().enumerate() {
                if r.child.is_some() && !r.paused {
                    views.push(self.cluster_view(i).await?);
                }
            }
            let first = views.first()?.clone();
            let agreed = views.iter().all(|v| (v.leader.as_str(), v.epoch) == (first.leader.as_str(), first.epoch));
            (agreed && !first.leader.is_empty() && Some(first.leader.as_str()) != not).then_some(first)
        })
        .await
    }

    /// The index of the replica that leads, by its name.
    pub async fn leader_index(&self) -> usize {
        let leader = self.wait_for_leader(None).await.leader;
        for (i, r) in self.replicas.iter().enumerate() {
            if r.child.is_some() && self.cluster_view(i).await.is_some_and(|v| v.replica == leader) {
                return i;
            }
        }
        panic!("no running replica is the leader {leader}");
    }

    /// Mints a token with `agora token issue` from the replicas' key material.
    pub fn issue_token(&self, kind: &str, name: &str) -> String {
        super::issue_token(&self.data_dir(), kind, name)
    }

    /// Starts `agora agent` against the replica at `masters`.
    pub fn spawn_agent(&mut self, name: &str, resources: &str, masters: &str) -> usize {
        let token = self.issue_token("agent", name);
        let child = super::spawn_agent_process(self.dir.path(), masters, &token, name, resources);
        self.agents.push(child);
        self.agents.len() - 1
    }

    pub fn agent_work_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join("agents").join(name)
    }

    pub fn agent_process(&mut self, index: usize) -> &mut Child {
        &mut self.agents[index]
    }
}

/// A framework that rides out failures as a production framework must: it follows the
/// replicas in its client's list, resumes its stream with `Last-Event-ID`, and registers again
/// under its id when the store has lost it.
pub struct ResilientFramework {
    pub client: Client,
    pub id: agora_api::FrameworkId,
    registration: agora_api::framework::RegisterFramework,
    last_event_id: Option<String>,
    events: Option<agora_client::EventStream>,
    /// Every update received, in order.
    pub updates: Vec<agora_api::TaskStatus>,
}

impl ResilientFramework {
    pub async fn register(client: Client, name: &str) -> ResilientFramework {
        let mut registration = super::registration(name);
        registration.failover_timeout_secs = 600.0;
        let registered: agora_api::framework::FrameworkRegistered =
            client.post("/v1/frameworks", &registration).await.expect("register");
        registration.id = Some(registered.framework_id.clone());
        ResilientFramework {
            client,
            id: registered.framework_id,
            registration,
            last_event_id: None,
            events: None,
            updates: Vec::new(),
        }
    }

    pub fn path(&self, verb: &str) -> String {
        format!("/v1/frameworks/{}/{verb}", self.id)
    }

    /// Opens the stream, resuming after the last event seen; registers again if it is unknown.
    async fn connect(&mut self) {
        let path = self.path("events");
        let until = std::time::Instant::now() + DEADLINE;
        loop {
            match self.client.events(&path, self.last_event_id.as_deref()).await {
                Ok(stream) => {
                    self.events = Some(stream);
                    return;
                }
                Err(e) if e.is_not_found() => {
                    let _ = self.client.post::<_, serde_json::Value>("/v1/frameworks", &self.registration).await;
                }
                Err(_) => {}
            }
            assert!(std::time::Instant::now() < until, "could not open the event stream again");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The next event other than `subscribed` and heartbeats, within [`DEADLINE`]; updates are
    /// also recorded in `updates`.
    pub async fn next_event(&mut self) -> agora_api::framework::FrameworkEvent {
        use agora_api::framework::FrameworkEvent;
        use futures::StreamExt as _;
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            if self.events.is_none() {
                self.connect().await;
            }
            let Some(events) = self.events.as_mut() else { continue };
            let next = tokio::time::timeout_at(until, events.next()).await.expect("an event within the deadline");
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(_)) | None => {
                    self.events = None;
                    continue;
                }
            };
            if !event.id.is_empty() {
                self.last_event_id = Some(event.id.clone());
            }
            match FrameworkEvent::parse(&event.event, &event.data).expect("known event shape") {
                Some(FrameworkEvent::Error(e)) => {
                    assert!(
                        matches!(e.code.as_str(), "unknown_framework" | "store_unavailable"),
                        "the stream ended for good: {e:?}"
                    );
                    self.events = None;
                }
                Some(FrameworkEvent::Update(u)) => {
                    self.updates.push(u.status.clone());
                    return FrameworkEvent::Update(u);
                }
                Some(FrameworkEvent::Heartbeat) | Some(FrameworkEvent::Subscribed(_)) | None => {}
                Some(other) => return other,
            }
        }
    }

    /// Acknowledges an update; a failed acknowledgement is fine, the update comes again.
    pub async fn ack(&self, status: &agora_api::TaskStatus) {
        if let Some(update_id) = &status.update_id {
            let ack = agora_api::framework::Acknowledge {
                task_id: status.task_id.clone(),
                agent_id: status.agent_id.clone(),
                update_id: update_id.clone(),
            };
            let _ = self.client.post_no_content(&self.path("acknowledge"), &ack).await;
        }
    }

    pub async fn launch(
        &self,
        offer: &agora_api::Offer,
        tasks: Vec<agora_api::TaskInfo>,
    ) -> Result<(), agora_client::ClientError> {
        let accept = agora_api::framework::Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![agora_api::framework::Operation::Launch { tasks }],
            filters: Default::default(),
        };
        self.client.post_no_content(&self.path("accept"), &accept).await
    }

    /// The states each task went through, in the order the updates came.
    pub fn states(&self) -> std::collections::BTreeMap<String, Vec<agora_api::TaskState>> {
        let mut states: std::collections::BTreeMap<String, Vec<agora_api::TaskState>> = Default::default();
        for u in &self.updates {
            states.entry(u.task_id.to_string()).or_default().push(u.state);
        }
        states
    }
}

/// Where a state comes in a task's life, for checking that updates arrive in order.
pub fn stage(state: agora_api::TaskState) -> u8 {
    use agora_api::TaskState::*;
    match state {
        Staging => 0,
        Starting => 1,
        Running | Killing | Unreachable | Lost => 2,
        _ => 3,
    }
}

/// Asserts that a task's updates came in order (repeats allowed: delivery is at least once)
/// and that it ended.
pub fn assert_in_order_and_ended(task: &str, states: &[agora_api::TaskState]) {
    assert!(states.windows(2).all(|w| stage(w[0]) <= stage(w[1])), "task {task}: out of order: {states:?}");
    assert!(states.last().is_some_and(|s| s.is_terminal()), "task {task} did not end: {states:?}");
}

/// Sends one command to a Redis server, as `redis-cli` would, and returns its first reply line.
pub fn redis_command(port: u16, args: &[&str]) -> String {
    use std::io::{BufRead as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).expect("send to redis");
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).expect("redis answers");
    line.trim().to_string()
}

/// `INFO section` from a Redis server, as text.
pub fn redis_info(port: u16, section: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to redis");
    let request = format!("*2\r\n$4\r\nINFO\r\n${}\r\n{section}\r\n", section.len());
    stream.write_all(request.as_bytes()).expect("send to redis");
    // A bulk reply: `$LEN\r\n` then LEN bytes.
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("redis answers");
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply).to_string();
        if let Some((head, body)) = text.split_once("\r\n") {
            let len: usize = head.trim_start_matches('$').parse().expect("a bulk reply");
            if body.len() >= len {
                return body[..len].to_string();
            }
        }
        assert!(n > 0, "redis closed the connection");
    }
}
