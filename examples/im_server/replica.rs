//! Keeping a `Graph` current: a durable queue bound first, then the snapshot, then the
//! queue, with a replay from `/internal/events` whenever `seq` jumps, and the state
//! saved to a file so a restart resumes where it stopped.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use im_access::domain::event::Published;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use serde_json::Value;

#[path = "graph.rs"]
pub mod graph;

use graph::{Applied, Graph};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The im-access server's `/internal/*` routes, with one of its service keys.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// A route's `data`, or an error naming the envelope's code and message.
    async fn data(&self, req: reqwest::RequestBuilder) -> Result<Value, Error> {
        let v: Value = req.bearer_auth(&self.key).send().await?.json().await?;
        if v["code"] != 0 {
            return Err(format!("im-access answered {} {}", v["code"], v["message"]).into());
        }
        Ok(v["data"].clone())
    }

    pub async fn get(&self, path_and_query: &str) -> Result<Value, Error> {
        let url = format!("{}{path_and_query}", self.base);
        self.data(self.http.get(url)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Error> {
        let url = format!("{}{path}", self.base);
        self.data(self.http.post(url).json(body)).await
    }

    /// One snapshot page: (snapshot_seq, items, next).
    pub async fn snapshot_page(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<(i64, Vec<Value>, Option<String>), Error> {
        let mut q = format!("/internal/snapshot?kind={kind}&limit={limit}");
        if let Some(a) = after {
            q.push_str("&after=");
            q.push_str(a);
        }
        let d = self.get(&q).await?;
        let seq = d["snapshot_seq"].as_i64().ok_or("snapshot_seq")?;
        let items = d["items"].as_array().cloned().ok_or("items")?;
        Ok((seq, items, d["next"].as_str().map(str::to_owned)))
    }

    /// Published events after `after_seq`, in seq order (at most 1000).
    pub async fn events_after(&self, after_seq: i64) -> Result<Vec<Published>, Error> {
        let d = self
            .get(&format!(
                "/internal/events?after_seq={after_seq}&limit=1000"
            ))
            .await?;
        let oldest = d["oldest_seq"].as_i64();
        if oldest.is_some_and(|o| o > after_seq + 1) {
            // Past the retention: only a new snapshot can help.
            return Err(format!("events after {after_seq} are gone (oldest {oldest:?})").into());
        }
        let events = d["events"].as_array().cloned().unwrap_or_default();
        Ok(events
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()?)
    }
}

/// Walks the three snapshots (pages of `page` items) into a fresh graph whose
/// `last_seq` is the smallest of the three walks' `snapshot_seq`: events after it are
/// applied on top. Returns the graph and the number of pages read.
pub async fn bootstrap(api: &Api, page: u32) -> Result<(Graph, usize), Error> {
    let mut graph = Graph::default();
    let mut pages = 0;
    let mut seq = i64::MAX;
    for kind in ["follows", "blocks", "users"] {
        let mut after: Option<String> = None;
        let mut walk_seq = None;
        loop {
            let (s, items, next) = api.snapshot_page(kind, after.as_deref(), page).await?;
            // Every page of one walk carries the seq of its first page.
            if *walk_seq.get_or_insert(s) != s {
                return Err(format!("{kind}: snapshot_seq changed mid-walk").into());
            }
            graph.load_page(kind, &items)?;
            pages += 1;
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        seq = seq.min(walk_seq.unwrap_or(0));
    }
    graph.last_seq = seq;
    Ok((graph, pages))
}

/// Applies every published event after the graph's `last_seq` (the catch-up after a
/// snapshot, or a gap's replay), up to `until` if given. Returns how many applied.
pub async fn catch_up(api: &Api, graph: &mut Graph, until: Option<i64>) -> Result<usize, Error> {
    let mut applied = 0;
    loop {
        let events = api.events_after(graph.last_seq).await?;
        if events.is_empty() {
            return Ok(applied);
        }
        for ev in &events {
            if until.is_some_and(|u| ev.seq > u) {
                return Ok(applied);
            }
            match graph.apply(ev) {
                Applied::Done => applied += 1,
                Applied::Old => {}
                Applied::Gap { after, next } => {
                    return Err(format!("replay has a hole after {after} (next {next})").into())
                }
            }
        }
    }
}

/// The state file: the graph with its `last_seq`, written whole and renamed into place
/// so a crash leaves the old or the new one, never half of one.
pub struct StateFile(pub PathBuf);

impl StateFile {
    pub fn load(&self) -> Result<Option<Graph>, Error> {
        match std::fs::read(&self.0) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn save(&self, graph: &Graph) -> Result<(), Error> {
        let tmp = self.0.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(graph)?)?;
        std::fs::rename(&tmp, &self.0)?;
        Ok(())
    }
}

/// Declares the replica's durable queue, bound to every event type. Do this before
/// walking a snapshot: what is published from then on waits in the queue.
pub async fn declare_queue(
    channel: &lapin::Channel,
    exchange: &str,
    queue: &str,
) -> Result<(), Error> {
    im_access::broker::declare_exchange(channel, exchange).await?;
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.into(),
            exchange.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// What `follow` did, for logs and tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub applied: usize,
    pub duplicates: usize,
    pub gaps: usize,
    pub replayed: usize,
}

/// Follows the queue: each message applied in seq order (a gap replayed from
/// `/internal/events` first), the state saved, then the message acknowledged (a crash
/// before the ack redelivers it; the seq check skips it then). Runs until the stream
/// ends or `stop` says so.
pub async fn follow(
    api: &Api,
    channel: &lapin::Channel,
    queue: &str,
    graph: &mut Graph,
    state: &StateFile,
    mut stop: tokio::sync::watch::Receiver<bool>,
    on_change: &mut dyn FnMut(&Graph, Counts),
) -> Result<Counts, Error> {
    channel.basic_qos(200, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut counts = Counts::default();
    loop {
        let delivery = tokio::select! {
            d = consumer.next() => match d {
                Some(d) => d?,
                None => break,
            },
            _ = stop.changed() => break,
        };
        match serde_json::from_slice::<Published>(&delivery.data) {
            Ok(ev) => loop {
                match graph.apply(&ev) {
                    Applied::Done => counts.applied += 1,
                    Applied::Old => counts.duplicates += 1,
                    Applied::Gap { next, .. } => {
                        counts.gaps += 1;
                        counts.replayed += catch_up(api, graph, Some(next - 1)).await?;
                        continue;
                    }
                }
                break;
            },
            // A type this replica does not know yet: a newer server. Stop rather than
            // skip it silently and diverge.
            Err(e) => return Err(format!("unreadable event: {e}").into()),
        }
        state.save(graph)?;
        delivery.ack(BasicAckOptions::default()).await?;
        on_change(graph, counts);
    }
    Ok(counts)
}

/// Starts from the state file if there is one, else from a snapshot (the queue
/// declared first); then catches up through `/internal/events`.
pub async fn start(
    api: &Api,
    channel: &lapin::Channel,
    exchange: &str,
    queue: &str,
    state: &Path,
) -> Result<Graph, Error> {
    declare_queue(channel, exchange, queue).await?;
    let file = StateFile(state.to_path_buf());
    let mut graph = match file.load()? {
        Some(g) => g,
        None => bootstrap(api, 1000).await?.0,
    };
    catch_up(api, &mut graph, None).await?;
    file.save(&graph)?;
    Ok(graph)
}
