//! Supervised actors, sharded by key over a pool of arbiter threads.
//!
//! Each actor kind owns its caches and its state lives in an `Arc` it shares with
//! nobody else; handlers return futures that run on the actor's arbiter without
//! holding its mailbox (ordering and correctness come from the database's locks and
//! conditional updates, which also hold across processes). A panic inside a handler is
//! caught, answered with 500, and stops the actor, which its `Supervisor` restarts with
//! the same state and mailbox.

pub mod relation;
pub mod session;
pub mod sms;

use std::hash::{BuildHasher, Hash};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use futures_util::FutureExt;

use crate::error::{ApiError, ApiResult};

/// A pool of arbiter threads the actor shards run on.
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

/// The shared state of each actor kind: its service (with its caches) and the gauge of
/// its mailboxes. Every shard of a kind, on every thread, holds the same ones.
#[derive(Clone)]
pub struct Services {
    pub sms: std::sync::Arc<sms::SmsService>,
    pub sessions: std::sync::Arc<session::SessionService>,
    pub relations: std::sync::Arc<relation::RelationService>,
    pub gauges: [MailboxGauge; 3],
}

/// Addresses of the shards of every actor kind, as handlers use them.
pub struct Actors {
    pub sms: Shards<sms::SmsActor>,
    pub sessions: Shards<session::SessionActor>,
    pub relations: Shards<relation::RelationActor>,
}

impl Actors {
    pub fn start(
        services: &Services,
        settings: &crate::config::ActorSettings,
        placement: Placement<'_>,
    ) -> Self {
        let cap = settings.mailbox_capacity;
        let [g_sms, g_session, g_relation] = services.gauges.clone();
        Actors {
            relations: Shards::start(placement, g_relation, settings.relation_shards, cap, |g| {
                relation::RelationActor::new(services.relations.clone(), g)
            }),
            sessions: Shards::start(placement, g_session, settings.session_shards, cap, |g| {
                session::SessionActor::new(services.sessions.clone(), g)
            }),
            sms: Shards::start(placement, g_sms, settings.sms_shards, cap, |g| {
                sms::SmsActor::new(services.sms.clone(), g)
            }),
        }
    }
}

/// Messages waiting in one actor kind's mailboxes, for the metrics.
#[derive(Clone, Default)]
pub struct MailboxGauge {
    name: &'static str,
    queued: Arc<AtomicUsize>,
}

impl MailboxGauge {
    pub fn new(name: &'static str) -> Self {
        MailboxGauge {
            name,
            queued: Arc::default(),
        }
    }

    // Only the counter moves per message; the gauge is set from it at scrape time
    // (`record`): resolving a labelled gauge costs a registry lookup on every call.
    fn enqueued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Called by a handler as it takes a message.
    pub fn dequeued(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    pub fn record(&self) {
        crate::metrics::mailbox_depth(self.name, self.depth());
    }
}

/// The shards of one actor kind.
pub struct Shards<A: Actor> {
    addrs: Vec<Addr<A>>,
    /// Picks a shard on every message: a fast hash, seeded per process.
    hasher: foldhash::fast::RandomState,
    gauge: MailboxGauge,
}

impl<A> Shards<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    pub fn start(
        placement: Placement<'_>,
        gauge: MailboxGauge,
        count: usize,
        mailbox_capacity: usize,
        make: impl Fn(MailboxGauge) -> A,
    ) -> Self
    where
        A: Send,
    {
        let addrs = (0..count.max(1))
            .map(|i| {
                let actor = make(gauge.clone());
                let init = move |ctx: &mut Context<A>| {
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
            gauge,
        }
    }

    fn pick(&self, key: &impl Hash) -> &Addr<A> {
        &self.addrs[(self.hasher.hash_one(key) as usize) % self.addrs.len()]
    }

    /// Sends to the shard that owns `key` and waits for the answer.
    pub async fn send<M>(&self, key: &impl Hash, msg: M) -> ApiResult<M::Output>
    where
        M: Request,
        A: Handler<Traced<M>>,
        A::Context: ToEnvelope<A, Traced<M>>,
    {
        self.gauge.enqueued();
        // A message lost to a stopping actor is not taken back from the gauge: it was
        // either handled (and counted) or the process is going down.
        self.pick(key)
            .send(Traced {
                span: tracing::Span::current(),
                msg,
            })
            .await
            .map_err(|e| ApiError::internal("actor mailbox closed", e))?
    }

    pub fn depth(&self) -> usize {
        self.gauge.depth()
    }
}

/// Runs a handler's future on the actor. A panic in it answers 500 and stops the
/// actor so its supervisor restarts it.
///
/// The future is polled once at once: answered from the caches (most reads are), the
/// reply goes out while the message is handled, sparing the actor's context a spawned
/// future and another pass over its futures. Otherwise the context goes on polling it
/// with its own waker, in the caller's tracing span.
pub fn guarded<A, T>(
    name: &'static str,
    gauge: &MailboxGauge,
    ctx: &mut Context<A>,
    fut: impl std::future::Future<Output = ApiResult<T>> + 'static,
) -> ActorResponse<A, ApiResult<T>>
where
    A: Actor<Context = Context<A>>,
    T: 'static,
{
    gauge.dequeued();
    let mut fut = Box::pin(AssertUnwindSafe(fut).catch_unwind());
    let mut first = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(res) = std::future::Future::poll(fut.as_mut(), &mut first) {
        return ActorResponse::reply(settle(name, res, ctx));
    }
    let fut = tracing::Instrument::in_current_span(fut);
    ActorResponse::r#async(
        actix::fut::wrap_future::<_, A>(fut).map(move |res, _act, ctx| settle(name, res, ctx)),
    )
}

/// A handler's outcome, or 500 and a restart of the actor if it panicked.
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
            tracing::error!(actor = name, panic = %what, "actor handler panicked; restarting the actor");
            ctx.stop();
            Err(ApiError::Internal)
        }
    }
}

/// The messages handlers send (as opposed to the `Traced` wrapper around them).
pub trait Request: Message<Result = ApiResult<Self::Output>> + Send + 'static {
    type Output: Send + 'static;
}

/// A message with the tracing span of the request that sent it, so that the actor's
/// log lines carry the request id.
pub struct Traced<M> {
    pub span: tracing::Span,
    pub msg: M,
}

impl<M: Message> Message for Traced<M> {
    type Result = M::Result;
}

/// Makes the receiving shard panic inside a handler, as a bug would. For tests of
/// supervision; nothing in the server sends it.
#[derive(Message)]
#[rtype(result = "ApiResult<()>")]
pub enum Crash {
    /// On the handler's first poll, while the message is handled.
    Now,
    /// After the handler waited once, when the actor's context polls it.
    AfterAwait,
}

impl Request for Crash {
    type Output = ();
}

/// Implements `Supervised`, `Crash`, and the `Traced` form of each listed message, for
/// an actor with a `gauge` field.
macro_rules! supervised_actor {
    ($actor:ty, $name:expr, [$($msg:ty),* $(,)?]) => {
        $(
            impl actix::Handler<crate::actors::Traced<$msg>> for $actor {
                type Result = actix::ActorResponse<
                    Self,
                    crate::error::ApiResult<<$msg as crate::actors::Request>::Output>,
                >;

                fn handle(
                    &mut self,
                    traced: crate::actors::Traced<$msg>,
                    ctx: &mut actix::Context<Self>,
                ) -> Self::Result {
                    // `guarded` polls inside the span, and keeps it for later polls.
                    let _entered = traced.span.enter();
                    <Self as actix::Handler<$msg>>::handle(self, traced.msg, ctx)
                }
            }
        )*

        impl actix::Supervised for $actor {
            fn restarting(&mut self, _ctx: &mut actix::Context<Self>) {
                tracing::warn!(actor = $name, "actor restarting");
                crate::metrics::actor_restart($name);
            }
        }

        impl actix::Handler<crate::actors::Crash> for $actor {
            type Result = actix::ActorResponse<Self, crate::error::ApiResult<()>>;

            fn handle(
                &mut self,
                msg: crate::actors::Crash,
                ctx: &mut actix::Context<Self>,
            ) -> Self::Result {
                crate::actors::guarded($name, &self.gauge, ctx, async move {
                    if let crate::actors::Crash::AfterAwait = msg {
                        tokio::task::yield_now().await;
                    }
                    panic!("simulated crash")
                })
            }
        }
    };
}
pub(crate) use supervised_actor;

/// Implements a request message for an actor with `svc` and `gauge` fields: `$body`,
/// run through `guarded` on a clone of the service, answers `ApiResult<$out>`.
macro_rules! handle {
    ($actor:ty, $name:expr, $msg:ty => $out:ty, |$svc:ident, $m:ident| $body:expr) => {
        impl actix::Handler<$msg> for $actor {
            type Result = actix::ActorResponse<Self, crate::error::ApiResult<$out>>;

            fn handle(&mut self, $m: $msg, ctx: &mut actix::Context<Self>) -> Self::Result {
                let $svc = self.svc.clone();
                crate::actors::guarded($name, &self.gauge, ctx, async move { $body.await })
            }
        }

        impl crate::actors::Request for $msg {
            type Output = $out;
        }
    };
}
pub(crate) use handle;

#[cfg(test)]
mod future_sizes {
    //! A handler's future is built on the stack and moved into the actor's box on
    //! every message, so its size is copied per request. It is as large as the largest
    //! state it may reach: database calls inline in the warm path made the list
    //! page's 8 KB and authentication's 11 KB (debug build), copied on every request.

    use std::sync::Arc;

    use super::relation::RelationService;
    use super::session::SessionService;
    use crate::domain::relation::ListKind;
    use crate::domain::token::TokenHash;

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
