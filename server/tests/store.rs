//! The store conformance suite: every test runs against the embedded store and against a real
//! `redis-server`, and both must behave the same (design.md section 2).
//!
//! Redis comes from `AGORA_TEST_REDIS_URL` when set (each test then uses its own key prefix),
//! otherwise each test starts its own `redis-server` on a free loopback port.

use agora_server::store::redis_server::RedisServer;
use agora_server::store::{Check, Committed, Op, Store, StoreConfig, StreamId, Txn};
use std::time::Duration;

struct Fixture {
    store: Store,
    // Kept alive for the test's duration.
    _dir: tempfile::TempDir,
    _redis: Option<RedisServer>,
}

async fn embedded(config: StoreConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&format!("file:{}", dir.path().display()), config).await.expect("open embedded store");
    Fixture { store, _dir: dir, _redis: None }
}

async fn redis(config: StoreConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, server) = RedisServer::for_test(dir.path()).expect("a redis-server for the test");
    let store = Store::open(&url, config).await.expect("connect to redis");
    Fixture { store, _dir: dir, _redis: server }
}

/// Runs each test body against both backends.
macro_rules! conformance {
    ($($name:ident => $body:expr;)*) => {
        mod embedded_store {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let f = embedded(StoreConfig::default()).await;
                    ($body)(f.store.clone()).await;
                    f.store.close().await;
                }
            )*
        }
        mod redis_store {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let f = redis(StoreConfig::default()).await;
                    ($body)(f.store.clone()).await;
                    f.store.close().await;
                }
            )*
        }
    };
}

fn key(s: &str) -> String {
    s.to_string()
}

async fn put_new(store: &Store, k: &str, data: &[u8]) {
    let mut txn = Txn::default();
    txn.check(k, 0).put(k, data.to_vec());
    assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Done(vec![]));
}

conformance! {
    records_are_versioned => |store: Store| async move {
        assert_eq!(store.get_one("r").await.expect("get"), None);
        put_new(&store, "r", b"one").await;
        let r = store.get_one("r").await.expect("get").expect("written");
        assert_eq!((r.version, r.data.as_slice()), (1, &b"one"[..]));
        let mut txn = Txn::default();
        txn.check("r", 1).put("r", b"two".to_vec());
        assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Done(vec![]));
        let r = store.get_one("r").await.expect("get").expect("written");
        assert_eq!((r.version, r.data.as_slice()), (2, &b"two"[..]));
        // Binary data survives unchanged.
        let bytes: Vec<u8> = (0..=255).collect();
        put_new(&store, "bin", &bytes).await;
        assert_eq!(store.get_one("bin").await.expect("get").expect("written").data, bytes);
        let got = store.get(&[key("r"), key("missing"), key("bin")]).await.expect("get");
        assert_eq!(got.len(), 3);
        assert!(got[0].is_some() && got[1].is_none() && got[2].is_some());
    };

    a_stale_check_writes_nothing => |store: Store| async move {
        put_new(&store, "r", b"one").await;
        // Version 0 (absent) no longer holds, and an old version does not either.
        for stale in [0, 5] {
            let mut txn = Txn::default();
            txn.check("r", stale)
                .put("r", b"x".to_vec())
                .put("other", b"y".to_vec())
                .op(Op::SetAdd(key("s"), key("m")))
                .append("events", "e", "{}");
            assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Conflict);
        }
        assert_eq!(store.get_one("r").await.expect("get").expect("kept").data, b"one");
        assert_eq!(store.get_one("other").await.expect("get"), None);
        assert!(store.members("s").await.expect("members").is_empty());
        assert!(store.read_stream("events", None, 10).await.expect("read").is_empty());
    };

    deletes_remove_records_and_reset_versions => |store: Store| async move {
        put_new(&store, "r", b"one").await;
        let mut txn = Txn::default();
        txn.check("r", 1).delete("r");
        assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Done(vec![]));
        assert_eq!(store.get_one("r").await.expect("get"), None);
        put_new(&store, "r", b"again").await;
        assert_eq!(store.get_one("r").await.expect("get").expect("written").version, 1);
    };

    sets_add_and_remove => |store: Store| async move {
        let mut txn = Txn::default();
        txn.op(Op::SetAdd(key("s"), key("a"))).op(Op::SetAdd(key("s"), key("b"))).op(Op::SetAdd(key("s"), key("a")));
        store.commit(&txn).await.expect("commit");
        let mut m = store.members("s").await.expect("members");
        m.sort();
        assert_eq!(m, vec!["a", "b"]);
        let mut txn = Txn::default();
        txn.op(Op::SetRemove(key("s"), key("a"))).op(Op::SetRemove(key("s"), key("zz")));
        store.commit(&txn).await.expect("commit");
        assert_eq!(store.members("s").await.expect("members"), vec!["b"]);
        let mut txn = Txn::default();
        txn.delete("s");
        store.commit(&txn).await.expect("commit");
        assert!(store.members("s").await.expect("members").is_empty());
    };

    a_snapshot_reads_sets_with_their_records => |store: Store| async move {
        let mut txn = Txn::default();
        for id in ["a1", "a2"] {
            txn.put(format!("agent:{id}"), id.as_bytes().to_vec()).op(Op::SetAdd(key("agents"), id.to_string()));
        }
        // A member whose record is missing reads as None.
        txn.op(Op::SetAdd(key("offers"), key("o1")));
        store.commit(&txn).await.expect("commit");
        let snap = store
            .snapshot(&[
                (key("agents"), key("agent:")),
                (key("offers"), key("offer:")),
                (key("none"), key("x:")),
                (key("agents"), key("")),
            ])
            .await
            .expect("snapshot");
        assert_eq!(snap.len(), 4);
        // An empty prefix reads members only.
        let mut members: Vec<(String, Option<agora_server::store::Versioned>)> = snap[3].clone();
        members.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(members, vec![(key("a1"), None), (key("a2"), None)]);
        let mut agents: Vec<(String, Vec<u8>, u64)> = snap[0]
            .iter()
            .map(|(m, r)| { let r = r.clone().expect("record"); (m.clone(), r.data, r.version) })
            .collect();
        agents.sort();
        assert_eq!(agents, vec![(key("a1"), b"a1".to_vec(), 1), (key("a2"), b"a2".to_vec(), 1)]);
        assert_eq!(snap[1], vec![(key("o1"), None)]);
        assert!(snap[2].is_empty());
    };

    sorted_sets_range_and_trim_with_their_records => |store: Store| async move {
        let mut txn = Txn::default();
        for (i, m) in ["t1", "t2", "t3", "t4"].iter().enumerate() {
            txn.put(format!("task:{m}"), m.as_bytes().to_vec()).op(Op::ZAdd(key("done"), m.to_string(), i as f64 + 1.0));
        }
        store.commit(&txn).await.expect("commit");
        let below = store.zrange_below("done", 2.5).await.expect("range");
        assert_eq!(below, vec![(key("t1"), 1.0), (key("t2"), 2.0)]);
        let mut txn = Txn::default();
        txn.op(Op::ZTrim { zset: key("done"), keep: 2, record_prefix: key("task:") });
        store.commit(&txn).await.expect("commit");
        let all = store.zrange_below("done", f64::MAX).await.expect("range");
        assert_eq!(all, vec![(key("t3"), 3.0), (key("t4"), 4.0)]);
        let got = store.get(&[key("task:t1"), key("task:t2"), key("task:t3")]).await.expect("get");
        assert!(got[0].is_none() && got[1].is_none() && got[2].is_some());
        // Outside a transaction: last writer wins.
        store.zadd("seen", "a1", 10.0).await.expect("zadd");
        store.zadd("seen", "a1", 20.0).await.expect("zadd");
        assert_eq!(store.zrange_below("seen", 15.0).await.expect("range"), vec![]);
        let mut txn = Txn::default();
        txn.op(Op::ZRemove(key("seen"), key("a1")));
        store.commit(&txn).await.expect("commit");
        assert_eq!(store.zrange_below("seen", 100.0).await.expect("range"), vec![]);
    };

    streams_append_in_order_and_resume_after_an_id => |store: Store| async move {
        assert_eq!(store.last_id("s").await.expect("last"), None);
        let mut ids = Vec::new();
        for i in 0..20 {
            let mut txn = Txn::default();
            txn.append("s", "update", format!("{{\"n\":{i}}}"));
            let Committed::Done(appended) = store.commit(&txn).await.expect("commit") else { panic!("conflict") };
            assert_eq!(appended.len(), 1);
            ids.push(appended[0].clone());
        }
        let parsed: Vec<StreamId> = ids.iter().map(|i| StreamId::parse(i).expect("MS-SEQ id")).collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
        assert_eq!(store.last_id("s").await.expect("last"), parsed.last().copied());
        let all = store.read_stream("s", None, 100).await.expect("read");
        assert_eq!(all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids);
        assert_eq!(all[3].name, "update");
        assert_eq!(all[3].data, "{\"n\":3}");
        let after = store.read_stream("s", Some(parsed[9]), 5).await.expect("read");
        assert_eq!(after.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids[10..15].to_vec());
        assert!(store.read_stream("s", parsed.last().copied(), 5).await.expect("read").is_empty());
        // Several appends in one transaction get increasing ids, in op order.
        let mut txn = Txn::default();
        txn.append("s", "a", "1").append("t", "b", "2").append("s", "c", "3");
        let Committed::Done(appended) = store.commit(&txn).await.expect("commit") else { panic!("conflict") };
        assert_eq!(appended.len(), 3);
        let tail = store.read_stream("s", parsed.last().copied(), 10).await.expect("read");
        assert_eq!(tail.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), vec!["a", "c"]);
        assert_eq!(tail[0].id, appended[0]);
        assert_eq!(tail[1].id, appended[2]);
        // Deleting a stream empties it.
        let mut txn = Txn::default();
        txn.delete("s");
        store.commit(&txn).await.expect("commit");
        assert!(store.read_stream("s", None, 10).await.expect("read").is_empty());
    };

    watchers_wake_on_append_and_wake => |store: Store| async move {
        for op in [Op::Append { stream: key("w"), name: key("e"), data: key("{}"), keep: None }, Op::Wake(key("w"))] {
            let notify = store.watch("w");
            let woken = notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let mut txn = Txn::default();
            txn.op(op);
            store.commit(&txn).await.expect("commit");
            tokio::time::timeout(Duration::from_secs(5), woken).await.expect("the watcher is woken");
        }
    };

    the_lease_has_one_holder_and_each_taking_increments_the_epoch => |store: Store| async move {
        let ttl = Duration::from_millis(300);
        assert_eq!(store.lease().await.expect("lease"), None);
        let a = store.acquire_lease("a", ttl).await.expect("acquire").expect("a lease");
        assert_eq!(a.holder, "a");
        // Another replica cannot take it while it is held; renewing keeps the epoch.
        let b = store.acquire_lease("b", ttl).await.expect("acquire").expect("a lease");
        assert_eq!(b, a);
        assert_eq!(store.acquire_lease("a", ttl).await.expect("renew").expect("lease"), a);
        // Once it expires, b takes it with a higher epoch.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let b = loop {
            let now = store.acquire_lease("b", ttl).await.expect("acquire").expect("a lease");
            if now.holder == "b" { break now; }
            assert!(std::time::Instant::now() < deadline, "the lease never expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(b.epoch > a.epoch);
        assert_eq!(store.lease().await.expect("lease"), Some(b.clone()));
        // Fencing: a write checked against a's epoch is refused, b's goes through.
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(a.epoch));
        txn.put("offer:x", b"x".to_vec());
        assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Conflict);
        assert_eq!(store.get_one("offer:x").await.expect("get"), None);
        let mut txn = Txn::default();
        txn.checks.push(Check::Epoch(b.epoch));
        txn.put("offer:x", b"x".to_vec());
        assert_eq!(store.commit(&txn).await.expect("commit"), Committed::Done(vec![]));
        // Releasing lets another replica take it at once.
        store.release_lease("a").await.expect("release by a non-holder does nothing");
        assert_eq!(store.lease().await.expect("lease"), Some(b.clone()));
        store.release_lease("b").await.expect("release");
        let c = store.acquire_lease("c", ttl).await.expect("acquire").expect("lease");
        assert_eq!(c.holder, "c");
        assert!(c.epoch > b.epoch);
    };

    concurrent_writers_of_one_record_never_both_win => |store: Store| async move {
        put_new(&store, "offer:o", b"outstanding").await;
        let mut handles = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let read = store.get_one("offer:o").await.expect("get");
                let Some(read) = read else { return false };
                let mut txn = Txn::default();
                txn.check("offer:o", read.version).delete("offer:o").put(format!("task:{i}"), b"t".to_vec());
                store.commit(&txn).await.expect("commit") != Committed::Conflict
            }));
        }
        let mut winners = 0;
        for h in handles {
            if h.await.expect("join") { winners += 1; }
        }
        assert_eq!(winners, 1);
    };
}

#[tokio::test]
async fn streams_keep_a_bounded_number_of_entries() {
    for redis_backed in [false, true] {
        let config = StoreConfig { stream_retention: 100, ..Default::default() };
        let f = if redis_backed { redis(config).await } else { embedded(config).await };
        for chunk in 0..10 {
            let mut txn = Txn::default();
            for i in 0..100 {
                txn.append("s", "e", format!("{}", chunk * 100 + i));
            }
            f.store.commit(&txn).await.expect("commit");
        }
        let kept = f.store.read_stream("s", None, 10_000).await.expect("read");
        // Redis trims approximately (`MAXLEN ~`): whole macro nodes, so a little more is kept.
        assert!(kept.len() >= 100 && kept.len() < 1000, "kept {} entries", kept.len());
        assert_eq!(kept.last().map(|e| e.data.as_str()), Some("999"));
        // A stream may keep fewer than the store's retention.
        for chunk in 0..10 {
            let mut txn = Txn::default();
            for i in 0..100 {
                txn.append_capped("capped", "e", format!("{}", chunk * 100 + i), 10);
            }
            f.store.commit(&txn).await.expect("commit");
        }
        let kept = f.store.read_stream("capped", None, 10_000).await.expect("read");
        assert!(kept.len() >= 10 && kept.len() < 200, "kept {} entries", kept.len());
        assert_eq!(kept.last().map(|e| e.data.as_str()), Some("999"));
        f.store.close().await;
    }
}

#[tokio::test]
async fn the_embedded_store_keeps_everything_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("file:{}", dir.path().display());
    let store = Store::open(&address, StoreConfig::default()).await.expect("open");
    put_new(&store, "agent:a1", b"agent").await;
    let mut txn = Txn::default();
    txn.check("agent:a1", 1)
        .put("agent:a1", b"agent v2".to_vec())
        .op(Op::SetAdd(key("agents"), key("a1")))
        .op(Op::ZAdd(key("done"), key("t1"), 5.0))
        .append("events", "update", "{\"n\":1}");
    let Committed::Done(ids) = store.commit(&txn).await.expect("commit") else { panic!("conflict") };
    let lease = store.acquire_lease("r1", Duration::from_secs(60)).await.expect("lease").expect("lease");
    store.close().await;
    drop(store);

    let store = Store::open(&address, StoreConfig::default()).await.expect("reopen");
    let r = store.get_one("agent:a1").await.expect("get").expect("kept");
    assert_eq!((r.version, r.data.as_slice()), (2, &b"agent v2"[..]));
    assert_eq!(store.members("agents").await.expect("members"), vec!["a1"]);
    assert_eq!(store.zrange_below("done", 10.0).await.expect("range"), vec![(key("t1"), 5.0)]);
    let events = store.read_stream("events", None, 10).await.expect("read");
    assert_eq!(events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids);
    // New entries number after the old ones.
    let mut txn = Txn::default();
    txn.append("events", "update", "{\"n\":2}");
    let Committed::Done(next) = store.commit(&txn).await.expect("commit") else { panic!("conflict") };
    assert!(StreamId::parse(&next[0]) > StreamId::parse(&ids[0]));
    // A restart does not keep the lease (its holder is gone) but does keep the epoch rising.
    let after = store.acquire_lease("r2", Duration::from_secs(60)).await.expect("lease").expect("lease");
    assert_eq!(after.holder, "r2");
    assert!(after.epoch > lease.epoch);
    store.close().await;
}

#[tokio::test]
async fn bad_store_addresses_are_refused() {
    for bad in ["", "file:", "postgres://x", "redis"] {
        assert!(Store::open(bad, StoreConfig::default()).await.is_err(), "{bad} should be refused");
    }
}
