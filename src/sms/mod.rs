//! SMS delivery providers.
//!
//! `console` and `file` are for local runs and tests; `tencent`, `aliyun` and `webhook`
//! deliver for real over HTTP, all through one `reqwest` client built by [`build`].

pub mod aliyun;
pub mod tencent;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::config::{SmsProviderKind, SmsSettings};
use crate::domain::phone::PhoneNumber;

pub use aliyun::AliyunProvider;
pub use tencent::TencentProvider;
pub use webhook::WebhookProvider;

/// One sign-in code to deliver.
pub struct SmsMessage<'a> {
    pub phone: &'a PhoneNumber,
    pub code: &'a str,
    pub ttl_minutes: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SmsError(pub String);

pub trait SmsProvider: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, msg: &'a SmsMessage<'a>) -> BoxFuture<'a, Result<(), SmsError>>;
}

/// Local runs: the code appears in the server log. Refused by the production profile.
pub struct ConsoleProvider;

impl SmsProvider for ConsoleProvider {
    fn name(&self) -> &'static str {
        "console"
    }

    fn send<'a>(&'a self, msg: &'a SmsMessage<'a>) -> BoxFuture<'a, Result<(), SmsError>> {
        Box::pin(async move {
            // The only place a code is ever logged, and the point of this provider.
            tracing::info!(phone = %msg.phone.masked(), code = msg.code, "SMS sign-in code (console provider)");
            Ok(())
        })
    }
}

/// Staging and tests: one JSON line per message.
pub struct FileProvider {
    path: std::path::PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileProvider {
    pub fn new(path: std::path::PathBuf) -> Self {
        FileProvider {
            path,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

impl SmsProvider for FileProvider {
    fn name(&self) -> &'static str {
        "file"
    }

    fn send<'a>(&'a self, msg: &'a SmsMessage<'a>) -> BoxFuture<'a, Result<(), SmsError>> {
        Box::pin(async move {
            let mut line = serde_json::to_string(&serde_json::json!({
                "nation_code": msg.phone.nation_code(),
                "phone": msg.phone.national(),
                "code": msg.code,
                "sent_at": crate::domain::event::rfc3339(crate::domain::now_ms()),
            }))
            .map_err(|e| SmsError(e.to_string()))?;
            line.push('\n');
            let _guard = self.lock.lock().await;
            if let Some(dir) = self.path.parent() {
                if !dir.as_os_str().is_empty() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| SmsError(e.to_string()))?;
                }
            }
            let mut f = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await
                .map_err(|e| SmsError(format!("{}: {e}", self.path.display())))?;
            f.write_all(line.as_bytes())
                .await
                .map_err(|e| SmsError(e.to_string()))?;
            f.flush().await.map_err(|e| SmsError(e.to_string()))
        })
    }
}

/// The provider chosen by `sms.provider`. A real provider whose required settings are
/// missing is a start-up error that names the key to set.
pub fn build(settings: &SmsSettings) -> Result<Arc<dyn SmsProvider>, String> {
    Ok(match &settings.provider {
        SmsProviderKind::Console => Arc::new(ConsoleProvider),
        SmsProviderKind::File => Arc::new(FileProvider::new(settings.file_path.clone())),
        SmsProviderKind::Tencent => Arc::new(TencentProvider::new(
            http_client(settings)?,
            &settings.tencent,
        )?),
        SmsProviderKind::Aliyun => Arc::new(AliyunProvider::new(
            http_client(settings)?,
            &settings.aliyun,
        )?),
        SmsProviderKind::Webhook => Arc::new(WebhookProvider::new(
            http_client(settings)?,
            &settings.webhook,
        )?),
    })
}

/// The one HTTP client of the real providers: connect and total time limits from
/// `sms.timeout_ms`, no redirects (a vendor API never redirects, and a redirect would
/// resend a signed request elsewhere). An egress proxy is taken from the usual
/// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` variables.
pub fn http_client(settings: &SmsSettings) -> Result<reqwest::Client, String> {
    if settings.timeout_ms == 0 {
        return Err("sms.timeout_ms must be at least 1 (IM__SMS__TIMEOUT_MS)".into());
    }
    let limit = Duration::from_millis(settings.timeout_ms);
    reqwest::Client::builder()
        .connect_timeout(limit)
        .timeout(limit)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("im-access/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("sms: cannot build the HTTP client: {e}"))
}

/// A required provider setting: empty is a start-up error naming the key and its
/// environment variable.
fn required<'a>(provider: &str, key: &str, value: &'a str) -> Result<&'a str, String> {
    let v = value.trim();
    if v.is_empty() {
        let env = format!("IM__SMS__{}", key.replace('.', "__").to_ascii_uppercase());
        return Err(format!(
            "sms.provider is \"{provider}\" but sms.{key} is empty: set sms.{key} ({env})"
        ));
    }
    Ok(v)
}

/// An absolute http(s) URL setting.
fn endpoint_url(key: &str, value: &str) -> Result<url::Url, String> {
    match url::Url::parse(value.trim()) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host_str().is_some() => Ok(u),
        _ => Err(format!(
            "sms.{key} must be an absolute http(s) URL, got {value:?}"
        )),
    }
}

/// The `Host` header value for a URL, as an HTTP client sends it: the host, and the port
/// when it is not the scheme's default.
fn host_header(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// A transport failure (connect, timeout, reading the answer). The URL is left out: a
/// webhook URL may carry a token.
fn transport_error(provider: &str, e: reqwest::Error) -> SmsError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    SmsError(format!("{provider}: {what}: {}", e.without_url()))
}

/// A vendor's text for the log, bounded in length and stripped of control characters.
fn clip(s: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(MAX).collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Unix seconds now.
fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SmsSettings {
        crate::config::Settings::load_from(None, false)
            .expect("defaults load")
            .sms
    }

    #[test]
    fn defaults_include_the_timeout() {
        assert_eq!(settings().timeout_ms, 5000);
    }

    #[test]
    fn missing_settings_name_the_key() {
        let mut s = settings();
        s.provider = SmsProviderKind::Tencent;
        let e = build(&s).err().expect("refused");
        assert!(e.contains("sms.tencent.secret_id"), "{e}");
        assert!(e.contains("IM__SMS__TENCENT__SECRET_ID"), "{e}");

        s.provider = SmsProviderKind::Aliyun;
        let e = build(&s).err().expect("refused");
        assert!(e.contains("sms.aliyun.access_key_id"), "{e}");

        s.provider = SmsProviderKind::Webhook;
        let e = build(&s).err().expect("refused");
        assert!(e.contains("sms.webhook.url"), "{e}");
        s.webhook.url = "https://sms.example/hook".into();
        let e = build(&s).err().expect("refused");
        assert!(e.contains("sms.webhook.secret"), "{e}");
        s.webhook.secret = "s".to_owned().into();
        assert!(build(&s).is_ok());

        s.webhook.url = "not a url".into();
        let e = build(&s).err().expect("refused");
        assert!(e.contains("sms.webhook.url"), "{e}");

        s.webhook.url = "https://sms.example/hook".into();
        s.timeout_ms = 0;
        let e = build(&s).err().expect("refused");
        assert!(e.contains("sms.timeout_ms"), "{e}");
    }

    #[test]
    fn host_header_keeps_non_default_ports() {
        let u = url::Url::parse("https://sms.tencentcloudapi.com").expect("url");
        assert_eq!(host_header(&u), "sms.tencentcloudapi.com");
        let u = url::Url::parse("https://sms.tencentcloudapi.com:443/").expect("url");
        assert_eq!(host_header(&u), "sms.tencentcloudapi.com");
        let u = url::Url::parse("http://127.0.0.1:8080/x").expect("url");
        assert_eq!(host_header(&u), "127.0.0.1:8080");
    }

    #[test]
    fn clip_bounds_vendor_text() {
        assert_eq!(clip("a\nb"), "ab");
        assert_eq!(clip(&"x".repeat(500)).chars().count(), 201);
    }
}
