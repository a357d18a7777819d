//! Hostile requests: spoofed client addresses, enumeration, guessing across numbers,
//! polyglot and oddly named uploads, oversized multipart bodies, slow clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{
    assert_envelope, new_phone, spawn_app, spawn_app_with, Multipart, SendMultipart, TestApp,
};

async fn send_from(app: &TestApp, phone: &str, forwarded_for: &str) -> Value {
    app.client
        .post(app.url("/sms/send"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[("nation_code", "86"), ("phone", phone)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[actix_web::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() {
    // Not trusted: rotating X-Forwarded-For does not escape the per-IP limit.
    let Some(app) = spawn_app_with(|s| {
        s.sms.per_ip_hourly = 2;
    })
    .await
    else {
        return;
    };
    assert_envelope(&send_from(&app, &new_phone(), "1.1.1.1").await, 0);
    assert_envelope(&send_from(&app, &new_phone(), "2.2.2.2").await, 0);
    assert_envelope(&send_from(&app, &new_phone(), "3.3.3.3").await, 429);

    // Behind a trusted proxy (the loopback peer), each client address has its own budget,
    // and a client cannot pose as another by prepending addresses.
    let Some(app) = spawn_app_with(|s| {
        s.sms.per_ip_hourly = 2;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    assert_envelope(&send_from(&app, &new_phone(), "1.1.1.1").await, 0);
    assert_envelope(&send_from(&app, &new_phone(), "1.1.1.1").await, 0);
    assert_envelope(&send_from(&app, &new_phone(), "1.1.1.1").await, 429);
    assert_envelope(
        &send_from(&app, &new_phone(), "9.9.9.9, 1.1.1.1").await,
        429,
    );
    assert_envelope(&send_from(&app, &new_phone(), "2.2.2.2").await, 0);
}

#[actix_web::test]
async fn code_guessing_across_numbers_hits_the_per_ip_verify_limit() {
    let Some(app) = spawn_app_with(|s| {
        s.sms.verify_per_ip_hourly = 8;
    })
    .await
    else {
        return;
    };
    let mut answers = Vec::new();
    for _ in 0..4 {
        let phone = new_phone();
        app.send_code(&phone).await;
        for guess in ["000000", "111111", "222222"] {
            let v = app
                .post_form(
                    "/accessuser/signinbysms",
                    &[
                        ("nation_code", "86"),
                        ("phone", &phone),
                        ("check_code", guess),
                        ("device", "web"),
                    ],
                    None,
                )
                .await;
            answers.push(v["code"].as_u64().unwrap());
        }
    }
    let checked = answers.iter().filter(|c| **c != 429).count();
    assert_eq!(checked, 8, "{answers:?}");
}

#[actix_web::test]
async fn registered_and_unregistered_numbers_answer_alike() {
    let Some(app) = spawn_app().await else { return };
    let registered = app.new_user().await.phone;
    let unregistered = new_phone();
    // sms/send: identical envelopes (but for the request id).
    let strip = |mut v: Value| {
        v["request-id"] = json!("");
        v
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    let a = strip(
        app.post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", &registered)],
            None,
        )
        .await,
    );
    let b = strip(
        app.post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", &unregistered)],
            None,
        )
        .await,
    );
    // The registered number is still in its cooldown from signing in.
    assert_eq!(a["code"], 429);
    let a2 = strip(
        app.post_form(
            "/sms/send",
            &[("nation_code", "86"), ("phone", &unregistered)],
            None,
        )
        .await,
    );
    assert_eq!(a, a2, "a cooldown reads the same for both");
    assert_eq!(
        b,
        json!({"code": 0, "message": "ok", "data": "ok", "request-id": ""})
    );
    // A wrong code: identical refusals.
    let wrong = |phone: String| {
        let app = &app;
        async move {
            strip(
                app.post_form(
                    "/accessuser/signinbysms",
                    &[
                        ("nation_code", "86"),
                        ("phone", &phone),
                        ("check_code", "000000"),
                        ("device", "web"),
                    ],
                    None,
                )
                .await,
            )
        }
    };
    let never_sent = new_phone();
    assert_eq!(wrong(registered.clone()).await, wrong(never_sent).await);
}

#[actix_web::test]
async fn polyglots_and_hostile_file_names_are_neutralised() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    // A real JPEG carrying HTML/script in a comment segment, named like a path escape.
    let jpeg = crate::profile::jpeg_with_exif(32, 32);
    let mut polyglot = jpeg[..2].to_vec();
    let script = b"<html><script>alert(document.cookie)</script></html>";
    polyglot.extend_from_slice(&[0xff, 0xfe]);
    polyglot.extend_from_slice(&((script.len() + 2) as u16).to_be_bytes());
    polyglot.extend_from_slice(script);
    polyglot.extend_from_slice(&jpeg[2..]);
    let form =
        Multipart::new().file_as("avatar", "../../../etc/passwd.html", "text/html", &polyglot);
    let v: Value = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", &me.token)
        .form_data(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_envelope(&v, 0);
    let url = v["data"]["avatar"].as_str().unwrap();
    assert!(!url.contains("passwd") && !url.contains(".."), "{url}");
    let path = url.strip_prefix(&app.base).unwrap();
    let re = regex_lite(path);
    assert!(re, "{path}");
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let body = res.bytes().await.unwrap();
    assert!(!body.windows(7).any(|w| w == b"<script"));
    // Nothing was written outside the storage folder.
    assert!(!app.dir.path().join("etc").exists());
    // The stored files are reachable only under /resource, never by traversal.
    let res = app
        .client
        .get(app.url("/resource/../im.db"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 200);
    let res = app
        .client
        .get(app.url("/resource/%2e%2e/im.db"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 200);
}

/// `/resource/avatar/<6 hex>/<digits>_<14 digits>.<jpg|png>`
fn regex_lite(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() != 5 || !parts[0].is_empty() || parts[1] != "resource" || parts[2] != "avatar" {
        return false;
    }
    let shard_ok = parts[3].len() == 6 && parts[3].bytes().all(|b| b.is_ascii_hexdigit());
    let Some((stem, ext)) = parts[4].rsplit_once('.') else {
        return false;
    };
    let Some((user, stamp)) = stem.split_once('_') else {
        return false;
    };
    shard_ok
        && ["jpg", "png"].contains(&ext)
        && user.bytes().all(|b| b.is_ascii_digit())
        && stamp.len() == 14
        && stamp.bytes().all(|b| b.is_ascii_digit())
}

#[actix_web::test]
async fn multipart_limits_on_parts_and_fields() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let mut form = Multipart::new();
    for i in 0..40 {
        form = form.text(&format!("f{i}"), "x");
    }
    let v: Value = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", &me.token)
        .form_data(form.text("nickname", "many"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_envelope(&v, 1);
    let form = Multipart::new().text("nickname", &"x".repeat(100_000));
    let res = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", &me.token)
        .form_data(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    // Routes without uploads read past file parts and keep their small limits.
    let form = Multipart::new()
        .text("nation_code", "86")
        .text("phone", "123")
        .file("junk", "x.bin", &[0u8; 4096]);
    let v: Value = app
        .client
        .post(app.url("/sms/send"))
        .form_data(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "无效的号码");
}

#[actix_web::test]
async fn a_slow_request_head_is_cut_off() {
    let Some(app) = spawn_app_with(|s| s.server.client_request_timeout_ms = 300).await else {
        return;
    };
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let outcome = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"POST /sms/send HTTP/1.1\r\nHost: t\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let res = s.read_to_end(&mut buf);
        (res.is_ok(), String::from_utf8_lossy(&buf).to_string())
    })
    .await
    .unwrap();
    // The server answers 408 (or just closes) instead of waiting for the rest forever.
    assert!(outcome.0, "the connection was still open after 5 s");
    assert!(
        outcome.1.is_empty() || outcome.1.starts_with("HTTP/1.1 408"),
        "{}",
        outcome.1
    );
}

/// Sends `body` chunked (no Content-Length, so only the streaming limits can stop it)
/// while reading the answer, and returns the status and the body of the answer.
async fn post_chunked(app: &TestApp, path: &str, headers: &str, body: Vec<u8>) -> (u16, String) {
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n{headers}Connection: close\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = s.try_clone().unwrap();
        // The server may answer and close before the body is through: write on the side.
        let writer = std::thread::spawn(move || {
            let _ = w.write_all(head.as_bytes());
            for chunk in body.chunks(16 * 1024) {
                if w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .is_err()
                    || w.write_all(chunk).is_err()
                    || w.write_all(b"\r\n").is_err()
                {
                    return;
                }
            }
            let _ = w.write_all(b"0\r\n\r\n");
        });
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        // Up to the end of the answer, or an error once it is in (a reset after a 413).
        while let Ok(n) = s.read(&mut tmp) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        let _ = writer.join();
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    })
    .await
    .unwrap()
}

/// A multipart body with the boundary `B`: `preamble` lines, then `parts` of `len` bytes
/// of `x` (file parts when they have a file name), then the `fields`.
fn multipart_body(
    preamble: usize,
    parts: &[(&str, Option<&str>, usize)],
    fields: &[(&str, &str)],
) -> Vec<u8> {
    let mut m = Multipart::with_boundary("B").preamble(&"preamble line\r\n".repeat(preamble));
    for (name, file, len) in parts {
        let filler = "x".repeat(*len);
        m = match file {
            Some(f) => m.file(name, f, filler.as_bytes()),
            None => m.text(name, &filler),
        };
    }
    for (name, value) in fields {
        m = m.text(name, value);
    }
    m.finish()
}

#[actix_web::test]
async fn the_whole_multipart_stream_is_bounded_by_the_route_limit() {
    let Some(app) = spawn_app().await else { return };
    let ct = "Content-Type: multipart/form-data; boundary=B\r\n";
    let valid = &[("nation_code", "86"), ("phone", "123")];
    // Under the limit, chunked multipart is read normally (a bad number: code 1).
    let (status, text) = post_chunked(&app, "/sms/send", ct, multipart_body(10, &[], valid)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"code\":1"), "{text}");
    // A preamble of short lines is no part at all, yet it counts: 64 KiB on small routes.
    let (status, text) =
        post_chunked(&app, "/sms/send", ct, multipart_body(20_000, &[], valid)).await;
    assert_eq!(status, 413, "{text}");
    // Many medium parts, each under the 64 KiB text limit, together over it.
    let parts = [
        ("a", None, 30_000),
        ("b", None, 30_000),
        ("c", None, 30_000),
    ];
    let (status, text) =
        post_chunked(&app, "/sms/send", ct, multipart_body(0, &parts, valid)).await;
    assert_eq!(status, 413, "{text}");

    // The avatar route allows 5 MiB (and 64 KiB of fields), and not more in any shape.
    let me = app.new_user().await;
    let auth = format!("{ct}token: {}\r\n", me.token);
    let nick = &[("nickname", "bounded")];
    let (status, text) = post_chunked(
        &app,
        "/accessuser/updateuserinfo",
        &auth,
        multipart_body(10, &[], nick),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"code\":0"), "{text}");
    let junk: Vec<(&str, Option<&str>, usize)> =
        (0..14).map(|_| ("junk", Some("j.bin"), 400_000)).collect();
    let (status, text) = post_chunked(
        &app,
        "/accessuser/updateuserinfo",
        &auth,
        multipart_body(0, &junk, nick),
    )
    .await;
    assert_eq!(status, 413, "{text}");
    let (status, text) = post_chunked(
        &app,
        "/accessuser/updateuserinfo",
        &auth,
        multipart_body(400_000, &[], nick),
    )
    .await;
    assert_eq!(status, 413, "{text}");
}

#[actix_web::test]
async fn json_is_recognised_with_parameters_and_suffixes() {
    let Some(app) = spawn_app().await else { return };
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "application/vnd.api+json",
        "application/merge-patch+json; charset=utf-8",
    ] {
        let v: Value = app
            .client
            .post(app.url("/sms/send"))
            .header("content-type", ct)
            .body(json!({"nation_code": "86", "phone": "123"}).to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_envelope(&v, 1);
        assert_eq!(v["message"], "无效的号码", "{ct}");
    }
}
