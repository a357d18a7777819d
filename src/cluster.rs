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

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use tokio::sync::watch;

use crate::config::AmqpSettings;
use crate::domain::event::Published;
use crate::services::Services;
use crate::store::Db;

/// Oldest unpublished event age beyond which other processes' caches may be stale.
const STALE_AFTER: Duration = Duration::from_millis(300);
const CHECK_EVERY: Duration = Duration::from_millis(200);

fn set_caches(services: &Services, on: bool) {
    if services.caches_enabled() != on {
        tracing::info!(enabled = on, "shared caches switched");
        crate::metrics::cache_coherent(on);
    }
    services.set_caches_enabled(on);
}

/// Runs until `stop` flips: keeps the subscription up and the caches switched on only
/// while they can be trusted.
pub async fn run(db: Db, amqp: AmqpSettings, caches: Services, mut stop: watch::Receiver<bool>) {
    set_caches(&caches, false);
    let (live_tx, live_rx) = watch::channel(false);
    let monitor = tokio::spawn(monitor_lag(db, caches.clone(), live_rx, stop.clone()));
    let mut backoff = Duration::from_millis(100);
    loop {
        if *stop.borrow() {
            break;
        }
        let session = subscribe(&amqp, &caches, &live_tx, &mut stop).await;
        let _ = live_tx.send(false);
        metrics::gauge!("im_cache_feed_connected").set(0.0);
        set_caches(&caches, false);
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
    caches: &Services,
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
    metrics::gauge!("im_cache_feed_connected").set(1.0);
    tracing::info!("cache invalidation feed connected");
    loop {
        tokio::select! {
            delivery = consumer.next() => match delivery {
                Some(Ok(d)) => match serde_json::from_slice::<Published>(&d.data) {
                    Ok(published) => caches.apply(&published.event).await,
                    // Another producer on the exchange, or a newer type: nothing of ours.
                    Err(e) => tracing::debug!(error = %e, "not an event this server knows"),
                },
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
    caches: Services,
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
        if on != caches.caches_enabled() {
            set_caches(&caches, on);
        }
    }
}
