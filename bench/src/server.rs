//! The server under test: built in release mode, started as users start it (the binary,
//! configured by `IM__…` environment variables), stopped with SIGTERM.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::http::{self, Conn};

/// The workspace root (the bench crate lives in `<root>/bench`).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// `cargo build --release --bin im-access`, then copies the binary into `dir` so a
/// concurrent build into a shared target folder cannot swap it during the run.
pub fn build_release(dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("bench: cargo build --release --bin im-access");
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "--bin",
            "im-access",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !out.status.success() {
        bail!("cargo build --release --bin im-access failed");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let exe = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "im-access")
        .filter_map(|v| v["executable"].as_str().map(PathBuf::from))
        .next_back()
        .ok_or_else(|| anyhow!("cargo did not report the im-access executable"))?;
    let copy = dir.join("im-access");
    std::fs::copy(&exe, &copy).with_context(|| format!("copying {}", exe.display()))?;
    Ok(copy)
}

/// A free loopback port (bound, read, released: the server binds it right after).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub struct ServerConfig {
    pub bin: PathBuf,
    /// Folder for the data dir, config dir, SMS file and the server's log.
    pub dir: PathBuf,
    pub database_url: String,
    pub db_pool: u32,
    pub workers: usize,
    pub log_level: String,
    /// `--server-env` settings, applied after the harness's own (so they win).
    pub extra_env: Vec<(String, String)>,
}

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub pid: u32,
    pub sms_file: PathBuf,
    pub log_file: PathBuf,
}

/// The JWT secret the server runs with (not a real one: the bench never leaves loopback).
pub const JWT_SECRET: &str = "im-access-bench-secret-0123456789abcdef";
/// The IM server's key the server runs with (`--only internal`).
pub const INTERNAL_KEY: &str = "im-access-bench-internal-key-0123456789";

impl Server {
    pub async fn start(cfg: &ServerConfig) -> Result<Server> {
        let port = free_port()?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        std::fs::create_dir_all(&cfg.dir)?;
        let sms_file = cfg.dir.join("sms.jsonl");
        let log_file = cfg.dir.join(format!("server-{port}.log"));
        let log = std::fs::File::create(&log_file)?;
        let huge = "1000000000";
        let mut cmd = Command::new(&cfg.bin);
        cmd.current_dir(&cfg.dir)
            .env_remove("RUST_LOG")
            .env("IM_ENV_FILE", cfg.dir.join("no.env"))
            .env("IM_CONFIG_DIR", cfg.dir.join("no-config"))
            .env("IM__APP__DATA_DIR", cfg.dir.join("data"))
            .env("IM__SERVER__BIND", addr.to_string())
            .env("IM__SERVER__WORKERS", cfg.workers.to_string())
            .env("IM__DATABASE__URL", &cfg.database_url)
            .env("IM__DATABASE__MAX_CONNECTIONS", cfg.db_pool.to_string())
            .env("IM__JWT__SECRET", JWT_SECRET)
            .env("IM__INTERNAL__KEYS", INTERNAL_KEY)
            .env("IM__LOG__LEVEL", &cfg.log_level)
            .env("IM__SERVER__TRUSTED_PROXIES", "127.0.0.1")
            .env("IM__SMS__PROVIDER", "file")
            .env("IM__SMS__FILE_PATH", &sms_file)
            .env("IM__SMS__COOLDOWN_SECS", "0")
            .env("IM__SMS__PER_NUMBER_DAILY", huge)
            .env("IM__SMS__PER_IP_HOURLY", huge)
            .env("IM__SMS__VERIFY_PER_IP_HOURLY", huge)
            .env("IM__SMS__GLOBAL_DAILY_BUDGET", huge)
            .envs(cfg.extra_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", cfg.bin.display()))?;
        let pid = child.id();
        let mut server = Server {
            child: Some(child),
            addr,
            pid,
            sms_file,
            log_file,
        };
        server.wait_ready(Duration::from_secs(120)).await?;
        Ok(server)
    }

    /// Polls `/readyz` until it answers code 0.
    async fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let req = http::get(self.addr, "/readyz");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "server exited ({status}) before it was ready:\n{}",
                        self.log_tail()
                    );
                }
            }
            let mut conn = Conn::new(self.addr);
            if let Ok(r) = conn.request(&req).await {
                if r.is_ok_envelope() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("server not ready after {limit:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Lines the server logged at warn or above (the bench runs it at `warn`).
    pub fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log_file)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    /// SIGTERM, then SIGKILL if it has not stopped within 15 s.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
