//! The reference IM-server replica (`examples/im_server`) against a live server under
//! changes: it starts from the snapshot while changes run, follows its queue, and
//! answers every touched pair exactly as `/internal/relations/check` does; after a
//! restart it resumes from its state file, and a gap (messages purged from its queue)
//! is replayed from `/internal/events`. Also the token recipe of docs/IM-SERVER.md.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{self, assert_envelope, spawn_app_with, TestApp};
use crate::im_token::{members_hash, Keys, TokenError};
use crate::replica::graph::Graph;
use crate::replica::{self, Api, Counts, StateFile};
use crate::snapshot_load::{api, drained, loaded_app, members, one_change, Members};

async fn connect() -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(&common::amqp_url(), Default::default())
        .await
        .expect("broker");
    let channel = conn.create_channel().await.expect("channel");
    (conn, channel)
}

/// Runs `replica::follow` until the graph has applied `until` (or 30 s), then stops it.
async fn follow_until(
    api: &Api,
    channel: &lapin::Channel,
    queue: &str,
    graph: &mut Graph,
    state: &StateFile,
    until: i64,
) -> Counts {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let reached = Rc::new(Cell::new(graph.last_seq));
    let seen = reached.clone();
    let mut on_change = move |g: &Graph, _: Counts| seen.set(g.last_seq);
    let watcher = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while reached.get() < until && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop_tx.send(true);
    };
    let (counts, ()) = tokio::join!(
        replica::follow(api, channel, queue, graph, state, stop, &mut on_change),
        watcher
    );
    let counts = counts.expect("follow");
    assert_eq!(graph.last_seq, until, "the replica caught up");
    counts
}

/// The last published seq (the relay has drained).
async fn published_seq(app: &TestApp) -> i64 {
    drained(app).await;
    im_access::store::internal::last_published_seq(&app.state.db.conn())
        .await
        .expect("seq")
}

/// Every pair of members (deleted ones included), asked of the server in one call per
/// member, against the replica's answers. Returns how many pairs were compared.
async fn compare(api: &Api, graph: &Graph, members: &Members) -> usize {
    let ids: Vec<i64> = members.borrow().iter().map(|m| m.id).collect();
    let mut pairs = 0;
    for &a in &ids {
        let data = api
            .post(
                "/internal/relations/check",
                &json!({"user_id": a, "others": ids}),
            )
            .await
            .expect("check");
        for item in data["items"].as_array().unwrap() {
            let b = item["user_id"].as_i64().unwrap();
            let server = ["exists", "follows", "followed_by", "blocks", "blocked_by"]
                .map(|k| item[k].as_bool().unwrap());
            assert_eq!(graph.flags(a, b), server, "pair ({a}, {b})");
            let may = graph.exists(a) && server[0] && !server[3] && !server[4];
            assert_eq!(graph.may_send(a, b), may, "may {a} send to {b}");
            pairs += 1;
        }
    }
    pairs
}

async fn changes(app: &TestApp, members: &Members, n: usize, deletions: &AtomicUsize) {
    for _ in 0..n {
        one_change(app, members, deletions).await;
    }
}

#[actix_web::test]
async fn the_reference_replica_answers_like_the_server_across_restarts_and_gaps() {
    let Some(app) = loaded_app("replica").await else {
        return;
    };
    let api = api(&app);
    let exchange = app.settings.amqp.exchange.clone();
    let queue = format!("im-server.replica.test.{}", rand::random::<u32>());
    let state = StateFile(app.dir.path().join("replica.json"));
    let members = members(&app, 16).await;
    let deletions = AtomicUsize::new(4);
    changes(&app, &members, 40, &AtomicUsize::new(0)).await;

    // Start (queue first, then the snapshot) while changes run.
    let (conn, channel) = connect().await;
    let stop = AtomicBool::new(false);
    let load = async {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            one_change(&app, &members, &deletions).await;
            n += 1;
        }
        n
    };
    let start = async {
        let g = replica::start(&api, &channel, &exchange, &queue, &state.0)
            .await
            .expect("start");
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::SeqCst);
        g
    };
    let (during, mut graph) = tokio::join!(load, start);
    let until = published_seq(&app).await;
    let counts = follow_until(&api, &channel, &queue, &mut graph, &state, until).await;
    let pairs = compare(&api, &graph, &members).await;
    eprintln!(
        "im_server replica: started under {during} changes; then {counts:?}; {pairs} pairs agree at seq {until}"
    );

    // Restart: the replica goes away; changes happen; some of its messages are lost
    // (purged) and more follow. It resumes from its file and replays the hole.
    let _ = channel.close(200, "restart".into()).await;
    let _ = conn.close(200, "restart".into()).await;
    changes(&app, &members, 30, &deletions).await;
    let lost_from = published_seq(&app).await;
    let (conn, channel) = connect().await;
    let purged = channel
        .queue_purge(queue.as_str().into(), Default::default())
        .await
        .expect("purge");
    changes(&app, &members, 30, &deletions).await;
    let until = published_seq(&app).await;
    let mut graph = state.load().expect("state file").expect("saved");
    assert!(
        graph.last_seq < lost_from,
        "the file is from before the restart"
    );
    let counts = follow_until(&api, &channel, &queue, &mut graph, &state, until).await;
    assert!(counts.gaps >= 1, "the purge made a gap: {counts:?}");
    assert!(counts.replayed > 0, "{counts:?}");
    let pairs = compare(&api, &graph, &members).await;
    eprintln!(
        "im_server replica: after a restart and {purged} purged messages, {counts:?}; {pairs} pairs agree at seq {until}"
    );

    // A second restart through `start`: the file, then the events it missed.
    let _ = channel.close(200, "restart".into()).await;
    let _ = conn.close(200, "restart".into()).await;
    changes(&app, &members, 20, &deletions).await;
    let until = published_seq(&app).await;
    let (conn, channel) = connect().await;
    let graph = replica::start(&api, &channel, &exchange, &queue, &state.0)
        .await
        .expect("restart");
    assert_eq!(graph.last_seq, until);
    compare(&api, &graph, &members).await;
    let _ = channel
        .queue_delete(queue.as_str().into(), Default::default())
        .await;
    let _ = conn.close(200, "done".into()).await;
}

const SECRET: &str = "test-secret-test-secret-test-secret";

fn ed_pem() -> String {
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>())
        .to_pkcs8_pem(LineEnding::LF)
        .expect("pem")
        .to_string()
}

fn pem_key(kid: &str, pem: &str) -> im_access::config::JwtKeySettings {
    im_access::config::JwtKeySettings {
        kid: kid.into(),
        secret: None,
        private_key_pem: Some(pem.to_owned().into()),
        private_key_file: None,
    }
}

async fn tokens(app: &TestApp) -> (i64, String, String, i64) {
    let me = app.new_user().await;
    let other = app.new_user().await;
    let login = me.data["im_token"].as_str().unwrap().to_owned();
    let members = other.user_id.to_string() + "," + &me.user_id.to_string();
    let v = app
        .post_form(
            "/accessuser/getimtoken",
            &[("act", "conv.create"), ("members", &members)],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 0);
    (
        me.user_id,
        login,
        v["data"].as_str().unwrap().to_owned(),
        other.user_id,
    )
}

async fn jwks(app: &TestApp) -> jsonwebtoken::jwk::JwkSet {
    app.client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn the_token_recipe_verifies_hs256_and_eddsa_across_a_rotation() {
    assert_eq!(members_hash(&[6, 7]), "4da3203c3552dab1c183da893a483ede");

    // HS256, the default secret (no kid).
    let Some(app) = spawn_app_with(|s| s.sms.cooldown_secs = 0).await else {
        return;
    };
    let (me, login, action, other) = tokens(&app).await;
    let mut keys = Keys::default();
    keys.secrets.insert(None, SECRET.as_bytes().to_vec());
    assert_eq!(keys.verify_im_token(&login), Ok(me));
    assert_eq!(
        keys.verify_action(&action, "conv.create", &[other, me]),
        Ok(me)
    );
    assert_eq!(
        keys.verify_action(&action, "conv.create", &[me, other]),
        Err(TokenError::Mismatch),
        "members in another order are other members"
    );
    assert_eq!(
        keys.verify_action(&action, "conv.delete", &[other, me]),
        Err(TokenError::Mismatch)
    );
    let mut wrong = Keys::default();
    wrong.secrets.insert(None, b"another-secret".to_vec());
    assert!(matches!(
        wrong.verify_im_token(&login),
        Err(TokenError::Invalid(_))
    ));
    let mut tampered = login.clone();
    tampered.pop();
    assert!(keys.verify_im_token(&tampered).is_err());
    assert_eq!(
        keys.verify_im_token(&action).ok(),
        None,
        "an action token signs no one in"
    );
    app.stop().await;

    // EdDSA: e1 signs, then e2 signs and e1 stays published for its tokens.
    let (pem1, pem2) = (ed_pem(), ed_pem());
    let eddsa = |s: &mut im_access::Settings, keys: Vec<_>, current: &str| {
        s.jwt.algorithm = im_access::config::JwtAlgorithm::EdDsa;
        s.jwt.keys = keys;
        s.jwt.current_kid = current.into();
        s.sms.cooldown_secs = 0;
    };
    let p1 = pem1.clone();
    let Some(before) = spawn_app_with(|s| eddsa(s, vec![pem_key("e1", &p1)], "e1")).await else {
        return;
    };
    let (me1, login1, action1, other1) = tokens(&before).await;
    let keys_before = Keys {
        jwks: Some(jwks(&before).await),
        ..Default::default()
    };
    assert_eq!(keys_before.verify_im_token(&login1), Ok(me1));
    before.stop().await;
    let (p1, p2) = (pem1.clone(), pem2.clone());
    let Some(after) =
        spawn_app_with(|s| eddsa(s, vec![pem_key("e1", &p1), pem_key("e2", &p2)], "e2")).await
    else {
        return;
    };
    let (me2, login2, _, _) = tokens(&after).await;
    // The old JWKS does not know e2: the recipe says fetch it again.
    assert_eq!(
        keys_before.verify_im_token(&login2),
        Err(TokenError::UnknownKid(Some("e2".into())))
    );
    let keys_after = Keys {
        jwks: Some(jwks(&after).await),
        ..Default::default()
    };
    assert_eq!(keys_after.verify_im_token(&login2), Ok(me2));
    assert_eq!(
        keys_after.verify_im_token(&login1),
        Ok(me1),
        "e1's tokens still verify"
    );
    assert_eq!(
        keys_after.verify_action(&action1, "conv.create", &[other1, me1]),
        Ok(me1)
    );
    // A token whose header claims HS256 with the public key as secret is refused.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"unique_name": 1, "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(b"x"),
    )
    .unwrap();
    assert!(keys_after.verify_im_token(&forged).is_err());
}
