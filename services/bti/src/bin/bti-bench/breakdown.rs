//! Where a call's time goes, from what the parts measure themselves: each
//! service's `bti_rpc_server_duration_seconds` (arrival to status, scraped
//! from its admin port before and after a measurement) and pgbench's
//! per-statement latencies (`-r`). Against the client's own latency this
//! splits a call into the caller's hop to the relay log, the relay log's own
//! time, consent's as it serves the relay log, and the SQL.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

/// (service, method) → (seconds in all, calls), as one scrape found them.
#[derive(Default)]
pub struct Served(BTreeMap<(String, String), (f64, f64)>);

impl Served {
    /// Scrapes `/metrics` on `admin` (host:port). An unreachable port gives
    /// an empty scrape: the breakdown is then left out, not the measurement.
    pub fn scrape(admin: &str) -> Served {
        let mut text = String::new();
        let ok = TcpStream::connect(admin).and_then(|mut s| {
            s.write_all(b"GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n")?;
            s.read_to_string(&mut text)
        });
        if ok.is_err() {
            return Served::default();
        }
        let mut out = BTreeMap::new();
        for line in text.lines() {
            for (suffix, slot) in [("_sum{", 0), ("_count{", 1)] {
                let Some(rest) = line.strip_prefix("bti_rpc_server_duration_seconds") else {
                    continue;
                };
                let Some(rest) = rest.strip_prefix(suffix) else {
                    continue;
                };
                let Some((labels, value)) = rest.rsplit_once("} ") else {
                    continue;
                };
                let label = |k: &str| {
                    labels
                        .split(',')
                        .find_map(|kv| kv.strip_prefix(&format!("{k}=\"")))
                        .map(|v| v.trim_end_matches('"').to_string())
                        .unwrap_or_default()
                };
                let v: f64 = value.trim().parse().unwrap_or(0.0);
                let e: &mut (f64, f64) =
                    out.entry((label("service"), label("method"))).or_default();
                if slot == 0 { e.0 = v } else { e.1 = v }
            }
        }
        Served(out)
    }

    /// What was served between `before` and `self`: per (service, method),
    /// milliseconds per call and calls per `calls` made by the client.
    pub fn since(&self, before: &Served, calls: f64) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|(k, (sum, n))| {
                let (s0, n0) = before.0.get(k).copied().unwrap_or_default();
                let served = n - n0;
                (served > 0.0).then(|| {
                    format!(
                        "{} {} {:.2} ms ×{:.1}",
                        k.0,
                        k.1,
                        (sum - s0) / served * 1e3,
                        served / calls
                    )
                })
            })
            .collect()
    }
}

/// pgbench's per-statement average latencies (ms) from its `-r` report,
/// in script order, its `\set` draws left out. A report line is the
/// latency, the failures, then the statement's first line.
pub fn statement_latencies(pgbench_stdout: &str) -> Vec<f64> {
    pgbench_stdout
        .lines()
        .skip_while(|l| !l.starts_with("statement latencies"))
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ms = words.next()?.parse::<f64>().ok()?;
            let command = words.find(|w| w.parse::<f64>().is_err())?;
            (!command.starts_with('\\')).then_some(ms)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_latencies_leave_out_the_draws() {
        let out = "tps = 10\nstatement latencies in milliseconds and failures:\n         0.001           0  \\set i random(1, 10)\n         0.141           0  SELECT l.*, p.id\n         0.334           0  WITH bti_access AS (\n";
        assert_eq!(statement_latencies(out), [0.141, 0.334]);
    }

    #[test]
    fn served_time_is_what_came_between_two_scrapes() {
        let scrape = |sum: f64, n: f64| {
            let mut m = BTreeMap::new();
            m.insert(("caselog".to_string(), "GetCaseLog".to_string()), (sum, n));
            Served(m)
        };
        let lines = scrape(3.0, 2000.0).since(&scrape(1.0, 1000.0), 500.0);
        assert_eq!(lines, ["caselog GetCaseLog 2.00 ms ×2.0"]);
    }
}
