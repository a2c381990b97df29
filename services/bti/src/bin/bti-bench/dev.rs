//! `bti dev` on the same data in SQLite: start-up time to SERVING on an
//! existing data directory, RSS idle and under load, and the same paths.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_runtime::auth::LocalIssuer;
use bti_runtime::db::Db;

use crate::drive::{self, Path, Spread, Tokens};
use crate::{Server, free_port, seed, wait_ready};

/// Anonymous memory of `pid` (the heap and stacks, without the binary's own
/// mapped pages, which count in RSS too), in MiB.
fn anonymous(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `VmRSS` and `VmHWM` (peak) of `pid`, in MiB.
fn rss(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

fn start(bti: &std::path::Path, dir: &std::path::Path, addr: &str) -> anyhow::Result<Server> {
    Ok(Server(
        Command::new(bti)
            .args(["dev", "--listen", addr, "--data-dir"])
            .arg(dir)
            .env("BTI__LOG__FILTER", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    ))
}

/// Stops `server` the way an operator does (SIGTERM) and waits for it.
fn stop(mut server: Server) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()?;
    server.0.wait()?;
    Ok(())
}

pub async fn run(
    bti: &std::path::Path,
    work: &std::path::Path,
    entries: u64,
    spread: Spread,
    paths: &[Path],
    in_flight: &[usize],
    seconds: u64,
) -> anyhow::Result<()> {
    let dir = work.join("dev");
    let addr = format!("127.0.0.1:{}", free_port());
    // First start: the migrations make the files.
    let first = start(bti, &dir, &addr)?;
    wait_ready(&addr, Duration::from_millis(50)).await?;
    stop(first)?;
    let t = Instant::now();
    for (file, which) in [("directory", 0), ("consent", 1), ("caselog", 2)] {
        let db = Db::connect(
            &format!("sqlite://{}", dir.join(format!("{file}.db")).display()),
            1,
        )
        .await?;
        match which {
            0 => seed::directory(&db).await?,
            1 => seed::consent(&db).await?,
            _ => seed::caselog(&db, entries).await?,
        }
        db.close().await;
    }
    println!(
        "\nbti dev (SQLite): seeded in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Start-up on the existing data directory: exec to SERVING.
    let mut startups = Vec::new();
    let timed_start = async || -> anyhow::Result<(Server, f64)> {
        let t = Instant::now();
        let s = start(bti, &dir, &addr)?;
        wait_ready(&addr, Duration::from_millis(1)).await?;
        Ok((s, t.elapsed().as_secs_f64() * 1000.0))
    };
    for _ in 0..4 {
        let (s, ms) = timed_start().await?;
        startups.push(ms);
        stop(s)?;
    }
    let (server, ms) = timed_start().await?;
    startups.push(ms);
    startups.sort_by(f64::total_cmp);
    let pid = server.0.id();
    let channel = wait_ready(&addr, Duration::from_millis(10)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = rss(pid)?;
    let idle_anon = anonymous(pid);
    let issuer = LocalIssuer::open(&dir)?;
    let tokens = Arc::new(Tokens::sign(&issuer)?);
    let client = CaseLogServiceClient::new(channel);
    for &path in paths {
        drive::measure(&client, &tokens, path, spread, 4, Duration::from_secs(1)).await?;
    }
    println!(
        "start-up to SERVING on the existing data directory: median {:.0} ms (of {:?})",
        startups[startups.len() / 2],
        startups
            .iter()
            .map(|s| s.round() as u64)
            .collect::<Vec<_>>()
    );
    println!(
        "{:<20} {:>6} {:>9} {:>8} {:>8}",
        "path", "in fl.", "req/s", "p50 ms", "p99 ms"
    );
    for &path in paths {
        for &n in in_flight {
            let f = drive::measure(
                &client,
                &tokens,
                path,
                spread,
                n,
                Duration::from_secs(seconds),
            )
            .await?;
            println!(
                "{:<20} {n:>6} {:>9.0} {:>8.2} {:>8.2}",
                path.label(),
                f.rate,
                f.p50,
                f.p99
            );
        }
    }
    let (after, peak) = rss(pid)?;
    println!(
        "RSS: idle {idle:.1} MiB (anonymous {idle_anon:.1}), after the load {after:.1} MiB (anonymous {:.1}), peak {peak:.1} MiB",
        anonymous(pid)
    );
    stop(server)?;
    Ok(())
}
