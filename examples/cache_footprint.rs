//! Measures what one cached entry really costs in memory (moka's bookkeeping included),
//! to calibrate the caches' weighers and the default budgets.
//!
//! ```sh
//! cargo run --release --example cache_footprint
//! ```
//!
//! Fills one near-cache at a time with 100 000 entries shaped like the server's and
//! prints the live heap's growth per entry.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use im_access::cache::NearCache;

/// mimalloc (as the server) with a count of live bytes: resident memory would be
/// muddied by what earlier measurements freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: i64 = 100_000;

fn live() -> u64 {
    LIVE.load(Ordering::Relaxed) as u64
}

/// Same size as the server's `SessionEntry`.
#[allow(dead_code)]
struct Session {
    id: i64,
    user_id: i64,
    device: String,
    device_id: String,
    token_hash: [u8; 32],
    last_used_at: i64,
    expires_at: i64,
}

/// Same shape as the server's `Profile`.
#[allow(dead_code)]
struct Profile {
    user_id: i64,
    nation_code: Box<str>,
    json: Box<str>,
    retired: std::sync::atomic::AtomicBool,
}

/// Same shape as the server's `CachedList`, with its page of profile pointers kept.
#[allow(dead_code)]
struct List {
    ids: Box<[i64]>,
    last_page: std::sync::Mutex<Option<Page>>,
}

#[allow(dead_code)]
struct Page {
    page: u64,
    size: u64,
    epoch: u64,
    contacts: Arc<[Arc<Profile>]>,
}

async fn measure<K, V>(label: &str, cache: NearCache<K, V>, make: impl Fn(i64) -> (K, V))
where
    K: std::hash::Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    let before = live();
    for i in 0..N {
        let (k, v) = make(i);
        cache.get_or_load(k, async move { Ok(v) }).await.ok();
    }
    cache.settle().await;
    let grown = live().saturating_sub(before);
    println!(
        "{label:<42} entries {:>7}  live +{:>6} KiB  {:>5} B/entry",
        cache.entry_count(),
        grown / 1024,
        grown / N as u64
    );
    drop(cache);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let ttl = Duration::from_secs(600);
    measure(
        "u64 -> u64 (moka bookkeeping alone)",
        NearCache::<i64, i64>::new("bare", 1 << 30, ttl),
        |i| (i, i),
    )
    .await;
    measure(
        "session: [u8;32] -> Option<Arc<Session>>",
        NearCache::new("sessions", 1 << 30, ttl),
        |i| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&i.to_le_bytes());
            (
                h,
                Some(Arc::new(Session {
                    id: i,
                    user_id: i,
                    device: "android".into(),
                    device_id: format!("device-{i:08}"),
                    token_hash: h,
                    last_used_at: 0,
                    expires_at: 0,
                })),
            )
        },
    )
    .await;
    let shared = Arc::new(Profile {
        user_id: 0,
        nation_code: "86".into(),
        json: "{}".into(),
        retired: Default::default(),
    });
    measure(
        "profile: i64 -> Arc<Profile>",
        NearCache::new("profiles", 1 << 30, ttl),
        |i| {
            (
                i,
                Arc::new(Profile {
                    user_id: i,
                    nation_code: "86".into(),
                    json: format!(r#"{{"nickname":"user{i:06}","avatar":null,"user_id":{i}}}"#)
                        .into(),
                    retired: Default::default(),
                }),
            )
        },
    )
    .await;
    for ids in [0usize, 10, 100] {
        measure(
            &format!("list of {ids} with its page kept"),
            NearCache::new("lists", 1 << 40, ttl),
            |i| {
                let page: Arc<[Arc<Profile>]> = (0..ids.min(20)).map(|_| shared.clone()).collect();
                let list = List {
                    ids: (0..ids as i64).collect(),
                    last_page: std::sync::Mutex::new(Some(Page {
                        page: 1,
                        size: 20,
                        epoch: 0,
                        contacts: page,
                    })),
                };
                ((i, 0u8), Arc::new(list))
            },
        )
        .await;
    }
}
