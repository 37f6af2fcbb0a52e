//! Image tasks end to end: a real `agora dev` (and `agora agent` processes) with the `oci`
//! containerizer, Debian's `runc`, and a `docker-registry` on loopback serving a busybox image
//! these tests build from Debian's `busybox-static` and push with the registry client.
//!
//! They need root (runc and overlay mounts), `runc`, `docker-registry` and `/bin/busybox`;
//! each test says why it skips where one is missing.

mod common;

use agora_agent::testing::{busybox, busybox_root, Entry, Registry};
use agora_api::containers::ContainerInfo;
use agora_api::{Containerizer, TaskState};
use common::*;
use std::path::Path;

/// A file only the image has: a task that reads it runs on the image's root.
const MARKER: &str = "etc/agora-image";

/// Why this host cannot run these tests, if it cannot.
fn missing() -> Option<&'static str> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("not root: runc and overlay mounts need it");
    }
    if std::process::Command::new("runc").arg("--version").output().map_or(true, |o| !o.status.success()) {
        return Some("runc is not installed (apt-get install runc)");
    }
    None
}

/// A registry holding `tools/busybox:latest`, and the image's reference; `None` (with the
/// reason printed) where this host cannot run image tasks.
async fn registry_with_busybox() -> Option<(Registry, String, String)> {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return None;
    }
    let (registry, busybox) = (Registry::start()?, busybox()?);
    let mut root = busybox_root(busybox);
    root.push(Entry::File(MARKER, b"from the image\n".to_vec(), 0o644));
    let config =
        serde_json::json!({"Env": ["PATH=/bin", "FROM_IMAGE=yes"], "Cmd": ["echo", "the image's own command"]});
    let digest = registry.push_with_config("tools/busybox", &[root], config).await;
    let image = format!("{}/tools/busybox:latest", registry.host);
    Some((registry, image, digest))
}

/// `agora dev` whose agent runs images from `registry` (plain HTTP on loopback).
async fn cluster(registry: &Registry) -> Cluster {
    Cluster::start(&["--containerizers", "process,oci", "--insecure-registries", &registry.host]).await
}

fn image_task(agent: &agora_api::AgentId, id: &str, image: &str, line: &str, mem: f64) -> agora_api::TaskInfo {
    shell_task(agent, id, line, 0.2, mem).container(ContainerInfo::new(Containerizer::Oci, image))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agora_run_runs_a_command_in_an_image_on_its_root_with_its_own_pids() {
    let Some((registry, image, _)) = registry_with_busybox().await else { return };
    let cluster = cluster(&registry).await;

    let agents = cluster.cli(&["agents"]).output().expect("agents");
    assert!(stdout(&agents).contains("process,oci"), "{}", stdout(&agents));

    // The image's file, its environment, the default task user, a pid namespace of its own
    // (its shell is pid 1, and `ps` sees nothing of the host), a read-only root, a writable
    // sandbox at /mnt/sandbox, and the exit code.
    let script = format!(
        "cat /{MARKER}; echo env=$FROM_IMAGE; echo uid=$(id -u); echo pid=$$; echo procs=$(ps -o pid= | wc -l); \
         touch /written 2>/dev/null && echo root=rw || echo root=ro; \
         touch $AGORA_SANDBOX/written && echo sandbox=$AGORA_SANDBOX; exit 3"
    );
    let out = cluster.cli(&["run", "--image", &image, "--", "sh", "-c", &script]).output().expect("agora run");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in ["from the image", "env=yes", "uid=65534", "pid=1", "root=ro", "sandbox=/mnt/sandbox"] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    let procs: usize =
        text.lines().find_map(|l| l.strip_prefix("procs=")).and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!((1..=4).contains(&procs), "the container sees {procs} processes:\n{text}");
    assert!(!Path::new("/written").exists());

    // Without a command, the image's own runs.
    let out = cluster.cli(&["run", "--image", &image]).output().expect("agora run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out), "the image's own command\n");
    // The container is gone with its task: no bundle, no mount.
    let containers = cluster.scratch().join(DEV_AGENT_SUBDIR).join("containers");
    eventually(DEADLINE, "the containers to be removed", || async {
        (std::fs::read_dir(&containers).map(|d| d.count()).unwrap_or(0) == 0).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_pulled_by_digest_and_a_missing_image_fails_the_task() {
    let Some((registry, _, digest)) = registry_with_busybox().await else { return };
    let cluster = cluster(&registry).await;
    let mut framework = Framework::register(cluster.client(), registration("images")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();
    let by_digest = format!("{}/tools/busybox@{digest}", registry.host);
    let missing = format!("{}/tools/none:latest", registry.host);
    let mut no_program = image_task(&agent, "no-program", &by_digest, "", 32.0);
    no_program.command = agora_api::Command::Argv(vec!["/no/such/program".to_string()]);
    let tasks = vec![
        image_task(&agent, "by-digest", &by_digest, &format!("test -e /{MARKER}"), 32.0),
        image_task(&agent, "missing", &missing, "true", 32.0),
        no_program,
    ];
    framework.launch(&offers[0], tasks).await.expect("launch");
    let ended = framework.terminals(3).await;
    let by_digest = &ended["by-digest"];
    assert_eq!((by_digest.state, by_digest.exit_code), (TaskState::Finished, Some(0)), "{by_digest:?}");
    let missing = &ended["missing"];
    assert_eq!(missing.state, TaskState::Failed, "{missing:?}");
    assert_eq!(missing.reason.as_deref(), Some("image_pull_failed"), "{missing:?}");
    assert!(missing.message.as_deref().unwrap_or("").contains("tools/none"), "{missing:?}");
    // A program the image lacks: runc's own error says so.
    let no_program = &ended["no-program"];
    assert_eq!(no_program.state, TaskState::Failed, "{no_program:?}");
    let message = no_program.message.as_deref().unwrap_or("");
    assert!(message.contains("runc:") && message.contains("/no/such/program"), "{no_program:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_over_its_memory_limit_fails_with_a_memory_limitation() {
    let Some((registry, image, _)) = registry_with_busybox().await else { return };
    let cluster = cluster(&registry).await;
    let mut framework = Framework::register(cluster.client(), registration("hog")).await;
    let offers = framework.offers().await;
    let line = "head -c 67108864 /dev/zero | tail > /dev/null";
    let task = image_task(&offers[0].agent_id, "hog", &image, line, 32.0);
    framework.launch(&offers[0], vec![task]).await.expect("launch");
    let status = framework.terminal("hog").await;
    assert_eq!(status.state, TaskState::Failed, "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("container_limitation_memory"), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_run_inside_the_container_and_a_kill_ends_it() {
    let Some((registry, image, _)) = registry_with_busybox().await else { return };
    let cluster = cluster(&registry).await;
    let mut framework = Framework::register(cluster.client(), registration("checked")).await;
    let offers = framework.offers().await;
    // The marker is only in the image: the check passes only if it runs in the container.
    let check = agora_api::HealthCheck {
        check: agora_api::Check::Command(format!("test -e /{MARKER}")),
        delay_secs: 0.0,
        interval_secs: 0.2,
        timeout_secs: 5.0,
        grace_period_secs: 10.0,
        consecutive_failures: 3,
    };
    let task = image_task(&offers[0].agent_id, "served", &image, "sleep 1000", 32.0).health_check(check);
    framework.launch(&offers[0], vec![task]).await.expect("launch");
    let healthy = loop {
        let status = framework.update("served", true).await;
        assert!(!status.state.is_terminal(), "{status:?}");
        if status.healthy.is_some() {
            break status;
        }
    };
    assert_eq!(healthy.healthy, Some(true), "{healthy:?}");

    let kill = agora_api::framework::Kill { grace_period_secs: Some(0.5) };
    let path = format!("/v1/frameworks/{}/tasks/served/kill", framework.id);
    framework.client.post_no_content(&path, &kill).await.expect("kill");
    let status = framework.terminal("served").await;
    assert_eq!(status.state, TaskState::Killed, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_and_restarted_finds_its_container_and_reports_its_exit() {
    let Some((registry, image, _)) = registry_with_busybox().await else { return };
    let mut cluster = cluster(&registry).await;
    let extra = ["--containerizers", "process,oci", "--insecure-registries", registry.host.as_str()];
    let index = cluster.spawn_agent_with("restarted", "cpus:1,mem:512", &extra);
    cluster.wait_for_agents(2).await;
    let mut framework = Framework::register(cluster.client(), registration("survivor")).await;
    let offer = offer_where(&framework, "an offer of the agent", |o| o.hostname == "restarted").await;
    let line = "until [ -e /mnt/sandbox/go ]; do sleep 0.1; done; exit 7";
    let task = image_task(&offer.agent_id, "survivor", &image, line, 32.0);
    framework.launch(&offer, vec![task]).await.expect("launch");
    loop {
        let status = framework.update("survivor", true).await;
        assert!(!status.state.is_terminal(), "{status:?}");
        if status.state == TaskState::Running {
            break;
        }
    }

    cluster.kill_agent(index);
    let work_dir = cluster.agent_work_dir("restarted");
    let sandbox = work_dir.join("sandboxes").join(framework.id.as_str()).join("survivor");
    // The container outlives its agent.
    eventually(DEADLINE, "runc to list the running container", || async {
        let runc = std::process::Command::new("runc")
            .arg("--root")
            .arg(work_dir.join("runc"))
            .args(["list", "--format", "json"])
            .output()
            .expect("runc list");
        let list: serde_json::Value = serde_json::from_slice(&runc.stdout).unwrap_or_default();
        let running = list.as_array().is_some_and(|l| l.len() == 1 && l[0]["status"] == "running");
        running.then_some(())
    })
    .await;

    cluster.restart_agent(index, "restarted", "cpus:1,mem:512", &extra);
    let stderr = cluster.scratch().join("restarted.stderr");
    eventually(DEADLINE, "the restarted agent to re-attach", || async {
        std::fs::read_to_string(&stderr).unwrap_or_default().contains("re-attached").then_some(())
    })
    .await;
    std::fs::write(sandbox.join("go"), "").expect("tell the task to end");
    let status = framework.terminal("survivor").await;
    assert_eq!((status.state, status.exit_code), (TaskState::Failed, Some(7)), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_task_on_an_agent_without_its_containerizer_is_refused_at_accept() {
    let cluster = Cluster::start(&["--containerizers", "process"]).await;
    let mut framework = Framework::register(cluster.client(), registration("no-oci")).await;
    let offers = framework.offers().await;
    let task = image_task(&offers[0].agent_id, "t", "127.0.0.1:1/x:latest", "true", 32.0);
    let error = framework.launch(&offers[0], vec![task]).await.expect_err("refused");
    assert_eq!(error.status(), Some(400), "{error}");
    assert!(error.to_string().contains("unsupported_container"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridged_containers_publish_their_ports_and_reach_each_other_by_address() {
    let Some((registry, image, _)) = registry_with_busybox().await else { return };
    if !Path::new("/usr/lib/cni/bridge").exists() {
        eprintln!("skipped: the CNI plugins are not installed (apt-get install containernetworking-plugins)");
        return;
    }
    let resources = "cpus:4,mem:4096,ports:[31900-31909]";
    let args = ["--containerizers", "process,oci", "--insecure-registries", &registry.host, "--resources", resources];
    let cluster = Cluster::start(&args).await;
    let mut framework = Framework::register(cluster.client(), registration("bridged")).await;
    let offers = framework.offers().await;
    let agent = offers[0].agent_id.clone();
    let bridged = |id: &str, line: &str, ports: Vec<[u16; 2]>, mappings| {
        let mut task = image_task(&agent, id, &image, line, 32.0);
        task.resources.ports = ports;
        let container = task.container.as_mut().expect("a container");
        container.network = agora_api::containers::NetworkMode::Bridge;
        container.port_mappings = mappings;
        task
    };
    let mapping = agora_api::containers::PortMapping {
        container_port: 8080,
        host_port: Some(31905),
        protocol: agora_api::containers::Protocol::Tcp,
    };
    // The server answers every connection on its container port 8080, published on 31905.
    let line = "echo $AGORA_CONTAINER_IP > /mnt/sandbox/address; echo $PORT_8080 > /mnt/sandbox/published; \
                while true; do echo hello-from-the-server | nc -l -p 8080; done";
    let server = bridged("server", line, vec![[31905, 31905]], vec![mapping]);
    framework.launch(&offers[0], vec![server]).await.expect("launch the server");
    let sandbox = cluster.scratch().join(DEV_AGENT_SUBDIR).join("sandboxes").join(framework.id.as_str()).join("server");
    let address = eventually(DEADLINE, "the server's address", || async {
        let text = std::fs::read_to_string(sandbox.join("address")).unwrap_or_default();
        text.trim().parse::<std::net::Ipv4Addr>().ok()
    })
    .await;
    assert!(address.octets()[..2] == [10, 88], "{address}");
    assert_eq!(std::fs::read_to_string(sandbox.join("published")).expect("published").trim(), "31905");

    // From the host, through the published port.
    let answer = eventually(DEADLINE, "the server to answer on the published port", || async {
        use tokio::io::AsyncReadExt as _;
        let mut stream = tokio::net::TcpStream::connect("127.0.0.1:31905").await.ok()?;
        let mut text = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(2), stream.read_to_string(&mut text)).await.ok()?.ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    assert_eq!(answer, "hello-from-the-server\n");

    // From another container on the bridge, by address.
    let offer = offer_where(&framework, "another offer", |o| o.agent_id == agent).await;
    let client = format!("nc {address} 8080 </dev/null");
    framework.launch(&offer, vec![bridged("client", &client, vec![], vec![])]).await.expect("launch the client");
    let status = framework.terminal("client").await;
    assert_eq!(status.state, TaskState::Finished, "{status:?}");
    let out = std::fs::read_to_string(sandbox.with_file_name("client").join("stdout")).expect("the client's output");
    assert_eq!(out, "hello-from-the-server\n");

    // agora run publishes with -p, and says where in the task's environment.
    let out = cluster
        .cli(&["run", "--image", &image, "--network", "bridge", "-p", "8080", "--", "sh", "-c", "echo $PORT_8080"])
        .output()
        .expect("agora run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port: u16 = stdout(&out).trim().parse().expect("a port");
    assert!((31900..=31909).contains(&port), "{port}");
}

/// GPUs found with `nvidia-smi` (a stand-in script listing two) are handed to containers as
/// device nodes: a container sees only its own GPU's `/dev/nvidiaN` (opening it fails with
/// ENXIO, there being no driver: the node and the device rule are there) and its UUID in
/// `CUDA_VISIBLE_DEVICES`; one that asked for none sees none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_get_the_device_nodes_of_their_own_gpus_only() {
    let Some((registry, image, _)) = registry_with_busybox().await else { return };
    let mut cluster = cluster(&registry).await;
    let smi = cluster.scratch().join("nvidia-smi");
    std::fs::write(&smi, "#!/bin/sh\necho '0, GPU-aaaa, Stand-in GPU'\necho '1, GPU-bbbb, Stand-in GPU'\n")
        .expect("script");
    std::fs::set_permissions(&smi, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let smi = smi.display().to_string();
    let extra = ["--containerizers", "process,oci", "--insecure-registries", &registry.host, "--nvidia-smi", &smi];
    cluster.spawn_agent_with("gpu", "cpus:2,mem:1024", &extra);
    cluster.wait_for_agents(2).await;
    let mut framework = Framework::register(cluster.client(), registration("cuda")).await;
    let offer = offer_where(&framework, "an offer of the GPU agent", |o| o.hostname == "gpu").await;
    assert_eq!(offer.resources.gpus, 2.0);
    let line = "echo \"$CUDA_VISIBLE_DEVICES\"; ls /dev | grep nvidia | tr '\\n' ' '; echo; \
                for d in /dev/nvidia*; do cat $d 2>&1 | tail -n 1; done";
    let task = |id: &str, gpus: f64| {
        let mut task = image_task(&offer.agent_id, id, &image, line, 32.0);
        task.resources.gpus = gpus;
        task
    };
    framework.launch(&offer, vec![task("first", 1.0), task("second", 1.0), task("none", 0.0)]).await.expect("launch");
    let ended = framework.terminals(3).await;
    let sandboxes = cluster.agent_work_dir("gpu").join("sandboxes").join(framework.id.as_str());
    let out = |id: &str| std::fs::read_to_string(sandboxes.join(id).join("stdout")).unwrap_or_default();
    let mut seen = Vec::new();
    for id in ["first", "second"] {
        assert_eq!(ended[id].state, TaskState::Finished, "{:?}", ended[id]);
        let text = out(id);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() == 3, "{id}: {text}");
        let (uuid, nodes, opened) = (lines[0], lines[1].trim(), lines[2]);
        assert!(["GPU-aaaa", "GPU-bbbb"].contains(&uuid), "{id}: {text}");
        assert!(["nvidia0", "nvidia1"].contains(&nodes), "one node of its own: {id}: {text}");
        assert!(opened.contains("No such device or address"), "{id}: the node opens as far as the driver: {text}");
        seen.push((uuid.to_string(), nodes.to_string()));
    }
    assert_ne!(seen[0], seen[1], "the two tasks got the same GPU");
    // No UUID, no node: the glob is left as it is.
    let none = out("none");
    assert!(none.starts_with("\n\n") && none.contains("can't open '/dev/nvidia*'"), "a task without GPUs: {none}");
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
