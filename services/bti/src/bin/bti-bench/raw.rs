//! The same SQL through pgbench: each path's script from `bench/sql/`, with
//! the log and employee drawn by the same spread, on a database holding the
//! same data (a copy of the relay log's, with consent's and the directory's
//! tables beside it). Latencies come from pgbench's per-transaction log.

use std::path::{Path as FsPath, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use crate::drive::{Figures, Path, Spread};
use crate::seed::{EMPLOYEES, LOGS, UNITS};

pub struct Pgbench {
    pub url: String,
    pub scripts: PathBuf,
    pub work: PathBuf,
}

impl Pgbench {
    /// The script of `path` with its draws in front.
    fn script(&self, path: Path, spread: Spread) -> anyhow::Result<PathBuf> {
        let body = std::fs::read_to_string(self.scripts.join(path.script()))
            .with_context(|| format!("read {}", path.script()))?;
        let text = format!(
            "\\set i {}\n\\set e {}\n\\set k :i % {UNITS}\n\\set h (:i % {UNITS}) + {UNITS} * ((:i / {UNITS}) % 4)\n\\set ek :e % {UNITS}\n{body}",
            spread.pgbench(LOGS),
            spread.pgbench(EMPLOYEES),
        );
        let file = self.work.join(format!("{}-{spread:?}.sql", path.script()));
        std::fs::write(&file, text)?;
        Ok(file)
    }

    /// Runs `path` at `in_flight` clients for `duration`: its figures and
    /// each statement's mean latency (ms).
    pub fn measure(
        &self,
        path: Path,
        spread: Spread,
        in_flight: usize,
        duration: Duration,
    ) -> anyhow::Result<(Figures, Vec<f64>)> {
        let script = self.script(path, spread)?;
        let logs = self.work.join("log");
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs)?;
        let out = Command::new("pgbench")
            .args(["-n", "-M", "prepared", "-l", "-r"])
            .arg(format!("--log-prefix={}", logs.join("tx").display()))
            .arg(format!("-c{in_flight}"))
            .arg(format!("-j{}", in_flight.min(2)))
            .arg(format!("-T{}", duration.as_secs()))
            .arg("-f")
            .arg(&script)
            .arg(&self.url)
            .output()
            .context("run pgbench (Debian: postgresql-client)")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "pgbench {}: {}{}",
            path.label(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(failed) = stdout
            .lines()
            .find_map(|l| l.strip_prefix("number of failed transactions: "))
        {
            anyhow::ensure!(
                failed.starts_with('0'),
                "pgbench {}: failed transactions {failed}",
                path.label()
            );
        }
        let tps: f64 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no tps in pgbench output: {stdout}"))?;
        let mut lat = latencies(&logs)?;
        anyhow::ensure!(!lat.is_empty(), "pgbench logged no transactions");
        let secs = lat.len() as f64 / tps;
        let mut f = Figures::of(std::mem::take(&mut lat), Duration::from_secs_f64(secs));
        f.rate = tps;
        Ok((f, crate::breakdown::statement_latencies(&stdout)))
    }
}

/// Every transaction's latency in pgbench's logs (`client tx µs script
/// epoch µs-of-epoch`).
fn latencies(dir: &FsPath) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    for f in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(f?.path())?;
        for line in text.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
            {
                out.push(Duration::from_micros(us));
            }
        }
    }
    Ok(out)
}
