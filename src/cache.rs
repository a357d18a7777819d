//! Near-caches over the database, which stays the truth.
//!
//! A load that raced an invalidation of its key must not put the value it read before
//! the change into the cache: every key hashes to a generation counter that
//! invalidation bumps, and a load only stores its result if the generation it started
//! under is unchanged. When cross-process invalidation is down the cache is switched
//! off (`set_enabled(false)`) and every read goes to the database.
//!
//! A cache can also *retire* values: a hook runs on every value that leaves it
//! (invalidated, replaced, evicted, expired) and on every loaded value it did not keep.
//! So a value that was never retired is still the cached, current one, and whoever
//! holds on to it (a page of profiles, say) can tell when to rebuild without a lookup.

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::{Cache, CacheBuilder};

use crate::error::ApiError;

const STRIPES: usize = 64;

type Retire<V> = Arc<dyn Fn(&V) + Send + Sync>;

/// Keys are user ids and token hashes: a fast seeded hash is enough.
type Hasher = foldhash::fast::RandomState;

pub struct NearCache<K, V> {
    name: &'static str,
    /// Capacity is counted in bytes (a weigher) rather than entries.
    weighed: bool,
    inner: Cache<K, V, Hasher>,
    generations: Arc<[AtomicU64; STRIPES]>,
    hasher: Hasher,
    enabled: AtomicBool,
    /// Bumped by whole-cache invalidation, whose removals (and so retirements) are lazy.
    epoch: AtomicU64,
    retire: Option<Retire<V>>,
    /// Counted here and exported at scrape time: a registry lookup per access would
    /// cost more than the access.
    hits: AtomicU64,
    misses: AtomicU64,
}

enum LoadFailure<V> {
    /// Loaded, but an invalidation ran meanwhile: answer it, don't keep it.
    Stale(V),
    /// Nothing to load: answered `None`, and nothing is kept.
    Absent,
    Failed(ApiError),
}

impl<K, V> NearCache<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(name: &'static str, capacity: u64, ttl: Duration) -> Self {
        Self::build(name, Self::builder(capacity, ttl), None, false)
    }

    /// A cache that runs `retire` on each value it lets go of or never kept (see above).
    pub fn retiring(
        name: &'static str,
        capacity: u64,
        ttl: Duration,
        retire: impl Fn(&V) + Send + Sync + 'static,
    ) -> Self {
        let retire: Retire<V> = Arc::new(retire);
        let on_leave = retire.clone();
        let builder =
            Self::builder(capacity, ttl).eviction_listener(move |_k, v, _cause| on_leave(&v));
        Self::build(name, builder, Some(retire), false)
    }

    /// Capacity counts bytes, as `weigher` estimates them, instead of entries.
    pub fn weighted(
        name: &'static str,
        capacity: u64,
        ttl: Duration,
        weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static,
    ) -> Self {
        Self::build(
            name,
            Self::builder(capacity, ttl).weigher(weigher),
            None,
            true,
        )
    }

    fn builder(capacity: u64, ttl: Duration) -> CacheBuilder<K, V, Cache<K, V>> {
        Cache::builder().max_capacity(capacity).time_to_live(ttl)
    }

    fn build(
        name: &'static str,
        builder: CacheBuilder<K, V, Cache<K, V>>,
        retire: Option<Retire<V>>,
        weighed: bool,
    ) -> Self {
        NearCache {
            name,
            weighed,
            inner: builder
                .support_invalidation_closures()
                .build_with_hasher(Hasher::default()),
            generations: Arc::new(std::array::from_fn(|_| AtomicU64::new(0))),
            hasher: Default::default(),
            enabled: AtomicBool::new(true),
            epoch: AtomicU64::new(0),
            retire,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn generation(&self, key: &K) -> &AtomicU64 {
        &self.generations[(self.hasher.hash_one(key) as usize) % STRIPES]
    }

    /// The cached value of `key`, or the one `load` makes (kept unless an invalidation
    /// of the key ran meanwhile).
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<V, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, ApiError>>,
    {
        if let Some(v) = self.peek(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        // Boxed: the load's and moka's insertion futures are kilobytes, and a hit's
        // future (moved into the actor's box per message) should not carry them.
        let found = Box::pin(self.load_missing(key, || async { load().await.map(Some) })).await?;
        found.ok_or_else(|| ApiError::internal("cache", "a load that always finds found nothing"))
    }

    /// As `get_or_load`, for a load that may find nothing: that is answered `None` and
    /// not kept, so lookups of keys that don't exist can't push out ones that do.
    pub async fn get_or_load_found<F, Fut>(&self, key: K, load: F) -> Result<Option<V>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<V>, ApiError>>,
    {
        if let Some(v) = self.peek(&key).await {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(v));
        }
        Box::pin(self.load_missing(key, load)).await
    }

    async fn load_missing<F, Fut>(&self, key: K, load: F) -> Result<Option<V>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<V>, ApiError>>,
    {
        self.misses.fetch_add(1, Ordering::Relaxed);
        if !self.enabled() {
            let v = load().await?;
            if let Some(v) = &v {
                self.not_kept(v);
            }
            return Ok(v);
        }
        let generation = self.generation(&key);
        let started = generation.load(Ordering::Acquire);
        let res = self
            .inner
            .try_get_with(key.clone(), async {
                match load().await {
                    Ok(Some(v))
                        if generation.load(Ordering::Acquire) == started && self.enabled() =>
                    {
                        Ok(v)
                    }
                    Ok(Some(v)) => Err(LoadFailure::Stale(v)),
                    Ok(None) => Err(LoadFailure::Absent),
                    Err(e) => Err(LoadFailure::Failed(e)),
                }
            })
            .await;
        match res {
            Ok(v) => {
                self.recheck(&key, started).await;
                Ok(Some(v))
            }
            Err(e) => match e.as_ref() {
                LoadFailure::Stale(v) => {
                    self.not_kept(v);
                    Ok(Some(v.clone()))
                }
                LoadFailure::Absent => Ok(None),
                LoadFailure::Failed(err) => Err(err.clone()),
            },
        }
    }

    /// An invalidation can land between a load's generation check and moka storing
    /// the value; it then found nothing to remove, so remove what was stored.
    async fn recheck(&self, key: &K, started: u64) {
        if self.generation(key).load(Ordering::Acquire) != started {
            self.inner.invalidate(key).await;
        }
    }

    fn not_kept(&self, v: &V) {
        if let Some(retire) = &self.retire {
            retire(v);
        }
    }

    /// Reads only what is already cached.
    pub async fn peek(&self, key: &K) -> Option<V> {
        if !self.enabled() {
            return None;
        }
        self.inner.get(key).await
    }

    pub async fn invalidate(&self, key: &K) {
        // Bump first: a load that started before this call will not store its result.
        self.generation(key).fetch_add(1, Ordering::AcqRel);
        self.inner.invalidate(key).await;
    }

    pub fn invalidate_all(&self) {
        self.bump_all();
        self.inner.invalidate_all();
    }

    /// Drops every entry matching `pred` (used when only the value names the key).
    pub fn invalidate_if(&self, pred: impl Fn(&K, &V) -> bool + Send + Sync + 'static) {
        self.bump_all();
        if let Err(e) = self.inner.invalidate_entries_if(pred) {
            tracing::warn!(cache = self.name, error = %e, "predicate invalidation failed; dropping all");
            self.inner.invalidate_all();
        }
    }

    /// Before a removal moka carries out lazily: loads in flight will not store, and
    /// values already handed out count as possibly stale.
    fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for g in self.generations.iter() {
            g.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Looks up many keys, answering in their order (`None` where nothing was found).
    /// The missing ones are loaded with one call of `load`, and kept unless an
    /// invalidation of their key ran meanwhile.
    pub async fn get_many_or_load<F, Fut>(
        &self,
        keys: &[K],
        load: F,
    ) -> Result<Vec<Option<V>>, ApiError>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(K, V)>, ApiError>>,
    {
        let mut out = Vec::with_capacity(keys.len());
        let mut missing = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let v = self.peek(k).await;
            if v.is_none() {
                missing.push(i);
            }
            out.push(v);
        }
        self.hits
            .fetch_add((keys.len() - missing.len()) as u64, Ordering::Relaxed);
        if missing.is_empty() {
            return Ok(out);
        }
        Box::pin(self.load_many(keys, out, missing, load)).await
    }

    async fn load_many<F, Fut>(
        &self,
        keys: &[K],
        mut out: Vec<Option<V>>,
        missing: Vec<usize>,
        load: F,
    ) -> Result<Vec<Option<V>>, ApiError>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(K, V)>, ApiError>>,
    {
        self.misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        let started: Vec<u64> = missing
            .iter()
            .map(|&i| self.generation(&keys[i]).load(Ordering::Acquire))
            .collect();
        let loaded: std::collections::HashMap<K, V, Hasher> =
            load(missing.iter().map(|&i| keys[i].clone()).collect())
                .await?
                .into_iter()
                .collect();
        for (&i, g) in missing.iter().zip(started) {
            let k = &keys[i];
            if let Some(v) = loaded.get(k).cloned() {
                if self.enabled() && g == self.generation(k).load(Ordering::Acquire) {
                    self.inner.insert(k.clone(), v.clone()).await;
                    self.recheck(k, g).await;
                } else {
                    self.not_kept(&v);
                }
                out[i] = Some(v);
            }
        }
        Ok(out)
    }

    /// Changes whenever the whole cache (or a predicate's share) was invalidated: values
    /// taken before then may be stale though not yet retired.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Turning the cache off (or on again) drops everything in it.
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Release);
        self.invalidate_all();
    }

    /// Exports hits, misses and size to the metrics registry.
    pub fn record_metrics(&self) {
        crate::metrics::cache_counts(
            self.name,
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.inner.entry_count(),
            self.weighed.then(|| self.inner.weighted_size()),
        );
    }

    /// Runs moka's pending maintenance, so counts and sizes are exact.
    pub async fn settle(&self) {
        self.inner.run_pending_tasks().await;
    }

    pub fn entry_count(&self) -> u64 {
        self.inner.entry_count()
    }

    pub fn weighted_size(&self) -> u64 {
        self.inner.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_load_that_raced_an_invalidation_is_not_kept() {
        let c: NearCache<u32, u32> = NearCache::new("t", 100, Duration::from_secs(60));
        let v = c
            .get_or_load(1, || async {
                // The change commits and invalidates while this load is in flight.
                c.invalidate(&1).await;
                Ok(10)
            })
            .await
            .unwrap();
        assert_eq!(v, 10, "the racing load still answers what it read");
        assert_eq!(c.peek(&1).await, None, "but does not keep it");
        let v = c.get_or_load(1, || async { Ok(11) }).await.unwrap();
        assert_eq!(v, 11);
        assert_eq!(c.peek(&1).await, Some(11));
    }

    #[tokio::test]
    async fn disabled_cache_always_loads() {
        let c: NearCache<u32, u32> = NearCache::new("t", 100, Duration::from_secs(60));
        c.get_or_load(1, || async { Ok(1) }).await.unwrap();
        c.set_enabled(false);
        assert_eq!(c.get_or_load(1, || async { Ok(2) }).await.unwrap(), 2);
        assert_eq!(c.peek(&1).await, None);
        c.set_enabled(true);
        assert_eq!(c.get_or_load(1, || async { Ok(3) }).await.unwrap(), 3);
    }

    /// A retiring cache over values that record their retirement.
    fn retiring() -> NearCache<u32, Arc<AtomicBool>> {
        NearCache::retiring("t", 100, Duration::from_secs(60), |v: &Arc<AtomicBool>| {
            v.store(true, Ordering::Release)
        })
    }

    fn value() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    fn retired(v: &Arc<AtomicBool>) -> bool {
        v.load(Ordering::Acquire)
    }

    #[tokio::test]
    async fn values_leaving_the_cache_are_retired() {
        let c = retiring();
        let kept = c.get_or_load(1, || async { Ok(value()) }).await.unwrap();
        assert!(!retired(&kept));
        c.invalidate(&1).await;
        assert!(retired(&kept), "an invalidated value is retired at once");

        let many = c.get_many_or_load(&[2, 3], |ks| async move {
            Ok(ks.into_iter().map(|k| (k, value())).collect())
        });
        let many: Vec<_> = many.await.unwrap().into_iter().flatten().collect();
        assert!(many.iter().all(|v| !retired(v)));
        let epoch = c.epoch();
        c.invalidate_all();
        assert_ne!(
            c.epoch(),
            epoch,
            "whole-cache invalidation shows in the epoch"
        );
    }

    #[tokio::test]
    async fn values_loaded_but_not_kept_are_retired() {
        let c = retiring();
        // Raced by an invalidation of its key.
        let raced = c
            .get_or_load(1, || async {
                c.invalidate(&1).await;
                Ok(value())
            })
            .await
            .unwrap();
        assert!(retired(&raced));
        let raced = c
            .get_many_or_load(&[2], |ks| async {
                c.invalidate(&2).await;
                Ok(ks.into_iter().map(|k| (k, value())).collect())
            })
            .await
            .unwrap();
        assert!(retired(raced[0].as_ref().unwrap()));
        assert_eq!(c.peek(&2).await.map(|_| ()), None);
        // Loaded while the cache is off.
        c.set_enabled(false);
        let off = c.get_or_load(3, || async { Ok(value()) }).await.unwrap();
        assert!(retired(&off));
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let c: NearCache<u32, u32> = NearCache::new("t", 100, Duration::from_secs(60));
        assert!(c
            .get_or_load(1, || async {
                Err(ApiError::internal("test", "load failed"))
            })
            .await
            .is_err());
        assert_eq!(c.get_or_load(1, || async { Ok(5) }).await.unwrap(), 5);
    }
}
