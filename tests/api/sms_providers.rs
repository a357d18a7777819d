//! The real SMS providers against local fakes of the vendors' APIs.
//!
//! Each fake checks a request the way the vendor documents it: it recomputes the
//! signature itself from what it received and the test secret (with its own
//! implementation of the algorithm, written here from the vendor's document, not the
//! server's code), checks method, path, headers and fields, and answers the vendor's
//! success or error shape. A wrong secret must be refused by the fake, so the check can
//! fail; vendor errors, HTTP 500 and timeouts must become `Err`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use im_access::config::{SmsProviderKind, SmsSettings};
use im_access::domain::phone::PhoneNumber;
use im_access::sms::{SmsError, SmsMessage, SmsProvider};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{self, assert_envelope, metric_sum, new_phone, spawn_app_with};

const TENCENT_ID: &str = "AKIDtest0000000000000000000000000000";
const TENCENT_KEY: &str = "tencent-test-secret-key";
const ALIYUN_ID: &str = "LTAItest00000000";
const ALIYUN_SECRET: &str = "aliyun-test-secret";
const WEBHOOK_SECRET: &str = "webhook-test-secret";
const CODE: &str = "482913";

// ---------------------------------------------------------------------------------
// A fake HTTP server.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The vendor's success answer.
    Ok,
    /// The vendor's error answer (a business error, signature aside).
    VendorError,
    /// Tencent only: a 200 whose send status is not `Ok`.
    StatusError,
    /// HTTP 500 with an HTML body.
    Http500,
    /// Answers after 2 s.
    Slow,
    /// HTTP 500 on the first request, success afterwards.
    FailFirst,
}

/// One received request, parsed.
#[derive(Clone, Debug)]
struct Seen {
    /// The JSON body (tencent, webhook) or the form fields as a JSON object (aliyun).
    fields: Value,
    /// Whether the signature checked out.
    signed_ok: bool,
    /// What else was wrong with it; empty when it is exactly as documented.
    problems: Vec<String>,
}

#[derive(Clone, Copy)]
enum Vendor {
    Tencent,
    Aliyun,
    Webhook,
}

struct FakeState {
    vendor: Vendor,
    mode: Mutex<Mode>,
    calls: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    host: Mutex<String>,
}

struct Fake {
    state: Arc<FakeState>,
    base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Fake {
    async fn start(vendor: Vendor, mode: Mode) -> Fake {
        let state = Arc::new(FakeState {
            vendor,
            mode: Mutex::new(mode),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            host: Mutex::new(String::new()),
        });
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(handle))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("bind the fake");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        *state.host.lock().unwrap() = format!("127.0.0.1:{}", addr.port());
        Fake {
            state,
            base: format!("http://127.0.0.1:{}", addr.port()),
            handle,
        }
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn last(&self) -> Seen {
        self.seen().pop().expect("the fake received a request")
    }

    async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<FakeState>) -> HttpResponse {
    let n = state.calls.fetch_add(1, Ordering::SeqCst);
    let host = state.host.lock().unwrap().clone();
    let seen = match state.vendor {
        Vendor::Tencent => check_tencent(&req, &body, &host),
        Vendor::Aliyun => check_aliyun(&req, &body),
        Vendor::Webhook => check_webhook(&req, &body),
    };
    let signed_ok = seen.signed_ok;
    let well_formed = seen.problems.is_empty();
    state.seen.lock().unwrap().push(seen);
    let mode = *state.mode.lock().unwrap();
    if mode == Mode::Slow {
        actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    }
    if mode == Mode::Http500 || (mode == Mode::FailFirst && n == 0) {
        return HttpResponse::InternalServerError()
            .content_type("text/html")
            .body("<html><body>500 Internal Server Error</body></html>");
    }
    match state.vendor {
        Vendor::Tencent => tencent_answer(signed_ok, well_formed, mode),
        Vendor::Aliyun => aliyun_answer(signed_ok, well_formed, mode),
        Vendor::Webhook => {
            if !signed_ok {
                HttpResponse::Unauthorized().body("bad signature")
            } else if !well_formed {
                HttpResponse::BadRequest().body("bad request")
            } else if mode == Mode::VendorError {
                HttpResponse::BadGateway().body("upstream refused")
            } else {
                HttpResponse::NoContent().finish()
            }
        }
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

// ---------------------------------------------------------------------------------
// Tencent Cloud: TC3-HMAC-SHA256, as in the "Signature v3" document.

fn tc3_signature(
    secret_key: &str,
    date: &str,
    timestamp: &str,
    canonical_headers: &str,
    signed_headers: &str,
    body: &[u8],
) -> String {
    let canonical = format!(
        "POST\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, b"sms");
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, to_sign.as_bytes()))
}

fn check_tencent(req: &HttpRequest, body: &[u8], host: &str) -> Seen {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    expect(req.method() == "POST", "method is POST");
    expect(req.path() == "/", "path is /");
    expect(req.query_string().is_empty(), "no query");
    expect(
        header(req, "content-type") == Some("application/json; charset=utf-8"),
        "Content-Type: application/json; charset=utf-8",
    );
    expect(header(req, "host") == Some(host), "Host is the endpoint's");
    expect(header(req, "x-tc-action") == Some("SendSms"), "X-TC-Action");
    expect(
        header(req, "x-tc-version") == Some("2021-01-11"),
        "X-TC-Version",
    );
    expect(
        header(req, "x-tc-region") == Some("ap-guangzhou"),
        "X-TC-Region",
    );
    let ts = header(req, "x-tc-timestamp").unwrap_or_default().to_owned();
    let ts_n: i64 = ts.parse().unwrap_or(0);
    expect(
        (ts_n - now()).abs() <= 300,
        "X-TC-Timestamp within 5 minutes",
    );

    // Authorization: TC3-HMAC-SHA256 Credential=ID/DATE/sms/tc3_request,
    // SignedHeaders=a;b, Signature=hex
    let mut signed_ok = false;
    let auth = header(req, "authorization").unwrap_or_default();
    let parts: BTreeMap<&str, &str> = auth
        .strip_prefix("TC3-HMAC-SHA256 ")
        .unwrap_or_default()
        .split(", ")
        .filter_map(|p| p.split_once('='))
        .collect();
    let credential: Vec<&str> = parts.get("Credential").unwrap_or(&"").split('/').collect();
    let date = chrono::DateTime::from_timestamp(ts_n, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    if credential.len() == 4
        && credential[0] == TENCENT_ID
        && credential[1] == date
        && credential[2] == "sms"
        && credential[3] == "tc3_request"
    {
        let signed_headers = parts.get("SignedHeaders").copied().unwrap_or_default();
        let names: Vec<&str> = signed_headers.split(';').collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        if names == sorted && names.contains(&"content-type") && names.contains(&"host") {
            let canonical_headers: String = names
                .iter()
                .map(|n| {
                    format!(
                        "{n}:{}\n",
                        header(req, n).unwrap_or_default().trim().to_lowercase()
                    )
                })
                .collect();
            let want = tc3_signature(
                TENCENT_KEY,
                &date,
                &ts,
                &canonical_headers,
                signed_headers,
                body,
            );
            signed_ok = parts.get("Signature") == Some(&want.as_str());
        }
    }

    let fields: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut keys: Vec<&str> = fields
        .as_object()
        .map(|o| o.keys().map(|k| k.as_str()).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    expect(
        keys == [
            "PhoneNumberSet",
            "SignName",
            "SmsSdkAppId",
            "TemplateId",
            "TemplateParamSet",
        ],
        "exactly the documented body fields",
    );
    expect(fields["SmsSdkAppId"] == "1400000001", "SmsSdkAppId");
    expect(fields["SignName"] == "测试签名", "SignName");
    expect(fields["TemplateId"] == "1234567", "TemplateId");
    let phones = fields["PhoneNumberSet"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    expect(
        phones.len() == 1 && phones[0].as_str().is_some_and(|p| p.starts_with('+')),
        "PhoneNumberSet: one +<nation_code><phone>",
    );
    Seen {
        fields,
        signed_ok,
        problems,
    }
}

fn tencent_answer(signed_ok: bool, well_formed: bool, mode: Mode) -> HttpResponse {
    // Tencent answers HTTP 200 with Response.Error for failures.
    let error = |code: &str, message: &str| {
        HttpResponse::Ok().json(json!({"Response": {
            "Error": {"Code": code, "Message": message},
            "RequestId": "6e8b3ea1-0000-4a27-9d1b-3c6f0b3a1b7e"
        }}))
    };
    if !signed_ok {
        return error(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        );
    }
    if !well_formed {
        return error("InvalidParameter", "request not as documented");
    }
    match mode {
        Mode::VendorError => error(
            "FailedOperation.InsufficientBalanceInSmsPackage",
            "insufficient balance in SMS package",
        ),
        Mode::StatusError => HttpResponse::Ok().json(json!({"Response": {
            "SendStatusSet": [{
                "SerialNo": "", "PhoneNumber": "+8613912345678", "Fee": 0, "SessionContext": "",
                "Code": "LimitExceeded.PhoneNumberDailyLimit",
                "Message": "the number of SMS messages sent from a single mobile number every day exceeds the upper limit",
                "IsoCode": "CN"
            }],
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"
        }})),
        _ => HttpResponse::Ok().json(json!({"Response": {
            "SendStatusSet": [{
                "SerialNo": "5000:1045710669157053657849499619", "PhoneNumber": "+8613912345678",
                "Fee": 1, "SessionContext": "", "Code": "Ok", "Message": "send success",
                "IsoCode": "CN"
            }],
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"
        }})),
    }
}

// ---------------------------------------------------------------------------------
// Alibaba Cloud: RPC signature, HMAC-SHA1, as in the "签名机制" document.

/// Alibaba's percent-encoding: unreserved characters stay, every other UTF-8 byte is
/// %XY in uppercase (so a space is %20, `*` is %2A and `~` stays).
fn pop_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rpc_signature(secret: &str, method: &str, params: &BTreeMap<String, String>) -> String {
    let query = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", pop_encode(k), pop_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{method}&{}&{}", pop_encode("/"), pop_encode(&query));
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).unwrap();
    m.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn check_aliyun(req: &HttpRequest, body: &[u8]) -> Seen {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    expect(req.method() == "POST", "method is POST");
    expect(req.path() == "/", "path is /");
    expect(
        header(req, "content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")),
        "a form body",
    );
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .chain(url::form_urlencoded::parse(req.query_string().as_bytes()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let params: BTreeMap<String, String> = pairs.iter().cloned().collect();
    expect(params.len() == pairs.len(), "no repeated parameter");
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    expect(get("Action") == "SendSms", "Action");
    expect(get("Version") == "2017-05-25", "Version");
    expect(get("Format") == "JSON", "Format");
    expect(get("RegionId") == "cn-hangzhou", "RegionId");
    expect(get("SignatureMethod") == "HMAC-SHA1", "SignatureMethod");
    expect(get("SignatureVersion") == "1.0", "SignatureVersion");
    expect(get("SignatureNonce").len() >= 16, "SignatureNonce");
    let fresh = chrono::NaiveDateTime::parse_from_str(get("Timestamp"), "%Y-%m-%dT%H:%M:%SZ")
        .map(|t| (t.and_utc().timestamp() - now()).abs() <= 900)
        .unwrap_or(false);
    expect(fresh, "Timestamp: ISO 8601 UTC, within 15 minutes");
    expect(get("SignName") == "测试 签名*~", "SignName");
    expect(get("TemplateCode") == "SMS_123456789", "TemplateCode");
    let template: Value = serde_json::from_str(get("TemplateParam")).unwrap_or(Value::Null);
    expect(
        template.as_object().is_some_and(|o| o.len() == 1) && template["code"].is_string(),
        "TemplateParam is {\"code\": ...}",
    );
    let known = [
        "AccessKeyId",
        "Action",
        "Format",
        "PhoneNumbers",
        "RegionId",
        "SignName",
        "Signature",
        "SignatureMethod",
        "SignatureNonce",
        "SignatureVersion",
        "TemplateCode",
        "TemplateParam",
        "Timestamp",
        "Version",
    ];
    expect(
        params.keys().map(String::as_str).eq(known.iter().copied()),
        "exactly the documented parameters",
    );
    let signed_ok = get("AccessKeyId") == ALIYUN_ID
        && get("Signature") == rpc_signature(ALIYUN_SECRET, "POST", &params);
    let mut fields = serde_json::Map::new();
    for (k, v) in &params {
        fields.insert(k.clone(), Value::String(v.clone()));
    }
    Seen {
        fields: Value::Object(fields),
        signed_ok,
        problems,
    }
}

fn aliyun_answer(signed_ok: bool, well_formed: bool, mode: Mode) -> HttpResponse {
    if !signed_ok {
        return HttpResponse::BadRequest().json(json!({
            "RequestId": "A7F1E2B3-0000-4C0D-9E8F-1234567890AB",
            "Message": "Specified signature is not matched with our calculation.",
            "Recommend": "https://api.aliyun.com/troubleshoot",
            "HostId": "dysmsapi.aliyuncs.com",
            "Code": "SignatureDoesNotMatch"
        }));
    }
    if !well_formed {
        return HttpResponse::BadRequest().json(json!({
            "RequestId": "A7F1E2B3-0000-4C0D-9E8F-1234567890AC",
            "Message": "request not as documented",
            "Code": "InvalidParameter"
        }));
    }
    match mode {
        Mode::VendorError => HttpResponse::Ok().json(json!({
            "Message": "触发分钟级流控Permits:1",
            "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE991",
            "Code": "isv.BUSINESS_LIMIT_CONTROL"
        })),
        _ => HttpResponse::Ok().json(json!({
            "Message": "OK",
            "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990",
            "BizId": "900619746936498440^0",
            "Code": "OK"
        })),
    }
}

// ---------------------------------------------------------------------------------
// Webhook: hex(HMAC-SHA256(secret, timestamp + "." + body)), as config/default.toml says.

fn check_webhook(req: &HttpRequest, body: &[u8]) -> Seen {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    expect(req.method() == "POST", "method is POST");
    expect(req.path() == "/hook", "path is the configured one");
    expect(req.query_string() == "k=v", "query kept");
    expect(
        header(req, "content-type") == Some("application/json"),
        "Content-Type: application/json",
    );
    let ts = header(req, "x-timestamp").unwrap_or_default();
    expect(
        ts.parse::<i64>().is_ok_and(|t| (t - now()).abs() <= 300),
        "X-Timestamp within 5 minutes",
    );
    let mut signed = ts.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(body);
    let want = hex::encode(hmac_sha256(WEBHOOK_SECRET.as_bytes(), &signed));
    let signed_ok = header(req, "x-signature") == Some(want.as_str());
    let fields: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut keys: Vec<&str> = fields
        .as_object()
        .map(|o| o.keys().map(|k| k.as_str()).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    expect(
        keys == ["code", "nation_code", "phone", "ttl_minutes"],
        "exactly nation_code, phone, code, ttl_minutes",
    );
    expect(
        fields["code"]
            .as_str()
            .is_some_and(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit())),
        "code: 6 digits",
    );
    expect(fields["ttl_minutes"].is_u64(), "ttl_minutes: a number");
    Seen {
        fields,
        signed_ok,
        problems,
    }
}

// ---------------------------------------------------------------------------------
// Helpers.

fn sms_settings(provider: SmsProviderKind, base: &str) -> SmsSettings {
    let mut s = im_access::Settings::load_from(None, false)
        .expect("default settings")
        .sms;
    s.provider = provider;
    s.timeout_ms = 1500;
    s.tencent.secret_id = TENCENT_ID.into();
    s.tencent.secret_key = TENCENT_KEY.to_owned().into();
    s.tencent.sdk_app_id = "1400000001".into();
    s.tencent.sign_name = "测试签名".into();
    s.tencent.template_id = "1234567".into();
    s.tencent.endpoint = base.to_owned();
    s.aliyun.access_key_id = ALIYUN_ID.into();
    s.aliyun.access_key_secret = ALIYUN_SECRET.to_owned().into();
    // A space, `*` and `~` exercise Alibaba's special percent-encoding.
    s.aliyun.sign_name = "测试 签名*~".into();
    s.aliyun.template_code = "SMS_123456789".into();
    s.aliyun.endpoint = base.to_owned();
    s.webhook.url = format!("{base}/hook?k=v");
    s.webhook.secret = WEBHOOK_SECRET.to_owned().into();
    s
}

fn provider(s: &SmsSettings) -> Arc<dyn SmsProvider> {
    im_access::sms::build(s).expect("provider builds")
}

async fn send(p: &dyn SmsProvider, cc: &str, national: &str) -> Result<(), SmsError> {
    let phone = PhoneNumber::unchecked(cc, national).expect("phone");
    let msg = SmsMessage {
        phone: &phone,
        code: CODE,
        ttl_minutes: 5,
    };
    p.send(&msg).await
}

/// An error is for the log: it names the vendor's failure and never a secret or the code.
fn assert_clean(e: &SmsError, secret: &str) {
    let text = e.to_string();
    assert!(!text.contains(secret), "secret leaked: {text}");
    assert!(!text.contains(CODE), "code leaked: {text}");
}

/// A provider configured with the wrong secret: the vendor refuses the signature, and
/// the error names the refusal without the secret.
async fn assert_wrong_secret_refused(
    kind: SmsProviderKind,
    vendor: Vendor,
    set_wrong_secret: impl FnOnce(&mut SmsSettings),
    vendor_error: &str,
) {
    let fake = Fake::start(vendor, Mode::Ok).await;
    let mut s = sms_settings(kind, &fake.base);
    set_wrong_secret(&mut s);
    let e = send(provider(&s).as_ref(), "86", "13912345678")
        .await
        .expect_err("refused");
    assert!(!fake.last().signed_ok);
    assert!(e.to_string().contains(vendor_error), "{e}");
    assert_clean(&e, "not-the-secret");
    fake.stop().await;
}

/// Every failure mode shared by the vendors: their error answer, HTTP 500, a timeout and
/// nobody listening all become `Err`.
async fn assert_failures(kind: SmsProviderKind, vendor: Vendor, secret: &str, vendor_error: &str) {
    let fake = Fake::start(vendor, Mode::VendorError).await;
    let mut s = sms_settings(kind.clone(), &fake.base);
    let p = provider(&s);
    let e = send(p.as_ref(), "86", "13912345678")
        .await
        .expect_err("vendor error");
    assert!(e.to_string().contains(vendor_error), "{e}");
    assert!(fake.last().signed_ok && fake.last().problems.is_empty());
    assert_clean(&e, secret);

    fake.set_mode(Mode::Http500);
    let e = send(p.as_ref(), "86", "13912345678")
        .await
        .expect_err("HTTP 500");
    assert!(e.to_string().contains("500"), "{e}");
    assert_clean(&e, secret);

    fake.set_mode(Mode::Slow);
    s.timeout_ms = 300;
    let p = provider(&s);
    let started = Instant::now();
    let e = send(p.as_ref(), "86", "13912345678")
        .await
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(e.to_string().contains("timed out"), "{e}");
    assert_clean(&e, secret);
    fake.stop().await;

    // Nobody listens there any more.
    let e = send(p.as_ref(), "86", "13912345678")
        .await
        .expect_err("connection refused");
    assert_clean(&e, secret);
}

// ---------------------------------------------------------------------------------
// Tencent.

#[actix_web::test]
async fn tencent_signed_request_succeeds() {
    let fake = Fake::start(Vendor::Tencent, Mode::Ok).await;
    let p = provider(&sms_settings(SmsProviderKind::Tencent, &fake.base));
    assert_eq!(p.name(), "tencent");
    send(p.as_ref(), "86", "13912345678").await.expect("sent");
    let seen = fake.last();
    assert!(seen.signed_ok, "signature checks out");
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert_eq!(seen.fields["PhoneNumberSet"], json!(["+8613912345678"]));
    assert_eq!(seen.fields["TemplateParamSet"], json!([CODE, "5"]));

    send(p.as_ref(), "852", "61234567").await.expect("sent");
    assert_eq!(
        fake.last().fields["PhoneNumberSet"],
        json!(["+85261234567"])
    );
    assert_eq!(fake.calls(), 2);
    fake.stop().await;
}

#[actix_web::test]
async fn tencent_wrong_secret_is_refused() {
    assert_wrong_secret_refused(
        SmsProviderKind::Tencent,
        Vendor::Tencent,
        |s| s.tencent.secret_key = "not-the-secret".to_owned().into(),
        "AuthFailure.SignatureFailure",
    )
    .await;
}

#[actix_web::test]
async fn tencent_failures_are_errors() {
    // A 200 whose send status is not "Ok" is a failure too.
    let fake = Fake::start(Vendor::Tencent, Mode::StatusError).await;
    let p = provider(&sms_settings(SmsProviderKind::Tencent, &fake.base));
    let e = send(p.as_ref(), "86", "13912345678")
        .await
        .expect_err("send status");
    assert!(
        e.to_string()
            .contains("LimitExceeded.PhoneNumberDailyLimit"),
        "{e}"
    );
    fake.stop().await;

    assert_failures(
        SmsProviderKind::Tencent,
        Vendor::Tencent,
        TENCENT_KEY,
        "FailedOperation.InsufficientBalanceInSmsPackage",
    )
    .await;
}

// ---------------------------------------------------------------------------------
// Aliyun.

#[actix_web::test]
async fn aliyun_signed_request_succeeds() {
    let fake = Fake::start(Vendor::Aliyun, Mode::Ok).await;
    let p = provider(&sms_settings(SmsProviderKind::Aliyun, &fake.base));
    assert_eq!(p.name(), "aliyun");
    send(p.as_ref(), "86", "13912345678").await.expect("sent");
    let seen = fake.last();
    assert!(seen.signed_ok, "signature checks out");
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert_eq!(seen.fields["PhoneNumbers"], "13912345678");
    let template: Value =
        serde_json::from_str(seen.fields["TemplateParam"].as_str().unwrap()).unwrap();
    assert_eq!(template, json!({ "code": CODE }));
    let nonce = seen.fields["SignatureNonce"].clone();

    // Outside mainland China: the calling code and the number, no "+".
    send(p.as_ref(), "852", "61234567").await.expect("sent");
    let seen = fake.last();
    assert!(
        seen.signed_ok && seen.problems.is_empty(),
        "{:?}",
        seen.problems
    );
    assert_eq!(seen.fields["PhoneNumbers"], "85261234567");
    assert_ne!(
        seen.fields["SignatureNonce"], nonce,
        "a fresh nonce per request"
    );
    fake.stop().await;
}

#[actix_web::test]
async fn aliyun_wrong_secret_is_refused() {
    assert_wrong_secret_refused(
        SmsProviderKind::Aliyun,
        Vendor::Aliyun,
        |s| s.aliyun.access_key_secret = "not-the-secret".to_owned().into(),
        "SignatureDoesNotMatch",
    )
    .await;
}

#[actix_web::test]
async fn aliyun_failures_are_errors() {
    assert_failures(
        SmsProviderKind::Aliyun,
        Vendor::Aliyun,
        ALIYUN_SECRET,
        "isv.BUSINESS_LIMIT_CONTROL",
    )
    .await;
}

// ---------------------------------------------------------------------------------
// Webhook.

#[actix_web::test]
async fn webhook_signed_request_succeeds() {
    let fake = Fake::start(Vendor::Webhook, Mode::Ok).await;
    let p = provider(&sms_settings(SmsProviderKind::Webhook, &fake.base));
    assert_eq!(p.name(), "webhook");
    send(p.as_ref(), "86", "13912345678").await.expect("sent");
    let seen = fake.last();
    assert!(seen.signed_ok, "signature checks out");
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    assert_eq!(
        seen.fields,
        json!({"nation_code": "86", "phone": "13912345678", "code": CODE, "ttl_minutes": 5})
    );
    fake.stop().await;
}

#[actix_web::test]
async fn webhook_wrong_secret_is_refused() {
    assert_wrong_secret_refused(
        SmsProviderKind::Webhook,
        Vendor::Webhook,
        |s| s.webhook.secret = "not-the-secret".to_owned().into(),
        "401",
    )
    .await;
}

#[actix_web::test]
async fn webhook_failures_are_errors() {
    assert_failures(
        SmsProviderKind::Webhook,
        Vendor::Webhook,
        WEBHOOK_SECRET,
        "502",
    )
    .await;
}

// ---------------------------------------------------------------------------------
// End to end, through the HTTP API.

#[actix_web::test]
async fn failed_webhook_send_answers_503_and_does_not_start_the_cooldown() {
    let fake = Fake::start(Vendor::Webhook, Mode::FailFirst).await;
    let hook = format!("{}/hook?k=v", fake.base);
    let Some(app) = spawn_app_with(move |s| {
        s.sms.provider = SmsProviderKind::Webhook;
        s.sms.webhook.url = hook;
        s.sms.webhook.secret = WEBHOOK_SECRET.to_owned().into();
    })
    .await
    else {
        return;
    };
    let phone = new_phone();
    let form = [("nation_code", "86"), ("phone", phone.as_str())];

    let v = app.post_form("/sms/send", &form, None).await;
    assert_envelope(&v, 503);
    assert_eq!(fake.calls(), 1, "the webhook was called and failed");

    // No cooldown: an immediate retry is sent.
    let v = app.post_form("/sms/send", &form, None).await;
    assert_envelope(&v, 0);
    assert_eq!(fake.calls(), 2);
    let seen = fake.last();
    assert!(
        seen.signed_ok && seen.problems.is_empty(),
        "{:?}",
        seen.problems
    );
    assert_eq!(seen.fields["nation_code"], "86");
    assert_eq!(seen.fields["phone"], phone.as_str());
    assert_eq!(seen.fields["ttl_minutes"], 5);
    let code = seen.fields["code"].as_str().expect("code").to_owned();

    // The code the webhook received signs in.
    let v = app
        .post_form(
            "/accessuser/signinbysms",
            &[
                ("nation_code", "86"),
                ("phone", phone.as_str()),
                ("check_code", code.as_str()),
                ("device", "android"),
                ("device_id", "dev-1"),
            ],
            None,
        )
        .await;
    assert_envelope(&v, 0);

    let _one_at_a_time = common::scraping().await;
    let res = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("metrics text");
    let failed = metric_sum(
        &text,
        "im_sms_sends_total",
        &[r#"provider="webhook""#, r#"outcome="failed""#],
    );
    assert!(failed >= 1.0, "failed webhook sends are counted:\n{text}");
    let sent = metric_sum(
        &text,
        "im_sms_sends_total",
        &[r#"provider="webhook""#, r#"outcome="ok""#],
    );
    assert!(sent >= 1.0, "successful webhook sends are counted:\n{text}");

    app.stop().await;
    fake.stop().await;
}
