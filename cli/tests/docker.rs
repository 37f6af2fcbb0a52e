//! The `docker` containerizer end to end: a real `agora dev` (and an `agora agent`) talking
//! to a real Docker daemon, which pulls a busybox image these tests push to a
//! `docker-registry` on loopback.
//!
//! The daemon's socket is `AGORA_TEST_DOCKER_SOCKET` (`.ci/run` starts a `dockerd` of its own
//! and names its socket there), else `/var/run/docker.sock`; the tests skip, saying why, where
//! no daemon answers.

mod common;

use agora_agent::testing::{busybox, busybox_root, Entry, Registry};
use agora_api::containers::{ContainerInfo, NetworkMode, PortMapping, Protocol};
use agora_api::{Containerizer, TaskState};
use common::*;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;

const MARKER: &str = "etc/agora-image";

/// The daemon's socket, if a daemon answers there.
fn docker_socket() -> Option<PathBuf> {
    let socket = std::env::var_os("AGORA_TEST_DOCKER_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
    let answers = std::os::unix::net::UnixStream::connect(&socket).ok().and_then(|mut stream| {
        stream.write_all(b"GET /_ping HTTP/1.0\r\n\r\n").ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.starts_with("HTTP/1.0 200").then_some(())
    });
    if answers.is_none() {
        eprintln!("skipped: no Docker daemon answers at {} (set AGORA_TEST_DOCKER_SOCKET)", socket.display());
        return None;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: not root (the agent runs tasks as another user)");
        return None;
    }
    Some(socket)
}

/// A daemon, a registry holding `tools/busybox:latest`, and the image's reference.
async fn setup() -> Option<(PathBuf, Registry, String)> {
    let socket = docker_socket()?;
    let (registry, busybox) = (Registry::start()?, busybox()?);
    let mut root = busybox_root(busybox);
    root.push(Entry::File(MARKER, b"from the image\n".to_vec(), 0o644));
    let config = serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["echo", "the image's own command"]});
    registry.push_with_config("tools/busybox", &[root], config).await;
    let image = format!("{}/tools/busybox:latest", registry.host);
    Some((socket, registry, image))
}

fn docker_task(agent: &agora_api::AgentId, id: &str, image: &str, line: &str) -> agora_api::TaskInfo {
    shell_task(agent, id, line, 0.2, 32.0).container(ContainerInfo::new(Containerizer::Docker, image))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_tasks_run_their_image_with_its_limits_logs_exit_codes_and_ports() {
    let Some((socket, _registry, image)) = setup().await else { return };
    let socket = socket.display().to_string();
    let args = [
        "--containerizers",
        "process,docker",
        "--docker-socket",
        &socket,
        "--resources",
        "cpus:4,mem:4096,ports:[31920-31929]",
    ];
    let cluster = Cluster::start(&args).await;
    let agents = cluster.cli(&["agents"]).output().expect("agents");
    assert!(String::from_utf8_lossy(&agents.stdout).contains("process,docker"), "{agents:?}");

    let script = format!("cat /{MARKER}; echo uid=$(id -u); touch /written 2>/dev/null || echo root=ro; exit 3");
    let out = cluster
        .cli(&["run", "--image", &image, "--containerizer", "docker", "--", "sh", "-c", &script])
        .output()
        .expect("agora run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in ["from the image", "uid=65534", "root=ro"] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }

    let mut framework = Framework::register(cluster.client(), registration("docker")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();
    let hog = docker_task(&agent, "hog", &image, "head -c 67108864 /dev/zero | tail > /dev/null");
    let mut server =
        docker_task(&agent, "server", &image, "while true; do echo hello-from-docker | nc -l -p 8080; done");
    server.resources.ports = vec![[31925, 31925]];
    // The marker is only in the image: the check passes only if it runs in the container.
    server.health_check = Some(agora_api::HealthCheck {
        check: agora_api::Check::Command(format!("test -e /{MARKER}")),
        delay_secs: 0.0,
        interval_secs: 0.2,
        timeout_secs: 5.0,
        grace_period_secs: 10.0,
        consecutive_failures: 3,
    });
    let container = server.container.as_mut().expect("container");
    container.network = NetworkMode::Bridge;
    container.port_mappings =
        vec![PortMapping { container_port: 8080, host_port: Some(31925), protocol: Protocol::Tcp }];
    framework.launch(&offers[0], vec![hog, server]).await.expect("launch");

    let answer = eventually(DEADLINE, "the server to answer on its published port", || async {
        use tokio::io::AsyncReadExt as _;
        let mut stream = tokio::net::TcpStream::connect("127.0.0.1:31925").await.ok()?;
        let mut text = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(2), stream.read_to_string(&mut text)).await.ok()?.ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert_eq!(answer, "hello-from-docker\n");
    // Every update is read here: the hog's end may come before the server's health.
    let mut ended = std::collections::BTreeMap::new();
    let mut healthy = None;
    let health = async {
        while healthy.is_none() || !ended.contains_key("hog") {
            if let agora_api::framework::FrameworkEvent::Update(u) = framework.next_event().await {
                framework.ack(&u.status).await;
                if u.status.state.is_terminal() {
                    ended.insert(u.status.task_id.to_string(), u.status.clone());
                }
                if u.status.task_id.as_str() == "server" && u.status.healthy.is_some() {
                    healthy = u.status.healthy;
                }
            }
        }
    };
    if tokio::time::timeout(DEADLINE, health).await.is_err() {
        panic!("no health reported for the server, or no end for the hog:\n{}", cluster.dev_stderr());
    }
    assert_eq!(healthy, Some(true), "{}", cluster.dev_stderr());
    let hog = &ended["hog"];
    assert_eq!(hog.state, TaskState::Failed, "{hog:?}");
    assert_eq!(hog.reason.as_deref(), Some("container_limitation_memory"), "{hog:?}");
    let kill = agora_api::framework::Kill { grace_period_secs: Some(1.0) };
    let path = format!("/v1/frameworks/{}/tasks/server/kill", framework.id);
    framework.client.post_no_content(&path, &kill).await.expect("kill");
    let server = framework.terminal("server").await;
    assert_eq!(server.state, TaskState::Killed, "{server:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_and_restarted_finds_its_docker_container_by_name() {
    let Some((socket, _registry, image)) = setup().await else { return };
    let socket = socket.display().to_string();
    let mut cluster = Cluster::start(&[]).await;
    let extra = ["--containerizers", "process,docker", "--docker-socket", socket.as_str()];
    let index = cluster.spawn_agent_with("docked", "cpus:1,mem:512", &extra);
    cluster.wait_for_agents(2).await;
    let mut framework = Framework::register(cluster.client(), registration("survivor")).await;
    let offer = offer_where(&framework, "an offer of the agent", |o| o.hostname == "docked").await;
    let line = "until [ -e /mnt/sandbox/go ]; do sleep 0.1; done; exit 7";
    framework.launch(&offer, vec![docker_task(&offer.agent_id, "survivor", &image, line)]).await.expect("launch");
    while framework.update("survivor", true).await.state != TaskState::Running {}

    cluster.kill_agent(index);
    cluster.restart_agent(index, "docked", "cpus:1,mem:512", &extra);
    let stderr = cluster.scratch().join("docked.stderr");
    eventually(DEADLINE, "the restarted agent to re-attach", || async {
        std::fs::read_to_string(&stderr)
            .unwrap_or_default()
            .contains("re-attaching to a docker container")
            .then_some(())
    })
    .await;
    let sandbox = cluster.agent_work_dir("docked").join("sandboxes").join(framework.id.as_str()).join("survivor");
    std::fs::write(sandbox.join("go"), "").expect("tell the task to end");
    let status = framework.terminal("survivor").await;
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert_eq!((status.state, status.exit_code), (TaskState::Failed, Some(7)), "{status:?}\n{log}");
}
