//! The status update manager: an ordered queue of updates per task, of which only the head is in
//! flight, resent with backoff until the framework acknowledges it. Pure bookkeeping: the caller
//! supplies the clock and does the sending, so every rule here is unit-tested without I/O.
//!
//! Size: a task produces at most two updates (`running`, then a terminal one) and its queue is
//! dropped when the terminal one is acknowledged, so the manager holds at most two updates per
//! task the agent knows.

use agora_api::{AgentId, FrameworkId, TaskId, TaskStatus, UpdateId};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// A task, as status updates and acknowledgements name it: task ids are unique per framework.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    pub framework_id: FrameworkId,
    pub task_id: TaskId,
}

impl TaskKey {
    pub fn new(framework_id: &FrameworkId, task_id: &TaskId) -> TaskKey {
        TaskKey { framework_id: framework_id.clone(), task_id: task_id.clone() }
    }

    pub fn of(status: &TaskStatus) -> TaskKey {
        TaskKey::new(&status.framework_id, &status.task_id)
    }
}

/// What an acknowledgement did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acked {
    /// The update is not the head of its task's queue (a duplicate or a stale ack): nothing changed.
    Ignored,
    /// The head was popped; the next one, if any, is due now.
    Popped,
    /// The head was terminal: the task is forgotten.
    Finished,
}

#[derive(Debug)]
struct Queue {
    updates: VecDeque<TaskStatus>,
    /// When the head is (re)sent next.
    due: Instant,
    /// The wait after the next send; doubles with every send of the same head.
    interval: Duration,
}

#[derive(Debug)]
pub struct UpdateManager {
    // Ordered by task so that batches and tests are deterministic.
    queues: BTreeMap<TaskKey, Queue>,
    first_retry: Duration,
    max_retry: Duration,
}

impl UpdateManager {
    /// `first_retry` is the wait before the first resend; waits double up to `max_retry`.
    pub fn new(first_retry: Duration, max_retry: Duration) -> UpdateManager {
        UpdateManager { queues: BTreeMap::new(), first_retry, max_retry: max_retry.max(first_retry) }
    }

    /// Queues `status` behind the task's earlier updates. It is due at once if it is the head.
    /// An update without an `update_id` cannot be acknowledged, so one is given.
    pub fn push(&mut self, mut status: TaskStatus, now: Instant) {
        status.update_id.get_or_insert_with(UpdateId::random);
        let first_retry = self.first_retry;
        let queue = self.queues.entry(TaskKey::of(&status)).or_insert_with(|| Queue {
            updates: VecDeque::new(),
            due: now,
            interval: first_retry,
        });
        // Not due any sooner for this: the acknowledgement of the head is usually on its way,
        // and a resend now would duplicate it. The next resend carries `latest_state`.
        queue.updates.push_back(status);
    }

    /// The heads due at `now`, in task order; each is scheduled for a resend after its
    /// current interval, which then doubles.
    pub fn due(&mut self, now: Instant) -> Vec<TaskStatus> {
        let max_retry = self.max_retry;
        let mut out = Vec::new();
        for queue in self.queues.values_mut() {
            if queue.due > now {
                continue;
            }
            if let Some(head) = queue.updates.front() {
                let mut head = head.clone();
                head.latest_state = queue.updates.back().filter(|_| queue.updates.len() > 1).map(|u| u.state);
                out.push(head);
                queue.due = now + queue.interval;
                queue.interval = (queue.interval * 2).min(max_retry);
            }
        }
        out
    }

    /// The earliest time a head is due, or `None` when nothing waits for an acknowledgement.
    pub fn next_due(&self) -> Option<Instant> {
        self.queues.values().filter(|q| !q.updates.is_empty()).map(|q| q.due).min()
    }

    /// Records the framework's acknowledgement of `update_id` for the task.
    pub fn acknowledge(&mut self, key: &TaskKey, update_id: &UpdateId, now: Instant) -> Acked {
        let Some(queue) = self.queues.get_mut(key) else {
            return Acked::Ignored;
        };
        let matches_head = queue.updates.front().is_some_and(|head| head.update_id.as_ref() == Some(update_id));
        if !matches_head {
            return Acked::Ignored;
        }
        let terminal = queue.updates.pop_front().is_some_and(|head| head.state.is_terminal());
        if terminal || queue.updates.is_empty() {
            self.queues.remove(key);
            return if terminal { Acked::Finished } else { Acked::Popped };
        }
        queue.due = now;
        queue.interval = self.first_retry;
        Acked::Popped
    }

    /// Takes back heads that [`UpdateManager::due`] handed out but that could not be sent (the
    /// sender was busy): each is due again at `at`, with the backoff it had before.
    pub fn defer(&mut self, unsent: &[TaskStatus], at: Instant) {
        for status in unsent {
            let Some(queue) = self.queues.get_mut(&TaskKey::of(status)) else { continue };
            if queue.updates.front().is_some_and(|head| head.update_id == status.update_id) {
                queue.due = at;
                queue.interval = (queue.interval / 2).max(self.first_retry);
            }
        }
    }

    /// Makes every head due at `now` with a fresh backoff, as after reconnecting to a master
    /// that may never have seen the earlier sends.
    pub fn resend_all(&mut self, now: Instant) {
        for queue in self.queues.values_mut() {
            queue.due = now;
            queue.interval = self.first_retry;
        }
    }

    /// Rewrites the agent id of every queued update, after the master gave this agent a new id.
    pub fn reassign(&mut self, agent_id: &AgentId) {
        for status in self.queues.values_mut().flat_map(|q| q.updates.iter_mut()) {
            status.agent_id = agent_id.clone();
        }
    }

    /// One task's queued updates, head first: what is checkpointed for it.
    pub fn pending(&self, key: &TaskKey) -> Vec<TaskStatus> {
        self.queues.get(key).map(|q| q.updates.iter().cloned().collect()).unwrap_or_default()
    }

    /// Every queued update in order per task, heads first, for a last best-effort send.
    pub fn all_pending(&self) -> Vec<TaskStatus> {
        self.queues.values().flat_map(|q| q.updates.iter().cloned()).collect()
    }

    /// Forgets every update, as when the master has forgotten this agent and its tasks.
    pub fn clear(&mut self) {
        self.queues.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queues.values().map(|q| q.updates.len()).sum()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_api::TaskState;

    const RETRY: Duration = Duration::from_secs(2);

    fn status(task: &str, state: TaskState) -> TaskStatus {
        TaskStatus {
            task_id: TaskId::from(task),
            framework_id: FrameworkId::from("fw"),
            agent_id: AgentId::from("agent"),
            state,
            reason: None,
            message: None,
            exit_code: None,
            healthy: None,
            update_id: Some(UpdateId::random()),
            timestamp: 0.0,
            latest_state: None,
        }
    }

    fn key(task: &str) -> TaskKey {
        TaskKey::new(&FrameworkId::from("fw"), &TaskId::from(task))
    }

    fn id(s: &TaskStatus) -> UpdateId {
        s.update_id.clone().unwrap_or_else(|| UpdateId::from("missing"))
    }

    fn manager() -> UpdateManager {
        UpdateManager::new(RETRY, Duration::from_secs(60))
    }

    #[test]
    fn heads_not_sent_are_due_again_soon_with_their_backoff() {
        let now = Instant::now();
        let mut m = manager();
        m.push(status("a", TaskState::Running), now);
        let sent = m.due(now);
        assert_eq!(m.next_due(), Some(now + RETRY));
        let soon = now + Duration::from_millis(20);
        m.defer(&sent, soon);
        assert_eq!(m.next_due(), Some(soon));
        assert_eq!(m.due(soon).len(), 1);
        // The backoff goes on from where it was, not doubled by the send that did not happen.
        assert_eq!(m.next_due(), Some(soon + RETRY));
    }

    #[test]
    fn only_the_head_of_each_task_is_in_flight_and_order_is_kept() {
        let now = Instant::now();
        let mut m = manager();
        let (a1, a2, b1) =
            (status("a", TaskState::Running), status("a", TaskState::Finished), status("b", TaskState::Running));
        m.push(a1.clone(), now);
        m.push(a2.clone(), now);
        m.push(b1.clone(), now);
        assert_eq!(m.len(), 3);

        let sent = m.due(now);
        // The head of `a` says that `a` has since finished.
        let a1_sent = TaskStatus { latest_state: Some(TaskState::Finished), ..a1.clone() };
        assert_eq!(sent, vec![a1_sent, b1.clone()]);
        // Nothing more until an ack or the retry interval.
        assert!(m.due(now + RETRY / 2).is_empty());

        assert_eq!(m.acknowledge(&key("a"), &id(&a1), now), Acked::Popped);
        assert_eq!(m.due(now), vec![a2.clone()]);
    }

    #[test]
    fn an_unacknowledged_head_is_resent_with_the_same_id_and_doubling_waits() {
        let start = Instant::now();
        let mut m = manager();
        let a1 = status("a", TaskState::Running);
        m.push(a1.clone(), start);
        assert_eq!(m.due(start), vec![a1.clone()]);
        assert_eq!(m.next_due(), Some(start + RETRY));

        let t1 = start + RETRY;
        let resent = m.due(t1);
        assert_eq!(resent.len(), 1);
        assert_eq!(resent[0].update_id, a1.update_id);
        // The second wait is twice the first.
        assert!(m.due(t1 + RETRY).is_empty());
        assert_eq!(m.due(t1 + RETRY * 2), vec![a1.clone()]);

        // Waits stop growing at the maximum.
        let mut t = t1 + RETRY * 2;
        for _ in 0..10 {
            t = m.next_due().unwrap_or(t);
            assert_eq!(m.due(t).len(), 1);
        }
        assert_eq!(m.next_due(), Some(t + Duration::from_secs(60)));
    }

    #[test]
    fn ack_pops_and_terminal_ack_forgets_the_task() {
        let now = Instant::now();
        let mut m = manager();
        let (a1, a2) = (status("a", TaskState::Running), status("a", TaskState::Failed));
        m.push(a1.clone(), now);
        m.push(a2.clone(), now);
        m.due(now);
        // Acknowledging an update that is not yet in flight changes nothing.
        assert_eq!(m.acknowledge(&key("a"), &id(&a2), now), Acked::Ignored);
        assert_eq!(m.acknowledge(&key("a"), &id(&a1), now), Acked::Popped);
        assert_eq!(m.len(), 1);
        m.due(now);
        assert_eq!(m.acknowledge(&key("a"), &id(&a2), now), Acked::Finished);
        assert!(m.is_empty());
        assert_eq!(m.next_due(), None);
        // A late duplicate of the terminal ack is ignored.
        assert_eq!(m.acknowledge(&key("a"), &id(&a2), now), Acked::Ignored);
    }

    #[test]
    fn unknown_acks_are_ignored() {
        let now = Instant::now();
        let mut m = manager();
        let a1 = status("a", TaskState::Running);
        m.push(a1.clone(), now);
        m.due(now);
        assert_eq!(m.acknowledge(&key("a"), &UpdateId::random(), now), Acked::Ignored);
        assert_eq!(m.acknowledge(&key("nope"), &id(&a1), now), Acked::Ignored);
        let other_framework = TaskKey::new(&FrameworkId::from("other"), &TaskId::from("a"));
        assert_eq!(m.acknowledge(&other_framework, &id(&a1), now), Acked::Ignored);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn resend_all_makes_heads_due_again_and_missing_ids_are_filled() {
        let now = Instant::now();
        let mut m = manager();
        let mut a1 = status("a", TaskState::Running);
        a1.update_id = None;
        m.push(a1, now);
        let sent = m.due(now);
        assert!(sent[0].update_id.is_some());
        assert!(m.due(now).is_empty());
        m.resend_all(now);
        assert_eq!(m.due(now), sent);
        m.clear();
        assert!(m.is_empty());
    }

    #[test]
    fn a_resent_head_carries_the_state_of_the_updates_behind_it() {
        let now = Instant::now();
        let mut manager = UpdateManager::new(Duration::from_secs(10), Duration::from_secs(60));
        manager.push(status("t", TaskState::Running), now);
        let first = manager.due(now);
        assert_eq!(first[0].latest_state, None);
        manager.push(status("t", TaskState::Finished), now);
        assert!(manager.due(now).is_empty(), "not due again before its retry");
        let resent = manager.due(now + Duration::from_secs(10));
        assert_eq!((resent[0].state, resent[0].latest_state), (TaskState::Running, Some(TaskState::Finished)));
        assert_eq!(resent[0].update_id, first[0].update_id);
    }
}
