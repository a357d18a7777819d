//! Layered configuration: the compiled-in `config/default.toml`, then
//! `config/<profile>.toml`, an environment file, and `IM__SECTION__KEY` variables.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::jwt::{JwtIssuer, JwtKey, KeyError};

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
    pub events: EventsSettings,
    pub internal: InternalSettings,
    pub admin: AdminSettings,
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
    /// Milliseconds a whole request body may take to arrive, once its head is in.
    pub body_timeout_ms: u64,
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
    pub test_number_daily_wrong_tries: u32,
    pub verify_per_ip_hourly: u32,
    pub allowed_nation_codes: Vec<String>,
    pub denied_nation_codes: Vec<String>,
    pub home_nation_codes: Vec<String>,
    pub foreign_country_daily: u32,
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
    pub lookups_per_address_hourly: u32,
    /// IPv6 clients are limited per network of this prefix length (a /64 is one
    /// subscriber's); IPv4 clients per address.
    pub ipv6_prefix_len: u8,
    /// Avatar uploads one user may make per `avatar_window_secs`.
    pub avatar_uploads: u32,
    pub avatar_window_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SessionSettings {
    pub ttl_days: u64,
    pub touch_interval_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub algorithm: JwtAlgorithm,
    pub current_kid: String,
    pub keys: Vec<JwtKeySettings>,
    pub keys_file: PathBuf,
    pub im_token_ttl_secs: u64,
    pub action_token_ttl_secs: u64,
}

/// The algorithm new IM tokens are signed with.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum JwtAlgorithm {
    #[serde(rename = "HS256", alias = "hs256")]
    Hs256,
    #[serde(rename = "EdDSA", alias = "eddsa", alias = "EDDSA")]
    EdDsa,
}

impl JwtAlgorithm {
    fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }
}

/// One entry of `jwt.keys`: an HS256 `secret`, or an Ed25519 private key as PKCS#8 PEM
/// given inline or as a file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtKeySettings {
    pub kid: String,
    #[serde(default)]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub private_key_pem: Option<SecretString>,
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
}

/// What `jwt.keys_file` holds: a key list kept apart from the rest (a mounted secret).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtKeysFile {
    keys: Vec<JwtKeySettings>,
}

impl JwtSettings {
    /// `jwt.keys` followed by the keys of `jwt.keys_file`, if one is named.
    pub fn key_list(&self) -> Result<Vec<JwtKeySettings>, ConfigError> {
        let mut keys = self.keys.clone();
        if !self.keys_file.as_os_str().is_empty() {
            let path = &self.keys_file;
            let file: JwtKeysFile = config::Config::builder()
                .add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize())
                .map_err(|e| {
                    ConfigError::Invalid(format!(
                        "jwt.keys_file (IM__JWT__KEYS_FILE) {}: {e}; it must be TOML holding [[keys]] tables of {{ kid, secret | private_key_pem | private_key_file }}",
                        path.display()
                    ))
                })?;
            keys.extend(file.keys);
        }
        Ok(keys)
    }

    /// The issuer for a configured key list, checked against `jwt.algorithm` and
    /// `jwt.current_kid`; None when no key list is configured (the single `jwt.secret`
    /// signs, without a kid).
    pub fn keyed_issuer(&self) -> Result<Option<JwtIssuer>, ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let list = self.key_list()?;
        if list.is_empty() {
            if self.algorithm != JwtAlgorithm::Hs256 {
                return bad(format!(
                    "jwt.algorithm = \"{}\" signs with an Ed25519 key: set jwt.keys in a config file (or jwt.keys_file, IM__JWT__KEYS_FILE) to [{{ kid, private_key_pem }}] or [{{ kid, private_key_file }}], and jwt.current_kid (IM__JWT__CURRENT_KID) to its kid",
                    self.algorithm.name()
                ));
            }
            if !self.current_kid.is_empty() {
                return bad("jwt.current_kid is set but no key list is: set jwt.keys (or jwt.keys_file, IM__JWT__KEYS_FILE), or leave jwt.current_kid empty to sign with jwt.secret".into());
            }
            return Ok(None);
        }
        let mut keys = Vec::with_capacity(list.len());
        for k in &list {
            // Which setting holds the PEM, for the message when it does not parse.
            let pem_error = |field: String| {
                move |e: KeyError| match e {
                    KeyError::Ed25519Pem { kid, reason } => KeyError::Ed25519Pem {
                        kid,
                        reason: format!("{field}: {reason}"),
                    },
                    e => e,
                }
            };
            let key = match (&k.secret, &k.private_key_pem, &k.private_key_file) {
                (Some(secret), None, None) => {
                    JwtKey::hs256(&k.kid, secret.expose_secret().as_bytes())
                }
                (None, Some(pem), None) => JwtKey::ed25519_pem(&k.kid, pem.expose_secret())
                    .map_err(pem_error("private_key_pem".into())),
                (None, None, Some(path)) => {
                    let pem = std::fs::read_to_string(path).map_err(|e| {
                        ConfigError::Invalid(format!(
                            "jwt.keys: key {:?}: cannot read private_key_file {}: {e}",
                            k.kid,
                            path.display()
                        ))
                    })?;
                    JwtKey::ed25519_pem(&k.kid, &pem)
                        .map_err(pem_error(format!("private_key_file {}", path.display())))
                }
                _ => {
                    return bad(format!(
                        "jwt.keys: key {:?} needs exactly one of secret (HS256), private_key_pem or private_key_file (Ed25519 PKCS#8 PEM)",
                        k.kid
                    ));
                }
            };
            keys.push(key.map_err(|e| ConfigError::Invalid(format!("jwt.keys: {e}")))?);
        }
        if self.current_kid.is_empty() {
            return bad("jwt.keys is set: set jwt.current_kid (IM__JWT__CURRENT_KID) to the kid of the key that signs new tokens".into());
        }
        let issuer = JwtIssuer::with_keys(
            keys,
            &self.current_kid,
            self.im_token_ttl_secs,
            self.action_token_ttl_secs,
        )
        .map_err(|e| match e {
            KeyError::UnknownCurrentKid(kid) => ConfigError::Invalid(format!(
                "jwt.current_kid (IM__JWT__CURRENT_KID) is {kid:?} but no key in jwt.keys has that kid: set it to the kid of the key that signs new tokens"
            )),
            e => ConfigError::Invalid(format!("jwt.keys: {e}")),
        })?;
        let signs = match issuer.algorithm() {
            Algorithm::EdDSA => JwtAlgorithm::EdDsa,
            _ => JwtAlgorithm::Hs256,
        };
        if signs != self.algorithm {
            return bad(format!(
                "jwt.algorithm (IM__JWT__ALGORITHM) is {} but the current key {:?} is an {} key: set jwt.algorithm to {} or jwt.current_kid to the kid of an {} key",
                self.algorithm.name(),
                self.current_kid,
                signs.name(),
                signs.name(),
                self.algorithm.name()
            ));
        }
        Ok(Some(issuer))
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct StorageSettings {
    pub backend: String,
    pub dir: PathBuf,
    pub max_avatar_bytes: usize,
    pub max_avatar_side: u32,
    pub max_decode_bytes: u64,
    pub avatar_size: u32,
    /// Avatar decodes running at once in this process; more wait up to `decode_wait_ms`.
    pub decode_concurrency: usize,
    pub decode_wait_ms: u64,
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
    pub unknown_tokens: u64,
    pub profiles: u64,
    pub relation_list_bytes: u64,
    pub ttl_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AmqpSettings {
    pub url: SecretString,
    pub exchange: String,
    /// Most events published per confirm round.
    pub batch_size: u32,
    /// How long a relay's claim lasts unless renewed; another process takes over after it.
    pub lease_secs: u64,
    /// How often the relay looks for events committed by other processes (MySQL/SQLite;
    /// PostgreSQL wakes it with NOTIFY).
    pub poll_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EventsSettings {
    /// Published events are kept this long for `/internal/events` replay, then deleted.
    pub retention_hours: u64,
    /// How often the relaying process deletes events past the retention.
    pub cleanup_every_secs: u64,
    /// Bearer key for `/internal/events`; empty turns the route off.
    pub replay_key: SecretString,
}

/// The IM server's keys for `/internal/*` (`Authorization: Bearer <key>`).
#[derive(Clone, Debug, Deserialize)]
pub struct InternalSettings {
    /// Several at once, so a key can be rotated; `events.replay_key` counts as one more.
    pub keys: Vec<SecretString>,
}

/// Operators' keys for `/admin/*`: each has a name, which the audit log records.
#[derive(Clone, Debug, Deserialize)]
pub struct AdminSettings {
    pub keys: Vec<AdminKey>,
}

/// One admin key: in a config file `{ name = "alice", secret = "…" }`; in the
/// environment (`IM__ADMIN__KEYS`) a comma-separated list of `name:secret`.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "AdminKeyForm")]
pub struct AdminKey {
    pub name: String,
    pub secret: SecretString,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AdminKeyForm {
    Table { name: String, secret: SecretString },
    Pair(String),
}

impl TryFrom<AdminKeyForm> for AdminKey {
    type Error = String;

    fn try_from(f: AdminKeyForm) -> Result<Self, String> {
        let (name, secret) = match f {
            AdminKeyForm::Table { name, secret } => (name, secret),
            AdminKeyForm::Pair(s) => {
                let (name, secret) = s.split_once(':').ok_or(
                    "admin.keys: an entry in the environment is name:secret (comma-separated)",
                )?;
                (name.trim().to_owned(), secret.trim().to_owned().into())
            }
        };
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        if !ok_name {
            return Err(format!(
                "admin.keys: key name {name:?} must be 1-64 characters of letters, digits, - _ . @"
            ));
        }
        if secret.expose_secret().is_empty() {
            return Err(format!("admin.keys: key {name:?} has an empty secret"));
        }
        Ok(AdminKey { name, secret })
    }
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
    "sms.denied_nation_codes",
    "sms.home_nation_codes",
    "internal.keys",
    "admin.keys",
];

/// The `IM__` variables, each value kept as its exact text. config's `try_parsing` read
/// every value that looks like a number as one first, so an all-digit secret became a
/// float and `0123` lost its zero. Numeric and boolean keys still parse from the text
/// when the settings are deserialized; the list keys are split on commas here.
#[derive(Clone, Debug)]
struct EnvLayer(config::Environment);

impl config::Source for EnvLayer {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        let mut map = self.0.collect()?;
        let origin = "the environment".to_owned();
        for key in LIST_KEYS {
            if let Some(value) = map.get_mut(*key) {
                if let config::ValueKind::String(text) = &value.kind {
                    let items = text
                        .split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| config::Value::new(Some(&origin), item))
                        .collect();
                    value.kind = config::ValueKind::Array(items);
                }
            }
        }
        Ok(map)
    }
}

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
            EnvLayer(
                config::Environment::with_prefix("IM")
                    .prefix_separator("__")
                    .separator("__"),
            )
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
        if self.actors.sms_shards == 0
            || self.actors.session_shards == 0
            || self.actors.relation_shards == 0
        {
            return bad("actors.*_shards must be at least 1");
        }
        if self.actors.mailbox_capacity == 0 {
            return bad("actors.mailbox_capacity must be at least 1");
        }
        if self.sms.max_attempts == 0 {
            return bad("sms.max_attempts must be at least 1");
        }
        if !(1..=128).contains(&self.limits.ipv6_prefix_len) {
            return bad("limits.ipv6_prefix_len must be from 1 to 128");
        }
        if self.limits.avatar_window_secs == 0 {
            return bad("limits.avatar_window_secs must be at least 1");
        }
        if self.storage.decode_concurrency == 0 {
            return bad("storage.decode_concurrency must be at least 1");
        }
        if self.server.body_timeout_ms == 0 {
            return bad("server.body_timeout_ms must be at least 1");
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
        let mut names: Vec<&str> = self.admin.keys.iter().map(|k| k.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return bad(
                "admin.keys: two keys have the same name; the audit log tells them apart by it",
            );
        }
        for t in &self.sms.test_numbers {
            if t.code.len() != 6 || !t.code.bytes().all(|b| b.is_ascii_digit()) {
                return bad("sms.test_numbers: each code must be 6 digits");
            }
        }
        // Parses every configured key, so a broken one stops the start in any profile.
        let keyed = self.jwt.keyed_issuer()?.is_some();
        if self.app.profile == Profile::Production {
            if !keyed && self.jwt.secret.expose_secret().len() < 32 {
                return bad(
                    "production profile: set jwt.secret (IM__JWT__SECRET) to a random string of at least 32 characters, or configure jwt.keys / jwt.keys_file (IM__JWT__KEYS_FILE) and jwt.current_kid; a generated secret is not shared with the IM server",
                );
            }
            if keyed {
                for k in self.jwt.key_list()? {
                    if k.secret.is_some_and(|s| s.expose_secret().len() < 32) {
                        return Err(ConfigError::Invalid(format!(
                            "production profile: jwt.keys: set the secret of key {:?} to a random string of at least 32 characters",
                            k.kid
                        )));
                    }
                }
                // Without jwt.secret the SMS code key would come from a secret generated
                // per instance, and instances sharing a database would disagree.
                if self.sms.code_key.expose_secret().is_empty()
                    && self.jwt.secret.expose_secret().len() < 32
                {
                    return bad(
                        "production profile: with jwt.keys, set sms.code_key (IM__SMS__CODE_KEY) to a random string of at least 32 characters (it is derived from jwt.secret when empty, and none is set)",
                    );
                }
            }
            if self.sms.provider == SmsProviderKind::Console {
                return bad(
                    "production profile: the console SMS provider only logs codes; set sms.provider (IM__SMS__PROVIDER) to tencent, aliyun or webhook",
                );
            }
            for k in &self.admin.keys {
                if k.secret.expose_secret().chars().count() < 32 {
                    return Err(ConfigError::Invalid(format!(
                        "production profile: admin.keys: set the secret of key {:?} to a random string of at least 32 characters",
                        k.name
                    )));
                }
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
