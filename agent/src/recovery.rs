//! Recovery after a restart: the tasks checkpointed in the work directory, found again by
//! their supervising shells, or reported ended.

use super::*;
use crate::launch::cgroup_name;

impl Agent {
    /// Finds again the tasks an earlier run of the agent checkpointed: those still running are
    /// watched again, those that ended meanwhile are reported with how they ended (from the
    /// supervising shell's exit file), and unacknowledged updates are queued again.
    pub(crate) fn recover(&mut self) {
        let (saved, unreadable) = checkpoint::load_all(&self.config.work_dir);
        self.metrics.recovery_errors.inc_by(unreadable as u64);
        // Groups no checkpoint names hold tasks the agent died before it recorded (or that it
        // was told to forget): nobody will ever be told of them, so they end.
        let children: std::collections::HashSet<String> =
            self.cgroups.as_ref().map(|c| c.children().into_iter().collect()).unwrap_or_default();
        let groups: HashMap<TaskKey, String> = saved
            .iter()
            .map(|t| {
                let key = TaskKey::new(&t.launch.framework_id, &t.launch.task.task_id);
                // Agents before 0.2 named groups `framework.task`: a task started by one keeps
                // its group across the upgrade.
                let legacy = format!("{}.{}", key.framework_id, key.task_id);
                let name = if !children.contains(&cgroup_name(&key)) && children.contains(&legacy) {
                    legacy
                } else {
                    cgroup_name(&key)
                };
                (key, name)
            })
            .collect();
        if let Some(cgroups) = &self.cgroups {
            let known: std::collections::HashSet<&String> = groups.values().collect();
            for name in children.iter().filter(|n| !known.contains(n)) {
                tracing::warn!(cgroup = %name, "ending processes of a task the agent has no record of");
                let group = cgroups::TaskCgroup { cgroups: cgroups.clone(), name: name.clone() };
                tokio::spawn(async move { group.destroy().await });
            }
        }
        let now = Instant::now();
        for task in saved {
            let key = TaskKey::new(&task.launch.framework_id, &task.launch.task.task_id);
            for update in task.updates.clone() {
                self.updates.push(update, now);
            }
            let sandbox = tasks::sandbox_dir(&self.config.work_dir, &key.framework_id, &key.task_id);
            let alive = task.process.filter(|(pid, start)| process::start_time(*pid) == Some(*start));
            let exit_file = self.exit_file_of(&task.launch);
            let mut recovered = Task { process: task.process, ..Task::new(task.launch, task.latest, None, task.gpus) };
            let docker_task =
                recovered.launch.task.container.as_ref().is_some_and(|c| c.kind == agora_api::Containerizer::Docker);
            if let (true, false, Some(docker)) = (docker_task, recovered.latest.state.is_terminal(), &self.docker) {
                // Found by its name: a container still running is watched again, one that ended
                // meanwhile answers the wait at once with its exit code. Its output stays with
                // docker from here (`docker logs NAME`).
                tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, "re-attaching to a docker container");
                let container =
                    docker::DockerTask { runtime: docker.clone(), name: docker.name(&recovered.launch), output: None };
                self.metrics.recovered.inc();
                let running = process::Running::Docker(Box::new(container));
                let (kill, health) = self.watch(&key, &recovered.launch, running, None, &cgroup_name(&key));
                recovered.kill = Some(kill);
                recovered.health = health;
                self.tasks.insert(key.clone(), recovered);
                self.save(&key);
                continue;
            }
            match (alive, sandbox) {
                (Some((pid, start_time)), Ok(sandbox)) => {
                    self.gpus.claim(&recovered.gpus);
                    tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, pid, "re-attached to a running task");
                    let name = groups.get(&key).cloned().unwrap_or_else(|| cgroup_name(&key));
                    let cgroup =
                        self.cgroups.as_ref().map(|c| cgroups::TaskCgroup { cgroups: c.clone(), name: name.clone() });
                    let adopted = process::AdoptedProcess { pid, start_time, sandbox, exit_file, cgroup };
                    self.metrics.recovered.inc();
                    let check = self.check_command(&recovered.launch);
                    let running = process::Running::Adopted(adopted);
                    let (kill, health) = self.watch(&key, &recovered.launch, running, check, &name);
                    recovered.kill = Some(kill);
                    recovered.health = health;
                }
                (_, sandbox) if !recovered.latest.state.is_terminal() => {
                    let read = sandbox.ok().and_then(|s| process::read_exit(&s, exit_file.as_deref()));
                    let ended = read.unwrap_or_else(|| {
                        self.metrics.recovery_errors.inc();
                        process::Ended::WaitFailed("it ended while the agent was away, and how is unknown".into())
                    });
                    let exit = Exit { ended, killed: false, oom: false };
                    let status = tasks::exit_status(&recovered.launch, &recovered.latest.agent_id, &exit);
                    tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, state = status.state.as_str(), "a task ended while the agent was away");
                    recovered.latest = status.clone();
                    self.updates.push(status, now);
                    // What the task left running in its cgroup ends with it, as it would have.
                    if let Some(cgroups) = &self.cgroups {
                        let name = groups.get(&key).cloned().unwrap_or_else(|| cgroup_name(&key));
                        let group = cgroups::TaskCgroup { cgroups: cgroups.clone(), name };
                        tokio::spawn(async move { group.destroy().await });
                    }
                }
                _ => {}
            }
            self.tasks.insert(key.clone(), recovered);
            self.save(&key);
        }
        // Containers of tasks that ended, or that no checkpoint names, go once their ends are read.
        self.remove_idle_containers();
    }

    /// Where a task's supervising shell writes its exit file when not in its sandbox.
    pub(crate) fn exit_file_of(&self, launch: &LaunchCommand) -> Option<std::path::PathBuf> {
        launch.task.container.as_ref()?;
        let id = containers::container_id(launch.framework_id.as_str(), launch.task.task_id.as_str());
        self.oci.as_ref().map(|oci| oci.exit_file(&id))
    }
}
