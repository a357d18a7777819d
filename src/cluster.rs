//! Cache coherence between processes that share a database and a broker.
//!
//! Invalidation rides on the event stream: every process binds its own exclusive
//! queue to the events exchange and drops what an event makes stale (a relation
//! change, a profile update, a revoked session). The event stream was chosen over a
//! separate broadcast because it is already durable and ordered, is written in the
//! transaction of the change (a crash between commit and broadcast cannot lose an
//! invalidation), and needs no second publisher.
//!
//! The bound: a process serves cached data only while (1) its subscription is live
//! and (2) the outbox holds no unpublished event older than `STALE_AFTER`. Otherwise
//! its caches are switched off and every read goes to the database. So a change made
//! anywhere is either delivered here within the relay's latency or, if the relay or
//! broker stalls, the caches are off within `STALE_AFTER + CHECK_EVERY` (< 1 s).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::watch;

use crate::actors::relation::RelationService;
use crate::actors::session::SessionService;
use crate::config::AmqpSettings;
use crate::events;
use crate::store::Db;

/// Oldest unpublished event age beyond which other processes' caches may be stale.
const STALE_AFTER: Duration = Duration::from_millis(300);
const CHECK_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct Caches {
    pub sessions: Arc<SessionService>,
    pub relations: Arc<RelationService>,
}

impl Caches {
    fn set_enabled(&self, on: bool) {
        if self.sessions.cache.enabled() != on {
            tracing::info!(enabled = on, "shared caches switched");
            metrics::gauge!("im_cache_coherent").set(if on { 1.0 } else { 0.0 });
        }
        self.sessions.cache.set_enabled(on);
        self.relations.lists.set_enabled(on);
        self.relations.profiles.set_enabled(on);
    }

    fn is_enabled(&self) -> bool {
        self.sessions.cache.enabled()
    }

    /// Drops what one event makes stale.
    pub async fn apply(&self, event_type: &str, data: &Value) {
        let id = |k: &str| data.get(k).and_then(Value::as_i64);
        match event_type {
            events::USER_UPDATED => {
                if let Some(u) = id("user_id") {
                    self.relations.profiles.invalidate(&u).await;
                }
            }
            events::SESSION_REVOKED => {
                if let (Some(u), Some(device)) =
                    (id("user_id"), data.get("device").and_then(Value::as_str))
                {
                    self.sessions.forget_device(u, device);
                }
            }
            events::RELATION_FOLLOWED
            | events::RELATION_UNFOLLOWED
            | events::RELATION_BLOCKED
            | events::RELATION_UNBLOCKED => {
                for k in ["from_user_id", "to_user_id"] {
                    if let Some(u) = id(k) {
                        self.relations.forget_user_lists(u).await;
                    }
                }
            }
            _ => {}
        }
    }
}

/// Runs until `stop` flips: keeps the subscription up and the caches switched on only
/// while they can be trusted.
pub async fn run(db: Db, amqp: AmqpSettings, caches: Caches, mut stop: watch::Receiver<bool>) {
    caches.set_enabled(false);
    let (live_tx, live_rx) = watch::channel(false);
    let monitor = tokio::spawn(monitor_lag(db, caches.clone(), live_rx, stop.clone()));
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            break;
        }
        let session = subscribe(&amqp, &caches, &live_tx, &mut stop).await;
        let _ = live_tx.send(false);
        caches.set_enabled(false);
        match session {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = %e, "cache invalidation feed lost; caches off until it is back");
            }
        }
        let jitter = Duration::from_millis(rand::random::<u64>() % 100);
        tokio::select! {
            _ = tokio::time::sleep(backoff + jitter) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    monitor.abort();
}

async fn subscribe(
    amqp: &AmqpSettings,
    caches: &Caches,
    live: &watch::Sender<bool>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let e = |e: lapin::Error| e.to_string();
    let conn = Connection::connect(
        amqp.url.expose_secret(),
        ConnectionProperties::default().with_connection_name("im-access cache coherence".into()),
    )
    .await
    .map_err(e)?;
    let channel = conn.create_channel().await.map_err(e)?;
    crate::broker::declare_exchange(&channel, &amqp.exchange)
        .await
        .map_err(e)?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(e)?;
    channel
        .queue_bind(
            queue.name().as_str().into(),
            amqp.exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(e)?;
    let mut consumer = channel
        .basic_consume(
            queue.name().as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(e)?;
    // From here on every change commits an event this queue receives, so anything
    // loaded from now can be invalidated in time.
    let _ = live.send(true);
    tracing::info!("cache invalidation feed connected");
    loop {
        tokio::select! {
            delivery = consumer.next() => match delivery {
                Some(Ok(d)) => {
                    if let Ok(body) = serde_json::from_slice::<Value>(&d.data) {
                        let t = body.get("type").and_then(Value::as_str).unwrap_or("");
                        if let Some(data) = body.get("data") {
                            caches.apply(t, data).await;
                        }
                    }
                }
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("consumer closed".to_owned()),
            },
            _ = stop.changed() => {
                let _ = conn.close(200, "shutdown".into()).await;
                return Ok(());
            }
        }
    }
}

/// Switches caches on only while the feed is live and the relay keeps up.
async fn monitor_lag(
    db: Db,
    caches: Caches,
    live: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if *stop.borrow() {
            return;
        }
        let keeping_up = match crate::store::outbox::oldest_unpublished(&db.conn()).await {
            Ok(None) => true,
            Ok(Some(occurred_at)) => {
                crate::domain::now_ms() - occurred_at < STALE_AFTER.as_millis() as i64
            }
            Err(_) => false,
        };
        let on = *live.borrow() && keeping_up;
        if on != caches.is_enabled() {
            caches.set_enabled(on);
        }
    }
}
