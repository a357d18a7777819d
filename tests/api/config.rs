//! Settings as operators give them: the binary started with `IM__` variables (the
//! environment is process-wide, so only a process of its own can show it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::common::{assert_envelope, free_port};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request on a fresh connection: the response's body, parsed.
fn request(port: u16, path: &str, headers: &[(&str, &str)], form: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let method = if form.is_empty() { "GET" } else { "POST" };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        form.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(form);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not an envelope: {out}"))
}

fn start(dir: &Path, env: &[(&str, &str)]) -> (Server, u16) {
    let port = free_port();
    let mut c = Command::new(env!("CARGO_BIN_EXE_im-access"));
    for (k, _) in std::env::vars() {
        if k.starts_with("IM_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir)
        .env("IM_CONFIG_DIR", dir.join("no-config"))
        .env("IM_ENV_FILE", dir.join("no.env"))
        .env("IM__APP__DATA_DIR", dir.join("data"))
        .env("IM__LOG__LEVEL", "warn")
        .env("IM__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("IM__SMS__PROVIDER", "file")
        .env("IM__SMS__FILE_PATH", dir.join("sms.jsonl"));
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("the server exited ({status}) with {env:?}: {err}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (Server(child), port);
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn environment_values_keep_their_exact_text() {
    let dir = tempfile::tempdir().unwrap();
    // What an operator pastes from a generator of digits, and a key with leading zeros.
    let secret = "1234567890123456789012345678901234567890";
    let replay_key = "0012345678901234";
    let (_server, port) = start(
        dir.path(),
        &[
            ("IM__JWT__SECRET", secret),
            ("IM__EVENTS__REPLAY_KEY", replay_key),
            // A one-item list, and numbers and switches, still read from their text.
            ("IM__SMS__ALLOWED_NATION_CODES", "86"),
            ("IM__SMS__COOLDOWN_SECS", "0"),
            ("IM__SMS__PER_NUMBER_DAILY", "2"),
            ("IM__DATABASE__MIGRATE_ON_START", "true"),
        ],
    );

    let phone = "16522222222";
    let send = format!("nation_code=86&phone={phone}");
    assert_envelope(&request(port, "/sms/send", &[], &send), 0);
    let sms = std::fs::read_to_string(dir.path().join("sms.jsonl")).unwrap();
    let line: Value = serde_json::from_str(sms.lines().last().unwrap()).unwrap();
    let code = line["code"].as_str().unwrap();
    let signed = request(
        port,
        "/accessuser/signinbysms",
        &[],
        &format!("nation_code=86&phone={phone}&check_code={code}&device=web"),
    );
    assert_envelope(&signed, 0);
    // The IM server, configured with the same secret, accepts the token.
    let im_token = signed["data"]["im_token"].as_str().unwrap();
    // No app in this process: pick jsonwebtoken's provider before its first use, or
    // every app a later test builds in this process would panic when signing.
    im_access::domain::jwt::install_crypto();
    let mut v = Validation::new(Algorithm::HS256);
    v.validate_aud = false;
    let claims = decode::<Value>(im_token, &DecodingKey::from_secret(secret.as_bytes()), &v)
        .unwrap_or_else(|e| panic!("the im_token does not verify with {secret}: {e}"))
        .claims;
    assert_eq!(claims["unique_name"], signed["data"]["user_id"]);

    // The replay key works as given, zeros and all.
    let bearer = format!("Bearer {replay_key}");
    let page = request(port, "/internal/events", &[("Authorization", &bearer)], "");
    assert_envelope(&page, 0);
    let trimmed = format!("Bearer {}", replay_key.trim_start_matches('0'));
    let page = request(port, "/internal/events", &[("Authorization", &trimmed)], "");
    assert_envelope(&page, 401);

    // The one-item list: a US number is refused; the numbers: a second send at once is
    // fine (no cooldown), a third is over the daily 2.
    let us = request(port, "/sms/send", &[], "nation_code=1&phone=4155552671");
    assert_envelope(&us, 1);
    assert_envelope(&request(port, "/sms/send", &[], &send), 0);
    assert_envelope(&request(port, "/sms/send", &[], &send), 429);
}
