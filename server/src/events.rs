//! Event logs: the ordered, bounded history behind each framework's event stream and each
//! agent's command stream. A stream reads the events after the last id its client saw, so a
//! client that reconnects with `Last-Event-ID` gets every later event once, in order.
//!
//! Retention: a log keeps its newest [`RETAINED_EVENTS`] events. A client that resumes from an
//! id older than that is told so with an `error` event (`events_trimmed`) and continues from
//! the oldest event kept.

use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::Notify;

/// How many events each stream keeps for clients that reconnect.
pub const RETAINED_EVENTS: usize = 16_384;

#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub id: u64,
    pub name: &'static str,
    pub data: Arc<str>,
}

/// What a reader gets: the events after its position, and whether some were trimmed away.
pub struct Read {
    pub events: Vec<StoredEvent>,
    pub trimmed: bool,
}

#[derive(Debug)]
pub struct EventLog {
    /// The id just before this log's first event. It is taken from the clock (milliseconds
    /// times 1,000), so a log made after a restart numbers its events above the old log's and
    /// a client that resumes with an id from before the restart is recognised as such.
    base: u64,
    /// The id of the newest event, or `base` while there is none.
    last_id: u64,
    events: VecDeque<StoredEvent>,
    /// Wakes the streams that are waiting for the next event.
    notify: Arc<Notify>,
}

impl Default for EventLog {
    fn default() -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        // Below 2^53, so that JavaScript clients read ids exactly.
        let base = now_ms.saturating_mul(1000);
        EventLog { base, last_id: base, events: VecDeque::new(), notify: Arc::new(Notify::new()) }
    }
}

impl EventLog {
    pub fn append(&mut self, name: &'static str, data: String) -> u64 {
        self.last_id += 1;
        if self.events.len() == RETAINED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(StoredEvent { id: self.last_id, name, data: data.into() });
        self.notify.notify_waiters();
        self.last_id
    }

    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Where a client that last saw `last_event_id` resumes: after it if it is an id of this
    /// log, else `None` (it is from before a restart, or not ours).
    pub fn resume_point(&self, last_event_id: Option<u64>) -> Option<u64> {
        last_event_id.filter(|&id| id >= self.base && id <= self.last_id)
    }

    /// The position before this log's first event.
    pub fn start(&self) -> u64 {
        self.base
    }

    pub fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Up to `max` events with ids above `after`.
    pub fn read_after(&self, after: u64, max: usize) -> Read {
        let first = self.events.front().map(|e| e.id).unwrap_or(self.last_id + 1);
        let trimmed = after < first - 1 && after >= self.base;
        let skip = (after + 1).saturating_sub(first) as usize;
        Read { events: self.events.iter().skip(skip).take(max).cloned().collect(), trimmed }
    }

    /// Wakes every waiting stream without an event, so it re-checks whether it should end.
    pub fn wake(&self) {
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resume_after_an_id() {
        let mut log = EventLog::default();
        let b = log.start();
        for i in 0..5 {
            log.append("update", format!("{{\"n\":{i}}}"));
        }
        let read = log.read_after(b + 2, 10);
        assert_eq!(read.events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![b + 3, b + 4, b + 5]);
        assert!(!read.trimmed);
        assert!(log.read_after(b + 5, 10).events.is_empty());
        assert_eq!(log.read_after(b, 2).events.len(), 2);
        // Ids from another log (before a restart) are not resumed from.
        assert_eq!(log.resume_point(Some(b + 3)), Some(b + 3));
        assert_eq!(log.resume_point(Some(3)), None);
        assert_eq!(log.resume_point(Some(b + 6)), None);
    }

    #[test]
    fn trimming_is_reported() {
        let mut log = EventLog::default();
        for _ in 0..RETAINED_EVENTS + 10 {
            log.append("update", "{}".into());
        }
        let b = log.start();
        let read = log.read_after(b + 3, 1);
        assert!(read.trimmed);
        assert_eq!(read.events[0].id, b + 11);
    }
}
