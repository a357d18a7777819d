//! SMS delivery providers.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::config::{SmsProviderKind, SmsSettings};
use crate::domain::phone::PhoneNumber;

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
                "sent_at": crate::events::rfc3339(crate::domain::now_ms()),
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

pub fn build(settings: &SmsSettings) -> Result<Arc<dyn SmsProvider>, String> {
    Ok(match &settings.provider {
        SmsProviderKind::Console => Arc::new(ConsoleProvider),
        SmsProviderKind::File => Arc::new(FileProvider::new(settings.file_path.clone())),
        other => return Err(format!("sms.provider {other:?} is not available yet")),
    })
}
