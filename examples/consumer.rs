//! An example IM-server-side consumer of im-access events.
//!
//! ```sh
//! cargo run --example consumer                       # local broker, queue "im-server.events"
//! AMQP_URL=amqp://user:pass@host:5672/%2f QUEUE=my-im.events cargo run --example consumer
//! ```
//!
//! It declares a durable queue, binds every event type, handles each message, and only
//! then acknowledges it (so a crash redelivers rather than loses). Delivery is at least
//! once: duplicates are skipped by event `id`. `seq` numbers the published stream
//! without gaps; on a gap the consumer would fetch the missing range from
//! `GET /internal/events?after_seq=<last seen>` with an IM-server key (here it only
//! reports it). `examples/im_server` does the whole job: snapshot, queue, gap replay,
//! restart from a state file.

use std::collections::{HashSet, VecDeque};

use futures_util::StreamExt;
use im_access::domain::event::{Event, Published};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let exchange = std::env::var("EXCHANGE").unwrap_or_else(|_| "im.events".to_owned());
    let queue = std::env::var("QUEUE").unwrap_or_else(|_| "im-server.events".to_owned());
    // Stop after this many messages (handy in scripts); 0 runs forever.
    let limit: usize = std::env::var("LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);

    let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    im_access::broker::declare_exchange(&channel, &exchange).await?;
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    // Every type ("#"): a type this consumer does not know yet is reported, not lost.
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    // Bounded in-flight work; acknowledgements free the window.
    channel.basic_qos(100, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "example-consumer".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    println!("consuming {exchange} through queue {queue}");

    // Ids already handled. A real IM server keeps this with its state (a table keyed by
    // id, or simply the last applied seq); a bounded window is enough for an example.
    let mut seen = Seen::new(1_000_000);
    let mut last_seq: Option<i64> = None;
    let mut handled = 0usize;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        match serde_json::from_slice::<Published>(&delivery.data) {
            Ok(ev) if seen.contains(&ev.id) => {
                println!("duplicate {} (seq {}) skipped", ev.id, ev.seq);
            }
            Ok(ev) => {
                if let Some(last) = last_seq {
                    if ev.seq > last + 1 {
                        println!(
                            "gap: seq {}..{} missing; replay them from /internal/events?after_seq={last}",
                            last + 1,
                            ev.seq - 1
                        );
                    }
                }
                handle(&ev);
                seen.insert(ev.id.clone());
                last_seq = Some(last_seq.map_or(ev.seq, |l| l.max(ev.seq)));
            }
            Err(e) => println!("not an event ({e}); dropped"),
        }
        // Acknowledge only after handling: a crash before this line redelivers.
        delivery.ack(BasicAckOptions::default()).await?;
        handled += 1;
        if limit > 0 && handled >= limit {
            break;
        }
    }
    conn.close(200, "bye".into()).await?;
    Ok(())
}

/// Where an IM server applies the change: its copy of who follows and blocks whom,
/// kicking revoked sessions, refreshing profiles.
fn handle(ev: &Published) {
    let (seq, at) = (ev.seq, &ev.occurred_at);
    match &ev.event {
        Event::Followed {
            from_user_id,
            to_user_id,
        } => println!("#{seq} {from_user_id} follows {to_user_id} at {at}"),
        Event::Unfollowed {
            from_user_id,
            to_user_id,
        } => println!("#{seq} {from_user_id} unfollows {to_user_id} at {at}"),
        Event::Blocked {
            from_user_id,
            to_user_id,
        } => println!("#{seq} {from_user_id} blocks {to_user_id} at {at}"),
        Event::Unblocked {
            from_user_id,
            to_user_id,
        } => println!("#{seq} {from_user_id} unblocks {to_user_id} at {at}"),
        Event::SessionRevoked {
            user_id,
            device,
            reason,
            ..
        } => println!("#{seq} kick user {user_id} on {device} ({reason:?})"),
        Event::UserCreated { user_id, nickname } => {
            println!("#{seq} new user {user_id} ({nickname})")
        }
        Event::UserUpdated {
            user_id,
            nickname,
            avatar,
        } => println!("#{seq} user {user_id} is now {nickname} ({avatar:?})"),
        Event::UserDeleted { user_id } => {
            println!("#{seq} user {user_id} deleted: drop every relation and the profile")
        }
        Event::UserBanned {
            user_id,
            until,
            reason,
        } => println!("#{seq} user {user_id} banned until {until:?} ({reason})"),
        Event::UserUnbanned { user_id } => println!("#{seq} user {user_id} unbanned"),
    }
}

/// The most recent `cap` event ids.
struct Seen {
    cap: usize,
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    fn new(cap: usize) -> Self {
        Seen {
            cap,
            ids: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: String) {
        if self.ids.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }
}
