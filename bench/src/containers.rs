//! The `containers` scenario: what running tasks from images costs, against plain processes.
//!
//! It starts a private `docker-registry` on loopback and pushes busybox images built from
//! `/bin/busybox` (padded with `--image-mb` of random bytes, so a cold pull moves that much),
//! then `agora dev` with the `oci` containerizer, and one framework that measures, from the
//! start of its accept to the task's `running` update:
//!
//! - a process task (`true`), `--samples` times;
//! - an image task whose image the agent does not have (a new image each time: cold);
//! - an image task whose image it has (warm);
//!
//! then the launch rate of `--burst` warm image tasks accepted at once (accept to the last
//! `running`), and the memory `--resident` running containers (`sleep`) take: the agent's
//! (`agora dev`'s) resident memory before and with them, and the resident memory of the
//! processes each one adds on the host (its supervising shell and `runc run`).
//!
//! Needs root, runc, docker-registry and /bin/busybox, as the container tests do.

use agora_agent::testing::{busybox, busybox_root, Entry, Registry};
use agora_api::containers::ContainerInfo;
use agora_api::framework::{Accept, Decline, Filters, FrameworkEvent, Operation, RegisterFramework};
use agora_api::{Command, Containerizer, Resources, TaskInfo, TaskState};
use agora_client::{Client, SubscribeOptions, Subscription};
use anyhow::{bail, Context as _};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args, Clone, Debug)]
pub struct ContainersArgs {
    /// Launches measured for each kind (process, cold image, warm image).
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// MiB of random bytes added to the image, so that a cold pull moves that much.
    #[arg(long, default_value_t = 32)]
    pub image_mb: usize,
    /// Warm image tasks accepted at once, for the launch rate.
    #[arg(long, default_value_t = 50)]
    pub burst: usize,
    /// Running containers for the memory measurement.
    #[arg(long, default_value_t = 20)]
    pub resident: usize,
    #[command(flatten)]
    pub common: crate::CommonArgs,
}

#[derive(Debug, Serialize)]
pub struct Latencies {
    pub samples: usize,
    pub p50_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct ContainersReport {
    pub image_bytes: u64,
    pub process: Latencies,
    pub image_cold: Latencies,
    pub image_warm: Latencies,
    pub burst: usize,
    pub burst_launches_per_sec: f64,
    pub burst_process_launches_per_sec: f64,
    pub resident: usize,
    pub agent_rss_before_mib: f64,
    pub agent_rss_with_containers_mib: f64,
    pub agent_kib_per_container: f64,
    pub host_processes_kib_per_container: f64,
}

impl ContainersReport {
    pub fn table(&self) -> String {
        let row =
            |name: &str, l: &Latencies| format!("{name:<28} {:>8.1} {:>8.1} {:>8}\n", l.p50_ms, l.max_ms, l.samples);
        let mut text = format!(
            "accept to running (image {:.1} MiB)  p50 ms   max ms  samples\n",
            self.image_bytes as f64 / f64::from(1 << 20)
        );
        text.push_str(&row("process task", &self.process));
        text.push_str(&row("image task, cold cache", &self.image_cold));
        text.push_str(&row("image task, warm cache", &self.image_warm));
        text.push_str(&format!(
            "\n{} tasks accepted at once, accept to the last running: {:.1} launches/s of warm image tasks, \
             {:.1} of process tasks\n",
            self.burst, self.burst_launches_per_sec, self.burst_process_launches_per_sec
        ));
        text.push_str(&format!(
            "\n{} running containers: agent RSS {:.1} -> {:.1} MiB ({:.0} KiB each); \
             their shells and runc processes {:.0} KiB each\n",
            self.resident,
            self.agent_rss_before_mib,
            self.agent_rss_with_containers_mib,
            self.agent_kib_per_container,
            self.host_processes_kib_per_container
        ));
        text
    }
}

/// `agora dev` with the oci containerizer; stopped on drop.
struct Dev {
    child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Dev {
    fn drop(&mut self) {
        if std::env::var_os("AGORA_BENCH_KEEP").is_some() {
            eprintln!("kept {}", self._dir.path().display());
            std::mem::forget(std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir")));
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

fn start_dev(agora: &Path, registry: &str) -> anyhow::Result<Dev> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let work = dir.path().join("agent");
    let child = std::process::Command::new(agora)
        .args(["dev", "--listen", "127.0.0.1:0", "--containerizers", "process,oci", "--insecure-registries", registry])
        .args(["--resources", "cpus:64,mem:65536"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--agent-work-dir")
        .arg(&work)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("dev.stderr"))?)
        .spawn()
        .context("starting agora dev")?;
    let until = Instant::now() + Duration::from_secs(60);
    let url = loop {
        if let Ok(text) = std::fs::read_to_string(data.join("address")) {
            if !text.trim().is_empty() {
                break text.trim().to_string();
            }
        }
        if Instant::now() > until {
            bail!("agora dev did not start; see {}", dir.path().join("dev.stderr").display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let token = std::fs::read_to_string(data.join("admin.token"))?.trim().to_string();
    Ok(Dev { child, url, token, _dir: dir })
}

/// Pushes `tools/NAME:latest`: busybox and `mb` MiB of random bytes (not compressible).
async fn push_image(registry: &Registry, name: &str, mb: usize, busybox: &[u8]) -> anyhow::Result<String> {
    let mut filler = vec![0u8; mb << 20];
    let mut random = std::fs::File::open("/dev/urandom")?;
    std::io::Read::read_exact(&mut random, &mut filler)?;
    let layers = vec![busybox_root(busybox.to_vec()), vec![Entry::File("filler", filler, 0o644)]];
    let config = serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["true"]});
    registry.push_with_config(&format!("tools/{name}"), &layers, config).await;
    Ok(format!("{}/tools/{name}:latest", registry.host))
}

struct Framework {
    client: Client,
    events: Subscription,
    next_id: usize,
}

impl Framework {
    fn task(&mut self, agent: &agora_api::AgentId, image: Option<&str>, line: &str) -> TaskInfo {
        self.next_id += 1;
        let resources = Resources { cpus: 0.01, mem: 16.0, ..Resources::default() };
        let task = TaskInfo::new(&format!("t{}", self.next_id), agent.clone(), resources, Command::Shell(line.into()));
        match image {
            Some(image) => task.container(ContainerInfo::new(Containerizer::Oci, image)),
            None => task,
        }
    }

    /// Launches `count` tasks (`image`, or processes) on the next offer; returns the time from
    /// the accept to the last one's `running`.
    async fn launch(&mut self, count: usize, image: Option<&str>, line: &str) -> anyhow::Result<Duration> {
        // An offer that holds them all (the tasks of the last launch may still hold some).
        let wanted = Resources { cpus: 0.01 * count as f64, mem: 16.0 * count as f64, ..Resources::default() };
        let offer = loop {
            if let FrameworkEvent::Offers(offers) = self.events.next().await? {
                let (mut fitting, rest): (Vec<_>, Vec<_>) =
                    offers.offers.into_iter().partition(|o| wanted.fits_in(&o.resources));
                let mut declined: Vec<_> = rest.into_iter().map(|o| o.id).collect();
                let first = if fitting.is_empty() { None } else { Some(fitting.remove(0)) };
                declined.extend(fitting.into_iter().map(|o| o.id));
                if !declined.is_empty() {
                    let decline = Decline { offer_ids: declined, filters: Filters { refuse_secs: Some(0.0) } };
                    self.client.decline(self.events.framework_id(), &decline).await?;
                }
                if let Some(offer) = first {
                    break offer;
                }
            }
        };
        let tasks: Vec<TaskInfo> = (0..count).map(|_| self.task(&offer.agent_id, image, line)).collect();
        let mut waiting: HashSet<String> = tasks.iter().map(|t| t.task_id.to_string()).collect();
        let accept = Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![Operation::Launch { tasks }],
            filters: Filters { refuse_secs: Some(0.0) },
        };
        let started = Instant::now();
        self.client.accept(self.events.framework_id(), &accept).await?;
        while !waiting.is_empty() {
            match self.events.next().await? {
                FrameworkEvent::Update(u) if u.status.state == TaskState::Running => {
                    waiting.remove(u.status.task_id.as_str());
                }
                FrameworkEvent::Update(u)
                    if u.status.state.is_terminal() && waiting.contains(u.status.task_id.as_str()) =>
                {
                    bail!(
                        "task {} ended {} before running: {:?}",
                        u.status.task_id,
                        u.status.state.as_str(),
                        u.status.message
                    );
                }
                FrameworkEvent::Offers(offers) => {
                    let ids = offers.offers.into_iter().map(|o| o.id).collect();
                    self.client
                        .decline(
                            self.events.framework_id(),
                            &Decline { offer_ids: ids, filters: Filters { refuse_secs: Some(0.0) } },
                        )
                        .await?;
                }
                _ => {}
            }
        }
        Ok(started.elapsed())
    }
}

fn latencies(mut samples: Vec<Duration>) -> Latencies {
    samples.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    Latencies {
        samples: samples.len(),
        p50_ms: samples.get(samples.len() / 2).map(ms).unwrap_or(0.0),
        max_ms: samples.last().map(ms).unwrap_or(0.0),
    }
}

/// The resident KiB of the processes whose command line mentions `needle`.
fn rss_of_processes_mentioning(needle: &str) -> (usize, u64) {
    let mut count = 0;
    let mut kib = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(rss) = rss {
            count += 1;
            kib += rss;
        }
    }
    (count, kib)
}

pub async fn run(args: &ContainersArgs) -> anyhow::Result<ContainersReport> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!("the containers scenario runs containers: run it as root");
    }
    let registry = Registry::start().context("docker-registry is needed (apt-get install docker-registry)")?;
    let busybox = busybox().context("/bin/busybox is needed (apt-get install busybox-static)")?;
    let warm = push_image(&registry, "warm", args.image_mb, &busybox).await?;
    let dev = start_dev(&args.common.agora_path()?, &registry.host)?;
    let client = Client::new(&dev.url, &dev.token)?;
    let registration = RegisterFramework::new("bench-containers");
    let events = client.subscribe(registration, SubscribeOptions { acknowledge: true, ..Default::default() }).await?;
    let mut framework = Framework { client: client.clone(), events, next_id: 0 };

    let mut process = Vec::new();
    for _ in 0..args.samples {
        process.push(framework.launch(1, None, "true").await?);
    }
    // The first launch of the warm image pulls it; it is not counted.
    framework.launch(1, Some(&warm), "true").await?;
    let mut image_warm = Vec::new();
    for _ in 0..args.samples {
        image_warm.push(framework.launch(1, Some(&warm), "true").await?);
    }
    let mut image_cold = Vec::new();
    for i in 0..args.samples {
        let cold = push_image(&registry, &format!("cold{i}"), args.image_mb, &busybox).await?;
        image_cold.push(framework.launch(1, Some(&cold), "true").await?);
    }
    let burst = framework.launch(args.burst, Some(&warm), "true").await?;
    let burst_process = framework.launch(args.burst, None, "true").await?;

    let agent_before = crate::servers::proc_sample(dev.child.id())?.rss_bytes;
    let runc_root = PathBuf::from("agent/runc");
    let needle = runc_root.display().to_string();
    // The burst's tasks end by themselves; their processes must be gone before the sample.
    let until = Instant::now() + Duration::from_secs(30);
    while rss_of_processes_mentioning(&needle).0 > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, host_before) = rss_of_processes_mentioning(&needle);
    framework.launch(args.resident, Some(&warm), "sleep 600").await?;
    // Let the agent settle (watchers started, checkpoints written) before sampling.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let agent_with = crate::servers::proc_sample(dev.child.id())?.rss_bytes;
    let (processes, host_with) = rss_of_processes_mentioning(&needle);
    if processes == 0 {
        bail!("no runc processes found for the running containers");
    }
    framework.events.teardown().await?;

    let per = |bytes: f64| bytes / args.resident.max(1) as f64;
    Ok(ContainersReport {
        image_bytes: (args.image_mb as u64) << 20,
        process: latencies(process),
        image_cold: latencies(image_cold),
        image_warm: latencies(image_warm),
        burst: args.burst,
        burst_launches_per_sec: args.burst as f64 / burst.as_secs_f64(),
        burst_process_launches_per_sec: args.burst as f64 / burst_process.as_secs_f64(),
        resident: args.resident,
        agent_rss_before_mib: agent_before as f64 / f64::from(1 << 20),
        agent_rss_with_containers_mib: agent_with as f64 / f64::from(1 << 20),
        agent_kib_per_container: per(agent_with.saturating_sub(agent_before) as f64 / 1024.0),
        // Each container's supervising shell names runc's root in its command line too.
        host_processes_kib_per_container: per(host_with.saturating_sub(host_before) as f64),
    })
}
