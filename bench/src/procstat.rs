//! CPU time and memory of processes, from `/proc`.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Clock ticks per second of `/proc/<pid>/stat` times.
pub fn clk_tck() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

/// utime + stime of a process (all its threads, and children it reaped), in ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is index 0 here, so utime (14) is 11 and stime (15) is 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub fn ticks_to_us(ticks: u64) -> f64 {
    ticks as f64 * 1_000_000.0 / clk_tck() as f64
}

/// A `kB` field of `/proc/<pid>/status`, e.g. `VmHWM` (peak RSS) or `VmRSS`.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// `status_kb` added up over several processes (missing ones count 0).
pub fn status_kb_sum(pids: &[u32], field: &str) -> u64 {
    pids.iter().filter_map(|&p| status_kb(p, field)).sum()
}

/// PostgreSQL backends serving one database: their process title is
/// `postgres: <cluster>: <user> <database> <client> <state>`.
pub fn pg_backends(database: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let needle = format!(" {database} ");
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        (cmd.starts_with("postgres: ") && cmd.contains(&needle)).then_some(pid)
    })
    .collect()
}

/// CPU counters of the server, this process (the load generator) and the database's
/// backends at one instant.
#[derive(Clone, Debug, Default)]
pub struct CpuSnapshot {
    pub server: u64,
    pub client: u64,
    pub pg: HashMap<u32, u64>,
}

impl CpuSnapshot {
    pub fn take(server_pids: &[u32], database: &str) -> Self {
        CpuSnapshot {
            server: server_pids.iter().filter_map(|&p| cpu_ticks(p)).sum(),
            client: cpu_ticks(std::process::id()).unwrap_or(0),
            pg: pg_backends(database)
                .into_iter()
                .filter_map(|p| Some((p, cpu_ticks(p)?)))
                .collect(),
        }
    }

    /// Ticks spent since `earlier`: (server, client, database backends). A backend that
    /// started in between counts whole; one that ended in between is lost.
    pub fn since(&self, earlier: &CpuSnapshot) -> (u64, u64, u64) {
        let pg = self
            .pg
            .iter()
            .map(|(pid, t)| t.saturating_sub(earlier.pg.get(pid).copied().unwrap_or(0)))
            .sum();
        (
            self.server.saturating_sub(earlier.server),
            self.client.saturating_sub(earlier.client),
            pg,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        assert!(status_kb(me, "VmHWM").unwrap() > 0);
        assert!(status_kb(me, "VmRSS").unwrap() > 0);
        assert!(clk_tck() > 0);
    }
}
