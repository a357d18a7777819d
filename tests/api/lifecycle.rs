//! The binary as operators run it: start-up refusals of the production profile, the
//! migration CLI, and graceful shutdown on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_im-access");

/// A command for the binary with a private data folder and nothing inherited from the
/// developer's environment.
fn im(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("IM_") {
            c.env_remove(k);
        }
    }
    c.current_dir(dir)
        .env("IM_CONFIG_DIR", dir.join("no-config"))
        .env("IM_ENV_FILE", dir.join("no.env"))
        .env("IM__APP__DATA_DIR", dir.join("data"))
        .env("IM__LOG__LEVEL", "warn");
    c
}

fn run(c: &mut Command) -> Output {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("runs")
}

#[test]
fn production_profile_refuses_unsafe_settings_and_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "0123456789abcdef0123456789abcdef-secret";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "IM__JWT__SECRET"),
        (vec![("IM__JWT__SECRET", "short")], "IM__JWT__SECRET"),
        (vec![("IM__JWT__SECRET", secret)], "IM__SMS__PROVIDER"),
        (
            vec![
                ("IM__JWT__SECRET", secret),
                ("IM__SMS__PROVIDER", "webhook"),
                ("IM__SMS__WEBHOOK__URL", "https://sms.example.com/send"),
                ("IM__SERVER__PUBLIC_BASE_URL", "http://cdn.example.com"),
            ],
            "IM__SERVER__PUBLIC_BASE_URL",
        ),
    ];
    for (env, must_name) in cases {
        let mut c = im(dir.path());
        c.env("IM__APP__PROFILE", "production")
            .env("IM__SERVER__BIND", "127.0.0.1:0");
        for (k, v) in &env {
            c.env(k, v);
        }
        let out = run(&mut c);
        assert!(!out.status.success(), "{env:?} started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(must_name), "{env:?}: {err}");
    }
}

/// `im-access migrate <action>`, which must succeed; then what `migrate status` says.
fn migrate(dir: &std::path::Path, action: &str) -> String {
    let out = run(im(dir).args(["migrate", action]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&run(im(dir).args(["migrate", "status"])).stdout).into_owned()
}

#[test]
fn migration_cli_status_up_and_down() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let text = migrate(dir.path(), "status");
    assert!(text.contains("pending  m20261128_000001_initial"), "{text}");
    assert!(
        text.contains("pending  m20261128_120000_relay_rows"),
        "{text}"
    );
    let text = migrate(dir.path(), "up");
    assert!(text.contains("applied  m20261128_000001_initial"), "{text}");
    assert!(
        text.contains("applied  m20261128_120000_relay_rows"),
        "{text}"
    );
    let text = migrate(dir.path(), "down");
    // `down` rolls back the latest migration only.
    assert!(text.contains("applied  m20261128_000001_initial"), "{text}");
    assert!(
        text.contains("applied  m20261128_120000_relay_rows"),
        "{text}"
    );
    assert!(
        text.contains("pending  m20261201_000002_accounts"),
        "{text}"
    );
    // And `up` applies it again (its `down` left a schema it can run on).
    assert!(run(im(dir.path()).args(["migrate", "up"])).status.success());
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Server {
    let port = free_port();
    let child = im(dir)
        .env("IM__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("IM__SERVER__SHUTDOWN_TIMEOUT_SECS", "10")
        .env("IM__SMS__PROVIDER", "file")
        .env("IM__SMS__FILE_PATH", dir.join("sms.jsonl"))
        .env("IM__JWT__SECRET", "lifecycle-test-secret-lifecycle-test")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    // Owned at once, so the child is reaped whatever happens next.
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_ok(port).is_none() {
        assert!(Instant::now() < deadline, "server did not become healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn sigterm(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok);
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let body = b"nation_code=86&phone=16522222222";
    // A request whose body is still arriving when the signal comes.
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(
        format!(
            "POST /sms/send HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    s.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sigterm(server.child.id());
    std::thread::sleep(Duration::from_millis(500));
    // No new connections once stopping.
    let refused = TcpStream::connect_timeout(
        &format!("127.0.0.1:{}", server.port).parse().unwrap(),
        Duration::from_millis(500),
    )
    .is_err();
    s.write_all(&body[10..]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                    break;
                }
            }
            Err(e) => panic!("in-flight request was cut off: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#""code":0"#), "{text}");
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(
        refused,
        "the listener still accepted connections after SIGTERM"
    );
    // The request that was answered ok is durable: its code is in the file.
    let sent = std::fs::read_to_string(dir.path().join("sms.jsonl")).unwrap();
    assert!(sent.contains("16522222222"));
}

/// One HTTP/1.1 request on a fresh connection; the response body.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

#[test]
fn logs_carry_request_ids_and_never_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let secret = "log-test-secret-log-test-secret-log-test";
    let log_path = dir.path().join("server.log");
    let child = im(dir.path())
        .env("IM__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("IM__SMS__PROVIDER", "file")
        .env("IM__SMS__FILE_PATH", dir.path().join("sms.jsonl"))
        .env("IM__JWT__SECRET", secret)
        .env("IM__LOG__FORMAT", "json")
        .env("IM__LOG__LEVEL", "debug")
        .stdout(std::fs::File::create(&log_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_ok(port).is_none() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let phone = "16522222222";
    http(
        port,
        "POST",
        "/sms/send",
        &[],
        &format!("nation_code=86&phone={phone}"),
    );
    let sms = std::fs::read_to_string(dir.path().join("sms.jsonl")).unwrap();
    let code = serde_json::from_str::<serde_json::Value>(sms.lines().next().unwrap()).unwrap()
        ["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let signed: serde_json::Value = serde_json::from_str(&http(
        port,
        "POST",
        "/accessuser/signinbysms",
        &[],
        &format!("nation_code=86&phone={phone}&check_code={code}&device=android&device_id=d1"),
    ))
    .unwrap();
    let token = signed["data"]["token"].as_str().unwrap().to_owned();
    let im_token = signed["data"]["im_token"].as_str().unwrap().to_owned();
    http(
        port,
        "POST",
        "/accessuser/getimtoken",
        &[("token", &token)],
        "",
    );
    http(
        port,
        "POST",
        "/relation/followlist",
        &[("token", &token)],
        "type=follow",
    );
    http(
        port,
        "POST",
        "/relation/operation",
        &[("token", &token)],
        "to_user_id=999&type=follow",
    );
    http(port, "POST", "/accessuser/logout", &[("token", &token)], "");
    sigterm(server.child.id());
    let _ = server.child.wait();

    let log = std::fs::read_to_string(&log_path).unwrap();
    let mut request_lines = 0;
    for line in log.lines() {
        for secret_value in [
            phone,
            code.as_str(),
            token.as_str(),
            im_token.as_str(),
            secret,
        ] {
            assert!(
                !line.contains(secret_value),
                "leaked {secret_value}: {line}"
            );
        }
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        let target = v["target"].as_str().unwrap_or("");
        if [
            "im_access::actors",
            "im_access::services",
            "im_access::http",
        ]
        .iter()
        .any(|t| target.starts_with(t))
        {
            request_lines += 1;
            let id = v["span"]["request_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no request id: {line}"));
            assert_eq!(id.len(), 32, "{line}");
        }
    }
    // The access line of each request and the actors' own lines.
    assert!(
        request_lines >= 8,
        "only {request_lines} request lines:\n{log}"
    );
    assert!(log.contains("165****2222"), "the masked number is logged");
}

fn http_ok(port: u16) -> Option<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.starts_with("HTTP/1.1 200").then_some(())
}
