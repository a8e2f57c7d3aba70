//! The global tiers behave alike (memory, embedded, a real Redis), and the local tier pulls,
//! pushes and locks as SPEC §8 says: checked through a global tier that records every call.

/// The one `redis-server` launcher, shared with the end-to-end tests.
#[allow(dead_code)]
#[path = "../../../tests/all/redis.rs"]
mod redis;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use faasm_api::StateKey;
use faasm_state::{
    BoxFuture, EmbeddedTier, GlobalTier, KeyValue, LocalLimits, LocalTier, MemoryTier, RedisTier,
    StateError,
};
use parking_lot::Mutex;

type Result<T> = std::result::Result<T, StateError>;

fn key(name: &str) -> StateKey {
    StateKey::new(name).unwrap()
}

async fn conformance(tier: &dyn GlobalTier) {
    let k = key("k");
    assert_eq!(tier.get("u", &k).await.unwrap(), None);
    assert_eq!(tier.get_range("u", &k, 0..4).await.unwrap(), "");
    assert!(!tier.delete("u", &k).await.unwrap());

    tier.set("u", &k, b"hello").await.unwrap();
    assert_eq!(tier.get("u", &k).await.unwrap().unwrap(), "hello");
    assert_eq!(tier.get("other", &k).await.unwrap(), None, "per user");
    assert_eq!(tier.get_range("u", &k, 1..3).await.unwrap(), "el");
    assert_eq!(tier.get_range("u", &k, 3..10).await.unwrap(), "lo");
    assert_eq!(tier.get_range("u", &k, 7..10).await.unwrap(), "");

    let ranges = vec![(0, &b"J"[..]), (7, &b"!"[..])];
    tier.set_ranges("u", &k, ranges).await.unwrap();
    assert_eq!(
        tier.get("u", &k).await.unwrap().unwrap(),
        &b"Jello\0\0!"[..]
    );
    let fresh = key("fresh");
    let ranges = vec![(2, &b"xy"[..])];
    tier.set_ranges("u", &fresh, ranges).await.unwrap();
    assert_eq!(
        tier.get("u", &fresh).await.unwrap().unwrap(),
        &b"\0\0xy"[..]
    );
    tier.set("u", &k, b"").await.unwrap();
    assert_eq!(tier.get("u", &k).await.unwrap().unwrap(), "");
    assert!(tier.delete("u", &k).await.unwrap());
    assert_eq!(tier.get("u", &k).await.unwrap(), None);

    // Large values (Redis sends these without the client library's copies).
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    tier.set("u", &k, &big).await.unwrap();
    assert_eq!(tier.get("u", &k).await.unwrap().unwrap(), big);
    let patch = vec![7u8; 100_000];
    tier.set_ranges("u", &k, vec![(150_000, &patch[..])])
        .await
        .unwrap();
    let got = tier.get("u", &k).await.unwrap().unwrap();
    assert_eq!(got.len(), 250_000);
    assert_eq!(got[..150_000], big[..150_000]);
    assert!(got[150_000..].iter().all(|&b| b == 7));
    assert_eq!(
        tier.get_range("u", &k, 149_999..150_001).await.unwrap(),
        &[big[149_999], 7][..]
    );
    assert!(tier.delete("u", &k).await.unwrap());

    for element in ["a", "bb", "ccc"] {
        tier.append("u", &k, Bytes::from(element), usize::MAX)
            .await
            .unwrap();
    }
    let read = tier.read_appended("u", &k, 2).await.unwrap();
    assert_eq!(read, ["a", "bb"]);
    assert_eq!(tier.read_appended("u", &k, 9).await.unwrap().len(), 3);
    assert_eq!(tier.read_appended("u", &k, 0).await.unwrap().len(), 0);
    assert_eq!(tier.get("u", &k).await.unwrap(), None, "lists are apart");
    tier.clear_appended("u", &k).await.unwrap();
    assert!(tier.read_appended("u", &k, 9).await.unwrap().is_empty());
    tier.clear_appended("u", &k).await.unwrap();

    // Listing: the user's values only (not appended lists), sorted, long keys by their bytes.
    tier.append("u", &k, Bytes::from("x"), usize::MAX)
        .await
        .unwrap();
    let long = StateKey::new(vec![b'z'; 200]).unwrap();
    tier.set("u", &long, b"long").await.unwrap();
    tier.set("other", &k, b"not u's").await.unwrap();
    let listed = |user: &'static str| async move {
        let keys = tier.keys(user).await.unwrap();
        keys.into_iter()
            .map(|(k, n)| (k.as_bytes().to_vec(), n))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed("u").await,
        [(b"fresh".to_vec(), 4), (vec![b'z'; 200], 4)]
    );
    assert!(tier.delete("u", &long).await.unwrap());
    assert_eq!(listed("u").await, [(b"fresh".to_vec(), 4)]);
    assert!(listed("nobody").await.is_empty());
}

#[tokio::test]
async fn memory_tier_conformance() {
    conformance(&MemoryTier::new()).await;
}

#[tokio::test]
async fn embedded_tier_conformance() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&EmbeddedTier::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn redis_tier_conformance() {
    let redis = redis::Redis::start();
    conformance(&RedisTier::connect(&redis.url()).await.unwrap()).await;
}

#[tokio::test]
async fn redis_tier_honours_the_database_of_the_url() {
    let redis = redis::Redis::start();
    let db3 = RedisTier::connect(&format!("{}/3", redis.url()))
        .await
        .unwrap();
    let db0 = RedisTier::connect(&redis.url()).await.unwrap();
    let k = key("k");
    let big = vec![1u8; 100_000];
    db3.set("u", &k, &big).await.unwrap();
    db3.set("u", &key("small"), b"s").await.unwrap();
    assert_eq!(db3.get("u", &k).await.unwrap().unwrap(), big);
    assert_eq!(db0.get("u", &k).await.unwrap(), None);
    assert_eq!(db0.get("u", &key("small")).await.unwrap(), None);
}

#[tokio::test]
async fn embedded_tier_survives_reopening_and_names_files_by_hex() {
    let dir = tempfile::tempdir().unwrap();
    let k = StateKey::new(vec![b'k', 0xff]).unwrap();
    {
        let tier = EmbeddedTier::open(dir.path()).unwrap();
        tier.set("u", &k, b"kept").await.unwrap();
        tier.append("u", &k, Bytes::from_static(b"one"), usize::MAX)
            .await
            .unwrap();
    }
    assert!(dir.path().join("state/u/6bff").is_file());
    assert!(dir.path().join("state/u/6bff.appended").is_file());
    let tier = EmbeddedTier::open(dir.path()).unwrap();
    assert_eq!(tier.get("u", &k).await.unwrap().unwrap(), "kept");
    assert_eq!(tier.read_appended("u", &k, 5).await.unwrap(), ["one"]);
    // A user name that is not one never reaches the file system.
    assert!(tier.get("../x", &k).await.is_err());
}

/// A memory tier that records the calls the local tier makes.
#[derive(Default)]
struct Recording {
    inner: MemoryTier,
    calls: Mutex<Vec<String>>,
}

impl Recording {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock())
    }

    fn log(&self, call: String) {
        self.calls.lock().push(call);
    }
}

impl GlobalTier for Recording {
    fn get<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<Option<Bytes>>> {
        self.log("get".into());
        self.inner.get(user, key)
    }
    fn get_range<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        range: Range<usize>,
    ) -> BoxFuture<'a, Result<Bytes>> {
        self.log(format!("get_range {range:?}"));
        self.inner.get_range(user, key, range)
    }
    fn set<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        value: &'a [u8],
    ) -> BoxFuture<'a, Result<()>> {
        self.log(format!("set {:?}", Bytes::copy_from_slice(value)));
        self.inner.set(user, key, value)
    }
    fn set_ranges<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        ranges: Vec<(usize, &'a [u8])>,
    ) -> BoxFuture<'a, Result<()>> {
        let shown: Vec<_> = ranges
            .iter()
            .map(|(o, b)| (o, Bytes::copy_from_slice(b)))
            .collect();
        self.log(format!("set_ranges {shown:?}"));
        self.inner.set_ranges(user, key, ranges)
    }
    fn delete<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<bool>> {
        self.inner.delete(user, key)
    }
    fn keys<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<(StateKey, u64)>>> {
        self.inner.keys(user)
    }
    fn append<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        element: Bytes,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<()>> {
        self.inner.append(user, key, element, max_bytes)
    }
    fn read_appended<'a>(
        &'a self,
        user: &'a str,
        key: &'a StateKey,
        n: usize,
    ) -> BoxFuture<'a, Result<Vec<Bytes>>> {
        self.inner.read_appended(user, key, n)
    }
    fn clear_appended<'a>(&'a self, user: &'a str, key: &'a StateKey) -> BoxFuture<'a, Result<()>> {
        self.inner.clear_appended(user, key)
    }
}

fn recorded() -> (Arc<Recording>, Arc<LocalTier>) {
    let global = Arc::new(Recording::default());
    let local = LocalTier::new(global.clone(), Default::default());
    (global, local)
}

#[tokio::test]
async fn reads_are_lazy_and_local_until_pulled() {
    let (global, local) = recorded();
    let k = key("k");
    global.inner.set("u", &k, b"v1").await.unwrap();
    let value = local.value("u", &k);
    assert!(
        Arc::ptr_eq(&value, &local.value("u", &k)),
        "one copy per key"
    );

    let mut v = value.access().await;
    v.load_whole(0).await.unwrap();
    assert_eq!(v.bytes(), b"v1");
    drop(v);
    assert_eq!(global.take(), ["get"]);

    global.inner.set("u", &k, b"v2").await.unwrap();
    let mut v = value.access().await;
    v.load_whole(0).await.unwrap();
    assert_eq!(v.bytes(), b"v1", "local until pulled");
    assert_eq!(global.take(), Vec::<String>::new());
    v.pull(0).await.unwrap();
    assert_eq!(v.bytes(), b"v2");
    v.pull(4).await.unwrap();
    assert_eq!(v.bytes(), b"v2\0\0", "pulled to at least the length asked");
    drop(v);

    // set_global (PUT /s) drops the copy.
    local
        .set_global("u", &k, Bytes::from_static(b"v3"))
        .await
        .unwrap();
    global.take();
    let mut v = value.access().await;
    v.load_whole(0).await.unwrap();
    assert_eq!(v.bytes(), b"v3");
    assert_eq!(global.take(), ["get"]);

    // An absent key reads as empty, and stays local.
    let absent = local.value("u", &key("absent"));
    let mut v = absent.access().await;
    v.load_whole(0).await.unwrap();
    assert!(v.is_empty());
    v.load_whole(0).await.unwrap();
    assert_eq!(global.take(), ["get"]);
}

#[tokio::test]
async fn ranged_reads_pull_only_missing_bytes() {
    let (global, local) = recorded();
    let k = key("k");
    global.inner.set("u", &k, b"0123456789").await.unwrap();
    let value = local.value("u", &k);
    let mut v = value.access().await;
    v.load_range(10, 2..4).await.unwrap();
    v.load_range(10, 6..8).await.unwrap();
    v.load_range(10, 3..7).await.unwrap();
    v.load_range(10, 2..8).await.unwrap();
    assert_eq!(&v.bytes()[2..8], b"234567");
    assert_eq!(
        global.take(),
        ["get_range 2..4", "get_range 6..8", "get_range 4..6"]
    );
    // Missing bytes on both sides of a pulled range: one request spanning them; the pulled
    // bytes in between are not overwritten.
    global.inner.set("u", &k, b"abcdefghij").await.unwrap();
    v.load_range(10, 0..10).await.unwrap();
    assert_eq!(v.bytes(), b"ab234567ij");
    assert_eq!(global.take(), ["get_range 0..10"]);
    // A whole read of a partly pulled copy fills only the gaps.
    let other = local.value("u", &key("other"));
    global.inner.set("u", other.key(), b"xyz").await.unwrap();
    let mut o = other.access().await;
    o.write_at(3, 1, b"Y").unwrap();
    o.load_whole(0).await.unwrap();
    assert_eq!(o.bytes(), b"xYz");
    // Past the end of the global value, bytes are zero.
    o.load_range(6, 4..6).await.unwrap();
    assert_eq!(o.bytes(), b"xYz\0\0\0");
    // Out of bounds.
    let err = o.load_range(6, 5..7).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "2 bytes at offset 5 lie outside the state value of 6 bytes"
    );
    assert!(o.write_at(1 << 31, 0, b"x").is_err(), "over the size limit");
}

#[tokio::test]
async fn pushes_send_only_what_is_dirty() {
    let (global, local) = recorded();
    let k = key("k");
    global.inner.set("u", &k, b"aaaaaaaa").await.unwrap();
    let value = local.value("u", &k);
    let mut v = value.access().await;
    v.load_whole(0).await.unwrap();
    v.push().await.unwrap();
    v.push_partial().await.unwrap();
    global.take();

    // Partial: exactly the dirty ranges.
    v.write_at(8, 1, b"B").unwrap();
    v.write_at(8, 4, b"CD").unwrap();
    v.write_at(8, 5, b"DE").unwrap();
    v.push_partial().await.unwrap();
    assert_eq!(global.take(), [r#"set_ranges [(1, b"B"), (4, b"CDE")]"#]);
    v.push_partial().await.unwrap();
    assert_eq!(global.take(), Vec::<String>::new(), "clean after the push");

    // Full push of a wholly local copy: the whole value.
    v.write_at(8, 0, b"Z").unwrap();
    v.push().await.unwrap();
    assert_eq!(global.take(), [r#"set b"ZBaaCDEa""#]);

    // A replaced value is sent whole even by a partial push (its size changed).
    v.replace(b"short").unwrap();
    v.push_partial().await.unwrap();
    assert_eq!(global.take(), [r#"set b"short""#]);

    // Through a mask: the masked bytes that are known here.
    v.write_at(5, 0, b"XY").unwrap();
    v.push_partial_mask(&[0, 1, 0, 0, 1, 1, 1]).await.unwrap();
    assert_eq!(global.take(), [r#"set_ranges [(1, b"Y"), (4, b"t")]"#]);
    v.push_partial_mask(&[1; 5]).await.unwrap();
    assert_eq!(global.take(), Vec::<String>::new(), "nothing dirty");
    drop(v);

    // A full push of a partly pulled copy sends the written bytes only.
    let partial = local.value("u", &key("partial"));
    let mut p = partial.access().await;
    p.load_range(100, 0..10).await.unwrap();
    p.write_at(100, 50, b"mid").unwrap();
    global.take();
    p.push().await.unwrap();
    assert_eq!(global.take(), [r#"set_ranges [(50, b"mid")]"#]);

    // Pointer changes: local, and dirty only when flagged.
    p.write_changes(&[(20, b"ptr".to_vec())], false).unwrap();
    p.push().await.unwrap();
    assert_eq!(global.take(), Vec::<String>::new());
    p.mark_dirty(100, 20..23).unwrap();
    p.push_partial().await.unwrap();
    assert_eq!(global.take(), [r#"set_ranges [(20, b"ptr")]"#]);
}

async fn increment(value: &KeyValue) {
    let lock = value.lock_write().await.unwrap();
    let mut v = value.access().await;
    v.load_whole(4).await.unwrap();
    let n = u32::from_le_bytes(v.bytes()[..4].try_into().unwrap());
    drop(v);
    // Give other tasks every chance to interleave while the lock is held.
    tokio::task::yield_now().await;
    let mut v = value.access().await;
    v.replace(&(n + 1).to_le_bytes()).unwrap();
    v.push().await.unwrap();
    drop(v);
    lock.release().await;
}

async fn count(locals: &[Arc<LocalTier>], per_host: usize) {
    let k = key("counter");
    let mut tasks = Vec::new();
    for local in locals {
        for _ in 0..per_host {
            let value = local.value("u", &k);
            tasks.push(tokio::spawn(async move { increment(&value).await }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn write_lock_excludes_on_one_host() {
    let local = LocalTier::in_memory();
    count(std::slice::from_ref(&local), 200).await;
    let got = local.global().get("u", &key("counter")).await.unwrap();
    assert_eq!(got.unwrap(), &200u32.to_le_bytes()[..]);

    // Readers share the lock; a writer waits for them.
    let value = local.value("u", &key("rw"));
    let r1 = value.lock_read().await;
    let _r2 = value.lock_read().await;
    let writer = {
        let value = value.clone();
        tokio::spawn(async move { value.lock_write().await.unwrap().release().await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!writer.is_finished());
    drop(r1);
    drop(_r2);
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_write_lock_is_exclusive_across_hosts() {
    let redis = redis::Redis::start();
    let host = || async {
        LocalTier::new(
            Arc::new(RedisTier::connect(&redis.url()).await.unwrap()),
            Default::default(),
        )
    };
    let (a, b) = (host().await, host().await);
    // Each host read the value before: the lease must make them re-read it.
    for local in [&a, &b] {
        let value = local.value("u", &key("counter"));
        value.access().await.load_whole(4).await.unwrap();
    }
    count(&[a.clone(), b.clone()], 50).await;
    let got = b.global().get("u", &key("counter")).await.unwrap();
    assert_eq!(got.unwrap(), &100u32.to_le_bytes()[..]);
}

#[test]
fn redis_lease_of_a_dead_holder_expires() {
    let redis = redis::Redis::start();
    let url = redis.url();
    let k = key("k");
    // A "host" that takes the lease and dies without releasing it.
    let dead = tokio::runtime::Runtime::new().unwrap();
    dead.block_on(async {
        let tier = RedisTier::connect(&url)
            .await
            .unwrap()
            .with_lease(Duration::from_millis(500));
        std::mem::forget(tier.lock_write("u", &k).await.unwrap());
    });
    dead.shutdown_background();

    let live = tokio::runtime::Runtime::new().unwrap();
    live.block_on(async {
        let tier = RedisTier::connect(&url)
            .await
            .unwrap()
            .with_lease(Duration::from_millis(300));
        let start = Instant::now();
        let lease = tier.lock_write("u", &k).await.unwrap().unwrap();
        let waited = start.elapsed();
        assert!(waited > Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
        // A live holder keeps its lease past the expiry by renewing it.
        let other = RedisTier::connect(&url).await.unwrap();
        let held = tokio::time::timeout(Duration::from_secs(1), other.lock_write("u", &k));
        assert!(held.await.is_err(), "still held");
        lease.release().await;
        let again = tokio::time::timeout(Duration::from_secs(2), other.lock_write("u", &k));
        assert!(again.await.is_ok(), "released");
    });
}

#[tokio::test]
async fn copies_stay_within_the_budget_evicting_clean_ones_first() {
    let global: Arc<dyn GlobalTier> = Arc::new(MemoryTier::new());
    let limits = LocalLimits {
        budget: 120,
        max_value: 80,
        max_appended: 10,
    };
    let local = LocalTier::new(global.clone(), limits);
    for name in ["a", "b"] {
        global.set("u", &key(name), &[1; 60]).await.unwrap();
    }
    let (a, b) = (local.value("u", &key("a")), local.value("u", &key("b")));
    a.access().await.load_whole(0).await.unwrap();
    assert_eq!(local.used_bytes(), 60);
    // b does not fit beside a: the clean copy of a goes.
    b.access().await.load_whole(0).await.unwrap();
    assert_eq!(local.used_bytes(), 60);
    assert_eq!(a.access().await.len(), 0, "a was evicted");
    // A written (dirty) copy is never evicted: what does not fit beside it fails clearly.
    b.access().await.replace(&[2; 70]).unwrap();
    let err = a.access().await.load_whole(0).await.unwrap_err();
    assert!(matches!(err, StateError::Budget(_)), "{err}");
    assert_eq!(local.used_bytes(), 70);
    // Once pushed, it is clean and may go.
    b.access().await.push().await.unwrap();
    a.access().await.load_whole(0).await.unwrap();
    assert_eq!(local.used_bytes(), 60);
    // A ranged read sizes the copy to the total it names, within the value cap.
    let c = local.value("u", &key("c"));
    let err = c.access().await.load_range(81, 0..1).await.unwrap_err();
    assert!(
        err.to_string().contains("exceeds the limit of 80 bytes"),
        "{err}"
    );
    c.access().await.load_range(80, 79..80).await.unwrap();
    assert_eq!(local.used_bytes(), 80, "a was evicted for c");
    // Appended lists have their own cap.
    c.append(Bytes::from_static(b"12345")).await.unwrap();
    let err = c.append(Bytes::from_static(b"123456")).await.unwrap_err();
    assert!(err.to_string().contains("limit of 10 bytes"), "{err}");
    c.clear_appended().await.unwrap();
    c.append(Bytes::from_static(b"123456")).await.unwrap();
    // Deleting the key gives its bytes back.
    local.delete_global("u", &key("c")).await.unwrap();
    assert_eq!(local.used_bytes(), 0);
    // One user's copies hold at most 3/4 of the budget (90), so a user whose copies are all
    // dirty leaves the rest to others.
    local.delete_global("u", &key("a")).await.unwrap();
    let big = local.value("u", &key("big"));
    big.access().await.replace(&[3; 80]).unwrap();
    global.set("v", &key("small"), &[4; 40]).await.unwrap();
    let small = local.value("v", &key("small"));
    small.access().await.load_whole(0).await.unwrap();
    assert_eq!(local.used_bytes(), 120);
    let more = local.value("u", &key("more"));
    let err = more.access().await.replace(&[5; 20]).unwrap_err();
    assert!(err.to_string().contains("for user u"), "{err}");
}
