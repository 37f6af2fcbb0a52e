//! The embedded store: everything in process memory, written behind to a redb file.
//!
//! Memory is authoritative: every read is served from it, under one mutex, so each commit is
//! atomic and serialised. When the store is opened on a directory, each commit also sends the
//! list of its changes to one writer thread, which applies everything queued since its last
//! write in one redb transaction (group commit), so a commit never waits for the disk.
//!
//! Durability: a commit is on disk once the writer's next transaction ends, normally a few
//! milliseconds later. A crash (SIGKILL, power loss) loses at most the commits still queued;
//! because batches are applied in commit order and each is one redb transaction, what survives
//! is always a prefix of the commit history, never a torn transaction. [`Embedded::close`]
//! writes everything queued before it returns.
//!
//! On disk (`DIR/state.redb`), tables whose composite keys keep each collection's members
//! together, so that deleting a key is one range per table and loading is one scan each:
//!
//! | table     | key                   | value                |
//! |-----------|-----------------------|----------------------|
//! | `records` | key                   | (version, data)      |
//! | `sets`    | (key, member)         | ()                   |
//! | `zsets`   | (key, member)         | score                |
//! | `streams` | (key, id ms, id seq)  | (name, data)         |
//! | `meta`    | `"epoch"`             | the lease epoch      |

use super::{Check, Committed, Entry, Lease, Op, StoreConfig, StoreError, StreamId, Txn, Versioned};
use redb::{Database, Durability, ReadableTable, Table, TableDefinition, WriteTransaction};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

const RECORDS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("records");
const SETS: TableDefinition<(&str, &str), ()> = TableDefinition::new("sets");
const ZSETS: TableDefinition<(&str, &str), f64> = TableDefinition::new("zsets");
const STREAMS: TableDefinition<(&str, u64, u64), (&str, &str)> = TableDefinition::new("streams");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const EPOCH_KEY: &str = "epoch";

/// The most commits the writer puts in one redb transaction, so that a long backlog does not
/// build one unbounded transaction in memory.
const MAX_BATCH: usize = 10_000;

/// The fewest watch registrations before dead ones are swept.
const MIN_SWEEP: usize = 64;

pub struct Embedded {
    state: Mutex<State>,
    watchers: Mutex<Watchers>,
    /// Entries kept per stream; at least 1, so a stream's last id survives a restart.
    retention: usize,
    /// The writer thread, until [`Embedded::close`] or drop waits for it.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Why the writer stopped, once a disk write failed: later writes are refused rather than
    /// kept only in memory, which would let memory and disk drift apart unnoticed.
    failure: Arc<OnceLock<String>>,
}

impl Embedded {
    /// A store that keeps nothing on disk (`memory:`).
    pub fn in_memory(config: StoreConfig) -> Embedded {
        Embedded::new(State::default(), &config, None, Arc::default())
    }

    /// Opens (or creates) `dir/state.redb`, loads it and starts the writer thread. The state
    /// holds every task's command line and environment: `dir` is made 0700 and the file 0600,
    /// whatever the umask and whatever modes they had.
    pub fn open(dir: &std::path::Path, config: StoreConfig) -> Result<Embedded, StoreError> {
        crate::auth::private_dir(dir).map_err(embedded)?;
        let path = dir.join("state.redb");
        private_file(&path)?;
        // Checking integrity turns a damaged file into an error instead of a panic in redb; it
        // reads the whole file, which loading does anyway.
        let db = redb::Builder::new()
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| embedded(format!("open {}: {e}", path.display())))?;
        let mut state = load(&db).map_err(|e| embedded(format!("load {}: {e}", path.display())))?;
        let (tx, rx) = mpsc::channel();
        let failure: Arc<OnceLock<String>> = Arc::default();
        let thread_failure = failure.clone();
        let thread = std::thread::Builder::new()
            .name("agora-store-writer".into())
            .spawn(move || run_writer(db, rx, &thread_failure))
            .map_err(|e| embedded(format!("start the writer thread: {e}")))?;
        state.disk = Disk::Open(tx);
        Ok(Embedded::new(state, &config, Some(thread), failure))
    }

    fn new(state: State, config: &StoreConfig, writer: Option<JoinHandle<()>>, failure: Arc<OnceLock<String>>) -> Self {
        Embedded {
            state: Mutex::new(state),
            watchers: Mutex::default(),
            retention: config.stream_retention.max(1),
            writer: Mutex::new(writer),
            failure,
        }
    }

    pub async fn get(&self, keys: &[String]) -> Result<Vec<Option<Versioned>>, StoreError> {
        let state = self.lock();
        Ok(keys.iter().map(|k| state.records.get(k).cloned()).collect())
    }

    pub async fn members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.lock().sets.get(set).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }

    pub async fn snapshot(
        &self,
        sets: &[(String, String)],
    ) -> Result<Vec<Vec<(String, Option<Versioned>)>>, StoreError> {
        let state = self.lock();
        Ok(sets.iter().map(|(set, prefix)| state.set_with_records(set, prefix)).collect())
    }

    pub async fn zrange_below(&self, zset: &str, max: f64) -> Result<Vec<(String, f64)>, StoreError> {
        Ok(self.lock().zsets.get(zset).map(|z| z.below(max)).unwrap_or_default())
    }

    pub async fn zadd(&self, zset: &str, member: &str, score: f64) -> Result<(), StoreError> {
        {
            let mut state = self.lock();
            self.check_writable(&state)?;
            // A new score for a known member (a heartbeat) stays in memory: writing each one
            // cost the scale benchmark a seventh of the server's time in disk writes and
            // fsyncs, and after a restart the leader gives every agent a fresh grace anyway.
            // A new member is written, so that a restart still knows whom to expect.
            if let Some(z) = state.zsets.get_mut(zset).filter(|z| z.scores.contains_key(member)) {
                z.insert(member, score);
                return Ok(());
            }
        }
        let txn = Txn { checks: Vec::new(), ops: vec![Op::ZAdd(zset.to_string(), member.to_string(), score)] };
        self.commit(&txn).await.map(|_| ())
    }

    pub async fn commit(&self, txn: &Txn) -> Result<Committed, StoreError> {
        let applied = {
            let mut state = self.lock();
            self.check_writable(&state)?;
            if !state.holds(&txn.checks) {
                return Ok(Committed::Conflict);
            }
            let mut applied = Applied::new(state.disk.is_open(), self.retention);
            for op in &txn.ops {
                state.apply(op, &mut applied);
            }
            // Sent under the lock, so the writer sees changes in commit order.
            state.disk.send(applied.log.0.take().unwrap_or_default())?;
            applied
        };
        self.wake(applied.wake);
        Ok(Committed::Done(applied.ids))
    }

    pub async fn read_stream(
        &self,
        stream: &str,
        after: Option<StreamId>,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let state = self.lock();
        let Some(entries) = state.streams.get(stream) else { return Ok(Vec::new()) };
        let start = after.map_or(0, |after| entries.partition_point(|e| e.id <= after));
        Ok(entries.range(start..).take(count).map(Stored::to_entry).collect())
    }

    pub async fn last_id(&self, stream: &str) -> Result<Option<StreamId>, StoreError> {
        Ok(self.lock().streams.get(stream).and_then(VecDeque::back).map(|e| e.id))
    }

    /// The same notifier for a key while anyone holds it, so one wake reaches every watcher.
    pub fn watch(&self, key: &str) -> Arc<Notify> {
        lock(&self.watchers).get(key)
    }

    pub async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        if let Some(held) = state.lease.as_mut().filter(|l| l.until > now) {
            if held.holder == holder {
                held.until = deadline(now, ttl);
            }
            return Ok(Some(held.lease()));
        }
        self.check_writable(&state)?;
        // No need to wait for the new epoch to reach the disk: every later commit is queued
        // behind it, so none of the new leader's writes can survive a crash without it.
        state.epoch += 1;
        let epoch = state.epoch;
        state.disk.send(vec![Change::Epoch(epoch)])?;
        let held = Held { holder: holder.to_string(), epoch, until: deadline(now, ttl) };
        let lease = held.lease();
        state.lease = Some(held);
        Ok(Some(lease))
    }

    pub async fn lease(&self) -> Result<Option<Lease>, StoreError> {
        let state = self.lock();
        Ok(state.lease.as_ref().filter(|l| l.until > Instant::now()).map(Held::lease))
    }

    pub async fn release_lease(&self, holder: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        if state.lease.as_ref().is_some_and(|l| l.holder == holder) {
            state.lease = None;
        }
        Ok(())
    }

    /// Writes everything queued to disk and stops the writer; a file store refuses writes after
    /// this. Does nothing the second time, nor on a memory store.
    pub async fn close(&self) {
        let Some(thread) = self.stop_writer() else { return };
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::error!("the embedded store's writer thread panicked"),
            Err(e) => tracing::error!(error = %e, "could not wait for the embedded store's writer"),
        }
    }

    /// Drops the channel's sender, so the writer drains what is queued and exits; returns the
    /// thread to wait for, the first time only.
    fn stop_writer(&self) -> Option<JoinHandle<()>> {
        let mut state = self.lock();
        if state.disk.is_open() {
            state.disk = Disk::Closed;
        }
        lock(&self.writer).take()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn check_writable(&self, state: &State) -> Result<(), StoreError> {
        match (&state.disk, self.failure.get()) {
            (Disk::Closed, _) => Err(embedded("the store is closed")),
            (Disk::Open(_), Some(why)) => Err(embedded(format!("writing to disk failed earlier: {why}"))),
            _ => Ok(()),
        }
    }

    fn wake(&self, mut keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        keys.sort_unstable();
        keys.dedup();
        let live = lock(&self.watchers).live(&keys);
        for notify in live {
            notify.notify_waiters();
        }
    }
}

impl Drop for Embedded {
    /// Best effort when [`Embedded::close`] was not called: wait for the queued writes.
    fn drop(&mut self) {
        if let Some(thread) = self.stop_writer() {
            if thread.join().is_err() {
                tracing::error!("the embedded store's writer thread panicked");
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic under the lock leaves no half-applied commit (nothing in apply panics), so the
    // data is still good.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates `path` empty with mode 0600 if missing (redb initialises an empty file), and sets
/// 0600 on one that was there.
fn private_file(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| embedded(format!("open {}: {e}", path.display())))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| embedded(format!("set the mode of {}: {e}", path.display())))
}

fn embedded(e: impl std::fmt::Display) -> StoreError {
    StoreError::Embedded(e.to_string())
}

fn deadline(now: Instant, ttl: Duration) -> Instant {
    // An absurd ttl must not panic: cap it at a century.
    now.checked_add(ttl).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The id after `last` at `now_ms`, as Redis makes them: never behind the stream's last id,
/// even when the clock steps back.
fn next_id(last: Option<StreamId>, now_ms: u64) -> StreamId {
    match last {
        Some(last) if now_ms <= last.ms => match last.seq.checked_add(1) {
            Some(seq) => StreamId { ms: last.ms, seq },
            None => StreamId { ms: last.ms.saturating_add(1), seq: 0 },
        },
        _ => StreamId { ms: now_ms, seq: 0 },
    }
}

/// Everything the store holds, guarded by one mutex.
#[derive(Default)]
struct State {
    records: HashMap<String, Versioned>,
    sets: HashMap<String, HashSet<String>>,
    zsets: HashMap<String, ZSet>,
    streams: HashMap<String, VecDeque<Stored>>,
    /// Not persisted: after a restart nobody holds it.
    lease: Option<Held>,
    /// Persisted, so each taking of the lease gets a higher epoch than any before.
    epoch: u64,
    disk: Disk,
}

impl State {
    fn holds(&self, checks: &[Check]) -> bool {
        checks.iter().all(|check| match check {
            Check::Version(key, version) => self.records.get(key).map_or(0, |r| r.version) == *version,
            Check::Epoch(epoch) => self.epoch == *epoch,
        })
    }

    fn set_with_records(&self, set: &str, prefix: &str) -> Vec<(String, Option<Versioned>)> {
        let Some(members) = self.sets.get(set) else { return Vec::new() };
        if prefix.is_empty() {
            // Members only.
            return members.iter().map(|m| (m.clone(), None)).collect();
        }
        members.iter().map(|m| (m.clone(), self.records.get(&format!("{prefix}{m}")).cloned())).collect()
    }

    fn apply(&mut self, op: &Op, a: &mut Applied) {
        match op {
            Op::Put(key, data) => self.put(key, data, &mut a.log),
            Op::Delete(key) => self.delete(key, &mut a.log),
            Op::SetAdd(set, member) => self.set_add(set, member, &mut a.log),
            Op::SetRemove(set, member) => self.set_remove(set, member, &mut a.log),
            Op::ZAdd(zset, member, score) => self.zadd(zset, member, *score, &mut a.log),
            Op::ZRemove(zset, member) => self.zremove(zset, member, &mut a.log),
            Op::ZTrim { zset, keep, record_prefix } => self.ztrim(zset, *keep, record_prefix, &mut a.log),
            Op::Append { stream, name, data, keep } => self.append(stream, name, data, *keep, a),
            Op::Wake(key) => a.wake.push(key.clone()),
        }
    }

    fn put(&mut self, key: &str, data: &[u8], log: &mut Log) {
        let version = self.records.get(key).map_or(0, |r| r.version) + 1;
        self.records.insert(key.to_string(), Versioned { version, data: data.to_vec() });
        log.push(|| Change::Put { key: key.to_string(), version, data: data.to_vec() });
    }

    fn delete(&mut self, key: &str, log: &mut Log) {
        self.records.remove(key);
        self.sets.remove(key);
        self.zsets.remove(key);
        self.streams.remove(key);
        log.push(|| Change::Delete(key.to_string()));
    }

    fn set_add(&mut self, set: &str, member: &str, log: &mut Log) {
        self.sets.entry(set.to_string()).or_default().insert(member.to_string());
        log.push(|| Change::SetAdd(set.to_string(), member.to_string()));
    }

    fn set_remove(&mut self, set: &str, member: &str, log: &mut Log) {
        let Some(members) = self.sets.get_mut(set) else { return };
        if members.remove(member) {
            log.push(|| Change::SetRemove(set.to_string(), member.to_string()));
        }
        // An empty set is no set, as in Redis; dropping it keeps the map from growing.
        if members.is_empty() {
            self.sets.remove(set);
        }
    }

    fn zadd(&mut self, zset: &str, member: &str, score: f64, log: &mut Log) {
        self.zsets.entry(zset.to_string()).or_default().insert(member, score);
        log.push(|| Change::ZAdd(zset.to_string(), member.to_string(), score));
    }

    fn zremove(&mut self, zset: &str, member: &str, log: &mut Log) {
        let Some(z) = self.zsets.get_mut(zset) else { return };
        if z.remove(member) {
            log.push(|| Change::ZRemove(zset.to_string(), member.to_string()));
        }
        if z.is_empty() {
            self.zsets.remove(zset);
        }
    }

    fn ztrim(&mut self, zset: &str, keep: usize, record_prefix: &str, log: &mut Log) {
        let Some(z) = self.zsets.get_mut(zset) else { return };
        let dropped = z.trim(keep);
        if z.is_empty() {
            self.zsets.remove(zset);
        }
        for member in dropped {
            log.push(|| Change::ZRemove(zset.to_string(), member.clone()));
            self.delete(&format!("{record_prefix}{member}"), log);
        }
    }

    fn append(&mut self, stream: &str, name: &str, data: &str, keep: Option<usize>, a: &mut Applied) {
        let entries = self.streams.entry(stream.to_string()).or_default();
        let id = next_id(entries.back().map(|e| e.id), a.now_ms);
        entries.push_back(Stored { id, name: name.to_string(), data: data.to_string() });
        a.log.push(|| Change::Append {
            stream: stream.to_string(),
            id,
            name: name.to_string(),
            data: data.to_string(),
        });
        let mut trimmed = None;
        // At least one entry stays, so the stream's last id survives a restart.
        let retention = keep.map_or(a.retention, |k| k.min(a.retention)).max(1);
        while entries.len() > retention {
            trimmed = entries.pop_front().map(|e| e.id);
        }
        if let Some(upto) = trimmed {
            a.log.push(|| Change::Trim { stream: stream.to_string(), upto });
        }
        a.ids.push(id.to_string());
        a.wake.push(stream.to_string());
    }
}

/// What applying a transaction's ops produced.
struct Applied {
    log: Log,
    ids: Vec<String>,
    wake: Vec<String>,
    /// One clock reading per commit, so the ids of one commit share a millisecond.
    now_ms: u64,
    retention: usize,
}

impl Applied {
    fn new(persist: bool, retention: usize) -> Applied {
        Applied { log: Log(persist.then(Vec::new)), ids: Vec::new(), wake: Vec::new(), now_ms: now_ms(), retention }
    }
}

/// The changes of one commit for the writer; `None` for a store without a disk, which then
/// copies nothing.
struct Log(Option<Vec<Change>>);

impl Log {
    fn push(&mut self, change: impl FnOnce() -> Change) {
        if let Some(changes) = &mut self.0 {
            changes.push(change());
        }
    }
}

/// One change to the redb tables, in the words of the tables rather than of [`Op`]s: version
/// numbers, stream ids and trims are decided in memory, so the writer only copies them.
#[derive(Debug)]
enum Change {
    Put {
        key: String,
        version: u64,
        data: Vec<u8>,
    },
    /// Whatever is at the key, in every table.
    Delete(String),
    SetAdd(String, String),
    SetRemove(String, String),
    ZAdd(String, String, f64),
    ZRemove(String, String),
    Append {
        stream: String,
        id: StreamId,
        name: String,
        data: String,
    },
    /// Removes the stream's entries up to and including `upto`.
    Trim {
        stream: String,
        upto: StreamId,
    },
    Epoch(u64),
}

#[derive(Default)]
enum Disk {
    /// `memory:`: nothing is written.
    #[default]
    None,
    Open(Sender<Vec<Change>>),
    Closed,
}

impl Disk {
    fn is_open(&self) -> bool {
        matches!(self, Disk::Open(_))
    }

    fn send(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        match self {
            Disk::Open(tx) if !changes.is_empty() => {
                tx.send(changes).map_err(|_| embedded("the disk writer has stopped: see the log for why"))
            }
            _ => Ok(()),
        }
    }
}

struct Held {
    holder: String,
    epoch: u64,
    until: Instant,
}

impl Held {
    fn lease(&self) -> Lease {
        Lease { holder: self.holder.clone(), epoch: self.epoch }
    }
}

/// A stream entry as kept in memory.
struct Stored {
    id: StreamId,
    name: String,
    data: String,
}

impl Stored {
    fn to_entry(&self) -> Entry {
        Entry { id: self.id.to_string(), name: self.name.clone(), data: self.data.clone() }
    }
}

/// A sorted set: scores by member, and members in score order for ranges and trims.
#[derive(Default)]
struct ZSet {
    scores: HashMap<String, f64>,
    order: BTreeSet<Scored>,
}

impl ZSet {
    fn insert(&mut self, member: &str, score: f64) {
        if let Some(old) = self.scores.insert(member.to_string(), score) {
            self.order.remove(&Scored(old, member.to_string()));
        }
        self.order.insert(Scored(score, member.to_string()));
    }

    fn remove(&mut self, member: &str) -> bool {
        let Some(score) = self.scores.remove(member) else { return false };
        self.order.remove(&Scored(score, member.to_string()));
        true
    }

    fn below(&self, max: f64) -> Vec<(String, f64)> {
        self.order.iter().take_while(|s| s.0 <= max).map(|s| (s.1.clone(), s.0)).collect()
    }

    /// Keeps the `keep` highest-scored members; returns the others.
    fn trim(&mut self, keep: usize) -> Vec<String> {
        let mut dropped = Vec::new();
        while self.order.len() > keep {
            let Some(Scored(_, member)) = self.order.pop_first() else { break };
            self.scores.remove(&member);
            dropped.push(member);
        }
        dropped
    }

    fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

/// A member ordered by score, then by member, as Redis orders ties.
struct Scored(f64, String);

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then_with(|| self.1.cmp(&other.1))
    }
}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scored {}

/// Watch registrations by key. Weak, so a key nobody watches any more costs nothing but its
/// entry, and those are swept whenever the map has doubled since the last sweep.
#[derive(Default)]
struct Watchers {
    map: HashMap<String, Weak<Notify>>,
    sweep_at: usize,
}

impl Watchers {
    fn get(&mut self, key: &str) -> Arc<Notify> {
        if let Some(notify) = self.map.get(key).and_then(Weak::upgrade) {
            return notify;
        }
        let notify = Arc::new(Notify::new());
        self.map.insert(key.to_string(), Arc::downgrade(&notify));
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, n| n.strong_count() > 0);
            self.sweep_at = (self.map.len() * 2).max(MIN_SWEEP);
        }
        notify
    }

    fn live(&self, keys: &[String]) -> Vec<Arc<Notify>> {
        keys.iter().filter_map(|k| self.map.get(k).and_then(Weak::upgrade)).collect()
    }
}

/// The writer thread: waits for a commit, takes every other one queued behind it, and writes
/// them all in one durable transaction. Ends when every sender is gone and the queue is empty.
fn run_writer(db: Database, rx: Receiver<Vec<Change>>, failure: &OnceLock<String>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter().take(MAX_BATCH - 1));
        if let Err(e) = write_batch(&db, &batch) {
            // Stop here: writing later commits without these would leave a file that matches
            // no state the store was ever in. The store refuses writes from now on.
            tracing::error!(error = %e, "the embedded store could not write to disk; refusing further writes");
            let _ = failure.set(e.to_string());
            return;
        }
    }
}

fn write_batch(db: &Database, batch: &[Vec<Change>]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut tables = Tables::open(&txn)?;
        for change in batch.iter().flatten() {
            tables.apply(change)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Reads the whole file into a fresh state. A write transaction, so that a new file gets its
/// tables.
fn load(db: &Database) -> Result<State, redb::Error> {
    let txn = db.begin_write()?;
    let mut state = State::default();
    Tables::open(&txn)?.load(&mut state)?;
    txn.commit()?;
    Ok(state)
}

struct Tables<'t> {
    records: Table<'t, &'static str, (u64, &'static [u8])>,
    sets: Table<'t, (&'static str, &'static str), ()>,
    zsets: Table<'t, (&'static str, &'static str), f64>,
    streams: Table<'t, (&'static str, u64, u64), (&'static str, &'static str)>,
    meta: Table<'t, &'static str, u64>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Tables<'t>, redb::Error> {
        Ok(Tables {
            records: txn.open_table(RECORDS)?,
            sets: txn.open_table(SETS)?,
            zsets: txn.open_table(ZSETS)?,
            streams: txn.open_table(STREAMS)?,
            meta: txn.open_table(META)?,
        })
    }

    fn apply(&mut self, change: &Change) -> Result<(), redb::Error> {
        match change {
            Change::Put { key, version, data } => {
                self.records.insert(key.as_str(), (*version, data.as_slice()))?;
            }
            Change::Delete(key) => self.delete(key)?,
            Change::SetAdd(set, member) => {
                self.sets.insert((set.as_str(), member.as_str()), ())?;
            }
            Change::SetRemove(set, member) => {
                self.sets.remove((set.as_str(), member.as_str()))?;
            }
            Change::ZAdd(zset, member, score) => {
                self.zsets.insert((zset.as_str(), member.as_str()), score)?;
            }
            Change::ZRemove(zset, member) => {
                self.zsets.remove((zset.as_str(), member.as_str()))?;
            }
            Change::Append { stream, id, name, data } => {
                self.streams.insert((stream.as_str(), id.ms, id.seq), (name.as_str(), data.as_str()))?;
            }
            Change::Trim { stream, upto } => {
                let s = stream.as_str();
                self.streams.retain_in((s, 0, 0)..=(s, upto.ms, upto.seq), |_, _| false)?;
            }
            Change::Epoch(epoch) => {
                self.meta.insert(EPOCH_KEY, epoch)?;
            }
        }
        Ok(())
    }

    /// Deletes `key` from every table: its members sort together, between (key, "") and the
    /// first pair of the next possible key, key + "\0".
    fn delete(&mut self, key: &str) -> Result<(), redb::Error> {
        let next = format!("{key}\0");
        self.records.remove(key)?;
        self.sets.retain_in((key, "")..(next.as_str(), ""), |_, _| false)?;
        self.zsets.retain_in((key, "")..(next.as_str(), ""), |_, _| false)?;
        self.streams.retain_in((key, 0, 0)..=(key, u64::MAX, u64::MAX), |_, _| false)?;
        Ok(())
    }

    fn load(&self, state: &mut State) -> Result<(), redb::Error> {
        for item in self.records.iter()? {
            let (key, value) = item?;
            let (version, data) = value.value();
            state.records.insert(key.value().to_string(), Versioned { version, data: data.to_vec() });
        }
        for item in self.sets.iter()? {
            let (key, _) = item?;
            let (set, member) = key.value();
            state.sets.entry(set.to_string()).or_default().insert(member.to_string());
        }
        for item in self.zsets.iter()? {
            let (key, score) = item?;
            let (zset, member) = key.value();
            state.zsets.entry(zset.to_string()).or_default().insert(member, score.value());
        }
        self.load_streams(state)?;
        state.epoch = self.meta.get(EPOCH_KEY)?.map_or(0, |e| e.value());
        Ok(())
    }

    fn load_streams(&self, state: &mut State) -> Result<(), redb::Error> {
        // The table is in (stream, ms, seq) order, so each stream's entries arrive in id order.
        for item in self.streams.iter()? {
            let (key, value) = item?;
            let (stream, ms, seq) = key.value();
            let (name, data) = value.value();
            let entry = Stored { id: StreamId { ms, seq }, name: name.to_string(), data: data.to_string() };
            match state.streams.get_mut(stream) {
                Some(entries) => entries.push_back(entry),
                None => {
                    state.streams.insert(stream.to_string(), VecDeque::from([entry]));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(retention: usize) -> StoreConfig {
        StoreConfig { stream_retention: retention, ..Default::default() }
    }

    fn open(dir: &tempfile::TempDir, retention: usize) -> Embedded {
        Embedded::open(dir.path(), config(retention)).expect("open")
    }

    async fn commit(store: &Embedded, ops: Vec<Op>) -> Vec<String> {
        match store.commit(&Txn { checks: Vec::new(), ops }).await.expect("commit") {
            Committed::Done(ids) => ids,
            Committed::Conflict => panic!("conflict"),
        }
    }

    fn append(stream: &str, data: &str) -> Op {
        Op::Append { stream: stream.to_string(), name: "e".to_string(), data: data.to_string(), keep: None }
    }

    async fn stream_data(store: &Embedded, stream: &str) -> Vec<String> {
        store.read_stream(stream, None, usize::MAX).await.expect("read").into_iter().map(|e| e.data).collect()
    }

    #[test]
    fn ids_never_go_back_even_when_the_clock_does() {
        assert_eq!(next_id(None, 7), StreamId { ms: 7, seq: 0 });
        let last = StreamId { ms: 10, seq: 3 };
        assert_eq!(next_id(Some(last), 10), StreamId { ms: 10, seq: 4 });
        assert_eq!(next_id(Some(last), 5), StreamId { ms: 10, seq: 4 });
        assert_eq!(next_id(Some(last), 11), StreamId { ms: 11, seq: 0 });
        assert_eq!(next_id(Some(StreamId { ms: 10, seq: u64::MAX }), 10), StreamId { ms: 11, seq: 0 });
    }

    #[tokio::test]
    async fn a_new_member_is_written_and_a_known_members_new_score_stays_in_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, 100);
        store.zadd("seen", "a", 1.0).await.expect("zadd");
        store.zadd("seen", "a", 2.0).await.expect("zadd");
        store.zadd("seen", "b", 3.0).await.expect("zadd");
        let now = store.zrange_below("seen", f64::MAX).await.expect("range");
        assert_eq!(now, vec![("a".to_string(), 2.0), ("b".to_string(), 3.0)], "reads see every score");
        store.close().await;
        drop(store);

        // After a restart both members are known, with the scores they had when first seen.
        let store = open(&dir, 100);
        let after = store.zrange_below("seen", f64::MAX).await.expect("range");
        assert_eq!(after, vec![("a".to_string(), 1.0), ("b".to_string(), 3.0)]);
        // Removal is durable as ever.
        commit(&store, vec![Op::ZRemove("seen".into(), "a".into())]).await;
        store.close().await;
        drop(store);
        let store = open(&dir, 100);
        assert_eq!(store.zrange_below("seen", f64::MAX).await.expect("range"), vec![("b".to_string(), 3.0)]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_deleted_stream_set_and_zset_stay_deleted_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, 100);
        let mut ops = vec![append("s", "1"), append("s", "2"), append("s\0x", "neighbour")];
        ops.extend([Op::SetAdd("s".into(), "m".into()), Op::ZAdd("s".into(), "m".into(), 1.0)]);
        ops.extend([Op::SetAdd("sa".into(), "kept".into()), Op::Put("s".into(), b"r".to_vec())]);
        commit(&store, ops).await;
        commit(&store, vec![Op::Delete("s".into())]).await;
        store.close().await;
        drop(store);

        let store = open(&dir, 100);
        assert!(store.read_stream("s", None, 10).await.expect("read").is_empty());
        assert_eq!(store.last_id("s").await.expect("last"), None);
        assert!(store.members("s").await.expect("members").is_empty());
        assert!(store.zrange_below("s", f64::MAX).await.expect("range").is_empty());
        assert_eq!(store.get_one_for_test("s").await, None);
        // Keys that merely sort next to it are untouched.
        assert_eq!(stream_data(&store, "s\0x").await, vec!["neighbour"]);
        assert_eq!(store.members("sa").await.expect("members"), vec!["kept"]);
        store.close().await;
    }

    #[tokio::test]
    async fn trimmed_entries_stay_trimmed_and_ids_keep_rising_after_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, 3);
        for chunk in 0..4 {
            commit(&store, (0..5).map(|i| append("s", &format!("{}", chunk * 5 + i))).collect()).await;
        }
        assert_eq!(stream_data(&store, "s").await, vec!["17", "18", "19"]);
        let last = store.last_id("s").await.expect("last").expect("an entry");
        store.close().await;
        drop(store);

        let store = open(&dir, 3);
        assert_eq!(stream_data(&store, "s").await, vec!["17", "18", "19"]);
        assert_eq!(store.last_id("s").await.expect("last"), Some(last));
        let next = commit(&store, vec![append("s", "20")]).await;
        assert!(StreamId::parse(&next[0]).expect("id") > last);
        assert_eq!(stream_data(&store, "s").await, vec!["18", "19", "20"]);
        store.close().await;
    }

    #[tokio::test]
    async fn ztrim_removals_and_versions_are_persisted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, 100);
        let mut ops = Vec::new();
        for (i, m) in ["t1", "t2", "t3"].iter().enumerate() {
            ops.push(Op::Put(format!("task:{m}"), m.as_bytes().to_vec()));
            ops.push(Op::ZAdd("done".into(), m.to_string(), i as f64));
        }
        ops.push(Op::Put("task:t3".into(), b"t3 v2".to_vec()));
        ops.push(Op::ZTrim { zset: "done".into(), keep: 1, record_prefix: "task:".into() });
        commit(&store, ops).await;
        store.zadd("seen", "a", 4.5).await.expect("zadd");
        store.close().await;
        drop(store);

        let store = open(&dir, 100);
        assert_eq!(store.zrange_below("done", f64::MAX).await.expect("range"), vec![("t3".to_string(), 2.0)]);
        assert_eq!(store.zrange_below("seen", 5.0).await.expect("range"), vec![("a".to_string(), 4.5)]);
        assert_eq!(store.get_one_for_test("task:t1").await, None);
        let t3 = store.get_one_for_test("task:t3").await.expect("kept");
        assert_eq!((t3.version, t3.data.as_slice()), (2, &b"t3 v2"[..]));
        // Versions continue from where they were.
        commit(&store, vec![Op::Put("task:t3".into(), b"v3".to_vec())]).await;
        assert_eq!(store.get_one_for_test("task:t3").await.expect("kept").version, 3);
        store.close().await;
    }

    #[tokio::test]
    async fn dropping_without_close_still_writes_what_was_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, 100);
        for i in 0..200 {
            commit(&store, vec![Op::Put(format!("r{i}"), vec![1]), Op::SetAdd("all".into(), format!("r{i}"))]).await;
        }
        drop(store);
        let store = open(&dir, 100);
        assert_eq!(store.members("all").await.expect("members").len(), 200);
        store.close().await;
    }

    #[tokio::test]
    async fn the_epoch_survives_a_restart_and_fences_old_writers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, 100);
        let first = store.acquire_lease("a", Duration::from_secs(60)).await.expect("lease").expect("lease");
        drop(store);
        let store = open(&dir, 100);
        assert_eq!(store.lease().await.expect("lease"), None);
        let txn = Txn { checks: vec![Check::Epoch(first.epoch)], ops: vec![Op::Put("x".into(), vec![])] };
        assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Done(vec![]));
        let second = store.acquire_lease("b", Duration::from_secs(60)).await.expect("lease").expect("lease");
        assert!(second.epoch > first.epoch);
        assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Conflict);
        store.close().await;
    }

    #[tokio::test]
    async fn writes_after_close_are_refused_and_close_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(&dir, 100);
        store.close().await;
        store.close().await;
        assert!(store.commit(&Txn { checks: Vec::new(), ops: vec![Op::Wake("k".into())] }).await.is_err());
        assert!(store.zadd("z", "m", 1.0).await.is_err());
        assert!(store.acquire_lease("a", Duration::from_secs(1)).await.is_err());
        // The file is free again.
        drop(open(&dir, 100));
    }

    #[tokio::test]
    async fn the_state_is_owner_only_whatever_it_was() {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o7777;
        let parent = tempfile::tempdir().expect("tempdir");
        let dir = parent.path().join("state");
        let store = Embedded::open(&dir, config(10)).expect("open");
        store.close().await;
        assert_eq!((mode(&dir), mode(&dir.join("state.redb"))), (0o700, 0o600));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        std::fs::set_permissions(dir.join("state.redb"), std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let store = Embedded::open(&dir, config(10)).expect("open again");
        store.close().await;
        assert_eq!((mode(&dir), mode(&dir.join("state.redb"))), (0o700, 0o600));
    }

    #[tokio::test]
    async fn the_memory_store_works_and_closes_without_a_disk() {
        let store = Embedded::in_memory(config(2));
        let ids = commit(&store, vec![append("s", "1"), append("s", "2"), append("s", "3")]).await;
        assert_eq!(ids.len(), 3);
        assert_eq!(stream_data(&store, "s").await, vec!["2", "3"]);
        store.close().await;
        commit(&store, vec![Op::Put("r".into(), vec![])]).await;
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_database_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("state.redb"), vec![0x5a; 8192]).expect("write");
        assert!(matches!(Embedded::open(dir.path(), config(10)), Err(StoreError::Embedded(_))));
    }

    #[tokio::test]
    async fn many_concurrent_commits_all_reach_the_disk_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(open(&dir, 100_000));
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..250 {
                    commit(&store, vec![Op::Put(format!("k{t}"), format!("{i}").into_bytes()), append("s", "x")]).await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("join");
        }
        let last = store.last_id("s").await.expect("last");
        store.close().await;
        drop(store);
        let store = open(&dir, 100_000);
        for t in 0..8 {
            let r = store.get_one_for_test(&format!("k{t}")).await.expect("kept");
            assert_eq!((r.version, r.data), (250, b"249".to_vec()));
        }
        assert_eq!(stream_data(&store, "s").await.len(), 2000);
        assert_eq!(store.last_id("s").await.expect("last"), last);
        store.close().await;
    }

    #[test]
    fn the_same_key_gets_the_same_notifier_and_dead_ones_are_swept() {
        let store = Embedded::in_memory(config(10));
        let a = store.watch("a");
        assert!(Arc::ptr_eq(&a, &store.watch("a")));
        for i in 0..1000 {
            drop(store.watch(&format!("k{i}")));
        }
        let watchers = lock(&store.watchers);
        assert!(watchers.map.len() < 2 * MIN_SWEEP, "{} registrations kept", watchers.map.len());
        assert!(watchers.map.get("a").and_then(Weak::upgrade).is_some());
    }

    impl Embedded {
        async fn get_one_for_test(&self, key: &str) -> Option<Versioned> {
            self.get(&[key.to_string()]).await.expect("get").pop().flatten()
        }
    }
}
