//! The Redis store: everything lives in one Redis (or one Sentinel / ElastiCache primary in
//! non-cluster mode), shared by any number of replicas of the master.
//!
//! Layout, under a key prefix (`agora` unless the address says `?prefix=NAME`):
//! - `{prefix}:{key}`: a record is a hash with fields `v` (its version) and `d` (its bytes); sets,
//!   sorted sets and streams are the Redis types of those names. Stream entries have fields `n`
//!   (the event's name) and `d` (its data).
//! - `{prefix}:leader`: the leader lease, `holder|epoch`, expiring after its TTL.
//! - `{prefix}:epoch`: the epoch counter; it never expires, so epochs keep rising.
//! - `{prefix}:notify`: the pub/sub channel on which commits name the keys they wake.
//!
//! Every multi-key read or write is one Lua script, hence atomic and one round trip. The
//! scripts derive some keys from others (`prefix .. record_prefix .. member`), which Redis
//! allows outside cluster mode; this store is single-shard by design.
//!
//! Connections: a few multiplexed command connections that every caller shares, taken in
//! turn, and one pub/sub connection per store for wake-ups, however many watchers there are.
//! No command blocks.

use super::{Check, Committed, Entry, Lease, Op, StoreConfig, StoreError, StreamId, Txn, Versioned};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{Client, Script, ScriptInvocation, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const DEFAULT_PREFIX: &str = "agora";
/// Command connections. Each is multiplexed (pipelined), so callers never wait for one to be
/// free; a few spread a large reply's head-of-line wait. No pool: a pool checks each connection
/// it lends with a round trip (deadpool sends UNWATCH + PING), which was a third of all the
/// commands a task launch cost.
const LANES: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Long enough for a large snapshot or commit script; a hung Redis still fails the call.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connection attempts a command waits through (100, 200, 400 ms apart) while Redis is away,
/// before it fails.
const COMMAND_RECONNECTS: usize = 3;
/// The pub/sub connection is pinged this often, so that a silently dead one is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

pub struct RedisStore {
    lanes: Lanes,
    /// `{prefix}:`, put in front of every key.
    key_prefix: String,
    retention: usize,
    watchers: Arc<Watchers>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl RedisStore {
    /// Connects to `redis://HOST:PORT/DB[?prefix=NAME]`, checking that Redis answers and
    /// subscribing to the notify channel before it returns, so no wake-up is missed.
    pub async fn connect(address: &str, config: StoreConfig) -> Result<RedisStore, StoreError> {
        let (url, prefix) = split_prefix(address)?;
        let client = open_client(&url, address, &config)?;
        let store = RedisStore {
            lanes: Lanes::connect(&url, address, &config).await?,
            key_prefix: format!("{prefix}:"),
            retention: config.stream_retention,
            watchers: Arc::default(),
            listener: Mutex::new(None),
        };
        let channel = format!("{prefix}:notify");
        let pubsub = subscribe(&client, &channel).await?;
        let task = tokio::spawn(listen(client, channel, store.watchers.clone(), pubsub));
        *lock(&store.listener) = Some(task);
        Ok(store)
    }

    pub async fn get(&self, keys: &[String]) -> Result<Vec<Option<Versioned>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = GET.prepare_invoke();
        for key in keys {
            invocation.key(self.key(key));
        }
        let records = items(self.eval(&invocation).await?)?;
        if records.len() != keys.len() {
            return Err(unexpected("get: one reply per key"));
        }
        records.into_iter().map(record).collect()
    }

    pub async fn members(&self, set: &str) -> Result<Vec<String>, StoreError> {
        let reply = self.query(redis::cmd("SMEMBERS").arg(self.key(set))).await?;
        items(reply)?.into_iter().map(string).collect()
    }

    pub async fn snapshot(
        &self,
        sets: &[(String, String)],
    ) -> Result<Vec<Vec<(String, Option<Versioned>)>>, StoreError> {
        if sets.is_empty() {
            return Ok(Vec::new());
        }
        let mut invocation = SNAPSHOT.prepare_invoke();
        for (set, record_prefix) in sets {
            // An empty record prefix asks for the members only.
            let prefix = if record_prefix.is_empty() { String::new() } else { self.key(record_prefix) };
            invocation.key(self.key(set)).arg(prefix);
        }
        let reply = items(self.eval(&invocation).await?)?;
        if reply.len() != sets.len() {
            return Err(unexpected("snapshot: one reply per set"));
        }
        reply.into_iter().map(snapshot_rows).collect()
    }

    pub async fn zrange_below(&self, zset: &str, max: f64) -> Result<Vec<(String, f64)>, StoreError> {
        let cmd =
            redis::cmd("ZRANGEBYSCORE").arg(self.key(zset)).arg("-inf").arg(score_arg(max)?).arg("WITHSCORES").clone();
        scored_members(self.query(&cmd).await?)
    }

    pub async fn zadd(&self, zset: &str, member: &str, score: f64) -> Result<(), StoreError> {
        self.query(redis::cmd("ZADD").arg(self.key(zset)).arg(score_arg(score)?).arg(member)).await.map(drop)
    }

    /// One script: all checks, then all ops, or a conflict and no writes (see `COMMIT_LUA`).
    pub async fn commit(&self, txn: &Txn) -> Result<Committed, StoreError> {
        if txn.checks.is_empty() && txn.ops.is_empty() {
            return Ok(Committed::Done(Vec::new()));
        }
        let encoded = encode_txn(txn, &self.key_prefix, self.retention)?;
        let mut invocation = COMMIT.prepare_invoke();
        for key in &encoded.keys {
            invocation.key(key.as_str());
        }
        for arg in &encoded.args {
            invocation.arg(arg.as_slice());
        }
        committed(self.eval(&invocation).await?)
    }

    pub async fn read_stream(
        &self,
        stream: &str,
        after: Option<StreamId>,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        // Starting inclusively at the next possible id works on any Redis with streams (the
        // exclusive `(` needs 6.2) and cannot fail on an id a client made up.
        let start = match after.map(successor) {
            None => "-".to_string(),
            Some(Some(next)) => next.to_string(),
            Some(None) => return Ok(Vec::new()),
        };
        if count == 0 {
            return Ok(Vec::new());
        }
        let cmd = redis::cmd("XRANGE").arg(self.key(stream)).arg(start).arg("+").arg("COUNT").arg(count).clone();
        items(self.query(&cmd).await?)?.into_iter().map(entry).collect()
    }

    pub async fn last_id(&self, stream: &str) -> Result<Option<StreamId>, StoreError> {
        let cmd = redis::cmd("XREVRANGE").arg(self.key(stream)).arg("+").arg("-").arg("COUNT").arg(1).clone();
        let Some(newest) = items(self.query(&cmd).await?)?.into_iter().next() else { return Ok(None) };
        let id = string(items(newest)?.into_iter().next().ok_or_else(|| unexpected("a stream entry without id"))?)?;
        StreamId::parse(&id).map(Some).ok_or_else(|| unexpected("a stream entry id"))
    }

    pub fn watch(&self, key: &str) -> Arc<Notify> {
        self.watchers.watch(key)
    }

    pub async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        // PX 0 is refused; a lease shorter than a millisecond is one millisecond.
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = ACQUIRE_LEASE.prepare_invoke();
        invocation.key(self.key(LEADER_KEY)).key(self.key(EPOCH_KEY)).arg(holder).arg(ttl_ms);
        parse_lease(&string(self.eval(&invocation).await?)?).map(Some)
    }

    pub async fn lease(&self) -> Result<Option<Lease>, StoreError> {
        let reply = self.query(redis::cmd("GET").arg(self.key(LEADER_KEY))).await?;
        if is_nil(&reply) {
            return Ok(None);
        }
        parse_lease(&string(reply)?).map(Some)
    }

    pub async fn release_lease(&self, holder: &str) -> Result<(), StoreError> {
        let mut invocation = RELEASE_LEASE.prepare_invoke();
        invocation.key(self.key(LEADER_KEY)).arg(holder);
        self.eval(&invocation).await.map(drop)
    }

    /// Stops the pub/sub listener; the pool stays usable for clones still holding the store.
    pub async fn close(&self) {
        let task = lock(&self.listener).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.key_prefix)
    }

    async fn query(&self, cmd: &redis::Cmd) -> Result<Value, StoreError> {
        cmd.query_async(&mut self.lanes.next()).await.map_err(redis_error)
    }

    /// Runs a script by its hash (EVALSHA), loading it first if this Redis lacks it.
    async fn eval(&self, invocation: &ScriptInvocation<'_>) -> Result<Value, StoreError> {
        invocation.invoke_async(&mut self.lanes.next()).await.map_err(redis_error)
    }
}

/// The command connections, taken in turn. Each reconnects by itself after a lost connection
/// (redis-rs's connection manager); commands meanwhile wait for the new connection.
struct Lanes {
    managers: Vec<ConnectionManager>,
    turn: AtomicUsize,
}

impl Lanes {
    /// Connects every lane and checks that Redis answers. RESP3 where the address does not
    /// choose: over RESP3 a lane hears at once that its connection closed and reconnects in the
    /// background, so that the first command after a Redis restart does not fail. A Redis too
    /// old for RESP3 (before 6) refuses HELLO, and gets RESP2.
    async fn connect(url: &str, address: &str, config: &StoreConfig) -> Result<Lanes, StoreError> {
        if url.contains("protocol=") {
            return Lanes::connect_as(url, address, config).await;
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        match Lanes::connect_as(&format!("{url}{separator}protocol=resp3"), address, config).await {
            Err(StoreError::Redis(e)) if e.contains("HELLO") || e.contains("unknown command") => {
                Lanes::connect_as(url, address, config).await
            }
            result => result,
        }
    }

    async fn connect_as(url: &str, address: &str, config: &StoreConfig) -> Result<Lanes, StoreError> {
        let client = open_client(url, address, config)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(COMMAND_RECONNECTS)
            .set_max_delay(RECONNECT_MAX);
        let mut managers = Vec::with_capacity(LANES);
        for _ in 0..LANES {
            let connect_error = |e| auth_error(e, address);
            let mut manager =
                ConnectionManager::new_with_config(client.clone(), config.clone()).await.map_err(connect_error)?;
            redis::cmd("PING").query_async::<Value>(&mut manager).await.map_err(connect_error)?;
            managers.push(manager);
        }
        Ok(Lanes { managers, turn: AtomicUsize::new(0) })
    }

    fn next(&self) -> ConnectionManager {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        self.managers[turn % self.managers.len()].clone()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.listener).take() {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Addresses and errors

/// Takes our `prefix` query parameter off a Redis URL, which redis-rs would refuse: returns the
/// URL for redis-rs and the prefix.
fn split_prefix(address: &str) -> Result<(String, String), StoreError> {
    let (base, query) = address.split_once('?').unwrap_or((address, ""));
    let mut prefix = DEFAULT_PREFIX.to_string();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.strip_prefix("prefix=") {
            Some(value) => prefix = value.to_string(),
            None => rest.push(pair),
        }
    }
    if prefix.is_empty() {
        return Err(StoreError::Address(redacted(address)));
    }
    let url = if rest.is_empty() { base.to_string() } else { format!("{base}?{}", rest.join("&")) };
    Ok((url, prefix))
}

/// The address without its password, for error messages and logs.
fn redacted(address: &str) -> String {
    let Some((scheme, rest)) = address.split_once("://") else { return address.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => address.to_string(),
    }
}

/// A client for `url`, with the configured password (when given) in place of any the URL
/// holds, and over TLS (`rediss://`) trusting the configured CA instead of the system's roots
/// when one is given.
fn open_client(url: &str, address: &str, config: &StoreConfig) -> Result<Client, StoreError> {
    use redis::IntoConnectionInfo as _;
    let info = url.into_connection_info().map_err(|_| StoreError::Address(redacted(address)))?;
    let info = match &config.password {
        Some(password) => {
            let settings = info.redis_settings().clone().set_password(password);
            info.set_redis_settings(settings)
        }
        None => info,
    };
    match &config.ca {
        Some(ca) => {
            if !address.starts_with("rediss://") {
                return Err(StoreError::Tls(format!(
                    "a CA to trust is given for {}, which is not a TLS address (rediss://)",
                    redacted(address)
                )));
            }
            let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(ca.clone()) };
            Client::build_with_tls(info, certificates).map_err(|e| StoreError::Tls(e.to_string()))
        }
        None => Client::open(info).map_err(|_| StoreError::Address(redacted(address))),
    }
}

/// Names a refused or missing password plainly: redis-rs says `NOAUTH` or `WRONGPASS`. A
/// refused `HELLO` stays a plain Redis error, so that a Redis that wants a password but was
/// asked for RESP3 without one falls back to RESP2 and says so at the `PING` that follows.
fn auth_error(e: redis::RedisError, address: &str) -> StoreError {
    let text = e.to_string();
    let problem = if text.contains("HELLO") {
        None
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed || text.contains("WRONGPASS") {
        Some("refused the password it was given (WRONGPASS)")
    } else if text.contains("NOAUTH") {
        Some("requires a password (NOAUTH), and none was given")
    } else {
        None
    };
    match problem {
        Some(problem) => StoreError::Auth { address: redacted(address), problem: problem.to_string() },
        None if text.contains("certificate") => StoreError::Tls(format!(
            "{text}: the certificate of {} is not trusted; give the CA that signed it with --store-ca",
            redacted(address)
        )),
        None => redis_error(e),
    }
}

fn redis_error(e: redis::RedisError) -> StoreError {
    StoreError::Redis(e.to_string())
}

fn unexpected(what: &str) -> StoreError {
    StoreError::Redis(format!("unexpected reply: expected {what}"))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded maps stay consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Scripts

/// Reads records: for each key in KEYS, `{v, d}` or false where there is none.
const GET_LUA: &str = r#"
local out = {}
for i, key in ipairs(KEYS) do
  local r = redis.call('HMGET', key, 'v', 'd')
  if r[1] then out[i] = {r[1], r[2] or ''} else out[i] = false end
end
return out
"#;

/// Reads sets with their members' records. KEYS[i] is a set and ARGV[i] the prefix of its
/// members' record keys (derived keys: fine outside cluster mode). For each set, a flat list of
/// member, version, data (false, false where the record is missing).
const SNAPSHOT_LUA: &str = r#"
local out = {}
for i, set in ipairs(KEYS) do
  local rows = {}
  for _, m in ipairs(redis.call('SMEMBERS', set)) do
    rows[#rows + 1] = m
    if ARGV[i] == '' then
      rows[#rows + 1] = false
      rows[#rows + 1] = false
    else
      local r = redis.call('HMGET', ARGV[i] .. m, 'v', 'd')
      rows[#rows + 1] = r[1] or false
      rows[#rows + 1] = r[2] or false
    end
  end
  out[i] = rows
end
return out
"#;

/// Applies a transaction (see `encode_txn` for ARGV). KEYS[1] is the epoch counter; KEYS[2..]
/// are the keys the checks and ops name, each once, and ops refer to them by index. Only
/// ZTrim's record keys are derived here (prefix .. record_prefix .. member), which Redis allows
/// outside cluster mode. Checks run first, so a conflict writes nothing. Returns {0} on a
/// conflict, else {1, appended ids...}. Versions and epochs are compared as the decimal strings
/// Redis keeps, so they are exact beyond 2^53.
///
/// Redis does not roll a script back when a command in it fails, so the Rust side refuses what
/// Redis would refuse (a NaN score) before it sends anything. Type errors (a Put onto a set)
/// are programming errors and would leave the ops before them applied.
const COMMIT_LUA: &str = r#"
local argv, keys = ARGV, KEYS
local i = 5
for _ = 1, tonumber(argv[4]) do
  if argv[i] == 'v' then
    if (redis.call('HGET', keys[tonumber(argv[i + 1])], 'v') or '0') ~= argv[i + 2] then return {0} end
    i = i + 3
  else
    if (redis.call('GET', keys[1]) or '0') ~= argv[i + 1] then return {0} end
    i = i + 2
  end
end
local done, woken, wake = {1}, {}, {}
local plen = string.len(argv[3])
local function mark(key)
  local k = string.sub(key, plen + 1)
  if not woken[k] then
    woken[k] = true
    wake[#wake + 1] = k
  end
end
local n = #argv
while i <= n do
  local op, key = argv[i], keys[tonumber(argv[i + 1])]
  if op == 'p' then
    redis.call('HINCRBY', key, 'v', 1)
    redis.call('HSET', key, 'd', argv[i + 2])
    i = i + 3
  elseif op == 'd' then
    redis.call('DEL', key)
    i = i + 2
  elseif op == 'sa' then
    redis.call('SADD', key, argv[i + 2])
    i = i + 3
  elseif op == 'sr' then
    redis.call('SREM', key, argv[i + 2])
    i = i + 3
  elseif op == 'za' then
    redis.call('ZADD', key, argv[i + 3], argv[i + 2])
    i = i + 4
  elseif op == 'zr' then
    redis.call('ZREM', key, argv[i + 2])
    i = i + 3
  elseif op == 'zt' then
    -- argv[i + 2] is -(keep + 1), the rank of the highest-scored member to drop.
    local dropped = redis.call('ZRANGE', key, 0, argv[i + 2])
    if #dropped > 0 then
      redis.call('ZREMRANGEBYRANK', key, 0, argv[i + 2])
      for _, m in ipairs(dropped) do redis.call('DEL', argv[i + 3] .. m) end
    end
    i = i + 4
  elseif op == 'a' then
    local keep = argv[i + 4]
    if keep == '0' or tonumber(keep) > tonumber(argv[2]) then keep = argv[2] end
    done[#done + 1] = redis.call('XADD', key, 'MAXLEN', '~', keep, '*', 'n', argv[i + 2], 'd', argv[i + 3])
    mark(key)
    i = i + 5
  elseif op == 'w' then
    mark(key)
    i = i + 2
  else
    return redis.error_reply('agora commit: unknown op ' .. tostring(op))
  end
end
for _, k in ipairs(wake) do redis.call('PUBLISH', argv[1], k) end
return done
"#;

/// Whether `lease` (`holder|epoch`) is held by `holder`; holders may themselves contain `|`.
const HELD_BY_LUA: &str = r#"
local function held_by(lease, holder)
  local head = holder .. '|'
  return string.sub(lease, 1, #head) == head and string.find(lease, '^%d+$', #head + 1) ~= nil
end
"#;

/// KEYS: leader, epoch; ARGV: holder, ttl in ms. Takes a free lease (a new epoch), renews the
/// holder's own, and returns the lease in force. The epoch is read back with GET rather than
/// formatted from INCR's Lua number, which would turn exponential past 10^14. A new epoch is
/// at least the clock in milliseconds, compared as decimal strings, so that epochs keep rising
/// even after Redis lost the latest ones (the last second of an AOF, a failover's lag, a
/// FLUSHALL) and a deposed leader stays fenced.
const ACQUIRE_LEASE_LUA: &str = r#"
local cur = redis.call('GET', KEYS[1])
if not cur then
  local t = redis.call('TIME')
  local now_ms = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
  local epoch = redis.call('GET', KEYS[2])
  if not epoch or #epoch < #now_ms or (#epoch == #now_ms and epoch < now_ms) then
    redis.call('SET', KEYS[2], now_ms)
  end
  redis.call('INCR', KEYS[2])
  local lease = ARGV[1] .. '|' .. redis.call('GET', KEYS[2])
  redis.call('SET', KEYS[1], lease, 'PX', ARGV[2])
  return lease
end
if held_by(cur, ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return cur
"#;

/// KEYS: leader; ARGV: holder. Deletes the lease only when `holder` has it.
const RELEASE_LEASE_LUA: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur and held_by(cur, ARGV[1]) then redis.call('DEL', KEYS[1]) end
return 1
"#;

static GET: LazyLock<Script> = LazyLock::new(|| Script::new(GET_LUA));
static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| Script::new(SNAPSHOT_LUA));
static COMMIT: LazyLock<Script> = LazyLock::new(|| Script::new(COMMIT_LUA));
static ACQUIRE_LEASE: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{HELD_BY_LUA}{ACQUIRE_LEASE_LUA}")));
static RELEASE_LEASE: LazyLock<Script> = LazyLock::new(|| Script::new(&format!("{HELD_BY_LUA}{RELEASE_LEASE_LUA}")));

const LEADER_KEY: &str = "leader";
const EPOCH_KEY: &str = "epoch";

// ---------------------------------------------------------------------------------------------
// Encoding a transaction for COMMIT_LUA

/// The commit script's opcodes. Each is followed by the 1-based index of its key in KEYS, then
/// its arguments; a check on the epoch has no key.
mod opcode {
    pub const CHECK_VERSION: &str = "v"; // key, version
    pub const CHECK_EPOCH: &str = "e"; // epoch
    pub const PUT: &str = "p"; // key, data
    pub const DELETE: &str = "d"; // key
    pub const SET_ADD: &str = "sa"; // key, member
    pub const SET_REMOVE: &str = "sr"; // key, member
    pub const ZADD: &str = "za"; // key, member, score
    pub const ZREMOVE: &str = "zr"; // key, member
    pub const ZTRIM: &str = "zt"; // key, -(keep + 1), prefixed record prefix
    pub const APPEND: &str = "a"; // key, name, data, entries kept (0: the store's retention)
    pub const WAKE: &str = "w"; // key
}

/// KEYS and ARGV for one commit.
#[derive(Debug, PartialEq)]
struct Encoded {
    keys: Vec<String>,
    args: Vec<Vec<u8>>,
}

struct Encoder<'a> {
    key_prefix: &'a str,
    keys: Vec<String>,
    index: HashMap<String, usize>,
    args: Vec<Vec<u8>>,
}

impl Encoder<'_> {
    fn arg(&mut self, arg: impl Into<Vec<u8>>) -> &mut Self {
        self.args.push(arg.into());
        self
    }

    /// Adds the key (prefixed) to KEYS once, and its index to ARGV.
    fn key(&mut self, key: &str) -> &mut Self {
        let prefixed = format!("{}{key}", self.key_prefix);
        let next = self.keys.len() + 1;
        let index = *self.index.entry(prefixed.clone()).or_insert(next);
        if index == next {
            self.keys.push(prefixed);
        }
        self.arg(index.to_string())
    }

    fn check(&mut self, check: &Check) {
        match check {
            Check::Version(key, version) => self.arg(opcode::CHECK_VERSION).key(key).arg(version.to_string()),
            Check::Epoch(epoch) => self.arg(opcode::CHECK_EPOCH).arg(epoch.to_string()),
        };
    }

    fn op(&mut self, op: &Op) -> Result<(), StoreError> {
        match op {
            Op::Put(key, data) => self.arg(opcode::PUT).key(key).arg(data.as_slice()),
            Op::Delete(key) => self.arg(opcode::DELETE).key(key),
            Op::SetAdd(set, member) => self.arg(opcode::SET_ADD).key(set).arg(member.as_str()),
            Op::SetRemove(set, member) => self.arg(opcode::SET_REMOVE).key(set).arg(member.as_str()),
            Op::ZAdd(zset, member, score) => {
                self.arg(opcode::ZADD).key(zset).arg(member.as_str()).arg(score_arg(*score)?)
            }
            Op::ZRemove(zset, member) => self.arg(opcode::ZREMOVE).key(zset).arg(member.as_str()),
            Op::ZTrim { zset, keep, record_prefix } => {
                let last_dropped = format!("-{}", *keep as u128 + 1);
                let records = format!("{}{record_prefix}", self.key_prefix);
                self.arg(opcode::ZTRIM).key(zset).arg(last_dropped).arg(records)
            }
            Op::Append { stream, name, data, keep } => {
                // 0 means the store's retention (ARGV[2]).
                let keep = keep.map_or(0, |k| k.max(1));
                self.arg(opcode::APPEND).key(stream).arg(name.as_str()).arg(data.as_str()).arg(keep.to_string())
            }
            Op::Wake(key) => self.arg(opcode::WAKE).key(key),
        };
        Ok(())
    }
}

/// Lays a transaction out for COMMIT_LUA. ARGV: the notify channel, the stream retention, the
/// key prefix (to name woken keys without it), the number of checks, the checks, the ops.
fn encode_txn(txn: &Txn, key_prefix: &str, retention: usize) -> Result<Encoded, StoreError> {
    let mut e = Encoder { key_prefix, keys: Vec::new(), index: HashMap::new(), args: Vec::new() };
    // KEYS[1] is the epoch counter, so that the script names it without deriving it.
    let epoch = format!("{key_prefix}{EPOCH_KEY}");
    e.index.insert(epoch.clone(), 1);
    e.keys.push(epoch);
    e.arg(format!("{key_prefix}notify")).arg(retention.to_string()).arg(key_prefix);
    e.arg(txn.checks.len().to_string());
    txn.checks.iter().for_each(|check| e.check(check));
    for op in &txn.ops {
        e.op(op)?;
    }
    Ok(Encoded { keys: e.keys, args: e.args })
}

/// A score as Redis parses it. NaN is refused here: Redis would fail the command midway through
/// a commit script, after the ops before it were applied.
fn score_arg(score: f64) -> Result<String, StoreError> {
    if score.is_nan() {
        return Err(StoreError::Redis("a sorted-set score is NaN".to_string()));
    }
    Ok(match score {
        f64::INFINITY => "+inf".to_string(),
        f64::NEG_INFINITY => "-inf".to_string(),
        // Debug keeps full precision and switches to exponents for huge or tiny values.
        _ => format!("{score:?}"),
    })
}

/// The id right after `id`, `None` after the largest one.
fn successor(id: StreamId) -> Option<StreamId> {
    match id.seq.checked_add(1) {
        Some(seq) => Some(StreamId { ms: id.ms, seq }),
        None => Some(StreamId { ms: id.ms.checked_add(1)?, seq: 0 }),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding replies (RESP2 and RESP3 shapes alike; nothing read from Redis is trusted)

fn is_nil(value: &Value) -> bool {
    // Lua's false arrives as nil over RESP2 and as a boolean over RESP3.
    matches!(value, Value::Nil | Value::Boolean(false))
}

fn items(value: Value) -> Result<Vec<Value>, StoreError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Map(pairs) => Ok(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        Value::Nil => Ok(Vec::new()),
        _ => Err(unexpected("an array")),
    }
}

fn bytes(value: Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::VerbatimString { text, .. } => Ok(text.into_bytes()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        _ => Err(unexpected("a string")),
    }
}

fn string(value: Value) -> Result<String, StoreError> {
    String::from_utf8(bytes(value)?).map_err(|_| unexpected("UTF-8 text"))
}

fn number(value: Value) -> Result<u64, StoreError> {
    match value {
        Value::Int(n) => u64::try_from(n).map_err(|_| unexpected("a version")),
        other => string(other)?.parse().map_err(|_| unexpected("a version")),
    }
}

fn score(value: Value) -> Result<f64, StoreError> {
    match value {
        Value::Double(score) => Ok(score),
        Value::Int(n) => Ok(n as f64),
        other => string(other)?.parse().map_err(|_| unexpected("a score")),
    }
}

fn versioned(version: Value, data: Value) -> Result<Option<Versioned>, StoreError> {
    if is_nil(&version) {
        return Ok(None);
    }
    let data = if is_nil(&data) { Vec::new() } else { bytes(data)? };
    Ok(Some(Versioned { version: number(version)?, data }))
}

/// `{v, d}` from GET_LUA, or nil.
fn record(value: Value) -> Result<Option<Versioned>, StoreError> {
    if is_nil(&value) {
        return Ok(None);
    }
    let mut fields = items(value)?.into_iter();
    match (fields.next(), fields.next()) {
        (Some(version), Some(data)) => versioned(version, data),
        _ => Err(unexpected("a version and data")),
    }
}

/// One set's flat member, version, data list from SNAPSHOT_LUA.
fn snapshot_rows(value: Value) -> Result<Vec<(String, Option<Versioned>)>, StoreError> {
    let mut flat = items(value)?.into_iter();
    let mut rows = Vec::with_capacity(flat.len() / 3);
    while let Some(member) = flat.next() {
        let (Some(version), Some(data)) = (flat.next(), flat.next()) else {
            return Err(unexpected("member, version, data triples"));
        };
        rows.push((string(member)?, versioned(version, data)?));
    }
    Ok(rows)
}

/// WITHSCORES replies: flat (RESP2) or pairs (RESP3).
fn scored_members(value: Value) -> Result<Vec<(String, f64)>, StoreError> {
    let mut flat = Vec::new();
    for item in items(value)? {
        match item {
            pair @ Value::Array(_) => flat.extend(items(pair)?),
            other => flat.push(other),
        }
    }
    let mut flat = flat.into_iter();
    let mut out = Vec::with_capacity(flat.len() / 2);
    while let Some(member) = flat.next() {
        let value = flat.next().ok_or_else(|| unexpected("member, score pairs"))?;
        out.push((string(member)?, score(value)?));
    }
    Ok(out)
}

/// `{0}` for a conflict, `{1, ids...}` when applied.
fn committed(value: Value) -> Result<Committed, StoreError> {
    let mut reply = items(value)?.into_iter();
    match reply.next() {
        Some(Value::Int(0)) => Ok(Committed::Conflict),
        Some(Value::Int(1)) => Ok(Committed::Done(reply.map(string).collect::<Result<_, _>>()?)),
        _ => Err(unexpected("a commit outcome")),
    }
}

/// An XRANGE entry: `[id, [n, name, d, data]]`.
fn entry(value: Value) -> Result<Entry, StoreError> {
    let mut parts = items(value)?.into_iter();
    let (Some(id), Some(fields)) = (parts.next(), parts.next()) else {
        return Err(unexpected("a stream entry"));
    };
    let (mut name, mut data) = (None, None);
    let mut fields = items(fields)?.into_iter();
    while let (Some(field), Some(value)) = (fields.next(), fields.next()) {
        match bytes(field)?.as_slice() {
            b"n" => name = Some(string(value)?),
            b"d" => data = Some(string(value)?),
            _ => {}
        }
    }
    match (name, data) {
        (Some(name), Some(data)) => Ok(Entry { id: string(id)?, name, data }),
        _ => Err(unexpected("a stream entry with fields n and d")),
    }
}

fn parse_lease(value: &str) -> Result<Lease, StoreError> {
    let (holder, epoch) = value.rsplit_once('|').ok_or_else(|| unexpected("a lease, holder|epoch"))?;
    let epoch = epoch.parse().map_err(|_| unexpected("a lease epoch"))?;
    Ok(Lease { holder: holder.to_string(), epoch })
}

// ---------------------------------------------------------------------------------------------
// Watchers and the pub/sub listener

/// The notifiers handed out by `watch`, by key. Weak, so that a key nobody watches any more
/// costs nothing but its entry, which pruning drops.
#[derive(Default)]
struct Watchers {
    map: Mutex<WatchMap>,
}

#[derive(Default)]
struct WatchMap {
    by_key: HashMap<String, Weak<Notify>>,
    /// Prune when the map grows to this size: amortized O(1) per watch.
    prune_at: usize,
}

impl Watchers {
    fn watch(&self, key: &str) -> Arc<Notify> {
        let mut map = lock(&self.map);
        if let Some(notify) = map.by_key.get(key).and_then(Weak::upgrade) {
            return notify;
        }
        if map.by_key.len() >= map.prune_at {
            map.by_key.retain(|_, notify| notify.strong_count() > 0);
            map.prune_at = (map.by_key.len() * 2).max(64);
        }
        let notify = Arc::new(Notify::new());
        map.by_key.insert(key.to_string(), Arc::downgrade(&notify));
        notify
    }

    fn wake(&self, key: &str) {
        let notify = lock(&self.map).by_key.get(key).and_then(Weak::upgrade);
        if let Some(notify) = notify {
            notify.notify_waiters();
        }
    }

    fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = lock(&self.map).by_key.values().filter_map(Weak::upgrade).collect();
        all.iter().for_each(|notify| notify.notify_waiters());
    }
}

async fn subscribe(client: &Client, channel: &str) -> Result<PubSub, StoreError> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(result) => result.map_err(redis_error),
        Err(_) => Err(StoreError::Redis("timed out subscribing to the notify channel".to_string())),
    }
}

/// The store's one pub/sub listener: wakes the watchers of each key published on the notify
/// channel; when the connection is lost, reconnects with backoff and then wakes every watcher,
/// since notifications may have been missed meanwhile.
async fn listen(client: Client, channel: String, watchers: Arc<Watchers>, mut pubsub: PubSub) {
    loop {
        relay(pubsub, &watchers).await;
        tracing::warn!(channel, "lost the Redis pub/sub connection; reconnecting");
        pubsub = resubscribe(&client, &channel).await;
        tracing::info!(channel, "Redis pub/sub connection restored");
        watchers.wake_all();
    }
}

/// Relays notifications until the connection ends or stops answering pings.
async fn relay(pubsub: PubSub, watchers: &Watchers) {
    let (mut sink, mut messages) = pubsub.split();
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
    loop {
        tokio::select! {
            message = messages.next() => match message {
                Some(message) => match std::str::from_utf8(message.get_payload_bytes()) {
                    Ok(key) => watchers.wake(key),
                    Err(_) => tracing::debug!("ignored a notification that is not UTF-8"),
                },
                None => return,
            },
            _ = keepalive.tick() => {
                if !matches!(tokio::time::timeout(KEEPALIVE_TIMEOUT, sink.ping::<Value>()).await, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

async fn resubscribe(client: &Client, channel: &str) -> PubSub {
    let mut delay = RECONNECT_MIN;
    loop {
        tokio::time::sleep(delay).await;
        match subscribe(client, channel).await {
            Ok(pubsub) => return pubsub,
            Err(e) => tracing::debug!(channel, error = %e, "reconnecting to Redis pub/sub failed"),
        }
        delay = (delay * 2).min(RECONNECT_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::super::redis_server::RedisServer;
    use super::*;

    fn args(encoded: &Encoded) -> Vec<String> {
        encoded.args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
    }

    #[test]
    fn the_prefix_parameter_is_taken_off_the_url() {
        let split = |a: &str| split_prefix(a).expect("valid");
        assert_eq!(split("redis://h:1/0"), ("redis://h:1/0".into(), "agora".into()));
        assert_eq!(split("redis://h:1/0?prefix=t1"), ("redis://h:1/0".into(), "t1".into()));
        assert_eq!(
            split("redis://h:1/0?protocol=resp3&prefix=t1"),
            ("redis://h:1/0?protocol=resp3".into(), "t1".into())
        );
        assert_eq!(split("redis://h:1/0?prefix=t1&a=b"), ("redis://h:1/0?a=b".into(), "t1".into()));
        assert!(split_prefix("redis://h:1/0?prefix=").is_err());
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(redacted("redis://user:secret@h:1/0?prefix=x"), "redis://***@h:1/0?prefix=x");
        assert_eq!(redacted("redis://h:1/0"), "redis://h:1/0");
    }

    #[test]
    fn a_txn_is_encoded_with_each_key_once() {
        let mut txn = Txn::default();
        txn.check("r", 3).checks.push(Check::Epoch(7));
        txn.put("r", vec![0, 255])
            .op(Op::SetAdd("s".into(), "m".into()))
            .op(Op::ZAdd("z".into(), "m".into(), 1.5))
            .op(Op::ZTrim { zset: "z".into(), keep: 2, record_prefix: "task:".into() })
            .append("s2", "update", "{}")
            .op(Op::Wake("r".into()))
            .delete("s");
        let encoded = encode_txn(&txn, "p:", 100).expect("encodes");
        assert_eq!(encoded.keys, vec!["p:epoch", "p:r", "p:s", "p:z", "p:s2"]);
        #[rustfmt::skip]
        let expected = vec![
            "p:notify", "100", "p:", "2",
            "v", "2", "3",
            "e", "7",
            "p", "2", "\0\u{FFFD}",
            "sa", "3", "m",
            "za", "4", "m", "1.5",
            "zt", "4", "-3", "p:task:",
            "a", "5", "update", "{}", "0",
            "w", "2",
            "d", "3",
        ];
        assert_eq!(args(&encoded), expected);
        // Data goes as bytes, not as text.
        assert_eq!(encoded.args[11], vec![0, 255]);
    }

    #[test]
    fn a_user_key_named_like_the_epoch_counter_shares_its_index() {
        let mut txn = Txn::default();
        txn.put("epoch", vec![]);
        assert_eq!(encode_txn(&txn, "p:", 1).expect("encodes").keys, vec!["p:epoch"]);
    }

    #[test]
    fn nan_scores_are_refused_before_anything_is_sent() {
        let mut txn = Txn::default();
        txn.op(Op::ZAdd("z".into(), "m".into(), f64::NAN));
        assert!(encode_txn(&txn, "p:", 1).is_err());
        assert_eq!(score_arg(f64::INFINITY).expect("inf"), "+inf");
        assert_eq!(score_arg(f64::MAX).expect("max").parse::<f64>().expect("parses"), f64::MAX);
        assert_eq!(score_arg(3.0).expect("3"), "3.0");
    }

    #[test]
    fn reading_after_an_id_starts_at_its_successor() {
        let id = |ms, seq| StreamId { ms, seq };
        assert_eq!(successor(id(5, 1)), Some(id(5, 2)));
        assert_eq!(successor(id(5, u64::MAX)), Some(id(6, 0)));
        assert_eq!(successor(id(u64::MAX, u64::MAX)), None);
    }

    #[test]
    fn replies_decode_in_both_protocols() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let resp2 = Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("inf")]);
        assert_eq!(scored_members(resp2).expect("decodes"), vec![("a".into(), 1.0), ("b".into(), f64::INFINITY)]);
        let resp3 = Value::Array(vec![Value::Array(vec![bulk("a"), Value::Double(1.0)])]);
        assert_eq!(scored_members(resp3).expect("decodes"), vec![("a".into(), 1.0)]);
        assert_eq!(record(Value::Boolean(false)).expect("decodes"), None);
        let rec = record(Value::Array(vec![bulk("2"), bulk("x")])).expect("decodes");
        assert_eq!(rec, Some(Versioned { version: 2, data: b"x".to_vec() }));
        assert!(record(Value::Array(vec![bulk("two"), bulk("x")])).is_err());
        assert_eq!(committed(Value::Array(vec![Value::Int(0)])).expect("decodes"), Committed::Conflict);
        assert!(committed(Value::Int(3)).is_err());
        assert_eq!(parse_lease("a|b|12").expect("parses"), Lease { holder: "a|b".into(), epoch: 12 });
        assert!(parse_lease("nobody").is_err());
    }

    /// A private server and a store on it.
    async fn private(dir: &std::path::Path, appendonly: bool, query: &str) -> (RedisServer, RedisStore) {
        let server = RedisServer::start(dir, appendonly).expect("a redis-server");
        let store = RedisStore::connect(&format!("{}{query}", server.url()), StoreConfig::default()).await;
        (server, store.expect("connects"))
    }

    async fn woken_within(notify: &Notify, commit: impl std::future::Future<Output = ()>) -> bool {
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        commit.await;
        tokio::time::timeout(Duration::from_secs(10), woken).await.is_ok()
    }

    #[tokio::test]
    async fn watchers_are_woken_when_the_notify_connection_comes_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut server, store) = private(dir.path(), false, "").await;
        let notify = store.watch("w");
        // Notifications published while the listener was away are lost: everyone is woken.
        let restart = async {
            server.kill().expect("kill");
            server.start_again().expect("start again");
        };
        assert!(woken_within(&notify, restart).await, "woken after reconnecting");
        // Pooled connections and the script cache were lost too; commits still work and wake.
        let mut txn = Txn::default();
        txn.op(Op::Wake("w".into()));
        let commit = async { assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Done(vec![])) };
        assert!(woken_within(&notify, commit).await, "woken by a commit after reconnecting");
        store.close().await;
    }

    #[tokio::test]
    async fn resp3_replies_decode_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_server, store) = private(dir.path(), false, "?protocol=resp3&prefix=r3").await;
        let mut txn = Txn::default();
        txn.put("rec:a", b"x".to_vec()).op(Op::SetAdd("s".into(), "a".into())).op(Op::SetAdd("s".into(), "b".into()));
        txn.op(Op::ZAdd("z".into(), "a".into(), 1.5)).append("st", "n", "d");
        let Committed::Done(ids) = store.commit(&txn).await.expect("commit") else { panic!("conflict") };
        let got = store.get(&["rec:a".into(), "rec:b".into()]).await.expect("get");
        assert_eq!(got, vec![Some(Versioned { version: 1, data: b"x".to_vec() }), None]);
        let mut snap = store.snapshot(&[("s".into(), "rec:".into())]).await.expect("snapshot").remove(0);
        snap.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(snap, vec![("a".into(), got[0].clone()), ("b".into(), None)]);
        assert_eq!(store.zrange_below("z", f64::INFINITY).await.expect("range"), vec![("a".into(), 1.5)]);
        let entries = store.read_stream("st", None, 10).await.expect("read");
        assert_eq!(entries, vec![Entry { id: ids[0].clone(), name: "n".into(), data: "d".into() }]);
        assert_eq!(store.last_id("st").await.expect("last"), StreamId::parse(&ids[0]));
        let lease = store.acquire_lease("me", Duration::from_secs(5)).await.expect("lease");
        assert_eq!(store.lease().await.expect("lease"), lease);
        let notify = store.watch("st");
        let mut txn = Txn::default();
        txn.append("st", "n", "d");
        assert!(woken_within(&notify, async { store.commit(&txn).await.map(drop).expect("commit") }).await);
        store.close().await;
    }

    #[tokio::test]
    async fn records_survive_a_clean_restart_with_an_aof() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut server, store) = private(dir.path(), true, "").await;
        let mut txn = Txn::default();
        txn.put("r", vec![1, 2, 3]);
        store.commit(&txn).await.expect("commit");
        server.stop().expect("stop");
        assert!(store.get(&["r".into()]).await.is_err(), "no Redis, no reads");
        server.start_again().expect("start again");
        let got = store.get(&["r".into()]).await.expect("get");
        assert_eq!(got, vec![Some(Versioned { version: 1, data: vec![1, 2, 3] })]);
        store.close().await;
    }

    #[tokio::test]
    async fn connecting_to_a_closed_port_fails_fast() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let started = std::time::Instant::now();
        let result = RedisStore::connect(&format!("redis://127.0.0.1:{port}/0"), StoreConfig::default()).await;
        assert!(matches!(result, Err(StoreError::Redis(_))), "connecting to a closed port fails");
        assert!(started.elapsed() < Duration::from_secs(5), "and fails fast: {:?}", started.elapsed());
    }
}
