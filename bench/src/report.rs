//! The report: markdown for people, JSON with every raw number.

use std::fmt::Write as _;

use serde::Serialize;

use crate::load::{RunStats, Summary};
use crate::pg::Plan;
use crate::sqlcheck::SqlCheck;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub postgres: String,
    pub date_utc: String,
    pub load_average_at_start: String,
    pub server_commit: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    pub scale: String,
    pub concurrency: usize,
    pub warmup_secs: f64,
    pub measure_secs: f64,
    pub repeats: usize,
    pub server_workers: String,
    pub server_db_pool: u32,
    /// Server processes on the one database.
    pub processes: u16,
    /// `--server-env` settings, `KEY=VALUE`.
    pub server_env: Vec<String>,
    pub client: String,
    pub plan: Plan,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    pub key: String,
    pub title: String,
    /// What one operation is (one request, or a send + sign-in pair).
    pub unit: String,
    pub concurrency: usize,
    pub mode: String,
    /// Paced runs: the offered operations per second.
    pub offered_rate: Option<f64>,
    pub summary: Summary,
    pub runs: Vec<RunStats>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub measured: String,
    pub target: String,
    /// None when the figures it needs are missing.
    pub pass: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    pub users_touched: u64,
    pub relations_seeded: u64,
    pub sessions_seeded: u64,
    pub peak_rss_after_pass_kb: u64,
    pub rss_after_pass_kb: u64,
    pub peak_rss_at_end_kb: u64,
    pub rss_at_start_kb: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub smoke: bool,
    pub command: String,
    pub machine: Machine,
    pub settings: Settings,
    pub seed_secs: f64,
    pub sql_check: SqlCheck,
    pub targets: Vec<Target>,
    pub scenarios: Vec<ScenarioResult>,
    pub memory: Option<Memory>,
    pub server_log_lines: usize,
    pub notes: Vec<String>,
    pub total_secs: f64,
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn us(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} ms", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} µs")
    } else {
        format!("{v:.1} µs")
    }
}

fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut o = String::new();
        let w = &mut o;
        let s = &self.settings;
        let _ = writeln!(w, "# im-access benchmark report ({} scale)\n", s.scale);
        if self.smoke {
            let _ = writeln!(
                w,
                "> **Smoke run, not the figures.** Small data set and runs of a few seconds on a shared\n\
                 > machine, to show that the harness works end to end. Ratios and latencies here say\n\
                 > nothing about the targets; the real report is `--scale full` on a quiet machine.\n"
            );
        }
        let _ = writeln!(w, "Command:\n\n```\n{}\n```\n", self.command);
        let m = &self.machine;
        let _ = writeln!(w, "## Machine\n");
        let _ = writeln!(w, "| | |\n|---|---|");
        for (k, v) in [
            ("date (UTC)", &m.date_utc),
            ("CPU", &m.cpu),
            ("cores", &m.cores.to_string()),
            ("memory", &m.memory),
            ("kernel", &m.kernel),
            ("rustc", &m.rustc),
            ("PostgreSQL", &m.postgres),
            ("server commit", &m.server_commit),
            ("load average at start", &m.load_average_at_start),
        ] {
            let _ = writeln!(w, "| {k} | {v} |");
        }
        let _ = writeln!(w, "\n## Settings\n");
        let p = &s.plan;
        let _ = writeln!(
            w,
            "- data: {} users, {} follows among them, {} sessions; growth users following {}; {} write users \
             (seeded with COPY in {:.1} s)",
            p.users,
            p.follows,
            p.sessions,
            p.growth
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(" / "),
            p.write_users,
            self.seed_secs
        );
        let _ = writeln!(
            w,
            "- load: {} concurrent workers, {} s warm-up + {} s measured per run, {} runs per scenario \
             (tables show the median run; spread = min–max over runs)",
            s.concurrency, s.warmup_secs, s.measure_secs, s.repeats
        );
        let _ = writeln!(
            w,
            "- server: release build, {} process(es), HTTP workers {}, database pool {}, log level warn, SMS provider `file`{}",
            s.processes,
            s.server_workers,
            s.server_db_pool,
            if s.server_env.is_empty() {
                String::new()
            } else {
                format!(", and {}", s.server_env.join(" "))
            }
        );
        let _ = writeln!(w, "- load generator: {}", s.client);

        let _ = writeln!(w, "\n## Targets\n");
        let _ = writeln!(
            w,
            "| target | measured | required | result |\n|---|---|---|---|"
        );
        for t in &self.targets {
            let res = match t.pass {
                Some(true) => "pass",
                Some(false) => "**FAIL**",
                None => "n/a",
            };
            let _ = writeln!(w, "| {} | {} | {} | {res} |", t.name, t.measured, t.target);
        }

        let _ = writeln!(w, "\n## Scenarios\n");
        let _ = writeln!(
            w,
            "| scenario | mode | ops/s (spread) | p50 | p99 (spread) | server CPU/op | server cores | PG CPU/op | client CPU/op | errors | server peak RSS |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &self.scenarios {
            let x = &r.summary;
            let spread = if r.runs.len() > 1 {
                format!(" ({}–{})", rate(x.throughput_min), rate(x.throughput_max))
            } else {
                String::new()
            };
            let p99_spread = if r.runs.len() > 1 {
                format!(" ({}–{})", us(x.p99_us_min), us(x.p99_us_max))
            } else {
                String::new()
            };
            let ops: u64 = r.runs.iter().map(|x| x.ops).sum();
            let mode = if r.offered_rate.is_some() && ops > 0 {
                format!(
                    "{}; late {:.1}%",
                    r.mode,
                    100.0 * x.late as f64 / ops as f64
                )
            } else {
                r.mode.clone()
            };
            let _ = writeln!(
                w,
                "| {} | {} | {}{spread} | {} | {}{p99_spread} | {} | {:.2} | {} | {} | {} | {} |",
                r.key,
                mode,
                rate(x.throughput),
                us(x.p50_us),
                us(x.p99_us),
                us(x.server_cpu_us_per_op),
                x.server_cores,
                us(x.pg_cpu_us_per_op),
                us(x.client_cpu_us_per_op),
                x.errors,
                mb(x.server_peak_rss_kb),
            );
        }
        let _ = writeln!(w, "\nWhat each scenario does:\n");
        for r in &self.scenarios {
            let _ = writeln!(w, "- `{}`: {} (one op = {})", r.key, r.title, r.unit);
        }
        let errs: Vec<_> = self
            .scenarios
            .iter()
            .flat_map(|r| r.runs.iter().map(move |x| (r, x)))
            .filter_map(|(r, x)| Some((r.key.clone(), x.first_error.clone()?)))
            .collect();
        if !errs.is_empty() {
            let _ = writeln!(w, "\nFirst error of each run that had errors:\n");
            for (k, e) in errs {
                let _ = writeln!(w, "- `{k}`: {e}");
            }
        }

        if let Some(mem) = &self.memory {
            let _ = writeln!(w, "\n## Memory\n");
            let _ = writeln!(
                w,
                "Server RSS at start (after migrations, before any request): {}. After one \
                 `relation/followlist` for each of {} users ({} follows, {} sessions seeded): \
                 RSS {}, peak (VmHWM) {}. Peak at the end of the whole run: {}.",
                mb(mem.rss_at_start_kb),
                mem.users_touched,
                mem.relations_seeded,
                mem.sessions_seeded,
                mb(mem.rss_after_pass_kb),
                mb(mem.peak_rss_after_pass_kb),
                mb(mem.peak_rss_at_end_kb)
            );
        }

        let c = &self.sql_check;
        let _ = writeln!(w, "\n## Raw-SQL baseline check\n");
        let _ = writeln!(
            w,
            "Result: **{}** — {}. In a scratch database with `log_statement = 'all'`, the same \
             script of relation operations ran through the server (HTTP) and through the raw \
             baseline; the PostgreSQL log of each was cut into transactions and the statement \
             texts compared (parameters values aside).\n",
            c.status, c.detail
        );
        if !c.ops.is_empty() {
            let _ = writeln!(w, "| operation | server | raw | same SQL | statements (server) |\n|---|---|---|---|---|");
            for op in &c.ops {
                let stmts: Vec<String> = op.server_sql.iter().map(|s| short_sql(s)).collect();
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} | {} |",
                    op.op,
                    if op.server_ok { "ok" } else { "refused" },
                    op.raw_outcome,
                    if op.same { "yes" } else { "**no**" },
                    stmts.join("; ")
                );
            }
            if !c.server_outside_tx.is_empty() {
                let outside: Vec<String> =
                    c.server_outside_tx.iter().map(|s| short_sql(s)).collect();
                let _ = writeln!(
                    w,
                    "\nServer statements outside transactions during the script (not part of the \
                     baseline): {}",
                    outside.join("; ")
                );
            }
        }

        let _ = writeln!(w, "\n## Notes\n");
        for n in &self.notes {
            let _ = writeln!(w, "- {n}");
        }
        let _ = writeln!(
            w,
            "- server log lines at warn or above during the run: {}",
            self.server_log_lines
        );
        let _ = writeln!(w, "- total harness time: {:.0} s", self.total_secs);
        o
    }
}

/// A statement abbreviated for a table cell: verb and table.
fn short_sql(s: &str) -> String {
    let u = s.trim();
    let words: Vec<&str> = u.split_whitespace().collect();
    let table_after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1))
            .map(|t| t.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("BEGIN") | Some("COMMIT") | Some("ROLLBACK") => words[0].to_string(),
        Some("SELECT") if u.ends_with("FOR UPDATE") => {
            format!("SELECT {} FOR UPDATE", table_after("FROM"))
        }
        // A function call (the outbox barrier): the statement is short already.
        Some("SELECT") if !words.iter().any(|w| w.eq_ignore_ascii_case("FROM")) => u.to_owned(),
        Some("SELECT") => format!("SELECT {}", table_after("FROM")),
        Some("DELETE") => format!("DELETE {}", table_after("FROM")),
        Some("INSERT") => format!("INSERT {}", table_after("INTO")),
        Some("UPDATE") => format!("UPDATE {}", words.get(1).unwrap_or(&"").trim_matches('"')),
        _ => u.chars().take(40).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw;

    #[test]
    fn abbreviates_statements() {
        assert_eq!(short_sql(raw::LOCK_USERS), "SELECT users FOR UPDATE");
        assert_eq!(short_sql(raw::EXISTS_BLOCK), "SELECT blocks");
        assert_eq!(short_sql(&raw::insert_outbox(3)), "INSERT outbox");
        assert_eq!(
            short_sql(raw::OUTBOX_BARRIER),
            "SELECT pg_advisory_xact_lock_shared(731180642)"
        );
        assert_eq!(short_sql(raw::DELETE_FOLLOW), "DELETE follows");
        assert_eq!(short_sql("BEGIN"), "BEGIN");
    }
}
