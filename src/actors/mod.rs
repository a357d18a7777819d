//! The actors: supervised instances that run service calls, sharded by a key.
//!
//! There are three kinds, each running one service: `SmsActor` (codes),
//! `SessionActor` (sessions, accounts and profiles) and `RelationActor` (follows,
//! blocks, lists and lookups). A handler sends a call, a closure over the service, with
//! `Shards::run(key, |service| …)`; the shard that `key` picks runs it on its thread.
//!
//! What the key does: calls with the same key go to the same actor instance, so one
//! caller's calls are taken in the order they arrived on that thread, and a busy key
//! fills one mailbox instead of all. It provides no other ordering: correctness,
//! across threads and processes, comes from the database (row locks, unique keys,
//! conditional updates), and every shard of a kind shares one service and its caches.
//!
//! A call never holds its actor's mailbox while it waits on IO: the actor polls it
//! once, replies at once if it is ready (answered from the caches, as most reads are),
//! and otherwise keeps polling it beside the next messages. A panic inside a call is
//! answered with 500 and stops the actor; its `Supervisor` restarts it with the same
//! service and mailbox.

use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use futures_util::FutureExt;

use crate::error::{ApiError, ApiResult};
use crate::services::{RelationService, Services, SessionService, SmsService};

/// The actor kinds, as the metrics label them.
pub const KINDS: &[&str] = &[
    <SmsService as Service>::NAME,
    <SessionService as Service>::NAME,
    <RelationService as Service>::NAME,
];

/// A service an actor kind runs.
pub trait Service: Send + Sync + 'static {
    /// The kind's name in logs and metrics.
    const NAME: &'static str;
}

impl Service for SmsService {
    const NAME: &'static str = "sms";
}

impl Service for SessionService {
    const NAME: &'static str = "session";
}

impl Service for RelationService {
    const NAME: &'static str = "relation";
}

/// One actor instance of a kind: it runs the calls sent to it on its service.
pub struct ShardActor<S: Service> {
    service: Arc<S>,
    gauge: MailboxGauge,
}

pub type SmsActor = ShardActor<SmsService>;
pub type SessionActor = ShardActor<SessionService>;
pub type RelationActor = ShardActor<RelationService>;

impl<S: Service> Actor for ShardActor<S> {
    type Context = Context<Self>;
}

impl<S: Service> Supervised for ShardActor<S> {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!(actor = S::NAME, "actor restarting");
        crate::metrics::actor_restart(S::NAME);
    }
}

type CallFuture<T> = Pin<Box<dyn Future<Output = ApiResult<T>>>>;

/// A call to run on a shard: a closure over the service, and the tracing span of the
/// request that sent it (so the call's log lines carry the request id).
pub struct Call<S, T> {
    job: Box<dyn FnOnce(Arc<S>) -> CallFuture<T> + Send>,
    span: tracing::Span,
}

impl<S: 'static, T: Send + 'static> Message for Call<S, T> {
    type Result = ApiResult<T>;
}

impl<S: Service, T: Send + 'static> Handler<Call<S, T>> for ShardActor<S> {
    type Result = ActorResponse<Self, ApiResult<T>>;

    fn handle(&mut self, call: Call<S, T>, ctx: &mut Context<Self>) -> Self::Result {
        self.gauge.dequeued();
        // Polled inside the span, which is kept for later polls.
        let _entered = call.span.enter();
        run_guarded(S::NAME, ctx, (call.job)(self.service.clone()))
    }
}

/// Polls a call's future once at once: answered from the caches, the reply goes out
/// while the message is handled, sparing the context a spawned future and another pass
/// over its futures. Otherwise the context goes on polling it with its own waker.
fn run_guarded<A, T>(
    name: &'static str,
    ctx: &mut Context<A>,
    fut: CallFuture<T>,
) -> ActorResponse<A, ApiResult<T>>
where
    A: Actor<Context = Context<A>>,
    T: 'static,
{
    // The future is boxed already, so the unwind guard around it is small and Unpin.
    let mut fut = AssertUnwindSafe(fut).catch_unwind();
    let mut first = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(res) = fut.poll_unpin(&mut first) {
        return ActorResponse::reply(settle(name, res, ctx));
    }
    let fut = tracing::Instrument::in_current_span(fut);
    ActorResponse::r#async(
        actix::fut::wrap_future::<_, A>(fut).map(move |res, _act, ctx| settle(name, res, ctx)),
    )
}

/// A call's outcome, or 500 and a restart of the actor if it panicked.
fn settle<A, T>(
    name: &'static str,
    res: std::thread::Result<ApiResult<T>>,
    ctx: &mut Context<A>,
) -> ApiResult<T>
where
    A: Actor<Context = Context<A>>,
{
    match res {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ctx.stop();
            Err(ApiError::internal(
                "actor call panicked; the actor restarts",
                format!("{name}: {what}"),
            ))
        }
    }
}

/// A pool of arbiter threads the shards run on (`actors.threads > 0`).
pub struct ActorThreads {
    arbiters: Vec<Arbiter>,
}

impl ActorThreads {
    pub fn new(n: usize) -> Self {
        ActorThreads {
            arbiters: (0..n.max(1)).map(|_| Arbiter::new()).collect(),
        }
    }

    /// Runs a task made by `make` on every thread, inside its runtime.
    pub fn each<F>(&self, make: impl Fn() -> F)
    where
        F: FnOnce() + Send + 'static,
    {
        for a in &self.arbiters {
            a.spawn_fn(make());
        }
    }

    fn handle(&self, i: usize) -> ArbiterHandle {
        self.arbiters[i % self.arbiters.len()].handle()
    }

    /// Stops the threads once their actors finished what they were doing.
    pub fn stop(&self) {
        for a in &self.arbiters {
            a.stop();
        }
    }
}

/// Where shards run: on dedicated actor threads, or on the calling thread (an HTTP
/// worker, so that a request and the actors it talks to share a thread and a message
/// costs no thread switch).
#[derive(Clone, Copy)]
pub enum Placement<'a> {
    Threads(&'a ActorThreads),
    Here,
}

/// The shards of every actor kind, as handlers use them.
pub struct Actors {
    pub sms: Shards<SmsService>,
    pub sessions: Shards<SessionService>,
    pub relations: Shards<RelationService>,
}

/// The mailbox gauges of the three kinds, shared by all their shards.
#[derive(Clone)]
pub struct Gauges {
    sms: MailboxGauge,
    session: MailboxGauge,
    relation: MailboxGauge,
}

impl Default for Gauges {
    fn default() -> Self {
        Gauges {
            sms: MailboxGauge::new(SmsService::NAME),
            session: MailboxGauge::new(SessionService::NAME),
            relation: MailboxGauge::new(RelationService::NAME),
        }
    }
}

impl Gauges {
    /// Sets the mailbox-depth gauges (at scrape time).
    pub fn record(&self) {
        for g in [&self.sms, &self.session, &self.relation] {
            crate::metrics::mailbox_depth(g.name, g.depth());
        }
    }
}

impl Actors {
    pub fn start(
        services: &Services,
        gauges: &Gauges,
        settings: &crate::config::ActorSettings,
        placement: Placement<'_>,
    ) -> Self {
        let cap = settings.mailbox_capacity;
        Actors {
            sms: Shards::start(
                placement,
                &services.sms,
                &gauges.sms,
                settings.sms_shards,
                cap,
            ),
            sessions: Shards::start(
                placement,
                &services.sessions,
                &gauges.session,
                settings.session_shards,
                cap,
            ),
            relations: Shards::start(
                placement,
                &services.relations,
                &gauges.relation,
                settings.relation_shards,
                cap,
            ),
        }
    }
}

/// Messages waiting in one actor kind's mailboxes, for the metrics.
#[derive(Clone)]
struct MailboxGauge {
    name: &'static str,
    queued: Arc<AtomicUsize>,
}

impl MailboxGauge {
    fn new(name: &'static str) -> Self {
        MailboxGauge {
            name,
            queued: Arc::default(),
        }
    }

    // Only the counter moves per message; the gauge is set from it at scrape time:
    // resolving a labelled gauge costs a registry lookup on every call.
    fn enqueued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    fn dequeued(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    fn depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// The shards of one actor kind.
pub struct Shards<S: Service> {
    addrs: Vec<Addr<ShardActor<S>>>,
    /// Picks a shard on every call: a fast hash, seeded per process.
    hasher: foldhash::fast::RandomState,
    gauge: MailboxGauge,
}

impl<S: Service> Shards<S> {
    fn start(
        placement: Placement<'_>,
        service: &Arc<S>,
        gauge: &MailboxGauge,
        count: usize,
        mailbox_capacity: usize,
    ) -> Self {
        let addrs = (0..count.max(1))
            .map(|i| {
                let actor = ShardActor {
                    service: service.clone(),
                    gauge: gauge.clone(),
                };
                let init = move |ctx: &mut Context<ShardActor<S>>| {
                    ctx.set_mailbox_capacity(mailbox_capacity);
                    actor
                };
                match placement {
                    Placement::Threads(threads) => {
                        Supervisor::start_in_arbiter(&threads.handle(i), init)
                    }
                    Placement::Here => Supervisor::start(init),
                }
            })
            .collect();
        Shards {
            addrs,
            hasher: Default::default(),
            gauge: gauge.clone(),
        }
    }

    /// Runs `call` on the service, on the shard `key` picks, and waits for its answer.
    pub async fn run<T, F, Fut>(&self, key: impl Hash, call: F) -> ApiResult<T>
    where
        F: FnOnce(Arc<S>) -> Fut + Send + 'static,
        Fut: Future<Output = ApiResult<T>> + 'static,
        T: Send + 'static,
    {
        let addr = &self.addrs[(self.hasher.hash_one(key) as usize) % self.addrs.len()];
        self.gauge.enqueued();
        // A call lost to a stopping actor is not taken back from the gauge: it was
        // either handled (and counted) or the process is going down.
        addr.send(Call {
            job: Box::new(move |service| Box::pin(call(service))),
            span: tracing::Span::current(),
        })
        .await
        .map_err(|e| ApiError::internal("actor mailbox closed", e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(std::sync::atomic::AtomicU32);

    impl Service for Counter {
        const NAME: &'static str = "test";
    }

    impl Counter {
        async fn next(&self) -> ApiResult<u32> {
            Ok(self.0.fetch_add(1, Ordering::Relaxed) + 1)
        }
    }

    async fn crash_now() -> ApiResult<()> {
        panic!("simulated crash")
    }

    async fn crash_after_waiting() -> ApiResult<()> {
        tokio::task::yield_now().await;
        panic!("simulated crash")
    }

    /// A panicking call, at once or after it waited, answers 500 and the shard comes
    /// back with the same service: every later call is answered.
    #[actix_web::test]
    async fn a_crashed_actor_restarts_and_keeps_answering() {
        let service = Arc::new(Counter(Default::default()));
        let gauge = MailboxGauge::new("test");
        let threads = ActorThreads::new(2);
        for placement in [Placement::Here, Placement::Threads(&threads)] {
            let shards = Shards::start(placement, &service, &gauge, 3, 16);
            for key in 0..16u64 {
                let now = shards.run(key, |_| crash_now()).await;
                assert_eq!(now.unwrap_err().code(), 500);
                let later = shards.run(key, |_| crash_after_waiting()).await;
                assert_eq!(later.unwrap_err().code(), 500);
                let n = shards.run(key, |s| async move { s.next().await }).await;
                assert!(n.unwrap() > 0);
            }
        }
        assert_eq!(service.next().await.unwrap(), 33);
        assert_eq!(gauge.depth(), 0);
        threads.stop();
    }
}

#[cfg(test)]
mod future_sizes {
    //! A call's future is built on the actor's stack and boxed on every message, so its
    //! size is copied per request. It is as large as the largest state it may reach:
    //! database calls inline in the warm path made the list page's 8 KB and
    //! authentication's 11 KB (debug build), copied on every request.

    use std::sync::Arc;

    use crate::domain::relation::ListKind;
    use crate::domain::token::TokenHash;
    use crate::services::{RelationService, SessionService};

    /// The size of the future `f` returns, without calling it.
    fn size_of_output<A, F>(_f: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    const SMALL: usize = 2048;

    #[test]
    fn warm_path_futures_stay_small() {
        let page = size_of_output(|s: Arc<RelationService>| async move {
            s.page(1, ListKind::Following, 1, 20).await
        });
        let auth = size_of_output(|(s, h): (Arc<SessionService>, TokenHash)| async move {
            s.authenticate(h).await
        });
        assert!(page < SMALL, "list page future is {page} bytes");
        assert!(auth < SMALL, "authentication future is {auth} bytes");
    }
}
