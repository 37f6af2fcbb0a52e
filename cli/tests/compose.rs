//! docker/compose.yaml end to end, on the Docker daemon of `AGORA_TEST_DOCKER_SOCKET` (`.ci/run`
//! starts one): the images built from this test's `agora` (`.ci/compose-images`, which also
//! makes the base and the Redis, HAProxy and Prometheus images from Debian's packages where no
//! registry can be reached), the cluster up under a project name of its own, a task run
//! through the balancer, the leading replica's container stopped, another task run, and
//! Prometheus's view of its targets. It skips, saying why, without the daemon, debootstrap or
//! Docker Compose v2 (`.ci/compose-images --install-tools` installs both).

mod common;

use agora_api::operator::{AgentList, AgentState, ClusterView};
use agora_client::Client;
use common::{eventually, repo, AGORA};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the cluster may take to come up, or to settle after a replica stops: nine
/// containers start on a small machine, and Prometheus scrapes every 5 s.
const SETTLE: Duration = Duration::from_secs(90);
/// How long one `agora run` of a short task may take, through the balancer.
const RUN: Duration = Duration::from_secs(60);
/// The replicas and agents of docker/compose.yaml, which docker/prometheus/prometheus.yml
/// must scrape.
const SERVERS: [&str; 3] = ["server1", "server2", "server3"];
const AGENTS: [&str; 2] = ["agent1", "agent2"];

/// `DOCKER_HOST` for the test's daemon, if one is named.
fn docker_host() -> Option<String> {
    let Some(socket) = std::env::var_os("AGORA_TEST_DOCKER_SOCKET") else {
        eprintln!("skipped: AGORA_TEST_DOCKER_SOCKET is not set (.ci/run starts a dockerd and names its socket there)");
        return None;
    };
    Some(format!("unix://{}", Path::new(&socket).display()))
}

/// Whether `program` is on the PATH (or in the sbin directories, where debootstrap lives).
fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .any(|dir| dir.join(program).is_file())
}

/// Docker Compose v2 or later, as a command line: `AGORA_COMPOSE`, else `docker compose`, else
/// the one `.ci/compose-images --install-tools` puts in ~/.cache/agora-compose, else
/// `docker-compose` on the PATH.
fn compose_program() -> Option<Vec<String>> {
    let mut candidates: Vec<Vec<String>> = Vec::new();
    if let Ok(line) = std::env::var("AGORA_COMPOSE") {
        candidates.push(line.split_whitespace().map(String::from).collect());
    }
    candidates.push(vec!["docker".into(), "compose".into()]);
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(vec![Path::new(&home).join(".cache/agora-compose/bin/docker-compose").display().to_string()]);
    }
    candidates.push(vec!["docker-compose".into()]);
    for program in candidates {
        let Some((first, rest)) = program.split_first() else { continue };
        let Ok(out) = Command::new(first).args(rest).args(["version", "--short"]).output() else { continue };
        let version = String::from_utf8_lossy(&out.stdout).trim().trim_start_matches('v').to_string();
        let major = version.split('.').next().and_then(|m| m.parse::<u32>().ok());
        if out.status.success() && major.is_some_and(|m| m >= 2) {
            eprintln!("compose: {} (version {version})", program.join(" "));
            return Some(program);
        }
    }
    eprintln!(
        "skipped: no Docker Compose v2 (`docker compose`, or ~/.cache/agora-compose/bin/docker-compose from \
         `.ci/compose-images --install-tools`, or a command line in AGORA_COMPOSE)"
    );
    None
}

/// Whether the daemon can make privileged containers. Not where its own capabilities are
/// bounded (a sandbox without CAP_SYS_RESOURCE, as some CI machines are): the agents then run
/// unprivileged, and so their tasks without cgroups.
fn privileged_containers(docker_host: &str) -> bool {
    Command::new("docker")
        .args(["run", "--rm", "--privileged", "--network", "none", "debian:bookworm-slim", "true"])
        .env("DOCKER_HOST", docker_host)
        .output()
        .is_ok_and(|out| out.status.success())
}

/// One compose project: docker/compose.yaml under a name of its own. Dropped, it goes down with
/// its volumes (after printing its containers' logs, if the test failed).
struct Compose {
    program: Vec<String>,
    project: String,
    env: Vec<(String, String)>,
}

impl Compose {
    fn command(&self, args: &[&str]) -> Command {
        let (first, rest) = self.program.split_first().expect("a compose program");
        let mut command = Command::new(first);
        command
            .args(rest)
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(repo().join("docker/compose.yaml"))
            .args(args)
            .env_remove("COMPOSE_PROFILES")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        command
    }

    /// Runs `compose ARGS`, which must succeed; returns what it printed on stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("compose runs");
        assert!(
            out.status.success(),
            "compose {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The host address (`127.0.0.1:PORT`) where `service` publishes `port`.
    fn published(&self, service: &str, port: u16) -> String {
        let address = self.run(&["port", service, &port.to_string()]).trim().to_string();
        assert!(address.starts_with("127.0.0.1:"), "{service}:{port} is published at {address:?}");
        address
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for args in [&["ps", "--all"][..], &["logs", "--no-color", "--tail", "30"][..]] {
                if let Ok(out) = self.command(args).output() {
                    eprintln!(
                        "compose {args:?}:\n{}{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        let started = Instant::now();
        match self.command(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]).output() {
            Ok(out) if out.status.success() => eprintln!("compose down took {:?}", started.elapsed()),
            Ok(out) => eprintln!("compose down failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => eprintln!("compose down did not run: {e}"),
        }
    }
}

/// `agora run` of `line` through the balancer, as any user of the cluster would.
async fn run_task(url: &str, token: &str, line: &str) -> Output {
    let run = tokio::process::Command::new(AGORA)
        .args(["run", "--addr", url, "--cpus", "0.1", "--mem", "32", "--", "sh", "-c", line])
        .env("AGORA_TOKEN", token)
        .env_remove("AGORA_TOKEN_FILE")
        .env_remove("AGORA_DATA_DIR")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(RUN, run)
        .await
        .unwrap_or_else(|_| panic!("`agora run` of {line:?} did not end within {RUN:?}"))
        .expect("agora run starts")
}

/// The host part of a target's `instance` label (`server1:5050`).
fn host(instance: &str) -> &str {
    instance.split(':').next().unwrap_or_default()
}

/// Waits until Prometheus scrapes every replica and agent, and every target is up but those
/// of `stopped`, which must be down.
async fn prometheus_sees(prometheus: &str, stopped: Option<&str>) {
    let what = match stopped {
        Some(service) => format!("Prometheus to see {service} down and every other target up"),
        None => "Prometheus to see every target up".to_string(),
    };
    let last = &std::sync::Mutex::new(String::new());
    let url = &format!("{prometheus}/api/v1/targets?state=active");
    eventually(SETTLE, &what, || async move {
        let answer: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
        let mut health = BTreeMap::new();
        for target in answer["data"]["activeTargets"].as_array()? {
            let instance = target["labels"]["instance"].as_str()?.to_string();
            health.insert(instance, target["health"].as_str()?.to_string());
        }
        let summary = format!("{health:?}");
        let mut seen = last.lock().expect("lock");
        if *seen != summary {
            eprintln!("prometheus targets: {summary}");
            *seen = summary;
        }
        let hosts: BTreeSet<&str> = health.keys().map(|i| host(i)).collect();
        let all_scraped = SERVERS.iter().chain(&AGENTS).all(|h| hosts.contains(h));
        let as_expected = health.iter().all(|(instance, state)| match Some(host(instance)) == stopped {
            true => state == "down",
            false => state == "up",
        });
        (all_scraped && as_expected).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_cluster_runs_tasks_through_its_balancer_and_outlives_its_leader() {
    let Some(docker_host) = docker_host() else { return };
    if !installed("docker") {
        eprintln!("skipped: the docker CLI is missing (apt-get install docker.io)");
        return;
    }
    if !installed("debootstrap") {
        eprintln!("skipped: debootstrap is missing (apt-get install debootstrap): it makes the images' base");
        return;
    }
    let Some(program) = compose_program() else { return };
    let started = Instant::now();

    // The images, with this test's binary in Agora's.
    let images = Command::new(repo().join(".ci/compose-images"))
        .env("DOCKER_HOST", &docker_host)
        .env("AGORA_BIN", AGORA)
        .env("AGORA_IMAGE_TAG", "compose-test")
        .stderr(Stdio::inherit())
        .output()
        .expect(".ci/compose-images runs");
    assert!(images.status.success(), ".ci/compose-images failed");
    let mut env: Vec<(String, String)> = String::from_utf8_lossy(&images.stdout)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(env.iter().any(|(k, _)| k == "AGORA_SERVER_IMAGE"), "{env:?}");
    eprintln!("images ready after {:?}", started.elapsed());
    env.extend(
        [
            ("DOCKER_HOST", docker_host.as_str()),
            ("AGORA_BIND", "127.0.0.1"),
            ("AGORA_PORT", "0"),
            ("PROMETHEUS_PORT", "0"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    if !privileged_containers(&docker_host) {
        eprintln!(
            "note: this Docker daemon cannot make privileged containers: the agents run without (and without cgroups)"
        );
        env.push(("AGORA_AGENT_PRIVILEGED".into(), "false".into()));
    }

    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").subsec_nanos();
    let compose = Compose { program, project: format!("agora-test-{}-{nanos}", std::process::id()), env };
    compose.run(&["up", "--detach"]);
    eprintln!("compose up returned after {:?}", started.elapsed());
    let url = format!("http://{}", compose.published("lb", 8080));
    let prometheus = format!("http://{}", compose.published("prometheus", 9090));
    // An operator token, minted in a replica's container from the cluster key they share.
    let token = compose
        .run(&["exec", "-T", "server1", "agora", "token", "issue", "--kind", "operator", "--name", "compose-test"])
        .trim()
        .to_string();
    assert!(!token.is_empty(), "no token");
    let client = Client::new(&url, &token).expect("client");

    let agents = eventually(SETTLE, "both agents to register, as seen through the balancer", || {
        let client = client.clone();
        async move {
            let list: AgentList = client.get("/v1/agents").await.ok()?;
            let active: BTreeSet<String> =
                list.agents.into_iter().filter(|a| a.state == AgentState::Active).map(|a| a.hostname).collect();
            (active.len() == AGENTS.len()).then_some(active)
        }
    })
    .await;
    assert_eq!(agents, AGENTS.map(String::from).into(), "the agents register under their containers' hostnames");
    prometheus_sees(&prometheus, None).await;
    eprintln!("cluster up and scraped after {:?}", started.elapsed());

    // A task, through the balancer: its output and exit code come back.
    let first = run_task(&url, &token, "echo hello from $(hostname) as $(id -un); exit 3").await;
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(3), "{stdout}{}", String::from_utf8_lossy(&first.stderr));
    assert!(
        AGENTS.iter().any(|a| stdout.contains(&format!("hello from {a} as nobody"))),
        "the task ran as nobody on an agent: {stdout:?}"
    );

    // The leading replica's container stops; another replica takes the lease.
    let view: ClusterView = client.get("/v1/cluster").await.expect("the cluster view");
    let leader = host(&view.leader).to_string();
    assert!(SERVERS.contains(&leader.as_str()), "the leader is a replica named after its container: {view:?}");
    compose.run(&["stop", "--timeout", "10", &leader]);
    eprintln!("stopped {leader}, the leader, after {:?}", started.elapsed());
    let successor = eventually(SETTLE, "another replica to lead", || {
        let client = client.clone();
        let leader = leader.clone();
        async move {
            let view: ClusterView = client.get("/v1/cluster").await.ok()?;
            let now = host(&view.leader).to_string();
            (SERVERS.contains(&now.as_str()) && now != leader).then_some(now)
        }
    })
    .await;
    eprintln!("{successor} leads after {:?}", started.elapsed());

    // Another task, through the same balancer, which no longer sends anything to the stopped one.
    let second = run_task(&url, &token, "echo hello again from $(hostname)").await;
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}{}", String::from_utf8_lossy(&second.stderr));
    assert!(AGENTS.iter().any(|a| stdout.contains(&format!("hello again from {a}"))), "{stdout:?}");

    prometheus_sees(&prometheus, Some(&leader)).await;
    eprintln!("done after {:?}", started.elapsed());
}
