//! A reference IM-server side of im-access: start from a snapshot, follow the event
//! queue, keep a follow/block graph in memory, and answer "may A send to B?".
//!
//! ```sh
//! IM_ACCESS_URL=http://127.0.0.1:18306 IM_ACCESS_KEY=<an [internal] key> \
//!   cargo run --example im_server -- may-send 6 7
//! ```
//!
//! Environment: `AMQP_URL` (default the local broker), `EXCHANGE` (`im.events`),
//! `QUEUE` (`im-server.replica`, durable), `STATE` (`im-server.state.json`).
//!
//! Start: the queue is declared and bound *before* the snapshot is walked, so every
//! event published from then on waits in it. With no state file the three snapshots
//! are walked and the events after their `snapshot_seq` applied; with one, the graph
//! and its last seq are read back and the events after it fetched from
//! `/internal/events`. Then the queue is followed: a message whose seq is at or below
//! the last applied is a duplicate and skipped; one past `last + 1` means a gap, which
//! is replayed from `/internal/events` before it. The state file is written before each
//! acknowledgement. If the replay answers that the events are gone (past the
//! retention), delete the state file and start again from a snapshot.

mod replica;
mod token;

use replica::{Api, Counts, StateFile};

#[tokio::main]
async fn main() -> Result<(), replica::Error> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let api = Api::new(
        &env("IM_ACCESS_URL", "http://127.0.0.1:18306"),
        &env("IM_ACCESS_KEY", ""),
    );
    let amqp = env("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let exchange = env("EXCHANGE", "im.events");
    let queue = env("QUEUE", "im-server.replica");
    let state = std::path::PathBuf::from(env("STATE", "im-server.state.json"));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    // Token checks need no broker and no graph.
    if let ["verify", token, rest @ ..] = words.as_slice() {
        let keys = token_keys(&api).await?;
        match rest {
            [] => println!("{:?}", keys.verify_im_token(token)),
            [act, members] => {
                let members = members
                    .split(',')
                    .map(|m| m.trim().parse::<i64>())
                    .collect::<Result<Vec<_>, _>>()?;
                println!(
                    "{:?} (members hash {})",
                    keys.verify_action(token, act, &members),
                    token::members_hash(&members)
                );
            }
            _ => return Err("verify <token> [<act> <members,…>]".into()),
        }
        return Ok(());
    }

    let conn = lapin::Connection::connect(&amqp, lapin::ConnectionProperties::default()).await?;
    let channel = conn.create_channel().await?;
    let mut graph = replica::start(&api, &channel, &exchange, &queue, &state).await?;
    println!(
        "{} follows, {} blocks, {} users, at seq {}",
        graph.follows.len(),
        graph.blocks.len(),
        graph.users.len(),
        graph.last_seq
    );
    if let ["may-send", a, b] = words.as_slice() {
        let (a, b): (i64, i64) = (a.parse()?, b.parse()?);
        println!("may {a} send to {b}: {}", graph.may_send(a, b));
        // The server's own answer, for comparison.
        let v = api
            .post(
                "/internal/relations/check",
                &serde_json::json!({"user_id": a, "others": [b]}),
            )
            .await?;
        println!("replica {:?}, server {}", graph.flags(a, b), v["items"][0]);
        return Ok(());
    }
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut report = |_: &replica::graph::Graph, c: Counts| {
        if c.applied.is_multiple_of(1000) || c.gaps > 0 {
            println!("{c:?}");
        }
    };
    replica::follow(
        &api,
        &channel,
        &queue,
        &mut graph,
        &StateFile(state),
        stop,
        &mut report,
    )
    .await?;
    Ok(())
}

/// The keys to verify tokens with: the HS256 secret shared with im-access
/// (`IM_JWT_SECRET`, for tokens without a kid) and the served JWKS (EdDSA).
async fn token_keys(api: &Api) -> Result<token::Keys, replica::Error> {
    let mut keys = token::Keys::default();
    if let Ok(secret) = std::env::var("IM_JWT_SECRET") {
        keys.secrets.insert(None, secret.into_bytes());
    }
    let url = format!("{}/.well-known/jwks.json", api.base);
    keys.jwks = Some(api.http.get(url).send().await?.json().await?);
    Ok(keys)
}
