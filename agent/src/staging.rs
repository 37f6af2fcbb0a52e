//! Launches that need something before they can start: a container's image and network, and
//! the artifacts of `fetch`. The task is `starting` while they are readied in a tokio task of
//! its own (a cold pull or a download can take minutes, and the agent loop never waits on the
//! network); a kill meanwhile abandons them. When all is there, the loop makes the sandbox and
//! starts the task as any other.

use super::*;
use crate::containers::{container_id, BundleRequest};
use crate::images::Image;
use crate::launch::cgroup_name;
use agora_api::containers::PullPolicy;
use agora_api::types::reason;
use agora_api::Containerizer;
use std::path::PathBuf;

/// How a task's preparation ended.
pub(crate) enum Prepared {
    /// The image (for an oci container) and the staged artifacts (for a `fetch`); or a
    /// docker container already started, with its output files.
    Ready {
        image: Option<Image>,
        staged: Option<PathBuf>,
        docker: Option<(String, sandbox::Output)>,
    },
    Killed,
    Failed {
        reason: &'static str,
        message: String,
    },
}

impl Prepared {
    fn failed(reason: &'static str, message: impl std::fmt::Display) -> Prepared {
        Prepared::Failed { reason, message: message.to_string() }
    }
}

impl Agent {
    /// Starts preparing a launch with a container or artifacts to fetch: reports it `starting`
    /// and readies them off the loop.
    pub(crate) fn launch_prepared(&mut self, launch: LaunchCommand, agent_id: AgentId) {
        let key = TaskKey::new(&launch.framework_id, &launch.task.task_id);
        let runtime = match (launch.task.container.as_ref().map(|c| c.kind), &self.oci, &self.docker) {
            (None, _, _) => Runtime::None,
            (Some(Containerizer::Oci), Some(oci), _) => Runtime::Oci(oci.clone()),
            (Some(Containerizer::Docker), _, Some(docker)) => match self.docker_container(&launch, &agent_id, docker) {
                Ok(container) => Runtime::Docker(Box::new(container)),
                Err(e) => return self.launch_failed(launch, &agent_id, &e),
            },
            (Some(kind), _, _) => {
                let error = AgentError::InvalidTask(format!("this agent has no {} containerizer", kind.as_str()));
                return self.launch_failed(launch, &agent_id, &error);
            }
        };
        let (kill, mut kills) = watch::channel(None);
        let status = tasks::status(&launch, &agent_id, TaskState::Starting);
        self.updates.push(status.clone(), Instant::now());
        self.tasks.insert(key.clone(), Task::new(launch.clone(), status, Some(kill), Vec::new()).preparing());
        self.save(&key);
        self.refresh_metrics();
        let prepared = self.prepared_tx.clone();
        let fetcher = self.fetcher.clone();
        tokio::spawn(async move {
            let outcome = tokio::select! {
                outcome = prepare(&launch, runtime, fetcher) => outcome,
                () = killed(&mut kills) => Prepared::Killed,
            };
            // Fails only once the agent loop has returned.
            let _ = prepared.send((key, outcome)).await;
        });
    }

    /// A task's preparation ended: start it, or report why it never will.
    pub(crate) fn on_prepared(&mut self, key: TaskKey, outcome: Prepared) {
        let Some(task) = self.tasks.get_mut(&key).filter(|t| t.preparing) else { return };
        task.preparing = false;
        if task.discarded {
            self.tasks.remove(&key);
            return;
        }
        let killed = task.kill.as_ref().is_some_and(|k| k.borrow().is_some());
        let agent_id = task.latest.agent_id.clone();
        let launch = task.launch.clone();
        let outcome = if killed { Prepared::Killed } else { outcome };
        let (image, staged) = match outcome {
            Prepared::Ready { docker: Some((name, output)), .. } => {
                let Some(runtime) = self.docker.clone() else { return };
                let task = crate::docker::DockerTask { runtime, name, output: Some(output) };
                return self.on_started(&key, process::Running::Docker(Box::new(task)), None, Vec::new());
            }
            Prepared::Ready { image, staged, docker: None } => (image, staged),
            Prepared::Killed | Prepared::Failed { .. } => {
                let (state, why, message) = match outcome {
                    Prepared::Failed { reason, message } => (TaskState::Failed, reason, message),
                    _ => (TaskState::Killed, reason::KILLED_BY_FRAMEWORK, "killed before it started".to_string()),
                };
                let status = TaskStatus {
                    reason: Some(why.to_string()),
                    message: Some(message),
                    ..tasks::status(&launch, &agent_id, state)
                };
                self.discard_prepared(&launch);
                return self.end_unstarted(&key, status);
            }
        };
        let started = self.start_with_gpus(&launch, |agent, gpus| match &image {
            Some(image) => agent.start_container(&launch, &agent_id, gpus, image, staged.as_deref()),
            None => agent.start_process(&launch, &agent_id, gpus, staged.as_deref()),
        });
        match started {
            Ok(((process, check), gpus)) => self.on_started(&key, process::Running::Child(process), check, gpus),
            Err(e) => {
                self.metrics.launch_errors.inc();
                tracing::warn!(framework_id = %key.framework_id, task_id = %key.task_id, error = %e, "launch failed");
                self.discard_prepared(&launch);
                self.end_unstarted(&key, tasks::launch_failed_status(&launch, &agent_id, &e));
            }
        }
    }

    /// Ends a task that never started with `status`.
    pub(crate) fn end_unstarted(&mut self, key: &TaskKey, status: TaskStatus) {
        let Some(task) = self.tasks.get_mut(key) else { return };
        tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, state = status.state.as_str(), message = status.message.as_deref().unwrap_or(""), "task ended before it started");
        task.kill = None;
        task.preparing = false;
        task.latest = status.clone();
        self.updates.push(status, Instant::now());
        self.save(key);
        self.refresh_metrics();
    }

    /// Makes the container of a launch whose image is here, and starts it under the
    /// supervising shell in the task's cgroup.
    fn start_container(
        &self,
        launch: &LaunchCommand,
        agent_id: &AgentId,
        gpus: &[u32],
        image: &Image,
        staged: Option<&std::path::Path>,
    ) -> Result<(process::TaskProcess, Option<process::ProcessSpec>), AgentError> {
        let oci = self.oci.as_ref().ok_or_else(|| AgentError::InvalidTask("no oci containerizer".to_string()))?;
        let named = launch.task.user.as_deref().map(|u| self.users.for_task(Some(u))).transpose()?;
        let user = containers::container_user(named, image, self.users.default_user(), self.users.allows_root())?;
        let owner = Some((user.uid, user.gid));
        let work_dir = &self.config.work_dir;
        let volumes = volumes::prepare(work_dir, &launch.volumes, owner)?;
        let (fw, task) = (&launch.framework_id, &launch.task.task_id);
        // Volumes are mounted into the container, not linked into the sandbox.
        let (sandbox, output) = sandbox::Sandbox::create(work_dir, fw, task, owner, &[])?;
        if let Some(staged) = staged {
            crate::fetch::move_into(staged, sandbox.path(), owner)?;
        }
        let key = TaskKey::new(fw, task);
        let id = container_id(fw.as_str(), task.as_str());
        let request = BundleRequest {
            launch,
            agent_id,
            image,
            user: &user,
            sandbox: sandbox.path(),
            volumes: &volumes,
            cgroup: self.cgroups.as_ref().map(|_| format!("/{}/{}", cgroups::agent_root(work_dir), cgroup_name(&key))),
            hostname: &self.config.hostname,
            gpus,
            // What CUDA may see: the task's GPUs only, none for a task that asked for none.
            visible_devices: self.gpus.has_devices().then(|| self.gpus.visible_devices(gpus)),
        };
        let (program, args) = oci.bundle(&id, &request)?;
        let spec = process::ProcessSpec {
            program,
            args,
            env: vec![(
                "PATH".into(),
                tasks::inherited_env(std::env::vars_os()).remove(std::ffi::OsStr::new("PATH")).unwrap_or_default(),
            )],
            dir: sandbox.path().to_path_buf(),
            // runc must be root; the container's process runs as `user`.
            switch_to: None,
            exit_file: Some(oci.exit_file(&id)),
        };
        let check = self.container_check(launch);
        Ok((self.spawn_task(launch, gpus, &spec, output)?, check))
    }

    /// Makes the sandbox of a docker task and the description of its container, which its
    /// preparation creates and starts once the image is pulled. It runs as the task's user, or
    /// the agent's default task user.
    fn docker_container(
        &self,
        launch: &LaunchCommand,
        agent_id: &AgentId,
        docker: &crate::docker::DockerRuntime,
    ) -> Result<DockerLaunch, AgentError> {
        if launch.task.resources.gpus > 0.0 && self.gpus.has_devices() {
            return Err(AgentError::InvalidTask("GPUs are handed to oci containers, not docker ones".to_string()));
        }
        let user = self.users.for_task(launch.task.user.as_deref())?;
        let owner = (user.uid, user.gid);
        let work_dir = &self.config.work_dir;
        let volumes = volumes::prepare(work_dir, &launch.volumes, Some(owner))?;
        let (sandbox, output) =
            sandbox::Sandbox::create(work_dir, &launch.framework_id, &launch.task.task_id, Some(owner), &[])?;
        let body = docker.container(launch, agent_id, owner, sandbox.path(), &volumes)?;
        Ok(DockerLaunch {
            runtime: docker.clone(),
            name: docker.name(launch),
            body,
            output,
            sandbox: sandbox.path().to_path_buf(),
            owner,
        })
    }

    /// What a container task's command health check runs: the line, inside the container.
    pub(crate) fn container_check(&self, launch: &LaunchCommand) -> Option<process::ProcessSpec> {
        let agora_api::Check::Command(line) = &launch.task.health_check.as_ref()?.check else { return None };
        let oci = self.oci.as_ref()?;
        let id = container_id(launch.framework_id.as_str(), launch.task.task_id.as_str());
        let (program, args) = oci.exec(&id, line);
        let sandbox = tasks::sandbox_dir(&self.config.work_dir, &launch.framework_id, &launch.task.task_id).ok()?;
        Some(process::ProcessSpec {
            program,
            args,
            env: vec![(
                "PATH".into(),
                tasks::inherited_env(std::iter::empty()).remove(std::ffi::OsStr::new("PATH")).unwrap_or_default(),
            )],
            dir: sandbox,
            switch_to: None,
            exit_file: None,
        })
    }

    /// What runc said went wrong with a task's container, if anything.
    pub(crate) fn runc_error(&self, launch: &LaunchCommand) -> Option<String> {
        let (oci, _) = (self.oci.as_ref()?, launch.task.container.as_ref()?);
        oci.runc_error(&container_id(launch.framework_id.as_str(), launch.task.task_id.as_str()))
    }

    /// Removes what was readied for a task that will not start: its container and its
    /// staged artifacts.
    fn discard_prepared(&self, launch: &LaunchCommand) {
        self.remove_container(launch);
        let docker_task = launch.task.container.as_ref().is_some_and(|c| c.kind == Containerizer::Docker);
        if let (Some(docker), true) = (&self.docker, docker_task) {
            let (docker, name) = (docker.clone(), docker.name(launch));
            // A container started just as its task was killed.
            tokio::spawn(async move { docker.remove(&name).await });
        }
        if let Some(fetcher) = &self.fetcher {
            let _ = std::fs::remove_dir_all(fetcher.staging(&staging_id(launch)));
        }
    }

    /// Removes, now, every container no running task holds: at start, those of tasks that
    /// ended or that no checkpoint names; when stopping, what removals in the background left.
    pub(crate) fn remove_idle_containers(&self) {
        let running: Vec<&LaunchCommand> = self
            .tasks
            .values()
            .filter(|t| t.is_running() && t.launch.task.container.is_some())
            .map(|t| &t.launch)
            .collect();
        if let Some(oci) = &self.oci {
            oci.remove_unknown(&running.iter().map(|l| staging_id(l)).collect());
        }
        if let Some(docker) = &self.docker {
            let (docker, held) = (docker.clone(), running.iter().map(|l| docker.name(l)).collect());
            tokio::spawn(async move { docker.remove_unknown(&held).await });
        }
    }

    /// Removes the container of an ended task, in the background.
    pub(crate) fn remove_container(&self, launch: &LaunchCommand) {
        let oci_task = launch.task.container.as_ref().is_some_and(|c| c.kind == Containerizer::Oci);
        let (Some(oci), true) = (&self.oci, oci_task) else { return };
        let (oci, id) = (oci.clone(), container_id(launch.framework_id.as_str(), launch.task.task_id.as_str()));
        tokio::task::spawn_blocking(move || oci.remove(&id));
    }
}

/// The name of a launch's staging directory for fetched artifacts (its container's id).
fn staging_id(launch: &LaunchCommand) -> String {
    container_id(launch.framework_id.as_str(), launch.task.task_id.as_str())
}

/// Readies a launch: its container's image, bundle directory and network, and its artifacts.
/// Which containerizer readies a launch.
enum Runtime {
    None,
    Oci(containers::SharedOci),
    Docker(Box<DockerLaunch>),
}

/// A docker task's container, described, with the sandbox made for it.
struct DockerLaunch {
    runtime: crate::docker::DockerRuntime,
    name: String,
    body: bollard::models::ContainerCreateBody,
    output: sandbox::Output,
    sandbox: PathBuf,
    owner: (u32, u32),
}

async fn prepare(launch: &LaunchCommand, runtime: Runtime, fetcher: Option<Arc<crate::fetch::Fetcher>>) -> Prepared {
    let mut image = None;
    let runtime = match (runtime, launch.task.container.as_ref()) {
        (Runtime::Docker(docker), Some(container)) => {
            if let Err(e) = docker.runtime.pull(&container.image, container.pull).await {
                return Prepared::failed(reason::IMAGE_PULL_FAILED, e);
            }
            Runtime::Docker(docker)
        }
        (runtime, _) => runtime,
    };
    if let (Runtime::Oci(oci), Some(container)) = (&runtime, launch.task.container.as_ref()) {
        let oci = oci.clone();
        let policy = match container.pull {
            PullPolicy::IfMissing => crate::images::Pull::IfMissing,
            PullPolicy::Always => crate::images::Pull::Always,
        };
        match oci.images.pull(&container.image, policy).await {
            Ok(pulled) => image = Some(pulled),
            Err(e) => return Prepared::failed(reason::IMAGE_PULL_FAILED, e),
        }
        let (readied, id, owned) = (oci.clone(), staging_id(launch), launch.clone());
        let grew = image.as_ref().is_some_and(|i| i.downloaded);
        // Keeps the cache in its budget when this pull added to it (the image just pulled is
        // the newest, so it goes last), and makes the bundle's directory and network.
        let made = tokio::task::spawn_blocking(move || {
            if grew {
                readied.collect_images();
            }
            readied.prepare(&id, &owned)
        })
        .await;
        match made {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Prepared::failed(reason::LAUNCH_FAILED, e),
            Err(e) => return Prepared::failed(reason::LAUNCH_FAILED, e),
        }
    }
    let mut staged = None;
    if !launch.task.fetch.is_empty() {
        let Some(fetcher) = fetcher else {
            return Prepared::failed(reason::FETCH_FAILED, "this agent cannot fetch artifacts");
        };
        match fetcher.fetch_all(&staging_id(launch), &launch.task.fetch).await {
            Ok(dir) => staged = Some(dir),
            Err(e) => return Prepared::failed(reason::FETCH_FAILED, e.0),
        }
    }
    if let Runtime::Docker(docker) = runtime {
        let DockerLaunch { runtime, name, body, output, sandbox, owner } = *docker;
        if let Some(staged) = staged {
            let moved =
                tokio::task::spawn_blocking(move || crate::fetch::move_into(&staged, &sandbox, Some(owner))).await;
            match moved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Prepared::failed(reason::FETCH_FAILED, e),
                Err(e) => return Prepared::failed(reason::FETCH_FAILED, e),
            }
        }
        // Started before the task is reported running: an agent that dies after this finds
        // the container by its name.
        return match runtime.start(&name, body).await {
            Ok(()) => Prepared::Ready { image: None, staged: None, docker: Some((name, output)) },
            Err(e) => Prepared::failed(reason::LAUNCH_FAILED, e),
        };
    }
    Prepared::Ready { image, staged, docker: None }
}

/// Resolves once a kill is asked for on `kills`, or never if the sender is gone.
async fn killed(kills: &mut watch::Receiver<Option<Duration>>) {
    loop {
        if kills.borrow_and_update().is_some() {
            return;
        }
        if kills.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
