//! The `docker` containerizer: a task's image run by the host's Docker daemon, through its
//! Engine API on a unix socket (bollard). Docker pulls the image, makes the container's cgroup
//! with the task's limits and publishes its ports; the agent names the container, copies its
//! output to the sandbox's files, waits for it, kills it with a grace period, and removes it.
//!
//! A container is named `{container_id}-{agent}` (see [`crate::containers::container_id`];
//! `agent` is a hash of the work directory, as for cgroups), so that a restarted agent finds
//! it again by name, and two agents sharing a daemon never share a name. Its labels say whose
//! it is (`io.agora.framework-id`, `io.agora.task-id`, `io.agora.agent`).

use crate::process::{Ended, Exit};
use crate::sandbox::Output;
use crate::AgentError;
use agora_api::agent::LaunchCommand;
use agora_api::containers::{NetworkMode, PullPolicy, VolumeMode, CONTAINER_SANDBOX};
use agora_api::{AgentId, Command};
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, KillContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions,
};
use bollard::Docker;
use futures::StreamExt as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// Requests wait at most this long for their answer to begin; a container's wait and logs
/// then stream for as long as it runs.
const REQUEST_TIMEOUT_SECS: u64 = 3600;
/// How long the agent waits for the daemon to answer when it starts.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// The label naming the agent (by its work directory's hash) that owns a container.
const AGENT_LABEL: &str = "io.agora.agent";

/// The daemon, as the agent uses it.
#[derive(Clone)]
pub struct DockerRuntime {
    docker: Docker,
    /// Which agent this is, among those that share the daemon.
    agent: String,
    host_volumes: Vec<PathBuf>,
    allow_privileged: bool,
}

impl DockerRuntime {
    /// Connects to the daemon at `socket` and checks that it answers.
    pub async fn connect(
        socket: &Path,
        work_dir: &Path,
        config: &crate::containers::ContainerConfig,
    ) -> Result<DockerRuntime, String> {
        let path = socket.to_str().ok_or("the docker socket's path is not UTF-8")?;
        let docker = Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            .map_err(|e| format!("cannot reach docker at {}: {e}", socket.display()))?;
        let docker = tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version())
            .await
            .map_err(|_| format!("docker at {} did not answer", socket.display()))?
            .map_err(|e| format!("docker at {}: {e}", socket.display()))?;
        tokio::time::timeout(PING_TIMEOUT, docker.ping())
            .await
            .map_err(|_| format!("docker at {} did not answer", socket.display()))?
            .map_err(|e| format!("docker at {}: {e}", socket.display()))?;
        let host_volumes = config.host_volumes.iter().filter_map(|p| p.canonicalize().ok()).collect::<Vec<PathBuf>>();
        let agent = crate::cgroups::agent_root(work_dir).rsplit('/').next().unwrap_or("agent").to_string();
        Ok(DockerRuntime { docker, agent, host_volumes, allow_privileged: config.allow_privileged })
    }

    /// The container's name for a launch.
    pub fn name(&self, launch: &LaunchCommand) -> String {
        let id = crate::containers::container_id(launch.framework_id.as_str(), launch.task.task_id.as_str());
        format!("{id}-{}", self.agent)
    }

    /// Pulls `image` unless the daemon has it and `policy` allows using it.
    pub async fn pull(&self, image: &str, policy: PullPolicy) -> Result<(), AgentError> {
        if policy == PullPolicy::IfMissing && self.docker.inspect_image(image).await.is_ok() {
            return Ok(());
        }
        let options = CreateImageOptions { from_image: Some(image.to_string()), ..Default::default() };
        let mut progress = self.docker.create_image(Some(options), None, None);
        while let Some(step) = progress.next().await {
            step.map_err(|e| AgentError::Image(format!("pulling {image}: {e}")))?;
        }
        Ok(())
    }

    /// What the container of `launch` is made of: its image, command, user, environment,
    /// limits, mounts and network.
    pub fn container(
        &self,
        launch: &LaunchCommand,
        agent_id: &AgentId,
        user: (u32, u32),
        sandbox: &Path,
        volumes: &[(PathBuf, String)],
    ) -> Result<ContainerCreateBody, AgentError> {
        let task = &launch.task;
        let container = task
            .container
            .as_ref()
            .ok_or_else(|| AgentError::InvalidTask("a task without a container has no docker container".into()))?;
        if container.privileged && !self.allow_privileged {
            return Err(AgentError::InvalidTask(
                "privileged containers are refused by this agent (--allow-privileged)".to_string(),
            ));
        }
        let (entrypoint, cmd) = match &task.command {
            Command::Shell(line) => (Some(vec!["/bin/sh".to_string(), "-c".to_string(), line.clone()]), Some(vec![])),
            Command::Argv(argv) if argv.is_empty() => (None, None),
            Command::Argv(argv) => (None, Some(argv.clone())),
        };
        let mut binds = vec![format!("{}:{CONTAINER_SANDBOX}:rw", sandbox.display())];
        for (dir, path) in volumes {
            binds.push(format!("{}:{CONTAINER_SANDBOX}/{path}:rw", dir.display()));
        }
        for volume in &container.volumes {
            let host = crate::containers::shared_host_path(&self.host_volumes, &volume.host_path)?;
            let mode = if volume.mode == VolumeMode::Rw { "rw" } else { "ro" };
            binds.push(format!("{}:{}:{mode}", host.display(), volume.container_path));
        }
        let published = crate::containers::published(launch, container)?;
        let env =
            crate::containers::task_env(launch, agent_id, &published).into_iter().map(|(k, v)| format!("{k}={v}"));
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = published
            .iter()
            .map(|p| {
                let binding = PortBinding { host_ip: None, host_port: Some(p.host_port.to_string()) };
                (format!("{}/{}", p.container_port, p.protocol), Some(vec![binding]))
            })
            .collect();
        let host_config = HostConfig {
            memory: Some((task.resources.mem * 1024.0 * 1024.0) as i64),
            nano_cpus: Some((task.resources.cpus * 1e9) as i64),
            pids_limit: Some(crate::cgroups::DEFAULT_PIDS_MAX as i64),
            binds: Some(binds),
            network_mode: Some(if container.network == NetworkMode::Host { "host" } else { "bridge" }.to_string()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            readonly_rootfs: Some(!container.writable_root),
            tmpfs: Some(HashMap::from([("/tmp".to_string(), "rw,nosuid,nodev,mode=1777".to_string())])),
            privileged: Some(container.privileged),
            cap_drop: (!container.privileged).then(|| vec!["NET_RAW".to_string(), "MKNOD".to_string()]),
            security_opt: (!container.privileged).then(|| vec!["no-new-privileges".to_string()]),
            ..Default::default()
        };
        let labels = HashMap::from([
            ("io.agora.framework-id".to_string(), launch.framework_id.to_string()),
            ("io.agora.task-id".to_string(), task.task_id.to_string()),
            (AGENT_LABEL.to_string(), self.agent.clone()),
        ]);
        Ok(ContainerCreateBody {
            image: Some(container.image.clone()),
            entrypoint,
            cmd,
            env: Some(env.collect()),
            user: Some(format!("{}:{}", user.0, user.1)),
            working_dir: Some(CONTAINER_SANDBOX.to_string()),
            labels: Some(labels),
            exposed_ports: (!published.is_empty())
                .then(|| published.iter().map(|p| format!("{}/{}", p.container_port, p.protocol)).collect()),
            host_config: Some(host_config),
            ..Default::default()
        })
    }

    /// Removes every container of this agent that `keep` does not name.
    pub async fn remove_unknown(&self, keep: &std::collections::HashSet<String>) {
        let filters = HashMap::from([("label".to_string(), vec![format!("{AGENT_LABEL}={}", self.agent)])]);
        let options = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let Ok(list) = self.docker.list_containers(Some(options)).await else { return };
        for summary in list {
            let names = summary.names.unwrap_or_default();
            let Some(name) = names.first().map(|n| n.trim_start_matches('/').to_string()) else { continue };
            if !keep.contains(&name) {
                tracing::info!(container = %name, "removing a docker container no running task holds");
                self.remove(&name).await;
            }
        }
    }

    /// Creates and starts container `name`; removes it if it cannot start.
    pub async fn start(&self, name: &str, body: ContainerCreateBody) -> Result<(), AgentError> {
        let options = CreateContainerOptions { name: Some(name.to_string()), ..Default::default() };
        let started = async {
            self.docker.create_container(Some(options), body).await?;
            self.docker.start_container(name, None).await
        }
        .await;
        if let Err(e) = started {
            self.remove(name).await;
            return Err(AgentError::InvalidTask(format!("docker could not start the container: {e}")));
        }
        Ok(())
    }

    /// Runs `line` with `/bin/sh -c` in container `name`, as its user; whether it exits 0
    /// within `timeout`. A check still running at the timeout fails (docker cannot kill an
    /// exec; it ends with the container).
    pub async fn exec_passes(&self, name: &str, line: &str, timeout: Duration) -> bool {
        let config = bollard::models::ExecConfig {
            cmd: Some(vec!["/bin/sh".to_string(), "-c".to_string(), line.to_string()]),
            attach_stdout: Some(false),
            attach_stderr: Some(false),
            ..Default::default()
        };
        let checked = async {
            let exec = self.docker.create_exec(name, config).await.ok()?;
            let detached = bollard::exec::StartExecOptions { detach: true, ..Default::default() };
            self.docker.start_exec(&exec.id, Some(detached)).await.ok()?;
            loop {
                let state = self.docker.inspect_exec(&exec.id).await.ok()?;
                if state.running != Some(true) {
                    return Some(state.exit_code == Some(0));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        matches!(tokio::time::timeout(timeout, checked).await, Ok(Some(true)))
    }

    pub async fn remove(&self, name: &str) {
        let options = RemoveContainerOptions { force: true, ..Default::default() };
        if let Err(e) = self.docker.remove_container(name, Some(options)).await {
            tracing::debug!(container = name, error = %e, "cannot remove a docker container");
        }
    }
}

/// A task's started container, as the agent watches it (just started, or found again by an
/// agent that restarted).
pub struct DockerTask {
    pub runtime: DockerRuntime,
    pub name: String,
    /// Where its output goes; `None` for a container found again (its output stays with
    /// docker: `docker logs NAME`).
    pub output: Option<Output>,
}

impl std::fmt::Debug for DockerTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerTask").field("name", &self.name).finish()
    }
}

impl DockerTask {
    /// Copies the container's output, waits for it while serving kills (SIGTERM, then SIGKILL
    /// when the grace ends), and removes it.
    pub async fn supervise(self, kills: watch::Receiver<Option<Duration>>) -> Exit {
        let docker = self.runtime.docker.clone();
        let name = self.name.clone();
        let copying = self.output.map(|output| tokio::spawn(copy_logs(docker.clone(), name.clone(), output)));
        let waited = async {
            let mut wait = docker.wait_container(&name, None);
            match wait.next().await {
                Some(Ok(answer)) => exit_of(answer.status_code),
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => exit_of(code),
                Some(Err(e)) => Ended::WaitFailed(format!("cannot wait for the container: {e}")),
                None => Ended::WaitFailed("docker ended the wait without an answer".to_string()),
            }
        };
        let signal = |signal: nix::sys::signal::Signal| {
            let (docker, name) = (docker.clone(), name.clone());
            tokio::spawn(async move {
                let options = KillContainerOptions { signal: signal.as_str().to_string() };
                let _ = docker.kill_container(&name, Some(options)).await;
            });
        };
        let (ended, killed) = crate::process::serve_kills(waited, signal, kills).await;
        let oom = docker
            .inspect_container(&name, None)
            .await
            .ok()
            .and_then(|c| c.state)
            .and_then(|s| s.oom_killed)
            .unwrap_or(false);
        if let Some(copying) = copying {
            // The log stream ends with the container; it is not waited for long.
            let _ = tokio::time::timeout(Duration::from_secs(5), copying).await;
        }
        self.runtime.remove(&name).await;
        Exit { ended, killed, oom }
    }
}

/// How a container ended, from its exit code: above 128, killed by that signal less 128, as a
/// shell reports it.
fn exit_of(code: i64) -> Ended {
    let code = i32::try_from(code).unwrap_or(i32::MAX);
    crate::sandbox::parse_exit(&code.to_string()).unwrap_or(Ended::Code(code))
}

/// Copies the container's stdout and stderr, as docker streams them, to the sandbox's files.
async fn copy_logs(docker: Docker, name: String, output: Output) {
    use std::io::Write as _;
    let (mut stdout, mut stderr) = (output.stdout, output.stderr);
    let options = LogsOptions { follow: true, stdout: true, stderr: true, ..Default::default() };
    let mut logs = docker.logs(&name, Some(options));
    while let Some(Ok(chunk)) = logs.next().await {
        let written = match chunk {
            bollard::container::LogOutput::StdOut { message } | bollard::container::LogOutput::Console { message } => {
                stdout.write_all(&message)
            }
            bollard::container::LogOutput::StdErr { message } => stderr.write_all(&message),
            bollard::container::LogOutput::StdIn { .. } => Ok(()),
        };
        if written.is_err() {
            break;
        }
    }
}
