//! Layered configuration: the compiled-in `config/default.toml`, then
//! `config/<profile>.toml`, an environment file, and `IM__SECTION__KEY` variables.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The documented defaults, compiled in so the binary runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub app: AppSettings,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub sms: SmsSettings,
    pub limits: LimitSettings,
    pub session: SessionSettings,
    pub jwt: JwtSettings,
    pub storage: StorageSettings,
    pub actors: ActorSettings,
    pub cache: CacheSettings,
    pub amqp: AmqpSettings,
    pub log: LogSettings,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Development,
    Production,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AppSettings {
    pub profile: Profile,
    pub data_dir: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub public_base_url: String,
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    pub max_body_bytes: usize,
    pub client_request_timeout_ms: u64,
    pub max_connections_per_worker: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_secs: u64,
    pub acquire_timeout_secs: u64,
    pub migrate_on_start: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsProviderKind {
    Console,
    File,
    Tencent,
    Aliyun,
    Webhook,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TestNumber {
    pub nation_code: String,
    pub phone: String,
    pub code: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SmsSettings {
    pub provider: SmsProviderKind,
    pub file_path: PathBuf,
    pub code_key: SecretString,
    pub code_ttl_secs: u64,
    pub cooldown_secs: u64,
    pub per_number_daily: u32,
    pub per_ip_hourly: u32,
    pub global_daily_budget: u32,
    pub max_attempts: u32,
    pub verify_per_ip_hourly: u32,
    pub allowed_nation_codes: Vec<String>,
    pub test_numbers: Vec<TestNumber>,
    /// Connect and total time limit of one request to an HTTP provider (tencent, aliyun,
    /// webhook), in milliseconds.
    pub timeout_ms: u64,
    pub tencent: TencentSmsSettings,
    pub aliyun: AliyunSmsSettings,
    pub webhook: WebhookSmsSettings,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TencentSmsSettings {
    pub secret_id: String,
    pub secret_key: SecretString,
    pub sdk_app_id: String,
    pub sign_name: String,
    pub template_id: String,
    pub region: String,
    pub endpoint: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AliyunSmsSettings {
    pub access_key_id: String,
    pub access_key_secret: SecretString,
    pub sign_name: String,
    pub template_code: String,
    pub endpoint: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct WebhookSmsSettings {
    pub url: String,
    pub secret: SecretString,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LimitSettings {
    pub lookups_per_hour: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SessionSettings {
    pub ttl_days: u64,
    pub touch_interval_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub im_token_ttl_secs: u64,
    pub action_token_ttl_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct StorageSettings {
    pub backend: String,
    pub dir: PathBuf,
    pub max_avatar_bytes: usize,
    pub max_avatar_side: u32,
    pub max_decode_bytes: u64,
    pub avatar_size: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ActorSettings {
    pub threads: usize,
    pub sms_shards: usize,
    pub session_shards: usize,
    pub relation_shards: usize,
    pub mailbox_capacity: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CacheSettings {
    pub sessions: u64,
    pub profiles: u64,
    pub relation_list_bytes: u64,
    pub ttl_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AmqpSettings {
    pub url: SecretString,
    pub exchange: String,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &[
    "server.trusted_proxies",
    "server.cors_allowed_origins",
    "sms.allowed_nation_codes",
];

impl Settings {
    /// Loads the layers from the process environment and the working directory.
    pub fn load() -> Result<Self, ConfigError> {
        let env_file = std::env::var("IM_ENV_FILE").unwrap_or_else(|_| ".env".into());
        if Path::new(&env_file).exists() {
            dotenvy::from_path(&env_file)
                .map_err(|e| ConfigError::Invalid(format!("env file {env_file}: {e}")))?;
        }
        let dir = std::env::var("IM_CONFIG_DIR").unwrap_or_else(|_| "config".into());
        Self::load_from(Some(Path::new(&dir)), true)
    }

    /// Defaults only (plus `IM__` variables when `with_env`), for tests and tools.
    pub fn load_from(config_dir: Option<&Path>, with_env: bool) -> Result<Self, ConfigError> {
        let base = config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml);
        let env = || {
            let mut e = config::Environment::with_prefix("IM")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",");
            for k in LIST_KEYS {
                e = e.with_list_parse_key(k);
            }
            e
        };
        // The profile decides which file to add, so read it from the lower layers first.
        let mut probe = config::Config::builder().add_source(base.clone());
        if with_env {
            probe = probe.add_source(env());
        }
        let profile = std::env::var("IM_PROFILE")
            .ok()
            .or_else(|| probe.build().ok()?.get_string("app.profile").ok())
            .unwrap_or_else(|| "development".into());

        let mut builder = config::Config::builder().add_source(base);
        if let Some(dir) = config_dir {
            let file = dir.join(format!("{profile}.toml"));
            builder = builder.add_source(config::File::from(file).required(false));
        }
        if with_env {
            builder = builder.add_source(env());
        }
        builder = builder.set_override("app.profile", profile)?;
        let mut settings: Settings = builder.build()?.try_deserialize()?;
        settings.fill_derived();
        settings.validate()?;
        Ok(settings)
    }

    fn fill_derived(&mut self) {
        if self.database.url.expose_secret().is_empty() {
            let path = self.app.data_dir.join("im-access.db");
            self.database.url = format!("sqlite://{}?mode=rwc", path.display()).into();
        }
        if self.storage.dir.as_os_str().is_empty() {
            self.storage.dir = self.app.data_dir.join("resource");
        }
        while self.server.public_base_url.ends_with('/') {
            self.server.public_base_url.pop();
        }
    }

    /// Checks that hold in every profile, and the production profile's refusals.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.actors.threads == 0
            || self.actors.sms_shards == 0
            || self.actors.session_shards == 0
            || self.actors.relation_shards == 0
        {
            return bad("actors.threads and actors.*_shards must be at least 1");
        }
        if self.actors.mailbox_capacity == 0 {
            return bad("actors.mailbox_capacity must be at least 1");
        }
        if self.sms.max_attempts == 0 {
            return bad("sms.max_attempts must be at least 1");
        }
        if self.storage.backend != "local" {
            return bad("storage.backend: only \"local\" is available");
        }
        if !self.server.public_base_url.is_empty() {
            match url::Url::parse(&self.server.public_base_url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => {
                    return bad("server.public_base_url must be an absolute http(s) URL");
                }
            }
        }
        for t in &self.sms.test_numbers {
            if t.code.len() != 6 || !t.code.bytes().all(|b| b.is_ascii_digit()) {
                return bad("sms.test_numbers: each code must be 6 digits");
            }
        }
        if self.app.profile == Profile::Production {
            if self.jwt.secret.expose_secret().len() < 32 {
                return bad(
                    "production profile: set jwt.secret (IM__JWT__SECRET) to a random string of at least 32 characters; a generated secret is not shared with the IM server",
                );
            }
            if self.sms.provider == SmsProviderKind::Console {
                return bad(
                    "production profile: the console SMS provider only logs codes; set sms.provider (IM__SMS__PROVIDER) to tencent, aliyun or webhook",
                );
            }
            if !self.server.public_base_url.starts_with("https://") {
                return bad(
                    "production profile: set server.public_base_url (IM__SERVER__PUBLIC_BASE_URL) to the https:// URL clients reach this server or its CDN under",
                );
            }
        }
        Ok(())
    }
}
