//! The outbox relay against a bare lapin publisher on the same broker.
//!
//! ```sh
//! cargo run --release --example relay_bench     # PostgreSQL and RabbitMQ on loopback
//! BENCH_PG=postgres://… BENCH_AMQP=amqp://… BENCH_EVENTS=20000 BENCH_RATE=2000 cargo run --release --example relay_bench
//! ```
//!
//! Two measurements, each for the relay and for the baseline:
//! - drain: `BENCH_EVENTS` events waiting (committed outbox rows / messages ready),
//!   published with confirms as fast as possible: events per second until the last
//!   one reached a consumer;
//! - steady: events committed at `BENCH_RATE` per second by 16 writers: latency from
//!   commit (or, for the baseline, from the publish call) to the consumer, p50/p99.
//!
//! The baseline publishes the same bodies the same way (mandatory, persistent,
//! batches of `amqp.batch_size` awaiting every confirm; one publish awaiting its
//! confirm in the steady run), with no database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use im_access::config::Settings;
use im_access::domain::event::{render_body, Event};
use im_access::events::relay::Relay;
use im_access::events::OutboxSignal;
use im_access::store::{outbox, Db};
use lapin::options::*;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use sea_orm::{ConnectionTrait, Database};

type Times = Arc<Mutex<HashMap<String, Instant>>>;

fn env(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_owned())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn channel(url: &str) -> (Connection, Channel) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("broker");
    let ch = conn.create_channel().await.expect("channel");
    (conn, ch)
}

/// An exclusive queue on `exchange` that records each event's arrival time.
async fn consumer(url: &str, exchange: &str) -> (Connection, Arc<Mutex<Vec<(String, Instant)>>>) {
    let (conn, ch) = channel(url).await;
    im_access::broker::declare_exchange(&ch, exchange)
        .await
        .unwrap();
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().as_str().into(),
        exchange.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut c = ch
        .basic_consume(
            q.name().as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    tokio::spawn(async move {
        while let Some(Ok(d)) = c.next().await {
            let at = Instant::now();
            let v: serde_json::Value = serde_json::from_slice(&d.data).unwrap();
            let key = v["data"]["from_user_id"].to_string();
            sink.lock().unwrap().push((key, at));
        }
    });
    (conn, got)
}

async fn wait_for(got: &Arc<Mutex<Vec<(String, Instant)>>>, n: usize) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        {
            let g = got.lock().unwrap();
            if g.len() >= n {
                return g[n - 1].1;
            }
        }
        assert!(Instant::now() < deadline, "events missing");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn latencies(sent: &Times, got: &Arc<Mutex<Vec<(String, Instant)>>>) -> (f64, f64) {
    let sent = sent.lock().unwrap();
    let mut ms: Vec<f64> = got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|(id, at)| {
            sent.get(id)
                .map(|t| at.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    (pct(&mut ms, 0.5), pct(&mut ms, 0.99))
}

async fn fresh_db(admin: &str) -> (String, String) {
    let conn = Database::connect(admin).await.expect("PostgreSQL");
    let name = format!("im_relay_bench_{}", rand::random::<u32>());
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&format!("/{name}"));
    (url.to_string(), name)
}

/// The event of number `i`; its `from_user_id` (= `i`) tells the consumer which it is.
fn event(i: i64) -> Event {
    Event::Followed {
        from_user_id: i,
        to_user_id: i + 1,
    }
}

/// Commits the event of number `i`, and returns its key.
async fn commit_event(db: &Db, i: i64) -> String {
    db.write(move |txn| {
        Box::pin(async move {
            outbox::insert(txn, &event(i)).await?;
            Ok(())
        })
    })
    .await
    .expect("commit");
    i.to_string()
}

async fn publish(ch: &Channel, exchange: &str, i: i64, seq: i64) -> lapin::PublisherConfirm {
    let id = uuid::Uuid::now_v7().to_string();
    let stored = event(i).stored();
    let body = render_body(&id, seq, &stored.event_type, 0, &stored.data).unwrap();
    ch.basic_publish(
        exchange.into(),
        stored.event_type.as_str().into(),
        BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        },
        body.as_bytes(),
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(id.as_str().into()),
    )
    .await
    .unwrap()
}

#[tokio::main]
async fn main() {
    let admin = env("BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres");
    let amqp = env("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let n: usize = env("BENCH_EVENTS", "20000").parse().unwrap();
    let rate: u64 = env("BENCH_RATE", "2000").parse().unwrap();
    let steady_n = (rate * 10) as usize;
    // RELAY_BENCH_LOG=im_access::events::relay=debug shows each round's phases.
    im_access::telemetry::init(&im_access::config::LogSettings {
        format: im_access::config::LogFormat::Text,
        level: env("RELAY_BENCH_LOG", "warn"),
    });

    let mut settings = Settings::load_from(None, false).unwrap();
    let (db_url, db_name) = fresh_db(&admin).await;
    settings.database.url = db_url.into();
    settings.database.max_connections = 32;
    settings.amqp.url = amqp.clone().into();
    let batch = settings.amqp.batch_size as usize;
    let db = Db::connect(&settings.database).await.unwrap();
    db.migrate().await.unwrap();

    // Relay, drain: n committed events waiting, then the relay starts.
    let exchange = format!("im.bench.relay.{}", rand::random::<u32>());
    settings.amqp.exchange = exchange.clone();
    let (_c1, got) = consumer(&amqp, &exchange).await;
    let writers = 16;
    let per = n / writers;
    futures_util::future::join_all((0..writers).map(|w| {
        let db = db.clone();
        async move {
            for i in 0..per {
                commit_event(&db, (w * per + i) as i64).await;
            }
        }
    }))
    .await;
    let signal = OutboxSignal::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let status = Arc::new(im_access::broker::BrokerStatus::default());
    let started = Instant::now();
    let relay = tokio::spawn(
        Relay::new(
            db.clone(),
            settings.amqp.clone(),
            &settings.events,
            signal.clone(),
            status,
        )
        .run(stop_rx),
    );
    let last = wait_for(&got, per * writers).await;
    let relay_drain = (per * writers) as f64 / last.duration_since(started).as_secs_f64();

    // Relay, steady: commits at `rate`, latency commit -> consumer.
    let sent: Times = Arc::new(Mutex::new(HashMap::new()));
    got.lock().unwrap().clear();
    let interval = Duration::from_secs_f64(writers as f64 / rate as f64);
    futures_util::future::join_all((0..writers).map(|w| {
        let (db, sent, signal) = (db.clone(), sent.clone(), signal.clone());
        async move {
            let mut tick = tokio::time::interval(interval);
            for i in 0..steady_n / writers {
                tick.tick().await;
                let key = commit_event(&db, (1_000_000 + w * steady_n + i) as i64).await;
                sent.lock().unwrap().insert(key, Instant::now());
                signal.committed();
            }
        }
    }))
    .await;
    wait_for(&got, steady_n / writers * writers).await;
    let (relay_p50, relay_p99) = latencies(&sent, &got);
    let _ = stop_tx.send(true);
    let _ = relay.await;

    // Baseline, drain: the same bodies from memory, batches awaiting every confirm.
    let exchange = format!("im.bench.bare.{}", rand::random::<u32>());
    let (_c2, got) = consumer(&amqp, &exchange).await;
    let (_pc, ch) = channel(&amqp).await;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let events: Vec<i64> = (0..(per * writers) as i64).collect();
    let started = Instant::now();
    let mut seq = 1;
    for chunk in events.chunks(batch) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for i in chunk {
            confirms.push(publish(&ch, &exchange, *i, seq).await);
            seq += 1;
        }
        for c in confirms {
            c.await.unwrap();
        }
    }
    let last = wait_for(&got, events.len()).await;
    let bare_drain = events.len() as f64 / last.duration_since(started).as_secs_f64();

    // Baseline, steady: one publish awaiting its confirm, at the same rate.
    let sent: Times = Arc::new(Mutex::new(HashMap::new()));
    got.lock().unwrap().clear();
    let ch = Arc::new(ch);
    futures_util::future::join_all((0..writers).map(|w| {
        let (ch, sent, exchange) = (ch.clone(), sent.clone(), exchange.clone());
        async move {
            let mut tick = tokio::time::interval(interval);
            for i in 0..steady_n / writers {
                tick.tick().await;
                let n = (w * steady_n + i) as i64;
                sent.lock().unwrap().insert(n.to_string(), Instant::now());
                publish(&ch, &exchange, n, i as i64).await.await.unwrap();
            }
        }
    }))
    .await;
    wait_for(&got, steady_n / writers * writers).await;
    let (bare_p50, bare_p99) = latencies(&sent, &got);

    println!("| | relay (outbox → RabbitMQ, confirms) | bare lapin publisher | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| drain {} events, events/s | {relay_drain:.0} | {bare_drain:.0} | {:.2} |",
        per * writers,
        relay_drain / bare_drain
    );
    println!(
        "| steady {rate}/s, p50 ms (commit → consumer; baseline: publish → consumer) | {relay_p50:.2} | {bare_p50:.2} | {:.2} |",
        relay_p50 / bare_p50
    );
    println!(
        "| steady {rate}/s, p99 ms | {relay_p99:.2} | {bare_p99:.2} | {:.2} |",
        relay_p99 / bare_p99
    );

    drop(db);
    if let Ok(conn) = Database::connect(&admin).await {
        let _ = conn
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
            .await;
    }
}
