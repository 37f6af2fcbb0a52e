//! The supervisor loop: registration, commands, session events, process exits and the
//! updates they make, until the agent stops.

use super::*;

impl Agent {
    pub(crate) async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
        mut events: mpsc::Receiver<SessionEvent>,
        mut exits: mpsc::Receiver<(TaskKey, Exit)>,
        mut health: mpsc::Receiver<(TaskKey, bool)>,
        mut prepared: mpsc::Receiver<(TaskKey, staging::Prepared)>,
    ) -> Result<(), AgentError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut backoff = Backoff::new(REGISTER_FIRST_RETRY, REGISTER_MAX_RETRY);
        let mut registering: Option<Registration> = Some(self.register(Duration::ZERO));
        let mut gc_at = Instant::now() + self.config.sandbox_gc.interval();
        let mut collecting: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let resend_at = if self.session.is_some() { self.updates.next_due() } else { None };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some((key, exit)) = exits.recv() => self.on_exit(key, exit),
                Some((key, passed)) = health.recv() => self.on_health(key, passed),
                Some((key, outcome)) = prepared.recv() => self.on_prepared(key, outcome),
                Some(event) = events.recv() => {
                    if matches!(event, SessionEvent::Command(_)) {
                        // Commands flowing show the session works; later trouble starts
                        // its backoff afresh.
                        backoff.reset();
                    }
                    self.on_session_event(event);
                }
                result = poll_option(&mut registering) => {
                    registering = None;
                    match result.map_err(AgentError::from).and_then(|r| self.on_registered(r)) {
                        Ok(()) => {}
                        // A refused token will not be accepted on a retry: stop and say so.
                        Err(AgentError::Client(e)) if matches!(e.status(), Some(401 | 403)) => {
                            self.stop(&mut exits).await;
                            return Err(AgentError::Config(format!("the master refused the agent token: {e}")));
                        }
                        Err(e) => {
                            let delay = backoff.next_delay();
                            tracing::warn!(error = %e, retry_in = ?delay, master = %self.client.base(), "cannot register");
                            registering = Some(self.register(delay));
                        }
                    }
                }
                () = sleep_until(resend_at), if resend_at.is_some() => {}
                () = sleep_until(Some(gc_at)) => {
                    gc_at = Instant::now() + self.config.sandbox_gc.interval();
                    if collecting.as_ref().is_none_or(|c| c.is_finished()) {
                        collecting = Some(self.collect_sandboxes());
                    }
                }
            }
            if self.session.is_none() && registering.is_none() {
                registering = Some(self.register(backoff.next_delay()));
            }
            self.send_due_updates();
        }
        drop(registering);
        self.stop(&mut exits).await;
        Ok(())
    }

    /// A registration attempt after `delay`, reporting the tasks that run now.
    pub(crate) fn register(&self, delay: Duration) -> Registration {
        // Ended tasks whose last update is not yet acknowledged are reported too, with that
        // update as their status, so the master does not mistake them for gone.
        let running = self.tasks.values().filter(|t| !t.discarded);
        let body = RegisterAgent {
            agent_id: self.agent_id.clone(),
            hostname: self.config.hostname.clone(),
            resources: self.config.resources.clone(),
            reserved: self.config.reserved.clone(),
            attributes: self.config.attributes.clone(),
            tasks: running
                .map(|t| RunningTask {
                    framework_id: t.launch.framework_id.clone(),
                    task: t.launch.task.clone(),
                    status: t.latest.clone(),
                })
                .collect(),
            containerizers: self.containerizers.clone(),
        };
        let client = self.client.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            client.register_agent(&body).await
        })
    }

    pub(crate) fn on_registered(&mut self, registered: AgentRegistered) -> Result<(), AgentError> {
        let id = registered.agent_id;
        if !id.is_valid() {
            return Err(AgentError::Config(format!("the master gave an invalid agent id `{id}`")));
        }
        if self.agent_id.as_ref() != Some(&id) {
            if let Some(old) = &self.agent_id {
                tracing::warn!(old = %old, new = %id, "the master gave this agent a new id");
            }
            if let Err(e) = state::save_agent_id(&self.config.work_dir, &id) {
                // The agent still works; it will only come back under a new id after a restart.
                tracing::error!(error = %e, "cannot save the agent id");
            }
            self.updates.reassign(&id);
            for task in self.tasks.values_mut() {
                task.latest.agent_id = id.clone();
            }
            let keys: Vec<TaskKey> = self.tasks.keys().cloned().collect();
            for key in &keys {
                self.save(key);
            }
        }
        let heartbeat = Duration::try_from_secs_f64(registered.heartbeat_interval_secs)
            .unwrap_or(FALLBACK_HEARTBEAT)
            .clamp(MIN_HEARTBEAT, MAX_HEARTBEAT);
        self.generation += 1;
        self.session = Some(Session::start(&self.client, &id, self.generation, heartbeat, &self.events_tx));
        tracing::info!(agent_id = %id, ?heartbeat, tasks = self.tasks.len(), "registered with the master");
        self.agent_id = Some(id);
        // The master may have missed earlier sends while it did not know us.
        self.updates.resend_all(Instant::now());
        if let Some(registered) = &self.config.registered {
            registered.notify_one();
        }
        Ok(())
    }

    pub(crate) fn on_session_event(&mut self, event: SessionEvent) {
        match event {
            // Commands of a replaced session are still facts from the master, so they are
            // handled like any other.
            SessionEvent::Command(command) => self.on_command(*command),
            SessionEvent::Forgotten { generation, during } => {
                if self.session.as_ref().is_some_and(|s| s.generation == generation) {
                    tracing::info!(during, "registering again");
                    self.session = None;
                }
            }
        }
    }

    pub(crate) fn on_command(&mut self, command: AgentCommand) {
        match command {
            AgentCommand::Launch(launch) => self.launch(launch),
            AgentCommand::Kill(kill) => self.kill(kill),
            AgentCommand::Acknowledge(ack) => self.acknowledge(ack),
            AgentCommand::ReadLog(read) => self.read_log(read),
            AgentCommand::DestroyVolume(destroy) => match volumes::destroy(&self.config.work_dir, &destroy.id) {
                Ok(()) => tracing::info!(volume = %destroy.id, "persistent volume destroyed"),
                Err(e) => tracing::error!(volume = %destroy.id, error = %e, "cannot destroy a persistent volume"),
            },
            AgentCommand::Shutdown => self.shutdown_command(),
            AgentCommand::Ping => tracing::trace!("ping"),
        }
    }

    /// Deletes old sandboxes of tasks the agent no longer knows, off the agent loop.
    pub(crate) fn collect_sandboxes(&self) -> tokio::task::JoinHandle<()> {
        let live: std::collections::HashSet<TaskKey> = self.tasks.keys().cloned().collect();
        let (work_dir, policy) = (self.config.work_dir.clone(), self.config.sandbox_gc.clone());
        tokio::task::spawn_blocking(move || {
            let deleted = gc::collect(&work_dir, &live, &policy, std::time::SystemTime::now());
            if deleted > 0 {
                tracing::info!(deleted, "deleted the sandboxes of ended tasks");
            }
        })
    }

    pub(crate) fn kill(&mut self, kill: KillCommand) {
        let key = TaskKey::new(&kill.framework_id, &kill.task_id);
        match self.tasks.get(&key) {
            Some(Task { kill: Some(sender), discarded: false, .. }) => {
                let grace = tasks::grace_from_secs(kill.grace_period_secs);
                tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, ?grace, "killing task");
                sender.send_replace(Some(grace));
            }
            _ => tracing::debug!(task_id = %key.task_id, "ignoring a kill of an unknown or ended task"),
        }
    }

    pub(crate) fn acknowledge(&mut self, ack: AcknowledgeCommand) {
        let key = TaskKey::new(&ack.framework_id, &ack.task_id);
        match self.updates.acknowledge(&key, &ack.update_id, Instant::now()) {
            Acked::Finished => {
                if self.tasks.get(&key).is_some_and(|t| !t.is_running()) {
                    self.tasks.remove(&key);
                    checkpoint::forget(&self.config.work_dir, &key);
                    self.ended.insert(key);
                    self.refresh_metrics();
                }
            }
            Acked::Popped => {
                tracing::debug!(task_id = %key.task_id, update_id = %ack.update_id, "acknowledged");
                self.save(&key)
            }
            Acked::Ignored => {
                tracing::debug!(task_id = %key.task_id, update_id = %ack.update_id, "ignoring an unknown ack")
            }
        }
    }

    /// Answers from a separate tokio task, as an answer may wait for output for a while.
    pub(crate) fn read_log(&mut self, command: ReadLogCommand) {
        let Some(agent_id) = self.agent_id.clone() else {
            return;
        };
        let Ok(permit) = self.log_reads.clone().try_acquire_owned() else {
            tracing::warn!(task_id = %command.task_id, "too many log reads at once; dropping one");
            return;
        };
        let key = TaskKey::new(&command.framework_id, &command.task_id);
        // The kill channel closes when the process ends, which is what a follower waits for.
        let liveness = self.tasks.get(&key).and_then(|t| t.kill.as_ref()).map(watch::Sender::subscribe);
        let sandbox = tasks::sandbox_dir(&self.config.work_dir, &command.framework_id, &command.task_id).ok();
        let client = self.client.clone();
        tokio::spawn(async move {
            let running = move || liveness.as_ref().is_some_and(|rx| rx.has_changed().is_ok());
            logs::answer(client, agent_id, sandbox, command, running).await;
            drop(permit);
        });
    }

    /// The master no longer wants this agent: kill everything, forget the id and register as a
    /// new agent. The tasks' ends are not reported, as the master has already written them off.
    pub(crate) fn shutdown_command(&mut self) {
        tracing::warn!(tasks = self.tasks.len(), "the master shut this agent down; registering afresh");
        self.session = None;
        for task in self.tasks.values_mut() {
            task.discarded = true;
            if let Some(kill) = &task.kill {
                kill.send_replace(Some(tasks::kill_grace(&task.launch)));
            }
        }
        self.tasks.retain(|_, t| t.is_running());
        self.updates.clear();
        // A new agent gets a new command log, so nothing old can be replayed to it.
        self.ended.clear();
        self.agent_id = None;
        checkpoint::forget_all(&self.config.work_dir);
        if let Err(e) = state::forget_agent_id(&self.config.work_dir) {
            tracing::error!(error = %e, "cannot forget the agent id");
        }
    }

    pub(crate) fn on_exit(&mut self, key: TaskKey, exit: Exit) {
        let Some(task) = self.tasks.get_mut(&key) else {
            return;
        };
        task.kill = None;
        self.gpus.give_back(&std::mem::take(&mut task.gpus));
        let launch = task.launch.clone();
        let runc_error = self.runc_error(&launch);
        self.remove_container(&launch);
        let Some(task) = self.tasks.get_mut(&key) else { return };
        if task.discarded {
            self.tasks.remove(&key);
            return;
        }
        let mut status = tasks::exit_status(&task.launch, &task.latest.agent_id, &exit);
        if let (Some(error), false) = (runc_error, status.state == TaskState::Finished) {
            status.message = Some(format!("{}; runc: {error}", status.message.unwrap_or_default()));
        }
        if task.unhealthy && status.state == TaskState::Killed {
            status.reason = Some(agora_api::types::reason::TASK_UNHEALTHY.to_string());
            status.healthy = Some(false);
            status.message =
                Some(format!("killed after failing its health checks; {}", status.message.unwrap_or_default()));
        }
        tracing::info!(framework_id = %key.framework_id, task_id = %key.task_id, state = status.state.as_str(), message = status.message.as_deref().unwrap_or(""), "task ended");
        task.latest = status.clone();
        self.updates.push(status, Instant::now());
        self.save(&key);
        self.refresh_metrics();
    }

    /// Sets the metrics' gauges from the tasks the agent knows.
    pub(crate) fn refresh_metrics(&self) {
        let tasks = self.tasks.values().map(|t| (t.latest.state, t.is_running(), &t.launch.task.resources));
        self.metrics.refresh(&self.config.resources, tasks);
    }

    /// Checkpoints what the agent knows of a task, so that a restarted agent finds it again.
    pub(crate) fn save(&self, key: &TaskKey) {
        let Some(task) = self.tasks.get(key).filter(|t| !t.discarded) else { return };
        let saved = checkpoint::Saved {
            launch: task.launch.clone(),
            process: task.process,
            gpus: task.gpus.clone(),
            latest: task.latest.clone(),
            updates: self.updates.pending(key),
        };
        if let Err(e) = checkpoint::save(&self.config.work_dir, &saved) {
            tracing::error!(task_id = %key.task_id, error = %e, "cannot checkpoint a task; a restart of the agent would lose it");
        }
    }

    /// Hands the updates that are due to the session's sender. A batch that does not fit is
    /// dropped; those updates are already scheduled for a resend.
    pub(crate) fn send_due_updates(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        let now = Instant::now();
        let due = self.updates.due(now);
        for batch in due.chunks(MAX_BATCH) {
            if !session.send_updates(batch.to_vec()) {
                // Not after the whole retry interval: an update that waits behind a busy sender
                // (a burst of acknowledgements, each freeing the next update of its task) goes
                // with the next batch.
                tracing::debug!(count = batch.len(), "update sender busy; the batch goes shortly");
                self.updates.defer(batch, now + SENDER_BUSY_RETRY);
            }
        }
    }

    /// Stops the agent: kills its tasks when configured to, else leaves them to the next agent
    /// on this work directory.
    pub(crate) async fn stop(&mut self, exits: &mut mpsc::Receiver<(TaskKey, Exit)>) {
        self.end_preparing();
        if self.config.kill_tasks_on_exit {
            self.kill_all(exits).await;
        } else {
            // Their checkpoints name their processes; `recover` finds them again.
            let running = self.tasks.values().filter(|t| t.is_running()).count();
            tracing::info!(running, "stopping: tasks keep running, for the next agent on this work directory");
        }
        self.send_last_updates().await;
        // Containers are removed in the background as their tasks end; the runtime stops with
        // the agent, so what is left of ended tasks goes now (their mounts and networks would
        // outlive it).
        self.remove_idle_containers();
        self.session = None;
        tracing::info!("agent stopped");
    }

    /// Tasks still pulling their image end: they have no process that could outlive the agent.
    fn end_preparing(&mut self) {
        let preparing: Vec<TaskKey> = self.tasks.iter().filter(|(_, t)| t.preparing).map(|(k, _)| k.clone()).collect();
        for key in preparing {
            let Some(task) = self.tasks.get(&key) else { continue };
            let status = TaskStatus {
                reason: Some(agora_api::types::reason::KILLED_BY_FRAMEWORK.to_string()),
                message: Some("the agent stopped before it started".to_string()),
                ..tasks::status(&task.launch, &task.latest.agent_id, TaskState::Killed)
            };
            self.end_unstarted(&key, status);
        }
    }

    /// Kills every task (SIGTERM, then SIGKILL after its grace) and waits for them within a
    /// bound.
    async fn kill_all(&mut self, exits: &mut mpsc::Receiver<(TaskKey, Exit)>) {
        let mut longest = Duration::ZERO;
        for task in self.tasks.values() {
            if let Some(kill) = &task.kill {
                let grace = tasks::kill_grace(&task.launch).min(MAX_STOP_GRACE);
                longest = longest.max(grace);
                kill.send_replace(Some(grace));
            }
        }
        let running = self.tasks.values().filter(|t| t.is_running()).count();
        tracing::info!(running, "stopping: killing tasks");
        let deadline = Instant::now() + longest + STOP_SLACK;
        while self.tasks.values().any(Task::is_running) {
            tokio::select! {
                Some((key, exit)) = exits.recv() => self.on_exit(key, exit),
                () = sleep_until(Some(deadline)) => {
                    let left = self.tasks.values().filter(|t| t.is_running()).count();
                    tracing::warn!(left, "tasks still running when the agent stopped");
                    break;
                }
            }
        }
    }

    /// One short attempt to tell the master what it has not acknowledged (they stay in the
    /// checkpoints for the next agent too).
    async fn send_last_updates(&mut self) {
        if let (Some(_), Some(agent_id)) = (&self.session, &self.agent_id) {
            let updates = self.updates.all_pending();
            if !updates.is_empty() {
                let body = StatusUpdates { updates };
                let send = self.client.agent_updates(agent_id, &body);
                match tokio::time::timeout(FINAL_SEND_TIMEOUT, send).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot send the last status updates"),
                    Err(_) => tracing::warn!("timed out sending the last status updates"),
                }
            }
        }
    }
}

/// Waits for the future in `slot`, or forever if there is none.
async fn poll_option<F: Future + Unpin>(slot: &mut Option<F>) -> F::Output {
    match slot {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
