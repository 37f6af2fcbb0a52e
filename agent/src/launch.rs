//! A launch: the task's sandbox, user, GPUs, cgroup and process, its watcher, and its
//! health checks.

use super::*;

impl Agent {
    pub(crate) fn launch(&mut self, launch: LaunchCommand) {
        let key = TaskKey::new(&launch.framework_id, &launch.task.task_id);
        if self.tasks.contains_key(&key) || self.ended.contains(&key) {
            tracing::debug!(task_id = %key.task_id, "ignoring a launch of a known task");
            return;
        }
        let Some(agent_id) = self.agent_id.clone() else {
            tracing::warn!(task_id = %key.task_id, "ignoring a launch while unregistered");
            return;
        };
        if launch.task.container.is_some() || !launch.task.fetch.is_empty() {
            return self.launch_prepared(launch, agent_id);
        }
        let started = self.start_with_gpus(&launch, |agent, gpus| agent.start_process(&launch, &agent_id, gpus, None));
        match started {
            Ok(((process, check), gpus)) => {
                let status = tasks::status(&launch, &agent_id, TaskState::Running);
                self.tasks.insert(key.clone(), Task::new(launch, status, None, Vec::new()));
                self.on_started(&key, process::Running::Child(process), check, gpus);
            }
            Err(e) => self.launch_failed(launch, &agent_id, &e),
        }
    }

    /// Takes a launch's GPUs and starts it with `start`; gives them back if it cannot start.
    pub(crate) fn start_with_gpus<T>(
        &mut self,
        launch: &LaunchCommand,
        start: impl FnOnce(&Agent, &[u32]) -> Result<T, AgentError>,
    ) -> Result<(T, Vec<u32>), AgentError> {
        let gpus = self.take_gpus(launch)?;
        match start(self, &gpus) {
            Ok(started) => Ok((started, gpus)),
            Err(e) => {
                self.gpus.give_back(&gpus);
                Err(e)
            }
        }
    }

    /// Reports a launch that failed before its task could start.
    pub(crate) fn launch_failed(&mut self, launch: LaunchCommand, agent_id: &AgentId, error: &AgentError) {
        let key = TaskKey::new(&launch.framework_id, &launch.task.task_id);
        self.metrics.launch_errors.inc();
        tracing::warn!(framework_id = %key.framework_id, task_id = %key.task_id, error = %error, "launch failed");
        let status = tasks::launch_failed_status(&launch, agent_id, error);
        self.updates.push(status.clone(), Instant::now());
        self.tasks.insert(key.clone(), Task::new(launch, status, None, Vec::new()));
        self.save(&key);
        self.refresh_metrics();
    }

    /// A known task's process started: watch it, report it `running` and checkpoint it.
    pub(crate) fn on_started(
        &mut self,
        key: &TaskKey,
        running: process::Running,
        check_command: Option<process::ProcessSpec>,
        gpus: Vec<u32>,
    ) {
        let Some(launch) = self.tasks.get(key).map(|t| t.launch.clone()) else { return };
        let pid = running.pid();
        tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, pid, "task started");
        let (kill, health) = self.watch(key, &launch, running, check_command, &cgroup_name(key));
        let Some(task) = self.tasks.get_mut(key) else { return };
        let status = tasks::status(&launch, &task.latest.agent_id, TaskState::Running);
        task.process = pid.and_then(|pid| process::start_time(pid).map(|start| (pid, start)));
        task.kill = Some(kill);
        task.health = health;
        task.gpus = gpus;
        task.latest = status.clone();
        self.updates.push(status, Instant::now());
        self.save(key);
        self.refresh_metrics();
    }

    /// Watches a running task's process for its end, and runs its health check; returns the
    /// sender of kill requests and the health tracker.
    pub(crate) fn watch(
        &self,
        key: &TaskKey,
        launch: &LaunchCommand,
        running: process::Running,
        check_command: Option<process::ProcessSpec>,
        group: &str,
    ) -> (watch::Sender<Option<Duration>>, Option<health::Tracker>) {
        let (kill, kill_rx) = watch::channel(None);
        let mut tracker = None;
        if let Some(check) = launch.task.health_check.clone() {
            tracker = Some(health::Tracker::new(&check, Instant::now()));
            let alive = kill.subscribe();
            let group =
                self.cgroups.as_ref().map(|c| cgroups::TaskCgroup { cgroups: c.clone(), name: group.to_string() });
            let docker_task =
                launch.task.container.as_ref().is_some_and(|c| c.kind == agora_api::Containerizer::Docker);
            let docker = self.docker.as_ref().filter(|_| docker_task).map(|d| (d.clone(), d.name(launch)));
            tokio::spawn(health::run(key.clone(), check, check_command, docker, group, alive, self.health_tx.clone()));
        }
        let exits = self.exits_tx.clone();
        let watched = key.clone();
        tokio::spawn(async move {
            let exit = running.supervise(kill_rx).await;
            // Fails only once the agent loop has returned, when nobody needs to know.
            let _ = exits.send((watched, exit)).await;
        });
        (kill, tracker)
    }

    /// What a task's command health check runs, if it has one.
    pub(crate) fn check_command(&self, launch: &LaunchCommand) -> Option<process::ProcessSpec> {
        if launch.task.container.is_some() {
            return self.container_check(launch);
        }
        let agora_api::Check::Command(line) = &launch.task.health_check.as_ref()?.check else { return None };
        let user = self.users.for_task(launch.task.user.as_deref()).ok()?;
        let sandbox = tasks::sandbox_dir(&self.config.work_dir, &launch.framework_id, &launch.task.task_id).ok()?;
        let switch_to = self.users.must_switch(&user).then_some(&user);
        let agent_id = self.agent_id.clone().unwrap_or_else(|| launch.task.agent_id.clone());
        let spec = tasks::process_spec(launch, &agent_id, &sandbox, switch_to).ok()?;
        Some(check_spec(line, &spec))
    }

    /// The GPUs a launch asks for, taken from the free ones (none when the host has no GPU
    /// devices to hand out).
    pub(crate) fn take_gpus(&mut self, launch: &LaunchCommand) -> Result<Vec<u32>, AgentError> {
        let wanted = launch.task.resources.gpus;
        if !self.gpus.has_devices() || wanted == 0.0 {
            return Ok(Vec::new());
        }
        if wanted.fract() != 0.0 {
            return Err(AgentError::InvalidTask(format!("GPUs are handed out whole, not {wanted}")));
        }
        self.gpus
            .take(wanted as usize)
            .ok_or_else(|| AgentError::InvalidTask(format!("{wanted} GPUs asked for, fewer are free on this agent")))
    }

    /// Makes the task's sandbox, owned by the user it runs as, and starts its process. Returns
    /// it with what its command health check runs, if it has one.
    pub(crate) fn start_process(
        &self,
        launch: &LaunchCommand,
        agent_id: &AgentId,
        gpus: &[u32],
        staged: Option<&std::path::Path>,
    ) -> Result<(process::TaskProcess, Option<process::ProcessSpec>), AgentError> {
        let user = self.users.for_task(launch.task.user.as_deref())?;
        let owner = self.users.must_switch(&user).then_some((user.uid, user.gid));
        let volumes = volumes::prepare(&self.config.work_dir, &launch.volumes, owner)?;
        let (fw, task) = (&launch.framework_id, &launch.task.task_id);
        let (sandbox, output) = sandbox::Sandbox::create(&self.config.work_dir, fw, task, owner, &volumes)?;
        if let Some(staged) = staged {
            crate::fetch::move_into(staged, sandbox.path(), owner)?;
        }
        let switch_to = self.users.must_switch(&user).then_some(&user);
        let mut spec = tasks::process_spec(launch, agent_id, sandbox.path(), switch_to)?;
        if self.gpus.has_devices() {
            // What CUDA may see: the task's GPUs only, none for a task that asked for none.
            let visible = self.gpus.visible_devices(gpus);
            spec.env.retain(|(k, _)| k != "CUDA_VISIBLE_DEVICES" && k != "NVIDIA_VISIBLE_DEVICES");
            spec.env.push(("CUDA_VISIBLE_DEVICES".into(), visible.clone().into()));
            spec.env.push(("NVIDIA_VISIBLE_DEVICES".into(), visible.into()));
        }
        let check = launch.task.health_check.as_ref().and_then(|h| match &h.check {
            agora_api::Check::Command(line) => Some(check_spec(line, &spec)),
            _ => None,
        });
        Ok((self.spawn_task(launch, gpus, &spec, output)?, check))
    }

    /// Starts a task's process: in its cgroup, made with the task's limits, when the agent
    /// isolates tasks.
    pub(crate) fn spawn_task(
        &self,
        launch: &LaunchCommand,
        gpus: &[u32],
        spec: &process::ProcessSpec,
        output: sandbox::Output,
    ) -> Result<process::TaskProcess, AgentError> {
        let Some(cgroups) = &self.cgroups else { return process::spawn(spec, Some(output), None) };
        let group = cgroups::TaskCgroup {
            cgroups: cgroups.clone(),
            name: cgroup_name(&TaskKey::new(&launch.framework_id, &launch.task.task_id)),
        };
        let resources = &launch.task.resources;
        let deny_devices = self.gpus.others(gpus).into_iter().map(|minor| (gpus::NVIDIA_MAJOR, minor)).collect();
        let limits = cgroups::Limits {
            cpus: resources.cpus,
            mem_mib: resources.mem,
            pids: cgroups::DEFAULT_PIDS_MAX,
            deny_devices,
        };
        let started =
            cgroups.create(&group.name, &limits).and_then(|()| process::spawn(spec, Some(output), Some(group.clone())));
        if started.is_err() {
            // The process never got in, or was killed when it could not: wait for it to go.
            tokio::spawn(async move { group.destroy().await });
        }
        started
    }

    /// A health check result: reports a change of health, and kills a task that failed too
    /// many in a row.
    pub(crate) fn on_health(&mut self, key: TaskKey, passed: bool) {
        let Some(task) = self.tasks.get_mut(&key).filter(|t| t.is_running() && !t.discarded) else { return };
        let Some(tracker) = &mut task.health else { return };
        let verdict = tracker.record(passed, Instant::now());
        if let Some(healthy) = verdict.report {
            let mut status = tasks::status(&task.launch, &task.latest.agent_id, TaskState::Running);
            status.healthy = Some(healthy);
            status.reason = Some(agora_api::types::reason::TASK_HEALTH_CHECK_STATUS_UPDATED.to_string());
            status.message = Some(if healthy { "health check passed" } else { "health check failed" }.to_string());
            tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, healthy, "task health changed");
            task.latest = status.clone();
            self.updates.push(status, Instant::now());
            self.save(&key);
        }
        let Some(task) = self.tasks.get_mut(&key) else { return };
        if verdict.kill && !task.unhealthy {
            tracing::warn!(framework_id = %key.framework_id, task_id = %key.task_id, "killing a task that failed its health checks");
            task.unhealthy = true;
            if let Some(kill) = &task.kill {
                kill.send_replace(Some(tasks::kill_grace(&task.launch)));
            }
        }
    }
}

/// A task's cgroup, below the agent's.
pub(crate) fn cgroup_name(key: &TaskKey) -> String {
    cgroups::task_group(&key.framework_id, &key.task_id)
}

/// A command health check's process: the task's user, sandbox and environment.
fn check_spec(line: &str, task: &process::ProcessSpec) -> process::ProcessSpec {
    process::ProcessSpec {
        program: "/bin/sh".to_string(),
        args: vec!["-c".to_string(), line.to_string()],
        // Not the task's: a check's end must not pass for the task's.
        exit_file: None,
        ..task.clone()
    }
}
