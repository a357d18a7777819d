//! `im-access-bench`: builds and starts the release server against a fresh PostgreSQL
//! database, seeds it, drives each scenario and its baseline, and writes a report.
//!
//! ```text
//! cargo run --release -p im-access-bench -- --scale small --out bench/reports/latest.md
//! ```

mod http;
mod internal;
mod load;
mod pg;
mod procstat;
mod raw;
mod report;
mod scenarios;
mod server;
mod sqlcheck;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

use load::{Phase, Probe, RunStats};
use report::{Machine, Memory, Report, ScenarioResult, Target};
use scenarios::WriteMix;
use server::{Server, ServerConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scale {
    /// A quick check: 5 000 users, 50 000 follows, runs of a few seconds.
    Small,
    /// The issue's numbers: 100 000 users, 1 000 000 follows, 100 000 sessions.
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Group {
    Ceiling,
    Memory,
    Read,
    Half,
    Write,
    Signin,
    Imtoken,
    Growth,
    /// The IM server's routes: snapshot streaming and relations/check (issue 15).
    Internal,
}

#[derive(Parser, Debug)]
#[command(name = "im-access-bench", about = "Benchmark harness for im-access")]
struct Cli {
    /// Data set and run lengths.
    #[arg(long, value_enum, default_value = "small")]
    scale: Scale,
    /// Markdown report; the JSON with every number goes beside it (.json).
    #[arg(long, default_value = "bench/reports/latest.md")]
    out: PathBuf,
    /// Use this server binary instead of `cargo build --release --bin im-access`.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// PostgreSQL to create the bench database in (a superuser; no database name).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pg_url: String,
    /// PostgreSQL's log, read by the raw-SQL check.
    #[arg(long, default_value = "/var/log/postgresql/postgresql-15-main.log")]
    pg_log: PathBuf,
    /// Concurrent workers (connections) per run.
    #[arg(long)]
    concurrency: Option<usize>,
    #[arg(long)]
    warmup_secs: Option<f64>,
    #[arg(long)]
    measure_secs: Option<f64>,
    /// Runs per scenario.
    #[arg(long)]
    repeats: Option<usize>,
    /// Server HTTP workers (0 = one per core, the server's default).
    #[arg(long, default_value_t = 0)]
    server_workers: usize,
    /// Server database pool size (the raw baseline uses the same).
    #[arg(long, default_value_t = 16)]
    db_pool: u32,
    /// Run only these scenario groups (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Group>,
    /// Skip the raw-SQL check (it needs to read the PostgreSQL log).
    #[arg(long)]
    skip_sql_check: bool,
    /// Keep the bench database (and print its name) instead of dropping it.
    #[arg(long)]
    keep_db: bool,
    /// An extra setting for the server, `KEY=VALUE` (repeatable; wins over the
    /// harness's own), e.g. `--server-env IM__ACTORS__THREADS=1`.
    #[arg(long = "server-env", value_parser = parse_env)]
    server_env: Vec<(String, String)>,
    /// Server processes on the one database; the workers of every scenario except
    /// sign-in are spread over them round robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    processes: u16,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

struct Preset {
    users: u64,
    follows: u64,
    sessions: u64,
    growth: Vec<u64>,
    concurrency: usize,
    warmup: f64,
    measure: f64,
    repeats: usize,
}

fn preset(scale: Scale) -> Preset {
    match scale {
        Scale::Small => Preset {
            users: 5_000,
            follows: 50_000,
            sessions: 5_000,
            growth: vec![100, 1_000, 5_000],
            concurrency: 16,
            warmup: 1.0,
            measure: 2.0,
            repeats: 3,
        },
        Scale::Full => Preset {
            users: 100_000,
            follows: 1_000_000,
            sessions: 100_000,
            growth: vec![100, 10_000, 100_000],
            concurrency: 32,
            warmup: 5.0,
            measure: 15.0,
            repeats: 3,
        },
    }
}

/// Write pairs per worker.
const WRITE_PAIRS: usize = 4;

/// Cold-list samples per growth user.
const COLD_SAMPLES: usize = 30;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The load generator runs on one thread: it stays a bounded share of the machine,
    // and its workers are local tasks (no Send bounds on the async closures).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("im-access-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&rt, run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("im-access-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn cmd_out(prog: &str, args: &[&str]) -> String {
    std::process::Command::new(prog)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn machine(postgres: String) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let root = server::workspace_root();
    let root = root.to_string_lossy();
    let commit = cmd_out("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let dirty = cmd_out(
        "git",
        &[
            "-C",
            &root,
            "status",
            "--porcelain",
            "--",
            "src",
            "entity",
            "migration",
            "config",
            "Cargo.toml",
        ],
    );
    Machine {
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu,
        memory,
        kernel: cmd_out("uname", &["-sr"]),
        rustc: cmd_out("rustc", &["--version"]),
        postgres,
        date_utc: cmd_out("date", &["-u", "+%Y-%m-%d %H:%M:%S"]),
        load_average_at_start: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        server_commit: if dirty.is_empty() || dirty == "unknown" {
            commit
        } else {
            format!("{commit} (with uncommitted changes)")
        },
    }
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect();
    format!(
        "cargo run --release -p im-access-bench -- {}",
        args.join(" ")
    )
}

async fn run(cli: Cli) -> Result<()> {
    let started = Instant::now();
    let tag = hex::encode(rand::random::<[u8; 4]>());
    let database = format!("bench_{tag}");
    let dir = std::env::temp_dir().join(format!("im-access-bench-{tag}"));
    std::fs::create_dir_all(&dir)?;
    let bin = match &cli.server_bin {
        Some(b) => b.clone(),
        None => server::build_release(&dir)?,
    };

    let mut admin = pg::admin(&cli.pg_url).await?;
    let pg_version = pg::version(&mut admin).await?;
    pg::create_database(&mut admin, &database).await?;
    eprintln!(
        "bench: database {database}, scratch folder {}",
        dir.display()
    );
    let mut servers: Vec<Server> = Vec::new();
    let res = bench(
        &cli,
        &bin,
        &dir,
        &database,
        pg_version,
        &mut servers,
        started,
    )
    .await;
    for mut s in servers {
        if let Err(e) = s.stop() {
            eprintln!("bench: stopping the server: {e:#}");
        }
    }
    if cli.keep_db {
        eprintln!("bench: kept database {database}");
    } else if let Err(e) = pg::drop_database(&mut admin, &database).await {
        eprintln!("bench: dropping {database}: {e:#}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let report = res?;
    write_report(&cli.out, &report)?;
    eprintln!("bench: wrote {}", cli.out.display());
    Ok(())
}

fn write_report(out: &std::path::Path, report: &Report) -> Result<()> {
    if let Some(parent) = out.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)?;
        }
    }
    std::fs::write(out, report.markdown()).with_context(|| format!("writing {}", out.display()))?;
    let json = out.with_extension("json");
    std::fs::write(&json, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    Ok(())
}

struct Ctx {
    probe: Probe,
    phase: Phase,
    n: usize,
    results: Vec<ScenarioResult>,
}

impl Ctx {
    fn push(&mut self, key: &str, title: &str, unit: &str, mode: String, runs: Vec<RunStats>) {
        self.push_paced(key, title, unit, mode, None, runs)
    }

    fn push_paced(
        &mut self,
        key: &str,
        title: &str,
        unit: &str,
        mode: String,
        offered_rate: Option<f64>,
        runs: Vec<RunStats>,
    ) {
        let summary = load::summarize(&runs);
        eprintln!(
            "bench: {key:<22} {:>9.1} ops/s  p50 {:>9.1} µs  p99 {:>9.1} µs  server {:>7.1} µs/op  errors {}",
            summary.throughput, summary.p50_us, summary.p99_us, summary.server_cpu_us_per_op, summary.errors
        );
        self.results.push(ScenarioResult {
            key: key.into(),
            title: title.into(),
            unit: unit.into(),
            concurrency: self.n,
            mode,
            offered_rate,
            summary,
            runs,
        });
    }

    fn get(&self, key: &str) -> Option<&ScenarioResult> {
        self.results.iter().find(|r| r.key == key)
    }
}

#[allow(clippy::too_many_arguments)]
async fn bench(
    cli: &Cli,
    bin: &std::path::Path,
    dir: &std::path::Path,
    database: &str,
    pg_version: String,
    servers: &mut Vec<Server>,
    started: Instant,
) -> Result<Report> {
    let p = preset(cli.scale);
    let n = cli.concurrency.unwrap_or(p.concurrency).max(1);
    let phase = Phase {
        warmup: Duration::from_secs_f64(cli.warmup_secs.unwrap_or(p.warmup)),
        measure: Duration::from_secs_f64(cli.measure_secs.unwrap_or(p.measure)),
        pace: None,
    };
    let repeats = cli.repeats.unwrap_or(p.repeats).max(1);
    let want = |g: Group| cli.only.is_empty() || cli.only.contains(&g);
    let plan = pg::Plan {
        users: p.users,
        follows: p.follows,
        sessions: p.sessions,
        growth: p.growth.clone(),
        write_users: WriteMix::users_needed(WRITE_PAIRS, n),
    };
    let machine = machine(pg_version);
    let server_cfg = ServerConfig {
        bin: bin.to_path_buf(),
        dir: dir.to_path_buf(),
        database_url: pg::url(&cli.pg_url, database),
        db_pool: cli.db_pool,
        workers: cli.server_workers,
        log_level: "warn".into(),
        extra_env: cli.server_env.clone(),
    };

    let sql_check = if cli.skip_sql_check || !want(Group::Write) {
        sqlcheck::SqlCheck::skipped("not requested")
    } else {
        eprintln!("bench: checking the raw baseline's SQL against the server's");
        sqlcheck::run(sqlcheck::CheckEnv {
            pg_base: &cli.pg_url,
            pg_log: &cli.pg_log,
            database: format!("{database}_sqlcheck"),
            server: ServerConfig {
                bin: server_cfg.bin.clone(),
                dir: dir.join("sqlcheck"),
                database_url: String::new(),
                db_pool: server_cfg.db_pool,
                workers: server_cfg.workers,
                log_level: server_cfg.log_level.clone(),
                extra_env: server_cfg.extra_env.clone(),
            },
        })
        .await
    };
    eprintln!(
        "bench: SQL check {}: {}",
        sql_check.status, sql_check.detail
    );

    // One after another: the first runs the migrations, the others find them done.
    for i in 0..cli.processes {
        eprintln!("bench: starting server {}", i + 1);
        servers.push(Server::start(&server_cfg).await?);
    }
    let addrs: Vec<std::net::SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let server = &servers[0];
    let addr = server.addr;
    let probe = Probe {
        server_pids: pids.clone(),
        database: database.to_string(),
    };
    let rss_at_start = procstat::status_kb_sum(&pids, "VmRSS");
    eprintln!(
        "bench: seeding {} users, {} follows, {} sessions",
        plan.users, plan.follows, plan.sessions
    );
    let seeded = pg::seed(&server_cfg.database_url, &plan).await?;
    eprintln!(
        "bench: seeded {} users, {} follows, {} sessions in {:.1} s",
        seeded.user_rows, seeded.follow_rows, seeded.session_rows, seeded.secs
    );

    let mut ctx = Ctx {
        probe,
        phase: phase.clone(),
        n,
        results: Vec::new(),
    };
    let closed = format!("closed loop, {n} conns");
    let healthz = Rc::new(vec![http::get(addr, "/healthz")]);
    let read_reqs = Rc::new(scenarios::read_requests(addr, &seeded, plan.sessions));
    let mut memory = None;
    let mut internal_notes: Vec<String> = Vec::new();

    // Memory pass: every user's first page once, cold caches.
    if want(Group::Memory) || want(Group::Read) {
        eprintln!("bench: memory pass over {} users", read_reqs.len());
        let r = load::run_each(
            read_reqs.len(),
            &ctx.probe,
            scenarios::each(&addrs, &read_reqs, n),
        )
        .await?;
        memory = Some(Memory {
            users_touched: r.ops,
            relations_seeded: seeded.follow_rows,
            sessions_seeded: seeded.session_rows,
            peak_rss_after_pass_kb: r.server_peak_rss_kb,
            rss_after_pass_kb: r.server_rss_kb,
            peak_rss_at_end_kb: 0,
            rss_at_start_kb: rss_at_start,
        });
        ctx.push(
            "memory-pass",
            "`relation/followlist` page 1 once for every seeded user with a session, cold caches: \
             loads every session, list and profile into the server's caches",
            "1 request",
            format!("each user once, {n} conns"),
            vec![r],
        );
    }

    // Ceiling and read, interleaved run by run so drift hits both alike. Half load needs
    // the ceiling's throughput, so it brings the ceiling runs along.
    if want(Group::Ceiling) || want(Group::Read) || want(Group::Half) {
        let (mut ceiling, mut read) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            if want(Group::Ceiling) || want(Group::Half) {
                ceiling.push(
                    load::run(
                        &ctx.phase,
                        &ctx.probe,
                        scenarios::cycling(&addrs, &healthz, n),
                    )
                    .await?,
                );
            }
            if want(Group::Read) {
                read.push(
                    load::run(
                        &ctx.phase,
                        &ctx.probe,
                        scenarios::cycling(&addrs, &read_reqs, n),
                    )
                    .await?,
                );
            }
        }
        if !ceiling.is_empty() {
            ctx.push(
                "ceiling",
                "`GET /healthz`: the same server, middleware and envelope with no work behind \
                 it — the framework's limit",
                "1 request",
                closed.clone(),
                ceiling,
            );
        }
        if !read.is_empty() {
            ctx.push(
                "read",
                "`POST relation/followlist` type=follow page 1 size 20, warm caches; each worker \
                 walks all seeded users' tokens in turn (every user's list in rotation)",
                "1 request",
                closed.clone(),
                read,
            );
        }
    }

    // Half load: both paced at half the ceiling's throughput.
    if want(Group::Half) {
        if let Some(c) = ctx.get("ceiling") {
            let rate = (c.summary.throughput / 2.0).max(1.0);
            let paced = Phase {
                pace: Some(rate),
                ..ctx.phase.clone()
            };
            let mode = format!("paced {rate:.0}/s, {n} conns");
            let (mut ceiling, mut read) = (Vec::new(), Vec::new());
            for _ in 0..repeats {
                ceiling.push(
                    load::run(&paced, &ctx.probe, scenarios::cycling(&addrs, &healthz, n)).await?,
                );
                read.push(
                    load::run(
                        &paced,
                        &ctx.probe,
                        scenarios::cycling(&addrs, &read_reqs, n),
                    )
                    .await?,
                );
            }
            ctx.push_paced(
                "ceiling-half",
                "`GET /healthz` paced at half the ceiling's closed-loop throughput",
                "1 request",
                mode.clone(),
                Some(rate),
                ceiling,
            );
            ctx.push_paced(
                "read-half",
                "`relation/followlist` page 1 (same rotation as `read`) paced at the same rate",
                "1 request",
                mode,
                Some(rate),
                read,
            );
        }
    }

    // Writes: the server and the raw-SQL baseline, interleaved, continuing one walk.
    if want(Group::Write) {
        let mix = WriteMix::new(seeded.write_first, WRITE_PAIRS, n);
        let pool = pg::pool(&server_cfg.database_url, cli.db_pool).await?;
        let (mut srv, mut base) = (Vec::new(), Vec::new());
        for _ in 0..repeats {
            srv.push(
                load::run(&ctx.phase, &ctx.probe, mix.server_workers(&addrs, &seeded)?).await?,
            );
            base.push(load::run(&ctx.phase, &ctx.probe, mix.raw_workers(&pool)).await?);
        }
        pool.close().await;
        ctx.push(
            "write",
            "`POST relation/operation` on PostgreSQL, mix per pair: follow, unfollow, follow, \
             reverse follow, block (removes both follows), unblock — every op a real change \
             with its outbox events; each worker owns 4 pairs of users",
            "1 request",
            closed.clone(),
            srv,
        );
        ctx.push(
            "write-raw",
            "raw-SQL baseline: the same operations, same order, as the server's transactions \
             issued directly with sqlx (pool of the server's size) — the database's limit",
            "1 transaction",
            format!("closed loop, {n} tasks, pool {}", cli.db_pool),
            base,
        );
    }

    if want(Group::Signin) {
        let book = Rc::new(RefCell::new(scenarios::CodeBook::new(
            server.sms_file.clone(),
        )));
        let mut runs = Vec::new();
        for _ in 0..repeats {
            runs.push(
                load::run(
                    &ctx.phase,
                    &ctx.probe,
                    scenarios::signin_workers(addr, &book, plan.sessions, n),
                )
                .await?,
            );
        }
        ctx.push(
            "signin",
            "`POST sms/send` then `POST accessuser/signinbysms` with the code read from the \
             `file` SMS provider; repeat sign-ins of seeded users on android (each replaces \
             the user's previous android session)",
            "send + sign-in (2 requests)",
            closed.clone(),
            runs,
        );
    }

    if want(Group::Imtoken) {
        for (key, act, title) in [
            (
                "imtoken",
                false,
                "`POST accessuser/getimtoken` without `act`: a fresh login im_token (HS256)",
            ),
            (
                "imtoken-act",
                true,
                "`POST accessuser/getimtoken` act=conv.create with two members: members checked \
                 (exist, none blocked the caller), action token signed",
            ),
        ] {
            let reqs = Rc::new(scenarios::imtoken_requests(
                addr,
                &seeded,
                plan.sessions,
                act,
            ));
            let mut runs = Vec::new();
            for _ in 0..repeats {
                runs.push(
                    load::run(&ctx.phase, &ctx.probe, scenarios::cycling(&addrs, &reqs, n)).await?,
                );
            }
            ctx.push(key, title, "1 request", closed.clone(), runs);
        }
    }

    if want(Group::Growth) {
        for &(size, user) in &seeded.growth {
            let token = seeded
                .token(user)
                .context("growth user without a session")?
                .to_string();
            let last = size.div_ceil(20).max(1);
            for (label, page) in [("first", 1), ("last", last)] {
                let reqs = Rc::new(vec![scenarios::followlist(addr, &token, page)]);
                let mut runs = Vec::new();
                for _ in 0..repeats {
                    runs.push(
                        load::run(&ctx.phase, &ctx.probe, scenarios::cycling(&addrs, &reqs, n))
                            .await?,
                    );
                }
                ctx.push(
                    &format!("growth-{size}-{label}"),
                    &format!(
                        "`relation/followlist` page {page} size 20 of one user following {size} \
                         users, warm cache"
                    ),
                    "1 request",
                    closed.clone(),
                    runs,
                );
            }
            // Cold: page 1 right after the list changed, which drops the cached list so
            // the whole of it is reloaded from PostgreSQL.
            let other = seeded
                .growth
                .iter()
                .map(|g| g.1)
                .find(|&u| u != user)
                .unwrap_or(seeded.write_first);
            let change = [
                http::post_form(
                    addr,
                    "/relation/operation",
                    Some(&token),
                    &format!("to_user_id={other}&type=follow"),
                ),
                http::post_form(
                    addr,
                    "/relation/operation",
                    Some(&token),
                    &format!("to_user_id={other}&type=unfollow"),
                ),
            ];
            let page1 = scenarios::followlist(addr, &token, 1);
            let mut conn = http::Conn::new(addr);
            let mut k = 0usize;
            let r = load::sample(COLD_SAMPLES, &ctx.probe, async || {
                conn.request(&change[k % 2]).await?.ensure_ok()?;
                k += 1;
                let t = Instant::now();
                conn.request(&page1).await?.ensure_ok()?;
                Ok(t.elapsed())
            })
            .await?;
            ctx.push(
                &format!("growth-{size}-cold"),
                &format!(
                    "`relation/followlist` page 1 of the user following {size}, each right after \
                     an (untimed) follow or unfollow by that user invalidated the cached list: \
                     the list is reloaded from PostgreSQL; CPU columns include the change"
                ),
                "1 request",
                format!("{COLD_SAMPLES} sequential samples, 1 conn"),
                vec![r],
            );
        }
    }

    if want(Group::Internal) {
        let f = internal::run(
            addr,
            server.pid,
            &cli.pg_url,
            database,
            seeded.user_rows,
            seeded.follow_rows,
        )
        .await?;
        internal_notes = f.lines;
    }

    if let Some(m) = memory.as_mut() {
        m.peak_rss_at_end_kb = procstat::status_kb_sum(&pids, "VmHWM");
    }
    let server_log_lines = server.log_lines();
    if server_log_lines > 0 {
        eprintln!("bench: server log (warn and above):\n{}", server.log_tail());
    }
    let targets = targets(&ctx, memory.as_ref(), &plan);
    let ceiling_rate = ctx
        .get("ceiling")
        .map(|c| c.summary.throughput / 2.0)
        .unwrap_or(0.0);
    let notes = vec![
        format!(
            "Half load is an open loop paced at {ceiling_rate:.0} ops/s (half the ceiling's median \
             closed-loop throughput) for both `ceiling-half` and `read-half`: the same offered load, \
             spread over {n} connections, each sending on its own schedule. Latency is timed from \
             the moment a request is sent; `late` counts sends that started more than 2 ms behind \
             their slot (the server fell behind)."
        ),
        "Throughput counts operations completed inside the measured period; latency percentiles \
         come from an HDR histogram (ns, 3 significant digits) of those operations."
            .into(),
        format!(
            "CPU per op = (utime + stime) delta from /proc/<pid>/stat over the measured period ÷ \
             ops, at {} ticks/s. Server = the im-access process; PG = the backends of the bench \
             database (from their process titles; background writer, WAL writer and checkpointer \
             not included); client = this harness.",
            procstat::clk_tck()
        ),
        "Peak RSS is the server's VmHWM from /proc/<pid>/status after each run (it only grows)."
            .into(),
        "The load generator, the server and PostgreSQL share the same machine: the generator \
         runs on one thread (its CPU per op is in the table), so the server and the database \
         compete with it for the remaining cores."
            .into(),
        "Sign-in: every request comes from 127.0.0.1, so the server runs with its SMS limits \
         raised through the environment (IM__SMS__COOLDOWN_SECS=0; PER_NUMBER_DAILY, \
         PER_IP_HOURLY, VERIFY_PER_IP_HOURLY, GLOBAL_DAILY_BUDGET = 10^9). The rate-counter rows \
         (per number, per IP, global) are still updated on every send and check, as in \
         production."
            .into(),
        "write-raw: sqlx runs inside this harness, so the baseline's client CPU/op includes the \
         statement encoding and row decoding that the server process does for `write`; its pool \
         has the server's `max_connections` and sqlx's default connection check, as the \
         server's pools (the server keeps a quarter of its connections, at most 4, for \
         background work and splits the rest over its workers: 6 each of 16 on 2 cores)."
            .into(),
        "Growth: latency targets compare median (p50) latencies of the largest list against page \
         1 of the 100-follow list, both measured closed loop at the same concurrency."
            .into(),
    ];
    Ok(Report {
        smoke: cli.scale == Scale::Small,
        command: command_line(),
        machine,
        settings: report::Settings {
            scale: format!("{:?}", cli.scale).to_lowercase(),
            concurrency: n,
            warmup_secs: phase.warmup.as_secs_f64(),
            measure_secs: phase.measure.as_secs_f64(),
            repeats,
            server_workers: if cli.server_workers == 0 {
                "one per core".into()
            } else {
                cli.server_workers.to_string()
            },
            server_db_pool: cli.db_pool,
            processes: cli.processes,
            server_env: cli
                .server_env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            client:
                "one thread (tokio current_thread), one keep-alive HTTP/1.1 connection per worker"
                    .into(),
            plan,
        },
        seed_secs: seeded.secs,
        sql_check,
        targets,
        scenarios: ctx.results,
        memory,
        server_log_lines,
        notes: notes.into_iter().chain(internal_notes).collect(),
        total_secs: started.elapsed().as_secs_f64(),
    })
}

fn ratio_target(
    name: &str,
    num: Option<f64>,
    den: Option<f64>,
    op: &str,
    bound: f64,
    what: &str,
) -> Target {
    match (num, den) {
        (Some(a), Some(b)) if b > 0.0 => {
            let r = a / b;
            Target {
                name: name.into(),
                measured: format!("{r:.2} ({what})"),
                target: format!("{op} {bound}"),
                pass: Some(if op == "≥" { r >= bound } else { r <= bound }),
            }
        }
        _ => Target {
            name: name.into(),
            measured: "not measured".into(),
            target: format!("{op} {bound}"),
            pass: None,
        },
    }
}

/// Latency at half load only means something if both scenarios kept up with the offered
/// rate: a paced run that fell behind has queued requests the send-timed latency hides.
fn half_load_target(ctx: &Ctx) -> Target {
    let p99 = |k: &str| ctx.get(k).map(|r| r.summary.p99_us);
    let mut t = ratio_target(
        "read p99 ÷ ceiling p99, both at half load",
        p99("read-half"),
        p99("ceiling-half"),
        "≤",
        2.0,
        &match (p99("read-half"), p99("ceiling-half")) {
            (Some(a), Some(b)) => format!("{a:.1} vs {b:.1} µs"),
            _ => String::new(),
        },
    );
    for key in ["read-half", "ceiling-half"] {
        if let Some(r) = ctx.get(key) {
            if let Some(rate) = r.offered_rate {
                if r.summary.throughput < 0.97 * rate {
                    t.measured.push_str(&format!(
                        "; `{key}` did not sustain the offered {rate:.0}/s (achieved {:.0}/s)",
                        r.summary.throughput
                    ));
                    t.pass = Some(false);
                }
            }
        }
    }
    t
}

fn targets(ctx: &Ctx, memory: Option<&Memory>, plan: &pg::Plan) -> Vec<Target> {
    let tp = |k: &str| ctx.get(k).map(|r| r.summary.throughput);
    let p50 = |k: &str| ctx.get(k).map(|r| r.summary.p50_us);
    let fmt_pair = |a: Option<f64>, b: Option<f64>, unit: &str| match (a, b) {
        (Some(a), Some(b)) => format!("{a:.1} vs {b:.1} {unit}"),
        _ => String::new(),
    };
    let mut out = vec![
        ratio_target(
            "read throughput ÷ ceiling throughput",
            tp("read"),
            tp("ceiling"),
            "≥",
            0.6,
            &fmt_pair(tp("read"), tp("ceiling"), "ops/s"),
        ),
        half_load_target(ctx),
        ratio_target(
            "write throughput ÷ raw-SQL baseline",
            tp("write"),
            tp("write-raw"),
            "≥",
            0.7,
            &fmt_pair(tp("write"), tp("write-raw"), "ops/s"),
        ),
    ];
    let small = plan.growth.iter().min().copied();
    let big = plan.growth.iter().max().copied();
    if let (Some(s), Some(b)) = (small, big) {
        let first_small = p50(&format!("growth-{s}-first"));
        let first_big = p50(&format!("growth-{b}-first"));
        let last_big = p50(&format!("growth-{b}-last"));
        out.push(ratio_target(
            &format!("page-1 p50 at {b} follows ÷ page-1 p50 at {s}"),
            first_big,
            first_small,
            "≤",
            1.5,
            &fmt_pair(first_big, first_small, "µs"),
        ));
        out.push(ratio_target(
            &format!("last-page p50 at {b} follows ÷ page-1 p50 at {s}"),
            last_big,
            first_small,
            "≤",
            3.0,
            &fmt_pair(last_big, first_small, "µs"),
        ));
    }
    let peak = memory.map(|m| m.peak_rss_after_pass_kb as f64 / 1024.0);
    out.push(Target {
        name: format!(
            "server peak RSS after touching {} users / {} follows / {} sessions",
            plan.users, plan.follows, plan.sessions
        ),
        measured: peak
            .map(|v| format!("{v:.1} MB"))
            .unwrap_or_else(|| "not measured".into()),
        target: "≤ 200 MB".into(),
        pass: peak.map(|v| v <= 200.0),
    });
    out
}
