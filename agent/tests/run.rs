//! The agent loop against a fake master: registration, the command stream with resumption,
//! status updates with retries and acknowledgements, re-registration after a 404, the
//! `shutdown` command and a graceful stop. The fake master speaks just enough HTTP/1.1 (one
//! request per connection) to stay free of server dependencies.

use agora_agent::{run, AgentConfig};
use agora_api::agent::{AgentRegistered, RegisterAgent, StatusUpdates};
use agora_api::{Resources, TaskState, TaskStatus, UpdateId};
use serde_json::json;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

const TOKEN: &str = "s3cret";
const DEADLINE: Duration = Duration::from_secs(20);

/// What the fake master has been asked. Each update of a batch is seen on its own, in order.
#[derive(Debug)]
enum Seen {
    Register { body: RegisterAgent, authorization: String },
    Stream { agent: String, last_event_id: Option<String> },
    Update(TaskStatus),
    Log { request_id: String, query: String, body: Vec<u8> },
}

#[derive(Default)]
struct Shared {
    /// Writes to the open command stream; taking it closes the stream.
    stream: Mutex<Option<mpsc::UnboundedSender<String>>>,
    forget_next_heartbeat: AtomicBool,
    minted: AtomicU32,
}

/// Requests in arrival order; a wait for one kind keeps the others for later waits.
struct Inbox {
    rx: mpsc::UnboundedReceiver<Seen>,
    backlog: VecDeque<Seen>,
}

impl Inbox {
    /// The first request, old or new, that `pick` accepts.
    async fn next<T>(&mut self, what: &str, mut pick: impl FnMut(&Seen) -> Option<T>) -> T {
        let end = Instant::now() + DEADLINE;
        let mut looked = 0;
        loop {
            if let Some((i, found)) =
                self.backlog.iter().enumerate().skip(looked).find_map(|(i, s)| Some((i, pick(s)?)))
            {
                self.backlog.remove(i);
                return found;
            }
            looked = self.backlog.len();
            match tokio::time::timeout_at(end, self.rx.recv()).await {
                Ok(Some(seen)) => self.backlog.push_back(seen),
                Ok(None) => panic!("the fake master stopped while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }
}

struct Master {
    url: String,
    shared: Arc<Shared>,
    inbox: Inbox,
    /// Update ids already returned by `update`, so that resends are not taken for new updates.
    known: HashSet<UpdateId>,
    next_event_id: u32,
}

impl Master {
    async fn start() -> Master {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("has an address"));
        let shared = Arc::new(Shared::default());
        let (seen_tx, rx) = mpsc::unbounded_channel();
        let server_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, server_shared.clone(), seen_tx.clone()));
            }
        });
        let inbox = Inbox { rx, backlog: VecDeque::new() };
        Master { url, shared, inbox, known: HashSet::new(), next_event_id: 0 }
    }

    async fn registration(&mut self) -> (RegisterAgent, String) {
        self.inbox
            .next("a registration", |s| match s {
                Seen::Register { body, authorization } => Some((body.clone(), authorization.clone())),
                _ => None,
            })
            .await
    }

    async fn stream_opened(&mut self) -> (String, Option<String>) {
        self.inbox
            .next("the command stream", |s| match s {
                Seen::Stream { agent, last_event_id } => Some((agent.clone(), last_event_id.clone())),
                _ => None,
            })
            .await
    }

    /// The next update about `task` that is not a resend of one already returned.
    async fn update(&mut self, task: &str) -> TaskStatus {
        let known = &self.known;
        let found = self
            .inbox
            .next(&format!("an update for {task}"), |s| match s {
                Seen::Update(u)
                    if u.task_id.as_str() == task && !u.update_id.as_ref().is_some_and(|id| known.contains(id)) =>
                {
                    Some(u.clone())
                }
                _ => None,
            })
            .await;
        self.known.extend(found.update_id.clone());
        found
    }

    /// Whether an update about `task` that `update` has not returned yet has arrived.
    fn has_new_update(&mut self, task: &str) -> bool {
        while let Ok(seen) = self.inbox.rx.try_recv() {
            self.inbox.backlog.push_back(seen);
        }
        self.inbox.backlog.iter().any(|s| {
            matches!(s, Seen::Update(u) if u.task_id.as_str() == task
                && !u.update_id.as_ref().is_some_and(|id| self.known.contains(id)))
        })
    }

    /// A resend of `status`, with the same update id.
    async fn resend(&mut self, status: &TaskStatus) -> TaskStatus {
        self.inbox
            .next("a resend", |s| match s {
                Seen::Update(u) if u.update_id == status.update_id => Some(u.clone()),
                _ => None,
            })
            .await
    }

    fn send(&mut self, event: &str, data: serde_json::Value) -> String {
        self.next_event_id += 1;
        let id = self.next_event_id.to_string();
        let text = format!("id: {id}\nevent: {event}\ndata: {data}\n\n");
        let sent = self.shared.stream.lock().ok().and_then(|s| s.as_ref().map(|tx| tx.send(text).is_ok()));
        assert_eq!(sent, Some(true), "no command stream is open");
        id
    }

    fn launch(&mut self, task: &str, shell: &str) {
        let task = json!({
            "task_id": task, "agent_id": "ignored", "resources": {"cpus": 0.1, "mem": 16, "ports": [[31000, 31001]]},
            "command": {"shell": shell}, "kill_grace_period_secs": 1.0,
        });
        self.send("launch", json!({"framework_id": "fw", "task": task}));
    }

    fn ack(&mut self, status: &TaskStatus) {
        let update_id = status.update_id.clone().expect("updates carry ids");
        self.send("acknowledge", json!({"framework_id": "fw", "task_id": status.task_id, "update_id": update_id}));
    }

    fn close_stream(&self) {
        self.shared.stream.lock().ok().map(|mut s| s.take());
    }
}

async fn serve(socket: TcpStream, shared: Arc<Shared>, seen: mpsc::UnboundedSender<Seen>) {
    let mut reader = BufReader::new(socket);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let mut parts = head.first().map(|l| l.split(' ')).into_iter().flatten();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let header = |name: &str| {
        head.iter().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let authorization = header("authorization").unwrap_or_default();
    let mut socket = reader.into_inner();
    if authorization != format!("Bearer {TOKEN}") {
        return respond(&mut socket, 401, r#"{"code":"unauthorized","message":"bad token"}"#).await;
    }
    let (path, query) = path.split_once('?').unwrap_or((path.as_str(), ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "agents"]) => {
            let Ok(register) = serde_json::from_slice::<RegisterAgent>(&body) else {
                return respond(&mut socket, 400, r#"{"code":"bad_request","message":"bad body"}"#).await;
            };
            let id = match &register.agent_id {
                Some(id) => id.to_string(),
                None => format!("agent-{}", shared.minted.fetch_add(1, Ordering::SeqCst) + 1),
            };
            let _ = seen.send(Seen::Register { body: register, authorization });
            let answer = AgentRegistered { agent_id: id.as_str().into(), heartbeat_interval_secs: 0.1 };
            respond(&mut socket, 200, &serde_json::to_string(&answer).unwrap_or_default()).await;
        }
        ("GET", ["v1", "agents", agent, "commands"]) => {
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            if let Ok(mut stream) = shared.stream.lock() {
                *stream = Some(tx);
            }
            let _ = seen.send(Seen::Stream { agent: agent.to_string(), last_event_id: header("last-event-id") });
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            while let Some(event) = rx.recv().await {
                if socket.write_all(event.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
        ("POST", ["v1", "agents", _, "heartbeat"]) => {
            if shared.forget_next_heartbeat.swap(false, Ordering::SeqCst) {
                respond(&mut socket, 404, r#"{"code":"unknown_agent","message":"who?"}"#).await;
            } else {
                respond(&mut socket, 204, "").await;
            }
        }
        ("POST", ["v1", "agents", _, "updates"]) => {
            let Ok(updates) = serde_json::from_slice::<StatusUpdates>(&body) else {
                return respond(&mut socket, 400, r#"{"code":"bad_request","message":"bad body"}"#).await;
            };
            for update in updates.updates {
                let _ = seen.send(Seen::Update(update));
            }
            respond(&mut socket, 202, "").await;
        }
        ("POST", ["v1", "agents", _, "logs", request_id]) => {
            let _ = seen.send(Seen::Log { request_id: request_id.to_string(), query: query.to_string(), body });
            respond(&mut socket, 204, "").await;
        }
        _ => respond(&mut socket, 404, r#"{"code":"not_found","message":"no route"}"#).await,
    }
}

async fn respond(socket: &mut TcpStream, status: u16, body: &str) {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = socket.write_all(head.as_bytes()).await;
    let _ = socket.write_all(body.as_bytes()).await;
    let _ = socket.shutdown().await;
}

fn config(master: &str, work_dir: &Path) -> AgentConfig {
    AgentConfig {
        master: master.to_string(),
        token: TOKEN.to_string(),
        work_dir: work_dir.to_path_buf(),
        resources: Resources::new(2.0, 1024.0),
        reserved: BTreeMap::new(),
        attributes: BTreeMap::from([("rack".to_string(), "r1".to_string())]),
        hostname: "test-host".to_string(),
        tls: Default::default(),
        task_users: Default::default(),
        status_retry_secs: 0.2,
        isolation: Default::default(),
        sandbox_gc: Default::default(),
        gpus: Vec::new(),
        metrics_listen: None,
        containers: Default::default(),
        registered: None,
        kill_tasks_on_exit: true,
    }
}

/// A work directory tasks can enter: run as root, the agent runs them as `nobody`, and they
/// write pid files here.
fn task_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The pid a task wrote to `path`, once it has.
async fn pid_in(path: &Path) -> i32 {
    eventually("a task's pid file", || read(path).ends_with('\n')).await;
    read(path).trim().parse().expect("a pid")
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn the_agent_follows_the_protocol() {
    let work = task_dir();
    let mut master = Master::start().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(run(config(&master.url, work.path()), async {
        let _ = stopped.await;
    }));

    // First registration: no id yet, the token as a bearer token, the configured resources.
    let (register, authorization) = master.registration().await;
    assert_eq!(authorization, format!("Bearer {TOKEN}"));
    assert_eq!(register.agent_id, None);
    assert_eq!((register.hostname.as_str(), register.resources.cpus), ("test-host", 2.0));
    assert!(register.tasks.is_empty());
    assert_eq!(master.stream_opened().await, ("agent-1".to_string(), None));
    eventually("the saved agent id", || read(&work.path().join("agent_id")) == "agent-1\n").await;

    // A failing task: its terminal update waits for the ack of `running`, which is resent
    // with the same id until then.
    master.launch("exits", "echo out; exit 3");
    let running = master.update("exits").await;
    assert_eq!((running.state, running.agent_id.as_str()), (TaskState::Running, "agent-1"));
    let again = master.resend(&running).await;
    assert_eq!(again.state, TaskState::Running);
    // A duplicate launch changes nothing.
    master.launch("exits", "echo out; exit 3");
    master.ack(&running);
    let failed = master.update("exits").await;
    assert_eq!((failed.state, failed.exit_code), (TaskState::Failed, Some(3)));
    assert_eq!(failed.message.as_deref(), Some("exited with code 3"));
    master.ack(&failed);

    // A replayed launch of the ended task does not run it again: had it, its `running` would
    // have been sent no later than that of a task launched after it.
    master.launch("exits", "echo out; exit 3");
    master.launch("probe", "true");
    let probe = master.update("probe").await;
    assert_eq!(probe.state, TaskState::Running);
    assert!(!master.has_new_update("exits"), "a replayed launch ran the task again");

    // Its output, read through the master.
    let read_log = json!({"request_id": "r1", "framework_id": "fw", "task_id": "exits", "stream": "stdout",
                      "offset": 1, "max_bytes": 100, "wait_secs": 5.0});
    master.send("read_log", read_log);
    let log = master
        .inbox
        .next("a log chunk", |s| match s {
            Seen::Log { request_id, query, body } => Some((request_id.clone(), query.clone(), body.clone())),
            _ => None,
        })
        .await;
    assert_eq!(
        log,
        ("r1".to_string(), "offset=1&found=true&task_ended=true&refused=false".to_string(), b"ut\n".to_vec())
    );

    // A broken stream resumes after the last event seen.
    master.close_stream();
    assert_eq!(master.stream_opened().await, ("agent-1".to_string(), Some(master.next_event_id.to_string())));

    // A long task, reported at re-registration after the master forgets the agent.
    master.launch("sleeper", "echo $$ > pid; exec sleep 1000");
    let sleeper_running = master.update("sleeper").await;
    master.ack(&sleeper_running);
    master.shared.forget_next_heartbeat.store(true, Ordering::SeqCst);
    let (register, _) = master.registration().await;
    assert_eq!(register.agent_id.as_ref().map(|id| id.as_str()), Some("agent-1"));
    // Running tasks are reported, and ended ones whose last update is not yet acknowledged.
    let running: Vec<&str> =
        register.tasks.iter().filter(|t| !t.status.state.is_terminal()).map(|t| t.task.task_id.as_str()).collect();
    assert_eq!(running, vec!["sleeper"]);
    assert!(register.tasks.iter().all(|t| t.task.task_id.as_str() == "sleeper" || t.status.state.is_terminal()));
    assert_eq!(master.stream_opened().await, ("agent-1".to_string(), None));

    // Kill: SIGTERM ends `sleep`, reported as killed.
    let sandbox = work.path().join("sandboxes/fw/sleeper");
    let pid = pid_in(&sandbox.join("pid")).await;
    master.send("kill", json!({"framework_id": "fw", "task_id": "sleeper", "grace_period_secs": 5.0}));
    let killed = master.update("sleeper").await;
    assert_eq!((killed.state, killed.reason.as_deref()), (TaskState::Killed, Some("killed_by_framework")));
    assert!(is_gone(pid));
    master.ack(&killed);

    // Shutdown: tasks die unreported and the agent comes back as a new one.
    master.launch("doomed", "echo $$ > pid; exec sleep 1000");
    let doomed_running = master.update("doomed").await;
    master.ack(&doomed_running);
    let doomed_pid = pid_in(&work.path().join("sandboxes/fw/doomed/pid")).await;
    master.send("shutdown", json!({}));
    let (register, _) = master.registration().await;
    assert_eq!(register.agent_id, None);
    assert!(register.tasks.is_empty());
    assert_eq!(master.stream_opened().await, ("agent-2".to_string(), None));
    eventually("the doomed task to die", || is_gone(doomed_pid)).await;
    eventually("the new agent id", || read(&work.path().join("agent_id")) == "agent-2\n").await;

    // Graceful stop: the running task is killed and its end sent once more on the way out.
    master.launch("last", "echo $$ > pid; exec sleep 1000");
    let last_running = master.update("last").await;
    assert_eq!(last_running.agent_id.as_str(), "agent-2");
    master.ack(&last_running);
    let last_pid = pid_in(&work.path().join("sandboxes/fw/last/pid")).await;
    let _ = stop.send(());
    let result = tokio::time::timeout(DEADLINE, agent).await.expect("stops in time").expect("joins");
    assert!(result.is_ok(), "{result:?}");
    assert!(is_gone(last_pid));
    let last = master.update("last").await;
    assert_eq!(last.state, TaskState::Killed);
    assert_eq!(read(&work.path().join("agent_id")), "agent-2\n");
}

#[tokio::test]
async fn an_unreachable_master_is_retried_until_stopped() {
    let work = task_dir();
    // A master that hangs up on every connection.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(run(config(&url, work.path()), async {
        let _ = stopped.await;
    }));
    for _ in 0..3 {
        let accepted = tokio::time::timeout(DEADLINE, listener.accept()).await.expect("the agent tries again");
        drop(accepted.expect("accepts"));
    }
    assert!(!agent.is_finished());
    let _ = stop.send(());
    let result = tokio::time::timeout(DEADLINE, agent).await.expect("stops in time").expect("joins");
    assert!(result.is_ok(), "{result:?}");
    assert!(!work.path().join("agent_id").exists());
}

#[tokio::test]
async fn a_bad_configuration_is_an_error() {
    let work = task_dir();
    let mut bad = config("not a url", work.path());
    assert!(run(bad.clone(), async {}).await.is_err());
    bad = config("http://127.0.0.1:1", work.path());
    bad.status_retry_secs = 0.0;
    assert!(run(bad, async {}).await.is_err());
}
