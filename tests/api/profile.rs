//! accessuser/updateuserinfo: nicknames and avatars.

use std::io::Cursor;

use image::{ImageFormat, RgbImage, RgbaImage};
use serde_json::{json, Value};

use crate::common::{assert_envelope, metric_sum, spawn_app, Multipart, SendMultipart, TestApp};

const MARKER: &[u8] = b"SECRET-GPS-51.5074N";

fn encode(img: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn photo(w: u32, h: u32) -> image::DynamicImage {
    image::DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 4) as u8, 128])
    }))
}

/// A JPEG carrying an EXIF block: orientation 6 (rotate 90° clockwise) and a
/// description holding `MARKER`.
pub fn jpeg_with_exif(w: u32, h: u32) -> Vec<u8> {
    let jpeg = encode(&photo(w, h), ImageFormat::Jpeg);
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2a\x00\x00\x00\x08");
    tiff.extend_from_slice(&2u16.to_be_bytes());
    // Orientation = 6.
    tiff.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x06, 0, 0]);
    // ImageDescription, ASCII, at offset 38.
    let desc_len = (MARKER.len() + 1) as u32;
    tiff.extend_from_slice(&[0x01, 0x0e, 0x00, 0x02]);
    tiff.extend_from_slice(&desc_len.to_be_bytes());
    tiff.extend_from_slice(&38u32.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(MARKER);
    tiff.push(0);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn png_chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    c.extend_from_slice(&h.finalize().to_be_bytes());
    c
}

/// A PNG with a text chunk holding `MARKER`.
fn png_with_text(w: u32, h: u32) -> Vec<u8> {
    let png = encode(&photo(w, h), ImageFormat::Png);
    let iend = png.len() - 12;
    let mut text = b"Comment\x00".to_vec();
    text.extend_from_slice(MARKER);
    let mut out = png[..iend].to_vec();
    out.extend(png_chunk(b"tEXt", &text));
    out.extend_from_slice(&png[iend..]);
    out
}

/// A PNG whose header claims `w`×`h` pixels, with almost no data behind it.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    ));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

async fn upload(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
    nickname: Option<&str>,
) -> (u16, Value) {
    let mut form = Multipart::new().file("avatar", name, &bytes);
    if let Some(n) = nickname {
        form = form.text("nickname", n);
    }
    let res = app
        .client
        .post(app.url("/accessuser/updateuserinfo"))
        .header("token", token)
        .form_data(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn fetch(app: &TestApp, url: &str) -> Vec<u8> {
    let res = app.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    res.bytes().await.unwrap().to_vec()
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[actix_web::test]
async fn every_accepted_format_is_reencoded_without_metadata() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let rgba = image::DynamicImage::ImageRgba8(RgbaImage::from_fn(40, 30, |x, _| {
        image::Rgba([200, 10, 10, if x < 20 { 255 } else { 100 }])
    }));
    let cases: Vec<(&str, Vec<u8>, (u32, u32))> = vec![
        ("a.jpg", jpeg_with_exif(64, 48), (48, 64)),
        ("a.png", png_with_text(1024, 256), (512, 128)),
        (
            "a.webp",
            encode(&photo(30, 20), ImageFormat::WebP),
            (30, 20),
        ),
        ("a.gif", encode(&photo(16, 16), ImageFormat::Gif), (16, 16)),
        ("alpha.png", encode(&rgba, ImageFormat::Png), (40, 30)),
    ];
    for (name, bytes, (w, h)) in cases {
        // The name says nothing: content decides.
        let (status, v) = upload(&app, &me.token, bytes, "whatever.txt", None).await;
        assert_eq!(status, 200);
        assert_envelope(&v, 0);
        let url = v["data"]["avatar"].as_str().unwrap().to_owned();
        assert!(
            url.starts_with(&format!("{}/resource/avatar/", app.base)),
            "{url}"
        );
        assert_eq!(v["data"]["user_id"], me.user_id.to_string());
        let stored = fetch(&app, &url).await;
        assert!(
            !stored.windows(MARKER.len()).any(|w| w == MARKER),
            "{name}: metadata survived"
        );
        assert!(
            !stored.windows(4).any(|w| w == b"Exif"),
            "{name}: EXIF survived"
        );
        let img = image::load_from_memory(&stored).unwrap();
        assert_eq!((img.width(), img.height()), (w, h), "{name}");
        if name == "alpha.png" {
            assert_eq!(image::guess_format(&stored).unwrap(), ImageFormat::Png);
        }
    }
    // The profile shows the latest avatar; the previous file is gone.
    let v = app
        .get(
            &format!(
                "/accessuser/searchbyuniquename?unique_names[]={}",
                me.user_id
            ),
            Some(&me.token),
        )
        .await;
    let url = v["data"]["list"][0]["avatar"].as_str().unwrap().to_owned();
    fetch(&app, &url).await;
    let events: Vec<Value> = app
        .outbox()
        .await
        .into_iter()
        .filter(|(t, _)| t == "user.updated")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(events.len(), 5);
    assert_eq!(events[4]["avatar"], url);
    assert_eq!(events[4]["user_id"], me.user_id);
}

#[actix_web::test]
async fn text_files_are_refused_with_415() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    for (name, bytes) in [
        ("a.jpg", b"just some text pretending to be a jpeg".to_vec()),
        (
            "a.svg",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec(),
        ),
        ("a.html", b"<html><body>hi</body></html>".to_vec()),
    ] {
        let (status, v) = upload(&app, &me.token, bytes, name, Some("newname")).await;
        assert_eq!(status, 200);
        assert_envelope(&v, 415);
        assert_eq!(v["message"], "不支持的文件类型");
    }
    // Nothing half-applied: the nickname did not change and no event was written.
    let v = app
        .get(
            &format!(
                "/accessuser/searchbyuniquename?unique_names[]={}",
                me.user_id
            ),
            Some(&me.token),
        )
        .await;
    assert_eq!(v["data"]["list"][0]["nickname"], me.data["nickname"]);
    assert!(app.outbox().await.iter().all(|(t, _)| t != "user.updated"));
    let mut truncated = encode(&photo(64, 64), ImageFormat::Png);
    truncated.truncate(truncated.len() / 2);
    let (_, v) = upload(&app, &me.token, truncated, "a.png", None).await;
    assert_envelope(&v, 415);
}

#[actix_web::test]
async fn files_over_5_mib_are_refused_with_413() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let mut big = encode(&photo(8, 8), ImageFormat::Png);
    big.resize(5 * 1024 * 1024 + 1, 0);
    let (status, v) = upload(&app, &me.token, big, "big.png", Some("x")).await;
    assert_eq!(status, 413);
    assert_envelope(&v, 413);
    assert_eq!(v["message"], "文件过大");
}

#[actix_web::test]
async fn decompression_bombs_are_refused_without_a_large_allocation() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let before = peak_rss_kb();
    for (w, h) in [(100_000, 100_000), (8_000, 8_000), (1, 1_000_000)] {
        let (status, v) = upload(&app, &me.token, png_claiming(w, h), "bomb.png", None).await;
        assert_eq!(status, 413);
        assert_envelope(&v, 413);
    }
    let grown_mb = (peak_rss_kb().saturating_sub(before)) / 1024;
    // 100000×100000 RGBA would be 40 GB, 8000×8000 256 MB.
    assert!(grown_mb < 128, "peak RSS grew by {grown_mb} MB");
}

#[actix_web::test]
async fn nickname_rules_and_the_update_event() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    for bad in ["", "   ", "a\u{0007}b", &"长".repeat(21)] {
        let v = app
            .post_form(
                "/accessuser/updateuserinfo",
                &[("nickname", bad)],
                Some(&me.token),
            )
            .await;
        assert_envelope(&v, 1);
        assert!(
            v["message"].as_str().unwrap().starts_with("修改失败"),
            "{v}"
        );
    }
    let v = app
        .post_form(
            "/accessuser/updateuserinfo",
            &[("nickname", " 小明😀 ")],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 0);
    assert_eq!(
        v["data"],
        json!({"nickname": "小明😀", "avatar": null, "user_id": me.user_id.to_string()})
    );
    let (t, d) = app.outbox().await.pop().unwrap();
    assert_eq!(t, "user.updated");
    assert_eq!(
        d,
        json!({"user_id": me.user_id, "nickname": "小明😀", "avatar": null})
    );
    let v = app
        .post_form(
            "/accessuser/updateuserinfo",
            &[("nickname", &"长".repeat(20))],
            Some(&me.token),
        )
        .await;
    assert_envelope(&v, 0);
    // Neither field: code 1.
    let v = app
        .post_form("/accessuser/updateuserinfo", &[], Some(&me.token))
        .await;
    assert_envelope(&v, 1);
    // Others see the new nickname at once.
    let other = app.new_user().await;
    let v = app
        .get(
            &format!(
                "/accessuser/searchbyuniquename?unique_names[]={}",
                me.user_id
            ),
            Some(&other.token),
        )
        .await;
    assert_eq!(v["data"]["list"][0]["nickname"], "长".repeat(20));
}

fn profile_lookups(metrics: &str) -> u64 {
    metric_sum(metrics, "im_cache_requests_total", &[r#"cache="profiles""#]) as u64
}

#[actix_web::test]
async fn a_warm_list_page_shows_profile_changes_at_once() {
    let Some(app) = spawn_app().await else { return };
    let me = app.new_user().await;
    let (a, b) = (app.new_user().await, app.new_user().await);
    for u in [&a, &b] {
        assert_envelope(&app.relate(&me, u.user_id, "follow").await, 0);
    }
    let first = app.list(&me, "follow", 1, 20).await;
    assert_eq!(first["data"]["list"][0]["user_id"], b.user_id);
    assert_eq!(first["data"]["list"][1]["user_id"], a.user_id);

    // The same page again is served as built: no profile lookups.
    let before = profile_lookups(&app.metrics().await);
    assert_eq!(app.list(&me, "follow", 1, 20).await["data"], first["data"]);
    assert_eq!(profile_lookups(&app.metrics().await), before);

    // A rename shows on the next read.
    let v = app
        .post_form(
            "/accessuser/updateuserinfo",
            &[("nickname", "renamed")],
            Some(&a.token),
        )
        .await;
    assert_envelope(&v, 0);
    let v = app.list(&me, "follow", 1, 20).await;
    assert_eq!(v["data"]["list"][1]["nickname"], "renamed");
    assert_eq!(v["data"]["list"][0], first["data"]["list"][0]);

    // So does a new avatar.
    let png = encode(&photo(8, 8), ImageFormat::Png);
    let (status, up) = upload(&app, &b.token, png, "a.png", None).await;
    assert_eq!(status, 200, "{up}");
    let url = up["data"]["avatar"].as_str().unwrap();
    let v = app.list(&me, "follow", 1, 20).await;
    assert_eq!(v["data"]["list"][0]["avatar"], url);

    // Other pages and sizes of the same list are their own pages.
    let v = app.list(&me, "follow", 2, 1).await;
    assert_eq!(v["data"]["list"][0]["nickname"], "renamed");
    assert_eq!(v["data"]["page_info"]["totalPage"], 2);
    let v = app.list(&me, "follow", 1, 20).await;
    assert_eq!(v["data"]["list"][0]["avatar"], url);
    assert_eq!(v["data"]["list"][1]["nickname"], "renamed");
}
