//! Measures what one cached entry really costs in memory (moka's bookkeeping included),
//! to calibrate the caches' weighers and the default budgets.
//!
//! ```sh
//! cargo run --release --example cache_footprint
//! ```
//!
//! Fills one near-cache at a time with 100 000 of the server's own entries and
//! prints the live heap's growth per entry.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use im_access::cache::NearCache;
use im_access::domain::relation::ListKind;
use im_access::domain::token::TokenHash;
use im_access::media::storage::LocalStorage;
use im_access::services::profile::{Contact, Profile};
use im_access::services::relation::{list_weight, CachedList};
use im_access::services::session::SessionEntry;

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

async fn measure<K, V>(label: &str, cache: NearCache<K, V>, make: impl Fn(i64) -> (K, V))
where
    K: std::hash::Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    let before = live();
    for i in 0..N {
        let (k, v) = make(i);
        cache.get_or_load(k, || async move { Ok(v) }).await.ok();
    }
    cache.settle().await;
    let grown = live().saturating_sub(before);
    println!(
        "{label:<50} entries {:>7}  live +{:>6} KiB  {:>5} B/entry",
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
        "session: token hash -> Arc<SessionEntry>",
        NearCache::new("sessions", 1 << 30, ttl),
        |i| {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&i.to_le_bytes());
            let row = entity::session::Model {
                id: i,
                user_id: i,
                device: "android".into(),
                device_id: format!("device-{i:08}"),
                token_hash: String::new(),
                created_at: 0,
                last_used_at: 0,
                expires_at: 0,
            };
            (TokenHash(h), Arc::new(SessionEntry::new(row, TokenHash(h))))
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = LocalStorage::new(dir.path().into(), "http://localhost".into()).expect("storage");
    let profile = |i: i64| {
        let user = entity::user::Model {
            id: i,
            nation_code: "86".into(),
            phone: format!("138{i:08}"),
            nickname: format!("user{i:06}"),
            avatar: None,
            role: 0,
            created_at: 0,
            updated_at: 0,
            last_signin_at: 0,
            deleted_at: None,
            banned_at: None,
            banned_until: None,
            ban_reason: None,
        };
        Arc::new(Profile::new(user, &storage))
    };
    measure(
        "profile: i64 -> Arc<Profile>",
        NearCache::new("profiles", 1 << 30, ttl),
        |i| (i, profile(i)),
    )
    .await;
    let shared = profile(0);
    for ids in [0usize, 10, 100] {
        measure(
            &format!(
                "list of {ids} with its page kept (weighed {})",
                list_weight(ids)
            ),
            NearCache::new("lists", 1 << 40, ttl),
            |i| {
                let list = CachedList::new((0..ids as i64).collect());
                let page: Arc<[Contact]> =
                    (0..ids.min(20)).map(|_| Contact(shared.clone())).collect();
                list.keep_page(1, 20, 0, page);
                ((i, ListKind::Following), Arc::new(list))
            },
        )
        .await;
    }
}
