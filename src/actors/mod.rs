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
pub fn guarded<A, T>(
    name: &'static str,
    gauge: &MailboxGauge,
    fut: impl std::future::Future<Output = ApiResult<T>> + 'static,
) -> ResponseActFuture<A, ApiResult<T>>
where
    A: Actor<Context = Context<A>>,
    T: 'static,
{
    gauge.dequeued();
    Box::pin(
        actix::fut::wrap_future::<_, A>(AssertUnwindSafe(fut).catch_unwind()).map(
            move |res, _act, ctx| match res {
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
            },
        ),
    )
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

/// Polls an actor future inside a span.
pub struct InSpan<A: Actor, T> {
    span: tracing::Span,
    inner: ResponseActFuture<A, T>,
}

impl<A: Actor, T> ActorFuture<A> for InSpan<A, T> {
    type Output = T;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        act: &mut A,
        ctx: &mut A::Context,
        task: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        let this = self.get_mut();
        let _entered = this.span.enter();
        this.inner.as_mut().poll(act, ctx, task)
    }
}

/// Makes the receiving shard panic inside a handler, as a bug would. For tests of
/// supervision; nothing in the server sends it.
#[derive(Message)]
#[rtype(result = "ApiResult<()>")]
pub struct Crash;

impl Request for Crash {
    type Output = ();
}

/// Implements `Supervised`, `Crash`, and the `Traced` form of each listed message, for
/// an actor with a `gauge` field.
macro_rules! supervised_actor {
    ($actor:ty, $name:expr, [$($msg:ty),* $(,)?]) => {
        $(
            impl actix::Handler<crate::actors::Traced<$msg>> for $actor {
                type Result = actix::ResponseActFuture<
                    Self,
                    crate::error::ApiResult<<$msg as crate::actors::Request>::Output>,
                >;

                fn handle(
                    &mut self,
                    traced: crate::actors::Traced<$msg>,
                    ctx: &mut actix::Context<Self>,
                ) -> Self::Result {
                    let span = traced.span;
                    let inner = {
                        let _entered = span.enter();
                        <Self as actix::Handler<$msg>>::handle(self, traced.msg, ctx)
                    };
                    Box::pin(crate::actors::InSpan { span, inner })
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
            type Result = actix::ResponseActFuture<Self, crate::error::ApiResult<()>>;

            fn handle(
                &mut self,
                _msg: crate::actors::Crash,
                _ctx: &mut actix::Context<Self>,
            ) -> Self::Result {
                crate::actors::guarded($name, &self.gauge, async {
                    panic!("simulated crash")
                })
            }
        }
    };
}
pub(crate) use supervised_actor;
