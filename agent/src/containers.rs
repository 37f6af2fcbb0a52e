//! The `oci` containerizer: a task's image (from [`crate::images`]) under an overlay of its
//! own, described as an OCI runtime bundle and run by `runc`.
//!
//! `runc run` runs in the foreground as the task's program, under the same supervising shell
//! as a plain process (see `process.rs`), so a container task is watched, killed, logged and
//! recovered the way a process task is: the shell and runc sit in the task's cgroup with its
//! limits, the container joins that cgroup (`linux.cgroupsPath`), runc hands its own stdio to
//! the container, forwards the signals it gets to the container's first process, and ends
//! with its exit code. What is the container's own lives outside the sandbox, where no task
//! reaches:
//!
//! ```text
//! {work_dir}/containers/{id}/rootfs   the overlay: the image's files below, upper/ above
//! {work_dir}/containers/{id}/upper    the task's writes to its root
//! {work_dir}/containers/{id}/config.json, image, exit, runc.log
//! {work_dir}/runc/                    runc's state (`runc --root`)
//! ```

use crate::images::{Image, ImageStore};
use crate::network::{Attachment, Bridge, Published};
use crate::users::RunAs;
use crate::AgentError;
use agora_api::agent::LaunchCommand;
use agora_api::containers::{NetworkMode, VolumeMode, CONTAINER_SANDBOX};
use agora_api::{AgentId, Command, Containerizer};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How the agent runs images, as its operator configured it.
#[derive(Clone, Debug)]
pub struct ContainerConfig {
    /// The containerizers asked for (`--containerizers`); `None`: whichever this host supports.
    pub wanted: Option<Vec<Containerizer>>,
    /// The runc binary.
    pub runc: PathBuf,
    /// A Docker-style `config.json` with registry credentials.
    pub registry_config: Option<PathBuf>,
    /// Registries (`host:port`) reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Bytes the image cache may take before the least recently used images go.
    pub image_cache_bytes: u64,
    /// Host directories a container may mount (`host_path`s must be under one of them).
    pub host_volumes: Vec<PathBuf>,
    /// Whether a task may ask for a privileged container.
    pub allow_privileged: bool,
    /// Where the CNI plugins are, for the bridge network.
    pub cni_plugins: PathBuf,
    /// The addresses containers on the bridge get.
    pub bridge_subnet: String,
    /// The fetcher's setup (it serves process tasks too).
    pub fetch: crate::fetch::FetchConfig,
    /// The Docker daemon's socket, for the `docker` containerizer.
    pub docker_socket: PathBuf,
}

impl Default for ContainerConfig {
    fn default() -> ContainerConfig {
        ContainerConfig {
            wanted: None,
            runc: PathBuf::from("runc"),
            registry_config: None,
            insecure_registries: Vec::new(),
            image_cache_bytes: 10 << 30,
            host_volumes: Vec::new(),
            allow_privileged: false,
            cni_plugins: PathBuf::from("/usr/lib/cni"),
            bridge_subnet: "10.88.0.0/16".to_string(),
            fetch: Default::default(),
            docker_socket: PathBuf::from("/var/run/docker.sock"),
        }
    }
}

/// Why this host cannot run `oci` containers, if it cannot.
fn oci_missing(runc: &Path) -> Option<String> {
    if !nix::unistd::Uid::effective().is_root() {
        return Some("the agent is not root".to_string());
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.lines().any(|l| l.trim_end().ends_with("overlay")) {
        return Some("the kernel has no overlay filesystem".to_string());
    }
    match std::process::Command::new(runc).arg("--version").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("`{} --version` failed: {}", runc.display(), String::from_utf8_lossy(&out.stderr))),
        Err(e) => Some(format!("cannot run `{}`: {e}", runc.display())),
    }
}

/// The containerizers this agent offers: those asked for, each checked, or, when none were
/// named, `process` and `oci` if this host supports it. `docker` is the caller's to check,
/// as it takes the daemon's answer ([`crate::docker::DockerRuntime::connect`]).
pub fn detect(config: &ContainerConfig) -> Result<Vec<Containerizer>, AgentError> {
    let oci = oci_missing(&config.runc);
    match &config.wanted {
        None => {
            if let Some(why) = &oci {
                tracing::info!(why = %why, "the oci containerizer is off");
            }
            Ok(if oci.is_none() {
                vec![Containerizer::Process, Containerizer::Oci]
            } else {
                vec![Containerizer::Process]
            })
        }
        Some(wanted) => {
            if let (true, Some(why)) = (wanted.contains(&Containerizer::Oci), &oci) {
                return Err(AgentError::Config(format!("--containerizers names oci, but {why}")));
            }
            let mut kinds = wanted.clone();
            kinds.sort();
            kinds.dedup();
            Ok(kinds)
        }
    }
}

/// The `oci` containerizer's state: the image cache and where bundles and runc's state live.
pub struct Oci {
    runc: PathBuf,
    work_dir: PathBuf,
    pub images: ImageStore,
    cache_bytes: u64,
    host_volumes: Vec<PathBuf>,
    allow_privileged: bool,
    /// The bridge network, or why this host has none.
    bridge: Result<Bridge, String>,
    /// Held while a bundle is made from an image and while the cache is collected, so that
    /// the collector never removes an image between its pull and its container's mount.
    cache: Mutex<()>,
}

/// A container's name for runc: `agora-` and 32 hex digits of a hash of the task's key. Task
/// ids may hold characters runc refuses; the hash is the same for every run of the agent.
pub fn container_id(framework_id: &str, task_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{framework_id}\0{task_id}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("agora-{hex}")
}

/// What [`Oci::bundle`] needs to know of the launch beyond the command itself.
pub struct BundleRequest<'a> {
    pub launch: &'a LaunchCommand,
    pub agent_id: &'a AgentId,
    pub image: &'a Image,
    pub user: &'a RunAs,
    /// The sandbox on the host, bound at `/mnt/sandbox`.
    pub sandbox: &'a Path,
    /// Persistent volumes: their directories, and paths relative to the sandbox.
    pub volumes: &'a [(PathBuf, String)],
    /// The task's cgroup below the cgroup mount, which the container joins.
    pub cgroup: Option<String>,
    pub hostname: &'a str,
    /// The GPUs the task holds, by index (their device minors).
    pub gpus: &'a [u32],
    /// `CUDA_VISIBLE_DEVICES` for the task, on a host with GPUs.
    pub visible_devices: Option<String>,
}

impl Oci {
    pub fn new(config: &ContainerConfig, work_dir: &Path) -> Result<Oci, AgentError> {
        let credentials = match &config.registry_config {
            Some(path) => crate::images::Credentials::from_docker_config(path)?,
            None => crate::images::Credentials::default(),
        };
        let work_dir = work_dir.canonicalize().map_err(|e| AgentError::io("cannot resolve the work dir", e))?;
        for dir in ["containers", "runc"] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(work_dir.join(dir))
                .map_err(|e| AgentError::io(format!("cannot create {dir}"), e))?;
        }
        let host_volumes = config
            .host_volumes
            .iter()
            .map(|p| p.canonicalize().map_err(|e| AgentError::io(format!("--host-volumes {}", p.display()), e)))
            .collect::<Result<_, _>>()?;
        let images = ImageStore::new(&work_dir, &config.insecure_registries, credentials);
        images.remove_unfinished();
        let bridge = Bridge::new(&config.cni_plugins, &config.bridge_subnet, &work_dir);
        if let Err(why) = &bridge {
            tracing::info!(why = %why, "containers have no bridge network");
        }
        Ok(Oci {
            runc: config.runc.clone(),
            images,
            work_dir,
            cache_bytes: config.image_cache_bytes,
            host_volumes,
            allow_privileged: config.allow_privileged,
            bridge,
            cache: Mutex::new(()),
        })
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.work_dir.join("containers").join(id)
    }

    /// Where the supervising shell of container `id` writes how it ended.
    pub fn exit_file(&self, id: &str) -> PathBuf {
        self.bundle_dir(id).join("exit")
    }

    /// The last error runc logged for container `id`, if any: why a container did not start.
    pub fn runc_error(&self, id: &str) -> Option<String> {
        let log = std::fs::read_to_string(self.bundle_dir(id).join("runc.log")).ok()?;
        // runc cannot remove the task's cgroup, which the agent holds (and removes itself).
        let line = log.lines().rev().find(|l| l.contains("level=error") && !l.contains("to remove"))?;
        let message = line.split_once("msg=").map_or(line, |(_, m)| m);
        Some(message.trim_matches('"').replace("\\\"", "\"").chars().take(1024).collect())
    }

    fn runc_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.runc);
        command.arg("--root").arg(self.work_dir.join("runc"));
        command
    }

    /// Makes container `id`'s bundle: its overlay root on the image, and its `config.json`.
    /// Returns the program and arguments that run it (`runc run`, in the foreground).
    pub fn bundle(&self, id: &str, request: &BundleRequest<'_>) -> Result<(String, Vec<String>), AgentError> {
        let container = request
            .launch
            .task
            .container
            .as_ref()
            .ok_or_else(|| AgentError::InvalidTask("a task without a container has no bundle".to_string()))?;
        if container.privileged && !self.allow_privileged {
            return Err(AgentError::InvalidTask(
                "privileged containers are refused by this agent (--allow-privileged)".to_string(),
            ));
        }
        let dir = self.bundle_dir(id);
        let network = match container.network {
            NetworkMode::Bridge => Some(read_attachment(&dir).ok_or_else(|| {
                AgentError::InvalidTask("the container's network was not made before its bundle".to_string())
            })?),
            NetworkMode::Host => None,
        };
        let mounts = self.mounts(request)?;
        let config = runtime_config(request, mounts, network.as_ref())?;
        let _cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if !request.image.rootfs.is_dir() {
            return Err(AgentError::Image(format!("image {} left the cache; launch again", request.image.digest)));
        }
        let made = (|| {
            // The upper directory's mode is the container root's: its user must enter it.
            for (sub, mode) in [("rootfs", 0o755), ("upper", 0o755), ("work", 0o700)] {
                std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(dir.join(sub))
                    .map_err(|e| AgentError::io(format!("cannot create {}", dir.join(sub).display()), e))?;
            }
            std::fs::write(dir.join("image"), &request.image.digest)
                .map_err(|e| AgentError::io("cannot write the bundle", e))?;
            let options = format!(
                "lowerdir={},upperdir={},workdir={}",
                request.image.rootfs.display(),
                dir.join("upper").display(),
                dir.join("work").display()
            );
            nix::mount::mount(
                Some("overlay"),
                &dir.join("rootfs"),
                Some("overlay"),
                nix::mount::MsFlags::empty(),
                Some(options.as_str()),
            )
            .map_err(|e| AgentError::io("cannot mount the container's root", e.into()))?;
            let text = serde_json::to_vec_pretty(&config)
                .map_err(|e| AgentError::InvalidTask(format!("cannot write config.json: {e}")))?;
            std::fs::write(dir.join("config.json"), text).map_err(|e| AgentError::io("cannot write config.json", e))
        })();
        if let Err(e) = made {
            drop(_cache);
            return Err(e);
        }
        let root = self.work_dir.join("runc");
        let args = vec![
            "--root".to_string(),
            root.display().to_string(),
            "--log".to_string(),
            dir.join("runc.log").display().to_string(),
            "run".to_string(),
            "--bundle".to_string(),
            dir.display().to_string(),
            id.to_string(),
        ];
        Ok((self.runc.display().to_string(), args))
    }

    /// The program and arguments that run `line` with `/bin/sh -c` inside container `id`.
    pub fn exec(&self, id: &str, line: &str) -> (String, Vec<String>) {
        let root = self.work_dir.join("runc").display().to_string();
        let args = ["--root", &root, "exec", id, "/bin/sh", "-c", line];
        (self.runc.display().to_string(), args.iter().map(|s| s.to_string()).collect())
    }

    /// The mounts beyond the runtime's defaults: the sandbox, persistent volumes, host volumes,
    /// and the host's DNS settings on the host network.
    fn mounts(&self, request: &BundleRequest<'_>) -> Result<Vec<Value>, AgentError> {
        let bind = |source: &Path, destination: &str, writable: bool| {
            let mode = if writable { "rw" } else { "ro" };
            json!({"destination": destination, "type": "bind", "source": source, "options": ["rbind", "nosuid", "nodev", mode]})
        };
        let mut mounts = vec![bind(request.sandbox, CONTAINER_SANDBOX, true)];
        for (dir, path) in request.volumes {
            mounts.push(bind(dir, &format!("{CONTAINER_SANDBOX}/{path}"), true));
        }
        let container = request.launch.task.container.as_ref();
        for volume in container.map(|c| c.volumes.as_slice()).unwrap_or_default() {
            let host = shared_host_path(&self.host_volumes, &volume.host_path)?;
            mounts.push(bind(&host, &volume.container_path, volume.mode == VolumeMode::Rw));
        }
        // The host's DNS settings; on the host network its names too.
        let host_network = container.is_some_and(|c| c.network == NetworkMode::Host);
        for file in ["/etc/resolv.conf", "/etc/hosts"] {
            if Path::new(file).is_file() && (host_network || file == "/etc/resolv.conf") {
                mounts.push(bind(Path::new(file), file, false));
            }
        }
        Ok(mounts)
    }

    /// Readies what container `id` needs before its bundle, off the agent loop: removes what
    /// an earlier task of the same id left (an agent that died), makes the bundle's directory,
    /// and on the bridge network its namespace, address and published ports (kept in the bundle
    /// as `network.json`, for [`Oci::remove`]).
    pub fn prepare(&self, id: &str, launch: &LaunchCommand) -> Result<(), AgentError> {
        self.remove(id);
        let dir = self.bundle_dir(id);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| AgentError::io(format!("cannot create {}", dir.display()), e))?;
        let Some(container) = launch.task.container.as_ref().filter(|c| c.network == NetworkMode::Bridge) else {
            return Ok(());
        };
        let bridge =
            self.bridge.as_ref().map_err(|why| AgentError::InvalidTask(format!("no bridge network: {why}")))?;
        let published = published(launch, container)?;
        let attachment = bridge.attach(id, &published)?;
        let text = serde_json::to_vec(&attachment).map_err(|e| AgentError::InvalidTask(e.to_string()))?;
        if let Err(e) = std::fs::write(dir.join(NETWORK_FILE), text) {
            bridge.detach(id, &attachment);
            return Err(AgentError::io("cannot keep the container's network", e));
        }
        Ok(())
    }

    /// Stops and deletes container `id` if runc still knows it, takes down its network,
    /// unmounts its root and removes its bundle. Quiet when there is nothing to remove.
    pub fn remove(&self, id: &str) {
        // `runc run` deletes its container when it ends; runc is asked only about one whose
        // state is still there (its runc was killed, or the agent died), saving a process
        // start per launch and per exit.
        if self.work_dir.join("runc").join(id).exists() {
            let _ = self.runc_command().args(["delete", "--force", id]).output();
        }
        let dir = self.bundle_dir(id);
        if let (Some(attachment), Ok(bridge)) = (read_attachment(&dir), &self.bridge) {
            bridge.detach(id, &attachment);
        }
        let rootfs = dir.join("rootfs");
        match nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(e) => tracing::warn!(container = id, error = %e, "cannot unmount a container's root"),
        }
        // std's remove_dir_all does not follow links, whatever the task left in upper/.
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(container = id, error = %e, "cannot remove a container's bundle");
            }
        }
    }

    /// Removes the bundles no task of `known` (container ids) holds: containers an earlier run
    /// of the agent made for tasks it has no record of.
    pub fn remove_unknown(&self, known: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(self.work_dir.join("containers")) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                tracing::info!(container = %name, "removing a container no running task holds");
                self.remove(&name);
            }
        }
    }

    /// The images running containers were made from.
    fn images_in_use(&self) -> HashSet<String> {
        let Ok(entries) = std::fs::read_dir(self.work_dir.join("containers")) else { return HashSet::new() };
        entries.flatten().filter_map(|e| std::fs::read_to_string(e.path().join("image")).ok()).collect()
    }

    /// Removes the least recently used images beyond the cache's budget, never one in use.
    pub fn collect_images(&self) {
        let _cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        match self.images.collect_garbage(self.cache_bytes, &self.images_in_use()) {
            Ok(collected) if !collected.removed.is_empty() => {
                tracing::info!(removed = ?collected.removed, bytes = collected.bytes, "collected images")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot collect images"),
        }
    }
}

/// A container volume's host path, resolved (links followed, so that what is checked is what
/// is mounted), if it is under one of the agent's shared roots (`--host-volumes`).
pub(crate) fn shared_host_path(roots: &[PathBuf], host_path: &str) -> Result<PathBuf, AgentError> {
    let host =
        Path::new(host_path).canonicalize().map_err(|e| AgentError::io(format!("host volume {host_path}"), e))?;
    if !roots.iter().any(|root| host.starts_with(root)) {
        return Err(AgentError::InvalidTask(format!(
            "host path {host_path} is not under a directory this agent shares (--host-volumes)"
        )));
    }
    Ok(host)
}

/// Where a bundle keeps its network's [`Attachment`].
const NETWORK_FILE: &str = "network.json";

fn read_attachment(bundle: &Path) -> Option<Attachment> {
    serde_json::from_slice(&std::fs::read(bundle.join(NETWORK_FILE)).ok()?).ok()
}

/// A bridged container's port mappings on the agent: each mapping's `host_port`, or the
/// task's next port no mapping names.
pub(crate) fn published(
    launch: &LaunchCommand,
    container: &agora_api::ContainerInfo,
) -> Result<Vec<Published>, AgentError> {
    let ports: Vec<u16> = launch.task.resources.ports.iter().flat_map(|&[low, high]| low..=high).collect();
    let named: HashSet<u16> = container.port_mappings.iter().filter_map(|m| m.host_port).collect();
    let mut free = ports.iter().copied().filter(|p| !named.contains(p));
    container
        .port_mappings
        .iter()
        .map(|m| {
            let host_port = match m.host_port {
                Some(port) if ports.contains(&port) => port,
                Some(port) => {
                    return Err(AgentError::InvalidTask(format!("host port {port} is not one of the task's ports")))
                }
                None => free
                    .next()
                    .ok_or_else(|| AgentError::InvalidTask("more port mappings than the task has ports".to_string()))?,
            };
            let protocol = match m.protocol {
                agora_api::containers::Protocol::Tcp => "tcp",
                agora_api::containers::Protocol::Udp => "udp",
            };
            Ok(Published { host_port, container_port: m.container_port, protocol: protocol.to_string() })
        })
        .collect()
}

/// The user a container runs as: the task's own if it names one, else the image's, else
/// the agent's default task user. `image_user` resolves the image's `User` in its own files.
pub fn container_user(
    named: Option<RunAs>,
    image: &Image,
    default: &RunAs,
    allow_root: bool,
) -> Result<RunAs, AgentError> {
    let user = match named {
        Some(user) => user,
        None => match image.config.pointer("/config/User").and_then(Value::as_str).filter(|u| !u.is_empty()) {
            Some(spec) => image_user(&image.rootfs, spec)?,
            None => default.clone(),
        },
    };
    if user.uid == 0 && !allow_root {
        return Err(AgentError::InvalidTask(
            "the image runs as root, and this agent runs no task as root (--allow-root-tasks)".to_string(),
        ));
    }
    Ok(user)
}

/// Resolves an image's `User` (`uid`, `uid:gid`, `name` or `name:group`) in the image's own
/// `/etc/passwd` and `/etc/group`.
fn image_user(rootfs: &Path, spec: &str) -> Result<RunAs, AgentError> {
    let (user, group) = spec.split_once(':').map_or((spec, None), |(u, g)| (u, Some(g)));
    let passwd = read_image_file(rootfs, "passwd");
    let entry = |table: &str, name: &str, field: usize| {
        table
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(field).and_then(|v| v.parse::<u32>().ok()))
    };
    let unknown = || AgentError::InvalidTask(format!("the image's user `{spec}` is not in its /etc/passwd"));
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(uid) => {
            let gid = passwd
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.get(2).and_then(|v| v.parse::<u32>().ok()) == Some(uid))
                .and_then(|f| f.get(3).and_then(|v| v.parse().ok()));
            (uid, gid.unwrap_or(uid))
        }
        Err(_) => (entry(&passwd, user, 2).ok_or_else(unknown)?, entry(&passwd, user, 3).ok_or_else(unknown)?),
    };
    let gid = match group {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => entry(&read_image_file(rootfs, "group"), g, 2)
                .ok_or_else(|| AgentError::InvalidTask(format!("the image's group `{g}` is not in its /etc/group")))?,
        },
    };
    Ok(RunAs { name: user.to_string(), uid, gid })
}

/// `/etc/{name}` of an image, read without following a link: an image could make it one to
/// a file of the host. Empty when missing or not a regular file.
fn read_image_file(rootfs: &Path, name: &str) -> String {
    use rustix::fs::{Mode, OFlags};
    let read = || -> Option<String> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let root = rustix::fs::open(rootfs, flags | OFlags::DIRECTORY, Mode::empty()).ok()?;
        let etc = rustix::fs::openat(&root, "etc", flags | OFlags::DIRECTORY, Mode::empty()).ok()?;
        let file = rustix::fs::openat(&etc, name, flags | OFlags::NONBLOCK, Mode::empty()).ok()?;
        if rustix::fs::fstat(&file).ok()?.st_mode & 0o170000 != 0o100000 {
            return None;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(file), &mut text).ok()?;
        Some(text)
    };
    read().unwrap_or_default()
}

/// Docker's default capabilities, less `NET_RAW` and `MKNOD`: what images written for Docker
/// expect of root in a container.
const CAPABILITIES: [&str; 12] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability, for a privileged container.
const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The device nodes a container holding `gpus` gets: `/dev/nvidiaN` for each of its GPUs, and
/// the driver's shared nodes (`nvidiactl`, `nvidia-uvm`, ...) that this host has. The others'
/// nodes are not made, and the container's device rules allow only these.
fn gpu_devices(gpus: &[u32]) -> Vec<Value> {
    let node = |path: String, major: u64, minor: u64| json!({"path": path, "type": "c", "major": major, "minor": minor, "fileMode": 0o666, "uid": 0, "gid": 0});
    let mut devices: Vec<Value> = gpus
        .iter()
        .map(|&g| node(format!("/dev/nvidia{g}"), u64::from(crate::gpus::NVIDIA_MAJOR), u64::from(g)))
        .collect();
    for shared in ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"] {
        use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
        let Ok(meta) = std::fs::metadata(shared) else { continue };
        if meta.file_type().is_char_device() {
            let rdev = meta.rdev();
            devices.push(node(shared.to_string(), nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)));
        }
    }
    devices
}

/// What the container runs: a shell command with `/bin/sh -c`, else the image's entrypoint
/// followed by the task's argv, or by the image's `Cmd` when the argv is empty (Docker's
/// rules for `args`).
fn container_args(command: &Command, image: &Value) -> Result<Vec<String>, AgentError> {
    let strings = |pointer: &str| -> Vec<String> {
        image
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let args = match command {
        Command::Shell(line) => vec!["/bin/sh".to_string(), "-c".to_string(), line.clone()],
        Command::Argv(argv) => {
            let mut args = strings("/config/Entrypoint");
            args.extend(if argv.is_empty() { strings("/config/Cmd") } else { argv.clone() });
            args
        }
    };
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(AgentError::InvalidTask("the task names no command and its image has none".to_string()));
    }
    Ok(args)
}

/// The container's environment: the image's, then the task's, then the variables the agent
/// defines, as for a process task but with the sandbox at its path inside the container.
fn container_env(request: &BundleRequest<'_>, network: Option<&Attachment>) -> Vec<String> {
    let mut env: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let image_env = request.image.config.pointer("/config/Env").and_then(Value::as_array);
    for pair in image_env.into_iter().flatten().filter_map(Value::as_str) {
        if let Some((k, v)) = pair.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    env.entry("PATH".into()).or_insert_with(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let published = network.map(|n| n.published.as_slice()).unwrap_or_default();
    env.extend(task_env(request.launch, request.agent_id, published));
    if let Some(visible) = &request.visible_devices {
        env.insert("CUDA_VISIBLE_DEVICES".into(), visible.clone());
        env.insert("NVIDIA_VISIBLE_DEVICES".into(), visible.clone());
    }
    if let Some(address) = network.and_then(|n| n.address) {
        env.insert("AGORA_CONTAINER_IP".into(), address.to_string());
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// What a container task's environment holds whatever runs it: the task's `env`, then the
/// variables the agent defines, which the task cannot override (`HOME` and `AGORA_SANDBOX`
/// at the sandbox's path in the container, `AGORA_*` ids, `PORT0..n`, and Marathon's
/// `PORT_{container_port}` for the host port each published port is on).
pub(crate) fn task_env(
    launch: &LaunchCommand,
    agent_id: &AgentId,
    published: &[Published],
) -> std::collections::BTreeMap<String, String> {
    let task = &launch.task;
    let mut env = task.env.clone();
    env.insert("HOME".into(), CONTAINER_SANDBOX.into());
    env.insert("AGORA_TASK_ID".into(), task.task_id.to_string());
    env.insert("AGORA_FRAMEWORK_ID".into(), launch.framework_id.to_string());
    env.insert("AGORA_AGENT_ID".into(), agent_id.to_string());
    env.insert("AGORA_SANDBOX".into(), CONTAINER_SANDBOX.into());
    for (i, port) in task.resources.ports.iter().flat_map(|&[low, high]| low..=high).enumerate() {
        env.insert(format!("PORT{i}"), port.to_string());
    }
    for p in published {
        env.insert(format!("PORT_{}", p.container_port), p.host_port.to_string());
    }
    env
}

/// The bundle's `config.json`: runc's defaults (`runc spec`) with the task's process, user,
/// mounts, namespaces and cgroup.
fn runtime_config(
    request: &BundleRequest<'_>,
    extra_mounts: Vec<Value>,
    network: Option<&Attachment>,
) -> Result<Value, AgentError> {
    let container = request.launch.task.container.as_ref();
    let privileged = container.is_some_and(|c| c.privileged);
    let writable_root = container.is_some_and(|c| c.writable_root);
    let args = container_args(&request.launch.task.command, &request.image.config)?;
    let cwd = request
        .image
        .config
        .pointer("/config/WorkingDir")
        .and_then(Value::as_str)
        .filter(|d| d.starts_with('/'))
        .unwrap_or(CONTAINER_SANDBOX);
    let caps: Vec<&str> = if privileged { ALL_CAPABILITIES.to_vec() } else { CAPABILITIES.to_vec() };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}),
    ];
    mounts.extend(extra_mounts);
    let mut namespaces =
        vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    if let Some(network) = network {
        namespaces.push(json!({"type": "network", "path": network.netns}));
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "maskedPaths": if privileged { json!([]) } else { json!([
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
            "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"
        ]) },
        "readonlyPaths": if privileged { json!([]) } else { json!([
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
        ]) },
    });
    if let Some(path) = &request.cgroup {
        linux["cgroupsPath"] = json!(path);
    }
    if privileged {
        linux["resources"] = json!({"devices": [{"allow": true, "access": "rwm"}]});
    } else if !request.gpus.is_empty() {
        let devices = gpu_devices(request.gpus);
        let allowed: Vec<Value> = devices
            .iter()
            .map(|d| json!({"allow": true, "type": "c", "major": d["major"], "minor": d["minor"], "access": "rwm"}))
            .collect();
        linux["devices"] = json!(devices);
        linux["resources"] = json!({"devices": allowed});
    }
    let user = request.user;
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": user.uid, "gid": user.gid},
            "args": args,
            "env": container_env(request, network),
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": !privileged,
        },
        "root": {"path": "rootfs", "readonly": !writable_root},
        "hostname": request.hostname,
        "mounts": mounts,
        "linux": linux,
    }))
}

/// The containerizer, shared by the agent loop and the tasks that pull images.
pub type SharedOci = Arc<Oci>;

use std::os::unix::fs::DirBuilderExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    fn image(config: Value, rootfs: &Path) -> Image {
        Image { digest: "sha256:00".to_string(), rootfs: rootfs.to_path_buf(), config, downloaded: false }
    }

    #[test]
    fn container_ids_are_runc_names_and_stable() {
        let id = container_id("fw", "web.1");
        assert_eq!(id, container_id("fw", "web.1"));
        assert_ne!(id, container_id("fw.web", "1"));
        assert!(id.len() == 38 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }

    #[test]
    fn argv_follows_the_entrypoint_and_a_shell_line_replaces_it() {
        let config = json!({"config": {"Entrypoint": ["/entry"], "Cmd": ["serve"]}});
        let argv = |a: &[&str]| Command::Argv(a.iter().map(|s| s.to_string()).collect());
        assert_eq!(container_args(&argv(&[]), &config).expect("args"), ["/entry", "serve"]);
        assert_eq!(container_args(&argv(&["run", "x"]), &config).expect("args"), ["/entry", "run", "x"]);
        assert_eq!(container_args(&Command::Shell("echo".into()), &config).expect("args"), ["/bin/sh", "-c", "echo"]);
        assert!(container_args(&argv(&[]), &json!({})).is_err());
    }

    #[test]
    fn image_users_resolve_in_the_images_files_never_through_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("etc");
        std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n")
            .expect("passwd");
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").expect("group");
        let user = |spec: &str| image_user(dir.path(), spec).map(|u| (u.uid, u.gid));
        assert_eq!(user("app").expect("app"), (1000, 1001));
        assert_eq!(user("app:staff").expect("app:staff"), (1000, 50));
        assert_eq!(user("1000").expect("1000"), (1000, 1001));
        assert_eq!(user("4242:7").expect("numeric"), (4242, 7));
        assert!(user("ghost").is_err());
        let nobody = RunAs { name: "nobody".into(), uid: 65534, gid: 65534 };
        let root_image = image(json!({"config": {"User": "root"}}), dir.path());
        assert!(container_user(None, &root_image, &nobody, false).is_err());
        assert_eq!(container_user(None, &root_image, &nobody, true).expect("allowed").uid, 0);
        let plain = image(json!({"config": {}}), dir.path());
        assert_eq!(container_user(None, &plain, &nobody, false).expect("default").uid, 65534);

        // A link to a file of the host is not followed.
        std::fs::remove_file(dir.path().join("etc/passwd")).expect("rm");
        let host = dir.path().join("host-passwd");
        std::fs::write(&host, "app:x:0:0::/:/bin/sh\n").expect("host file");
        std::os::unix::fs::symlink(&host, dir.path().join("etc/passwd")).expect("link");
        assert!(user("app").is_err());
    }
}
