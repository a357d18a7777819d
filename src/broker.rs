//! The broker connection's state, for /readyz and the metrics, and the outbox backlog.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::store::{outbox, Db};

#[derive(Default)]
pub struct BrokerStatus(AtomicU8);

impl BrokerStatus {
    pub const DISABLED: u8 = 0;
    pub const CONNECTING: u8 = 1;
    pub const CONNECTED: u8 = 2;
    pub const DOWN: u8 = 3;

    pub fn set(&self, s: u8) {
        self.0.store(s, Ordering::Release);
        metrics::gauge!("im_broker_connected").set(if s == Self::CONNECTED { 1.0 } else { 0.0 });
    }

    pub fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    pub fn describe(&self) -> &'static str {
        match self.get() {
            Self::CONNECTING => "connecting",
            Self::CONNECTED => "up",
            Self::DOWN => "down",
            _ => "disabled",
        }
    }
}

/// Unpublished events and the age of the oldest, in seconds.
pub async fn outbox_backlog(db: &Db) -> Result<(u64, f64), sea_orm::DbErr> {
    let conn = db.conn();
    let count = outbox::unpublished_count(&conn).await?;
    let age = outbox::oldest_unpublished(&conn)
        .await?
        .map(|t| ((crate::domain::now_ms() - t).max(0) as f64) / 1000.0)
        .unwrap_or(0.0);
    Ok((count, age))
}

pub async fn record_outbox_gauges(db: &Db) {
    match outbox_backlog(db).await {
        Ok((count, age)) => {
            metrics::gauge!("im_outbox_backlog_events").set(count as f64);
            metrics::gauge!("im_outbox_oldest_age_seconds").set(age);
        }
        Err(e) => tracing::warn!(error = %e, "could not read the outbox backlog"),
    }
}

/// Declares the events exchange as every party expects it: a durable topic exchange
/// (routing key = event type). Publisher, cache-coherence feed and consumers all call
/// this, so their declarations cannot drift apart (RabbitMQ refuses a mismatch).
pub async fn declare_exchange(channel: &lapin::Channel, name: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            name.into(),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
}
