//! Hostile requests: spoofed client addresses, enumeration, guessing across numbers,
//! polyglot and oddly named uploads, oversized multipart bodies, slow clients.

use crate::common::SendForEnvelope;
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
        .envelope()
        .await
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
        .envelope()
        .await;
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
        .envelope()
        .await;
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
        .envelope()
        .await;
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
            .envelope()
            .await;
        assert_envelope(&v, 1);
        assert_eq!(v["message"], "无效的号码", "{ct}");
    }
}

async fn sign_in_from(app: &TestApp, phone: &str, code: &str, forwarded_for: &str) -> Value {
    app.client
        .post(app.url("/accessuser/signinbysms"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("nation_code", "86"),
            ("phone", phone),
            ("check_code", code),
            ("device", "web"),
        ])
        .envelope()
        .await
}

#[actix_web::test]
async fn ipv6_clients_share_the_per_ip_limits_of_their_64() {
    let Some(app) = spawn_app_with(|s| {
        s.sms.per_ip_hourly = 2;
        s.sms.verify_per_ip_hourly = 2;
        s.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    // Sends: the /64's budget is spent from ::1, and ::2 … ::8 do not bring new ones.
    let v6 = |net: &str, host: u32| format!("2001:db8:{net}::{host:x}");
    assert_envelope(&send_from(&app, &new_phone(), &v6("7:7", 1)).await, 0);
    assert_envelope(&send_from(&app, &new_phone(), &v6("7:7", 1)).await, 0);
    for host in 1..=8 {
        let v = send_from(&app, &new_phone(), &v6("7:7", host)).await;
        assert_envelope(&v, 429);
    }
    // Another /64 has its own.
    assert_envelope(&send_from(&app, &new_phone(), &v6("7:8", 1)).await, 0);

    // Code checks, the same way.
    let phone = new_phone();
    assert_envelope(&send_from(&app, &phone, "198.51.100.7").await, 0);
    for _ in 0..2 {
        let v = sign_in_from(&app, &phone, "000000", &v6("9:9", 1)).await;
        assert_envelope(&v, 1);
    }
    for host in 2..=8 {
        let v = sign_in_from(&app, &phone, "000000", &v6("9:9", host)).await;
        assert_envelope(&v, 429);
    }
    let v = sign_in_from(&app, &phone, "000000", &v6("9:a", 1)).await;
    assert_envelope(&v, 1);
}

#[actix_web::test]
async fn invisible_nicknames_are_refused_and_every_spelling_is_one_name() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    for bad in [
        "\u{202e}navI",     // right-to-left override: shows as "Ivan"
        "Iv\u{200b}an",     // zero-width space
        "Iv\u{200c}an",     // zero-width non-joiner
        "Iv\u{200d}an",     // zero-width joiner
        "Iv\u{2060}an",     // word joiner
        "\u{feff}Ivan",     // byte order mark
        "\u{200b}",         // nothing visible at all
        "\u{3000}\u{3000}", // ideographic spaces only
    ] {
        let v = app
            .post_form(
                "/accessuser/updateuserinfo",
                &[("nickname", bad)],
                Some(&me.token),
            )
            .await;
        assert_envelope(&v, 1);
        assert_eq!(
            v["message"], "修改失败：昵称须为1到20个字符且不含控制字符",
            "{bad:?}"
        );
    }
    // "Zoé" typed with a combining accent is stored as the one-character é.
    let v = app
        .post_form(
            "/accessuser/updateuserinfo",
            &[("nickname", "Zoe\u{301}")],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(v["data"]["nickname"], "Zo\u{e9}");
    let (_, event) = app.outbox().await.pop().unwrap();
    assert_eq!(event["nickname"], "Zo\u{e9}");
    // Either spelling finds it.
    let other = app.new_user().await;
    for spelling in ["Zo%C3%A9", "Zoe%CC%81"] {
        let v = app
            .get(
                &format!("/accessuser/searchbynickname?nickname={spelling}"),
                Some(&other.token),
            )
            .await;
        assert_envelope(&v, 0);
        assert_eq!(v["data"]["user_id"], me.user_id, "{spelling}");
    }
}

#[actix_web::test]
async fn a_trickled_body_is_cut_off_with_408_and_the_envelope() {
    let Some(app) = spawn_app_with(|s| s.server.body_timeout_ms = 1000).await else {
        return;
    };
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let text = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(
            b"POST /sms/send HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nnation_code=86&phone=",
        )
        .unwrap();
        // A digit every 100 ms: the whole body would take more than 90 s.
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..1000 {
                std::thread::sleep(Duration::from_millis(100));
                if w.write_all(b"1").is_err() {
                    return;
                }
            }
        });
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = Vec::new();
        let closed = s.read_to_end(&mut buf).is_ok();
        let _ = s.shutdown(std::net::Shutdown::Both);
        let text = String::from_utf8_lossy(&buf).to_string();
        assert!(closed, "still open after 15 s; read so far: {text:?}");
        text
    })
    .await
    .unwrap();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let v: Value = serde_json::from_str(body).unwrap();
    assert_envelope(&v, 408);
}

/// A PNG of `side`×`side` pixels of one colour: small to send, a lot of pixels to decode
/// and scale.
fn flat_png(side: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(side, side, image::Rgb([200, 100, 50]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Uploads `png` as the avatar: (code, Retry-After, envelope).
async fn upload_avatar(app: &TestApp, token: &str, png: &[u8]) -> (u64, Option<u64>, Value) {
    let form = Multipart::new().file("avatar", "a.png", png);
    let res = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", token)
        .form_data(form)
        .send()
        .await
        .unwrap();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let v: Value = res.json().await.unwrap();
    (v["code"].as_u64().unwrap(), retry_after, v)
}

#[actix_web::test]
async fn avatar_decodes_past_the_bound_are_answered_503_with_retry_after() {
    let Some(app) = spawn_app_with(|s| {
        s.storage.decode_concurrency = 1;
        s.storage.decode_wait_ms = 0;
        s.limits.avatar_uploads = 100;
    })
    .await
    else {
        return;
    };
    let me = app.new_user().await;
    // 16 million pixels to decode and scale, in a few kilobytes.
    let png = flat_png(4096);
    let answers =
        futures_util::future::join_all((0..6).map(|_| upload_avatar(&app, &me.token, &png))).await;
    for (code, retry_after, v) in &answers {
        match code {
            0 => {}
            503 => {
                assert_envelope(v, 503);
                assert_eq!(*retry_after, Some(1), "{v}");
            }
            _ => panic!("{v}"),
        }
    }
    let busy = answers.iter().filter(|(c, _, _)| *c == 503).count();
    assert!(
        busy >= 1 && busy < answers.len(),
        "six decodes at once with room for one: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    // Once the decodes are done there is room again.
    let (code, _, v) = upload_avatar(&app, &me.token, &png).await;
    assert_eq!(code, 0, "{v}");
}

#[actix_web::test]
async fn avatar_uploads_are_limited_per_user_and_nickname_changes_are_not() {
    let Some(app) = spawn_app_with(|s| s.limits.avatar_uploads = 2).await else {
        return;
    };
    let me = app.new_user().await;
    let png = flat_png(16);
    for _ in 0..2 {
        let (code, _, v) = upload_avatar(&app, &me.token, &png).await;
        assert_eq!(code, 0, "{v}");
    }
    let (code, retry_after, v) = upload_avatar(&app, &me.token, &png).await;
    assert_envelope(&v, 429);
    // A take counts for the hour and at most one slot (1/30 of it) more.
    assert!(retry_after.is_some_and(|s| (1..=3720).contains(&s)), "{v}");
    assert_eq!(code, 429);
    // Changing only the nickname takes nothing from the budget.
    for name in ["one", "two", "three"] {
        let v = app
            .post_form(
                "/accessuser/updateuserinfo",
                &[("nickname", name)],
                Some(&me.token),
            )
            .await;
        assert_envelope(&v, 0);
    }
    // Another user has a budget of their own.
    let other = app.new_user().await;
    let (code, _, v) = upload_avatar(&app, &other.token, &png).await;
    assert_eq!(code, 0, "{v}");
}

/// Sleeps until `phase_ms` into the current `window_ms`, counted from the epoch as fixed
/// windows are.
async fn sleep_until_phase(window_ms: u64, phase_ms: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let wait = (phase_ms + window_ms - now % window_ms) % window_ms;
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

#[actix_web::test]
async fn a_burst_across_a_window_edge_admits_no_more_than_the_limit() {
    const WINDOW_MS: u64 = 3000;
    let Some(app) = spawn_app_with(|s| {
        s.limits.avatar_uploads = 3;
        s.limits.avatar_window_secs = WINDOW_MS / 1000;
    })
    .await
    else {
        return;
    };
    let me = app.new_user().await;
    let png = flat_png(16);
    // Three at the end of one (epoch-aligned) window, three just after its edge.
    sleep_until_phase(WINDOW_MS, 2200).await;
    let started = std::time::Instant::now();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(upload_avatar(&app, &me.token, &png).await);
    }
    sleep_until_phase(WINDOW_MS, 100).await;
    for _ in 0..3 {
        answers.push(upload_avatar(&app, &me.token, &png).await);
    }
    let span = started.elapsed();
    let codes: Vec<u64> = answers.iter().map(|a| a.0).collect();
    // Only meaningful if the six fell within one window-long interval.
    assert!(
        span < Duration::from_millis(WINDOW_MS),
        "the burst took {span:?}, longer than the window: too slow a machine for this test"
    );
    assert_eq!(codes, [0, 0, 0, 429, 429, 429]);
    // Retry-After is the real wait: after it, there is room again.
    let retry_after = answers[3].1.expect("Retry-After");
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (code, _, v) = upload_avatar(&app, &me.token, &png).await;
    assert_eq!(code, 0, "{v}");
}

#[actix_web::test]
async fn concurrent_takes_of_one_limit_admit_exactly_the_limit() {
    let Some(app) = spawn_app_with(|s| s.sms.per_ip_hourly = 3).await else {
        return;
    };
    // Twelve numbers at once from one client: the first takes race to create the
    // limit's rows, and still exactly three get through.
    let phones: Vec<String> = (0..12).map(|_| new_phone()).collect();
    let answers =
        futures_util::future::join_all(phones.iter().map(|p| send_from(&app, p, "1.1.1.1"))).await;
    let mut codes: Vec<u64> = answers
        .iter()
        .map(|v| v["code"].as_u64().unwrap())
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        [0, 0, 0, 429, 429, 429, 429, 429, 429, 429, 429, 429]
    );
}

/// Writes `request` on a fresh connection and reads until the server closes it.
async fn raw_exchange(app: &TestApp, request: Vec<u8>) -> String {
    let port: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(&request);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        // Up to the close, or a reset once the answer is in (unread request bytes).
        while let Ok(n) = s.read(&mut tmp) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        String::from_utf8_lossy(&buf).to_string()
    })
    .await
    .unwrap()
}

/// docs/API.md ("Answers without the envelope"): the HTTP/1 codec answers a request
/// whose head it cannot take before any of our code runs, with an empty body, and
/// closes. Whatever gets past the head, a broken body included, gets the envelope.
#[actix_web::test]
async fn the_codecs_own_answers_are_the_documented_ones() {
    // Over 500 ms: the codec reckons the head's deadline from a clock it updates every
    // 500 ms, so a shorter timeout can expire as soon as a request starts.
    let Some(app) = spawn_app_with(|s| s.server.client_request_timeout_ms = 1000).await else {
        return;
    };
    let head = |lines: &str| format!("POST /sms/send HTTP/1.1\r\n{lines}\r\n").into_bytes();
    let mut many_headers = String::from("Host: t\r\n");
    for i in 0..100 {
        many_headers.push_str(&format!("X-H{i}: 1\r\n"));
    }
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("400", head("Host: t\r\nNo colon here\r\n")),
        ("400", head("Content-Length: 0\r\n")), // HTTP/1.1 without Host
        ("400", head("Host: t\r\nContent-Length: abc\r\n")),
        ("400", head("Host: t\r\nTransfer-Encoding: gzip\r\n")),
        (
            "431",
            head(&format!("Host: t\r\nX-Big: {}\r\n", "a".repeat(140_000))),
        ),
        ("431", head(&many_headers)),
        // A head that never ends.
        ("408", b"POST /sms/send HTTP/1.1\r\nHost: t\r\n".to_vec()),
    ];
    for (status, request) in cases {
        let text = raw_exchange(&app, request).await;
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-length: 0"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert_eq!(body, "");
    }
    // Broken chunked framing inside the body reaches the route: the envelope, code 1.
    let text = raw_exchange(
        &app,
        b"POST /sms/send HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nnatio\r\nZZ\r\n".to_vec(),
    )
    .await;
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{text}"));
    assert_envelope(&v, 1);
    assert_eq!(v["message"], "请求体格式错误");
}
