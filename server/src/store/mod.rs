//! The state tier's storage: one interface, two backends (design.md section 2).
//!
//! - [`embedded::Embedded`] keeps everything in process and writes it behind to a redb file,
//!   so `agora dev` and a one-node `agora server --store file:DIR` need no other server.
//! - [`redis::RedisStore`] keeps everything in Redis, shared by any number of replicas; every
//!   multi-key change is one Lua script, so it is atomic.
//!
//! Nothing above this module knows which backend it has. The interface is deliberately small
//! and generic (versioned records, sets, sorted sets, append-only streams, a leader lease), so
//! that both backends can be proven equal by one conformance suite (`server/tests/store.rs`),
//! and the master's logic lives once, in Rust, above it.
//!
//! Changes are optimistic transactions, as in Google's Omega: read records with their
//! versions, compute, then [`Store::commit`] a [`Txn`] whose [`Check`]s name the versions it
//! read. If any record changed meanwhile, nothing is written and the caller retries.
//!
//! Keys are plain strings such as `agent:a1`; each backend puts its namespace in front (the
//! Redis key prefix, so that several clusters or tests can share one Redis).

pub mod embedded;
pub mod redis;
/// A private `redis-server` for tests and benchmarks (`--features test-support`); not in the
/// production binary.
#[cfg(any(test, feature = "test-support"))]
pub mod redis_server;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A record's version: 1 when first written, then one more per write. 0 means "absent".
pub type Version = u64;

/// A record and the version it was read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub version: Version,
    pub data: Vec<u8>,
}

/// One event in a stream. `id` is the stream's own entry id, `MS-SEQ` as Redis Streams make
/// them: increasing within a stream, and comparable with [`StreamId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub name: String,
    pub data: String,
}

/// A stream entry id, `MS-SEQ`, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// Parses `MS-SEQ` (or a bare `MS`, meaning `MS-0`); `None` for anything else.
    pub fn parse(s: &str) -> Option<StreamId> {
        let (ms, seq) = match s.split_once('-') {
            Some((ms, seq)) => (ms, seq),
            None => (s, "0"),
        };
        let digits = |t: &str| !t.is_empty() && t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(StreamId { ms: ms.parse().ok()?, seq: seq.parse().ok()? })
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A precondition of a transaction.
#[derive(Clone, Debug)]
pub enum Check {
    /// The record at `key` is at this version (0: the record must not exist).
    Version(String, Version),
    /// The leader lease's epoch is still this one: a deposed allocator's writes are refused
    /// (fencing, design.md invariant 5).
    Epoch(u64),
}

/// One write of a transaction.
#[derive(Clone, Debug)]
pub enum Op {
    /// Writes a record; its version becomes one more than before.
    Put(String, Vec<u8>),
    /// Deletes whatever is at the key: a record, set, sorted set or stream.
    Delete(String),
    SetAdd(String, String),
    SetRemove(String, String),
    ZAdd(String, String, f64),
    ZRemove(String, String),
    /// Keeps the `keep` highest-scored members of a sorted set; for each member dropped, also
    /// deletes the record at `record_prefix` + member.
    ZTrim {
        zset: String,
        keep: usize,
        record_prefix: String,
    },
    /// Appends an event to a stream and wakes its watchers. The stream keeps about its newest
    /// entries: the store's retention, or `keep` if that is fewer (Redis trims approximately).
    Append {
        stream: String,
        name: String,
        data: String,
        keep: Option<usize>,
    },
    /// Wakes the watchers of `key` without writing anything.
    Wake(String),
}

/// An atomic change: every check holds and every op is applied, or nothing is.
#[derive(Clone, Debug, Default)]
pub struct Txn {
    pub checks: Vec<Check>,
    pub ops: Vec<Op>,
}

impl Txn {
    pub fn check(&mut self, key: impl Into<String>, version: Version) -> &mut Self {
        self.checks.push(Check::Version(key.into(), version));
        self
    }

    pub fn op(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    pub fn put(&mut self, key: impl Into<String>, data: Vec<u8>) -> &mut Self {
        self.op(Op::Put(key.into(), data))
    }

    pub fn delete(&mut self, key: impl Into<String>) -> &mut Self {
        self.op(Op::Delete(key.into()))
    }

    pub fn append(&mut self, stream: impl Into<String>, name: impl Into<String>, data: impl Into<String>) -> &mut Self {
        self.op(Op::Append { stream: stream.into(), name: name.into(), data: data.into(), keep: None })
    }

    /// Appends to a stream that keeps about its newest `keep` entries (at most the store's
    /// retention).
    pub fn append_capped(
        &mut self,
        stream: impl Into<String>,
        name: impl Into<String>,
        data: impl Into<String>,
        keep: usize,
    ) -> &mut Self {
        self.op(Op::Append { stream: stream.into(), name: name.into(), data: data.into(), keep: Some(keep) })
    }
}

/// What a commit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Applied; the ids of the appended entries, in the order of the `Append` ops.
    Done(Vec<String>),
    /// A check failed; nothing was written.
    Conflict,
}

/// The holder of the leader lease and its epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub epoch: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(String),
    #[error("embedded store: {0}")]
    Embedded(String),
    #[error("invalid store address `{0}`: use file:DIR, memory:, redis://HOST:PORT/DB or rediss://HOST:PORT/DB")]
    Address(String),
    /// Redis asks for a password it was not given, or refused the one it was given.
    #[error(
        "redis at {address} {problem}: give its password in AGORA_STORE_PASSWORD or a file named by \
         --store-password-file, not in the address"
    )]
    Auth { address: String, problem: String },
    /// The TLS settings of a `rediss://` address cannot be used.
    #[error("redis TLS: {0}")]
    Tls(String),
}

/// How long stream entries are kept: each stream keeps about this many newest entries.
pub const DEFAULT_STREAM_RETENTION: usize = 10_000;

/// Settings both backends share.
#[derive(Clone)]
pub struct StoreConfig {
    /// Entries kept per stream (Redis trims approximately, `MAXLEN ~`).
    pub stream_retention: usize,
    /// The Redis password (AUTH), so that it need not be in the address, where command lines
    /// and logs would show it. It takes the place of a password the address holds. Never shown:
    /// `Debug` prints `***`.
    pub password: Option<String>,
    /// For `rediss://`: the CA certificates (PEM) to trust instead of the system's roots.
    pub ca: Option<Vec<u8>>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { stream_retention: DEFAULT_STREAM_RETENTION, password: None, ca: None }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("stream_retention", &self.stream_retention)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca", &self.ca.as_ref().map(|pem| pem.len()))
            .finish()
    }
}

/// The store a server runs on. Cloning is cheap; clones share the backend.
#[derive(Clone)]
pub enum Store {
    Embedded(Arc<embedded::Embedded>),
    Redis(Arc<redis::RedisStore>),
}

/// Every store operation's latency and failures, by operation, for `GET /metrics`: one set per
/// process, however many stores it opens (tests open several).
pub struct StoreMetrics {
    pub latency: Family<OperationLabel, Histogram, fn() -> Histogram>,
    pub errors: Family<OperationLabel, Counter>,
    /// Each operation's histogram and error counter, by `Operation as usize`.
    handles: [(Histogram, Counter); 11],
}

/// `operation="commit"`, ...
pub type OperationLabel = Vec<(String, String)>;

pub static STORE_METRICS: std::sync::LazyLock<StoreMetrics> = std::sync::LazyLock::new(|| {
    let latency: Family<OperationLabel, Histogram, fn() -> Histogram> =
        // 50 µs to 3.3 s.
        Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.00005, 2.0, 17)));
    let errors: Family<OperationLabel, Counter> = Family::default();
    // Each operation's series made once, so that a call neither allocates its label nor looks
    // it up; the error counters are exported at 0 from the start, for alerts to read.
    let handles = Operation::ALL.map(|operation| {
        let label = vec![("operation".to_string(), operation.name().to_string())];
        (latency.get_or_create(&label).clone(), errors.get_or_create(&label).clone())
    });
    StoreMetrics { latency, errors, handles }
});

/// The store's operations, as the `operation` label names them.
#[derive(Clone, Copy)]
enum Operation {
    Get,
    Members,
    Snapshot,
    ZrangeBelow,
    Zadd,
    Commit,
    ReadStream,
    LastId,
    AcquireLease,
    Lease,
    ReleaseLease,
}

impl Operation {
    const ALL: [Operation; 11] = [
        Operation::Get,
        Operation::Members,
        Operation::Snapshot,
        Operation::ZrangeBelow,
        Operation::Zadd,
        Operation::Commit,
        Operation::ReadStream,
        Operation::LastId,
        Operation::AcquireLease,
        Operation::Lease,
        Operation::ReleaseLease,
    ];

    fn name(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::Members => "members",
            Operation::Snapshot => "snapshot",
            Operation::ZrangeBelow => "zrange_below",
            Operation::Zadd => "zadd",
            Operation::Commit => "commit",
            Operation::ReadStream => "read_stream",
            Operation::LastId => "last_id",
            Operation::AcquireLease => "acquire_lease",
            Operation::Lease => "lease",
            Operation::ReleaseLease => "release_lease",
        }
    }
}

/// Runs a store operation, recording how long it took and whether it failed.
async fn timed<T>(
    operation: Operation,
    run: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    let started = std::time::Instant::now();
    let result = run.await;
    let (latency, errors) = &STORE_METRICS.handles[operation as usize];
    latency.observe(started.elapsed().as_secs_f64());
    if result.is_err() {
        errors.inc();
    }
    result
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Embedded($s) => $e,
            Store::Redis($s) => $e,
        }
    };
}

impl Store {
    /// Opens a store from its address: `memory:` (nothing kept), `file:DIR` (embedded, kept in
    /// DIR/state.redb) or `redis://HOST:PORT/DB` (with `?prefix=NAME` to share one Redis).
    pub async fn open(address: &str, config: StoreConfig) -> Result<Store, StoreError> {
        if address == "memory:" {
            Ok(Store::Embedded(Arc::new(embedded::Embedded::in_memory(config))))
        } else if let Some(dir) = address.strip_prefix("file:") {
            if dir.is_empty() {
                return Err(StoreError::Address(address.to_string()));
            }
            Ok(Store::Embedded(Arc::new(embedded::Embedded::open(std::path::Path::new(dir), config)?)))
        } else if address.starts_with("redis://") || address.starts_with("rediss://") {
            Ok(Store::Redis(Arc::new(redis::RedisStore::connect(address, config).await?)))
        } else {
            Err(StoreError::Address(address.to_string()))
        }
    }

    /// A short description for logs and `GET /v1/cluster`: `embedded` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Embedded(_) => "embedded",
            Store::Redis(_) => "redis",
        }
    }

    /// Whether other processes may share this store (so that a replica must pass work on
    /// through it rather than hold it in memory).
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Redis(_))
    }

    /// Reads records; `None` where a key holds none.
    pub async fn get(&self, keys: &[String]) -> Result<Vec<Option<Versioned>>, StoreError> {
        timed(Operation::Get, async { dispatch!(self, s => s.get(keys).await) }).await
    }

    /// Reads one record.
    pub async fn get_one(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        Ok(self.get(&[key.to_string()]).await?.pop().flatten())
    }

    /// The members of a set, in no particular order.
    pub async fn members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        timed(Operation::Members, async { dispatch!(self, s => s.members(set).await) }).await
    }

    /// Reads, atomically, each set's members with the record at `prefix + member` for each:
    /// one consistent snapshot of several collections. An empty prefix reads the members only.
    pub async fn snapshot(
        &self,
        sets: &[(String, String)],
    ) -> Result<Vec<Vec<(String, Option<Versioned>)>>, StoreError> {
        timed(Operation::Snapshot, async { dispatch!(self, s => s.snapshot(sets).await) }).await
    }

    /// The members of a sorted set with a score at most `max`, lowest first.
    pub async fn zrange_below(&self, zset: &str, max: f64) -> Result<Vec<(String, f64)>, StoreError> {
        timed(Operation::ZrangeBelow, async { dispatch!(self, s => s.zrange_below(zset, max).await) }).await
    }

    /// Sets a member's score outside any transaction (a heartbeat: last writer wins). The
    /// embedded store keeps a known member's new score in memory only: it need not survive a
    /// restart.
    pub async fn zadd(&self, zset: &str, member: &str, score: f64) -> Result<(), StoreError> {
        timed(Operation::Zadd, async { dispatch!(self, s => s.zadd(zset, member, score).await) }).await
    }

    /// Applies a transaction atomically, or reports a conflict and writes nothing.
    pub async fn commit(&self, txn: &Txn) -> Result<Committed, StoreError> {
        timed(Operation::Commit, async { dispatch!(self, s => s.commit(txn).await) }).await
    }

    /// Up to `count` entries of a stream with ids above `after` (from the start when `None`).
    pub async fn read_stream(
        &self,
        stream: &str,
        after: Option<StreamId>,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        timed(Operation::ReadStream, async { dispatch!(self, s => s.read_stream(stream, after, count).await) }).await
    }

    /// The id of a stream's newest entry, `None` while it has none.
    pub async fn last_id(&self, stream: &str) -> Result<Option<StreamId>, StoreError> {
        timed(Operation::LastId, async { dispatch!(self, s => s.last_id(stream).await) }).await
    }

    /// A notifier woken after each commit that appends to `key` or wakes it, on any replica.
    /// Wake-ups may be spurious and, when a backend loses its notification channel, late;
    /// readers re-read the store when woken and also now and then.
    pub fn watch(&self, key: &str) -> Arc<Notify> {
        dispatch!(self, s => s.watch(key))
    }

    /// Takes the leader lease for `holder`, or renews it if `holder` has it, for `ttl`.
    /// Taking it increments the epoch. Returns the lease now in force: `holder` leads only if
    /// the returned holder is itself.
    pub async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        timed(Operation::AcquireLease, async { dispatch!(self, s => s.acquire_lease(holder, ttl).await) }).await
    }

    /// The lease in force, if any.
    pub async fn lease(&self) -> Result<Option<Lease>, StoreError> {
        timed(Operation::Lease, async { dispatch!(self, s => s.lease().await) }).await
    }

    /// Gives the lease up if `holder` has it, so another replica need not wait for it to expire.
    pub async fn release_lease(&self, holder: &str) -> Result<(), StoreError> {
        timed(Operation::ReleaseLease, async { dispatch!(self, s => s.release_lease(holder).await) }).await
    }

    /// Writes whatever is pending to durable storage (embedded) and stops background work.
    pub async fn close(&self) {
        dispatch!(self, s => s.close().await)
    }
}
