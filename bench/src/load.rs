//! The load generator: N workers, each an async closure owning its connection (an HTTP
//! keep-alive connection, or a database pool handle for the baselines), run closed loop
//! (next operation as soon as the last one answered) or paced at a fixed total rate.
//! A warm-up period is run and thrown away, then a measured period records every
//! operation's latency into an HDR histogram.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procstat::{self, CpuSnapshot};

/// How one run is driven.
#[derive(Clone, Debug)]
pub struct Phase {
    pub warmup: Duration,
    pub measure: Duration,
    /// Operations per second across all workers; `None` is closed loop.
    pub pace: Option<f64>,
}

/// What the CPU and memory figures are taken of.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Every server process (`--processes`); CPU and memory are summed over them.
    pub server_pids: Vec<u32>,
    pub database: String,
}

/// The figures of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunStats {
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    /// Operations per second completed in the measured period.
    pub throughput: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
    /// CPU time (user + system) of the server process per operation.
    pub server_cpu_us_per_op: f64,
    /// Cores' worth of CPU the server used during the period.
    pub server_cores: f64,
    /// CPU time of this harness (the load generator) per operation.
    pub client_cpu_us_per_op: f64,
    /// CPU time of the bench database's PostgreSQL backends per operation.
    pub pg_cpu_us_per_op: f64,
    /// Paced runs: operations that started more than 2 ms after their slot (the
    /// system under test fell behind the schedule).
    pub late: u64,
    pub server_rss_kb: u64,
    pub server_peak_rss_kb: u64,
    pub first_error: Option<String>,
}

#[derive(Default)]
struct WorkerTally {
    ops: u64,
    errors: u64,
    late: u64,
    first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    // 1 ns .. 1 h at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .unwrap_or_else(|e| unreachable!("constant histogram bounds: {e}"))
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u64::MAX as u128) as u64
}

/// Runs `workers` (one per concurrent client) for `phase`. Must be called inside a
/// `LocalSet`: the workers are local tasks on the harness's single thread.
pub async fn run<F>(phase: &Phase, probe: &Probe, workers: Vec<F>) -> Result<RunStats>
where
    F: AsyncFnMut() -> Result<()> + 'static,
{
    let n = workers.len().max(1);
    let t0 = Instant::now() + Duration::from_millis(2);
    let warm_end = t0 + phase.warmup;
    let end = warm_end + phase.measure;
    let interval = phase
        .pace
        .map(|rate| Duration::from_secs_f64(n as f64 / rate.max(0.001)));

    let snapshots = {
        let probe = probe.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep_until(warm_end.into()).await;
            let a = (
                Instant::now(),
                CpuSnapshot::take(&probe.server_pids, &probe.database),
            );
            tokio::time::sleep_until(end.into()).await;
            let b = (
                Instant::now(),
                CpuSnapshot::take(&probe.server_pids, &probe.database),
            );
            (a, b)
        })
    };

    let mut tasks = Vec::with_capacity(n);
    for (i, mut work) in workers.into_iter().enumerate() {
        tasks.push(tokio::task::spawn_local(async move {
            let mut hist = histogram();
            let mut tally = WorkerTally::default();
            // Paced workers are staggered evenly over one interval.
            let mut slot = interval.map(|iv| t0 + iv.mul_f64(i as f64 / n as f64));
            loop {
                let mut late = false;
                if let (Some(iv), Some(at)) = (interval, slot.as_mut()) {
                    if *at >= end {
                        break;
                    }
                    let now = Instant::now();
                    if *at > now {
                        tokio::time::sleep_until((*at).into()).await;
                    } else {
                        late = now - *at > Duration::from_millis(2);
                    }
                    *at += iv;
                }
                let start = Instant::now();
                if start >= end {
                    break;
                }
                let res = work().await;
                let done = Instant::now();
                let counted = done > warm_end && done <= end;
                match res {
                    Ok(()) if counted => {
                        hist.saturating_record(nanos(done - start));
                        tally.ops += 1;
                        tally.late += u64::from(late);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if counted {
                            tally.errors += 1;
                            tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                        // A dead server must not turn the loop into a busy spin.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            (hist, tally)
        }));
    }

    let mut hist = histogram();
    let mut total = WorkerTally::default();
    for t in tasks {
        let (h, tally) = t.await?;
        hist.add(&h)
            .unwrap_or_else(|e| unreachable!("same bounds: {e}"));
        total.ops += tally.ops;
        total.errors += tally.errors;
        total.late += tally.late;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    let ((ta, a), (tb, b)) = snapshots.await?;
    let secs = (tb - ta).as_secs_f64().max(1e-9);
    Ok(stats(&hist, total, secs, probe, b.since(&a)))
}

/// Runs `total` operations, each index once, spread over `workers`; the measured
/// period is the whole run (no warm-up). Used for the memory pass over every user.
pub async fn run_each<F>(total: usize, probe: &Probe, workers: Vec<F>) -> Result<RunStats>
where
    F: AsyncFnMut(usize) -> Result<()> + 'static,
{
    let next = Rc::new(Cell::new(0usize));
    let before = (
        Instant::now(),
        CpuSnapshot::take(&probe.server_pids, &probe.database),
    );
    let mut tasks = Vec::new();
    for mut work in workers {
        let next = next.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut hist = histogram();
            let mut tally = WorkerTally::default();
            loop {
                let i = next.get();
                if i >= total {
                    break;
                }
                next.set(i + 1);
                let start = Instant::now();
                match work(i).await {
                    Ok(()) => {
                        hist.saturating_record(nanos(start.elapsed()));
                        tally.ops += 1;
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            (hist, tally)
        }));
    }
    let mut hist = histogram();
    let mut total_tally = WorkerTally::default();
    for t in tasks {
        let (h, tally) = t.await?;
        hist.add(&h)
            .unwrap_or_else(|e| unreachable!("same bounds: {e}"));
        total_tally.ops += tally.ops;
        total_tally.errors += tally.errors;
        if total_tally.first_error.is_none() {
            total_tally.first_error = tally.first_error;
        }
    }
    let after = (
        Instant::now(),
        CpuSnapshot::take(&probe.server_pids, &probe.database),
    );
    let secs = (after.0 - before.0).as_secs_f64().max(1e-9);
    Ok(stats(
        &hist,
        total_tally,
        secs,
        probe,
        after.1.since(&before.1),
    ))
}

/// Runs `f` `count` times in sequence; `f` returns the latency to record (so it can do
/// untimed preparation first). CPU figures cover the preparation too.
pub async fn sample<F>(count: usize, probe: &Probe, mut f: F) -> Result<RunStats>
where
    F: AsyncFnMut() -> Result<Duration>,
{
    let before = (
        Instant::now(),
        CpuSnapshot::take(&probe.server_pids, &probe.database),
    );
    let mut hist = histogram();
    let mut tally = WorkerTally::default();
    for _ in 0..count {
        match f().await {
            Ok(d) => {
                hist.saturating_record(nanos(d));
                tally.ops += 1;
            }
            Err(e) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    let after = (
        Instant::now(),
        CpuSnapshot::take(&probe.server_pids, &probe.database),
    );
    let secs = (after.0 - before.0).as_secs_f64().max(1e-9);
    Ok(stats(&hist, tally, secs, probe, after.1.since(&before.1)))
}

fn stats(
    hist: &Histogram<u64>,
    tally: WorkerTally,
    secs: f64,
    probe: &Probe,
    (server, client, pg): (u64, u64, u64),
) -> RunStats {
    let us = |ns: u64| ns as f64 / 1000.0;
    let per_op = |ticks: u64| {
        if tally.ops == 0 {
            0.0
        } else {
            procstat::ticks_to_us(ticks) / tally.ops as f64
        }
    };
    let empty = hist.is_empty();
    let q = |p: f64| {
        if empty {
            0.0
        } else {
            us(hist.value_at_quantile(p))
        }
    };
    RunStats {
        ops: tally.ops,
        errors: tally.errors,
        secs,
        throughput: tally.ops as f64 / secs,
        mean_us: if empty { 0.0 } else { hist.mean() / 1000.0 },
        p50_us: q(0.50),
        p90_us: q(0.90),
        p99_us: q(0.99),
        max_us: if empty { 0.0 } else { us(hist.max()) },
        server_cpu_us_per_op: per_op(server),
        server_cores: procstat::ticks_to_us(server) / 1e6 / secs,
        client_cpu_us_per_op: per_op(client),
        pg_cpu_us_per_op: per_op(pg),
        late: tally.late,
        server_rss_kb: procstat::status_kb_sum(&probe.server_pids, "VmRSS"),
        server_peak_rss_kb: procstat::status_kb_sum(&probe.server_pids, "VmHWM"),
        first_error: tally.first_error,
    }
}

/// Repeats of one scenario: medians and spread.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub throughput: f64,
    pub throughput_min: f64,
    pub throughput_max: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p99_us_min: f64,
    pub p99_us_max: f64,
    pub server_cpu_us_per_op: f64,
    pub server_cores: f64,
    pub client_cpu_us_per_op: f64,
    pub pg_cpu_us_per_op: f64,
    pub errors: u64,
    pub late: u64,
    pub server_peak_rss_kb: u64,
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

pub fn summarize(runs: &[RunStats]) -> Summary {
    let col = |f: fn(&RunStats) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let min = |v: Vec<f64>| v.into_iter().fold(f64::INFINITY, f64::min);
    let max = |v: Vec<f64>| v.into_iter().fold(0.0, f64::max);
    Summary {
        throughput: median(col(|r| r.throughput)),
        throughput_min: min(col(|r| r.throughput)),
        throughput_max: max(col(|r| r.throughput)),
        p50_us: median(col(|r| r.p50_us)),
        p99_us: median(col(|r| r.p99_us)),
        p99_us_min: min(col(|r| r.p99_us)),
        p99_us_max: max(col(|r| r.p99_us)),
        server_cpu_us_per_op: median(col(|r| r.server_cpu_us_per_op)),
        server_cores: median(col(|r| r.server_cores)),
        client_cpu_us_per_op: median(col(|r| r.client_cpu_us_per_op)),
        pg_cpu_us_per_op: median(col(|r| r.pg_cpu_us_per_op)),
        errors: runs.iter().map(|r| r.errors).sum(),
        late: runs.iter().map(|r| r.late).sum(),
        server_peak_rss_kb: runs.iter().map(|r| r.server_peak_rss_kb).max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }

    #[test]
    fn closed_and_paced_loops_count_operations() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let probe = Probe {
            server_pids: vec![std::process::id()],
            database: "no_such_database_here".into(),
        };
        local.block_on(&rt, async {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    async move || {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        Ok(())
                    }
                })
                .collect();
            let closed = Phase {
                warmup: Duration::from_millis(50),
                measure: Duration::from_millis(300),
                pace: None,
            };
            let r = run(&closed, &probe, workers).await.unwrap();
            assert!(r.ops > 100, "{r:?}");
            assert!(r.p50_us >= 1000.0, "{r:?}");
            assert_eq!(r.errors, 0);

            let workers: Vec<_> = (0..4).map(|_| async move || Ok(())).collect();
            let paced = Phase {
                pace: Some(200.0),
                ..closed
            };
            let r = run(&paced, &probe, workers).await.unwrap();
            // 200/s for 0.3 s, give or take a slot per worker at each edge.
            assert!((50..=70).contains(&r.ops), "{r:?}");

            let workers: Vec<_> = (0..3)
                .map(|_| {
                    async move |i: usize| {
                        if i == 7 {
                            anyhow::bail!("seven")
                        } else {
                            Ok(())
                        }
                    }
                })
                .collect();
            let r = run_each(20, &probe, workers).await.unwrap();
            assert_eq!((r.ops, r.errors), (19, 1));
        });
    }
}
