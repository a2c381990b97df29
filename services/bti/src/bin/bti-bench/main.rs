//! `bench/compare`: the relay log's hot paths on a municipality-sized data
//! set, through gRPC and as the same SQL in pgbench, alternated in one run.
//!
//! It builds three databases through the services' own migrations (the
//! directory, consent and the relay log, as deployed), seeds them (see
//! `seed.rs`), copies the relay log's for pgbench with consent's and the
//! directory's tables beside it, starts `bti serve directory|consent|caselog`
//! as separate processes, and measures each path at each concurrency, bti
//! and pgbench in turn, `--rounds` times. Then `bti dev` (SQLite) on the same
//! data: the same paths, idle and loaded RSS, and start-up time to SERVING.
//!
//!   cargo build --release -p bti --bins
//!   ./target/release/bti-bench --postgres postgres://postgres@127.0.0.1:5432/test

#[path = "../shared/mod.rs"]
mod bench_common;
mod breakdown;
mod dev;
mod drive;
mod raw;
mod seed;

pub use bench_common::{Proc as Server, free_port, wait_ready_every as wait_ready};

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_runtime::auth::LocalIssuer;
use bti_runtime::db::{Db, Migrations};
use clap::Parser;

use drive::{Figures, Path, Spread, Tokens};

#[derive(Parser)]
struct Args {
    /// A PostgreSQL URL whose user may create databases.
    #[arg(long, env = "BTI_TEST_POSTGRES_URL")]
    postgres: String,
    /// Entries in all (10^5; 10^6 and 10^7 for the scale comparison).
    #[arg(long, default_value_t = 100_000)]
    entries: u64,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Calls in flight, comma-separated.
    #[arg(long, default_value = "1,4,16,64")]
    in_flight: String,
    /// Times bti and pgbench alternate over every path and concurrency.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// How calls spread over logs and employees.
    #[arg(long, value_enum, default_value_t = Spread::Uniform)]
    spread: Spread,
    /// Paths to measure (append,get,list,guardian), comma-separated.
    #[arg(long, default_value = "append,get,list,guardian")]
    paths: String,
    /// Leave out `bti dev`.
    #[arg(long)]
    no_dev: bool,
    /// Only `bti dev`.
    #[arg(long)]
    dev_only: bool,
    /// Keep the PostgreSQL databases afterwards (their names are printed).
    #[arg(long)]
    keep: bool,
}

/// CPU seconds (user + system) `pid` has used so far.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) close with ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn paths(spec: &str) -> anyhow::Result<Vec<Path>> {
    spec.split(',')
        .map(|p| match p.trim() {
            "append" => Ok(Path::Append),
            "get" => Ok(Path::Get),
            "list" => Ok(Path::List),
            "guardian" => Ok(Path::GuardianAccessLog),
            other => anyhow::bail!("unknown path {other}"),
        })
        .collect()
}

/// Every figure of a run: (path, in flight) → one per round.
#[derive(Default)]
pub struct Results(BTreeMap<(usize, usize), Vec<Figures>>);

impl Results {
    pub fn add(&mut self, path: Path, n: usize, f: Figures) {
        let p = Path::ALL.iter().position(|x| *x == path).unwrap();
        self.0.entry((p, n)).or_default().push(f);
    }

    fn median(&self, path: Path, n: usize) -> Option<(Figures, f64, f64)> {
        let p = Path::ALL.iter().position(|x| *x == path).unwrap();
        let all = self.0.get(&(p, n))?;
        let mid = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let rates: Vec<f64> = all.iter().map(|f| f.rate).collect();
        let (lo, hi) = rates
            .iter()
            .fold((f64::MAX, 0f64), |(l, h), r| (l.min(*r), h.max(*r)));
        Some((
            Figures {
                rate: mid(rates),
                mean: mid(all.iter().map(|f| f.mean).collect()),
                p50: mid(all.iter().map(|f| f.p50).collect()),
                p99: mid(all.iter().map(|f| f.p99).collect()),
            },
            lo,
            hi,
        ))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let in_flight: Vec<usize> = args
        .in_flight
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let paths = paths(&args.paths)?;
    let bti = std::env::current_exe()?.with_file_name("bti");
    anyhow::ensure!(
        bti.exists(),
        "build the bti binary first: cargo build --release -p bti --bins"
    );
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let work = std::env::temp_dir().join(format!("bti-bench-{run}"));
    std::fs::create_dir_all(&work)?;
    println!(
        "data: {} units, {} relay logs, {} entries; {:?} spread; {} s per measurement",
        seed::UNITS,
        seed::LOGS,
        args.entries,
        args.spread,
        args.seconds
    );
    if !args.dev_only {
        serve(&args, &bti, &work, &run, &paths, &in_flight).await?;
    }
    if !args.no_dev {
        dev::run(
            &bti,
            &work,
            args.entries,
            args.spread,
            &paths,
            &in_flight,
            args.seconds,
        )
        .await?;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

async fn create_db(admin: &sqlx::PgPool, name: &str, template: Option<&str>) -> anyhow::Result<()> {
    let from = template
        .map(|t| format!(" TEMPLATE {t}"))
        .unwrap_or_default();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}{from}")))
        .execute(admin)
        .await?;
    Ok(())
}

/// Migrates `db` with `m`, recording it under `table` (several services'
/// migrations in the pgbench database).
async fn migrate_as(db: &Db, mut m: Migrations, table: &str) -> anyhow::Result<()> {
    let Db::Postgres(pool) = db else {
        unreachable!()
    };
    m.postgres.dangerous_set_table_name(table.to_string());
    m.postgres.run(pool).await?;
    Ok(())
}

async fn serve(
    args: &Args,
    bti: &std::path::Path,
    work: &std::path::Path,
    run: &str,
    paths: &[Path],
    in_flight: &[usize],
) -> anyhow::Result<()> {
    let base = args
        .postgres
        .rsplit_once('/')
        .context("postgres url needs a database")?
        .0
        .to_string();
    let admin = Db::connect(&args.postgres, 1).await?;
    let Db::Postgres(pool) = &admin else {
        anyhow::bail!("--postgres must be a postgres url")
    };
    let names: Vec<(&str, String)> = ["directory", "consent", "caselog", "raw"]
        .iter()
        .map(|s| (*s, format!("bti_bench_{s}_{run}")))
        .collect();
    let url = |i: usize| format!("{base}/{}", names[i].1);
    let cleanup = async || {
        for (_, name) in &names {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(pool)
            .await;
        }
    };
    let result = async {
        let t = Instant::now();
        for (i, migrations) in [
            bti_directory::store::migrations(),
            bti_consent::store::migrations(),
            bti_caselog::store::migrations(),
        ]
        .into_iter()
        .enumerate()
        {
            create_db(pool, &names[i].1, None).await?;
            let db = Db::connect(&url(i), 2).await?;
            db.migrate(&migrations).await?;
            match i {
                0 => seed::directory(&db).await?,
                1 => seed::consent(&db).await?,
                _ => seed::caselog(&db, args.entries).await?,
            }
            db.close().await;
        }
        create_db(pool, &names[3].1, Some(&names[2].1)).await?;
        let raw = Db::connect(&url(3), 2).await?;
        migrate_as(
            &raw,
            bti_consent::store::migrations(),
            "_consent_migrations",
        )
        .await?;
        migrate_as(
            &raw,
            bti_directory::store::migrations(),
            "_directory_migrations",
        )
        .await?;
        seed::consent(&raw).await?;
        seed::directory(&raw).await?;
        let Db::Postgres(p) = &raw else {
            unreachable!()
        };
        sqlx::query("VACUUM ANALYZE").execute(p).await?;
        raw.close().await;
        println!("seeded in {:.1} s", t.elapsed().as_secs_f64());
        measure_serve(args, bti, work, &url, paths, in_flight).await
    }
    .await;
    if args.keep {
        println!(
            "kept: {}",
            names
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    } else {
        cleanup().await;
    }
    result
}

async fn measure_serve(
    args: &Args,
    bti: &std::path::Path,
    work: &std::path::Path,
    url: &dyn Fn(usize) -> String,
    paths: &[Path],
    in_flight: &[usize],
) -> anyhow::Result<()> {
    let idp = LocalIssuer::open_named(work, "bench-idp", true)?;
    let internal = LocalIssuer::open_named(work, "bti-internal", true)?;
    let config = work.join("bti.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nfilter = \"warn\"\n[server]\nconcurrency_limit = 1024\n\n[[auth.issuers]]\nissuer = \"bench-idp\"\njwks_path = \"{}\"\n\n[[auth.issuers]]\nissuer = \"bti-internal\"\njwks_path = \"{}\"\n\n[internal]\nkey_dir = \"{}\"\n",
            idp.jwks_path.display(),
            internal.jwks_path.display(),
            work.display()
        ),
    )?;
    let addrs: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    // Admin ports, for the services' own server-time histograms.
    let admins: Vec<String> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let mut servers = Vec::new();
    for (i, svc) in ["directory", "consent", "caselog"].iter().enumerate() {
        servers.push(Server(
            Command::new(bti)
                .args(["serve", svc])
                .env("BTI_CONFIG", &config)
                .env("BTI__LISTEN", &addrs[i])
                .env("BTI__SERVER__ADMIN_LISTEN", &admins[i])
                .env("BTI__DATABASE__URL", url(i))
                // PostgreSQL's 100 connections are shared with pgbench's 64.
                .env("BTI__DATABASE__MAX_CONNECTIONS", ["4", "8", "16"][i])
                .env("BTI__PEERS__DIRECTORY", format!("http://{}", addrs[0]))
                .env("BTI__PEERS__CONSENT", format!("http://{}", addrs[1]))
                .stdout(Stdio::null())
                .spawn()?,
        ));
    }
    for a in &addrs[..2] {
        wait_ready(a, Duration::from_millis(100)).await?;
    }
    let channel = wait_ready(&addrs[2], Duration::from_millis(100)).await?;
    let client = CaseLogServiceClient::new(channel);
    let tokens = Arc::new(Tokens::sign(&idp)?);
    let pgbench = raw::Pgbench {
        url: url(3),
        scripts: std::env::current_dir()?.join("bench/sql"),
        work: work.to_path_buf(),
    };
    let seconds = Duration::from_secs(args.seconds);
    // Warm both: connections, prepared statements, caches.
    for &path in paths {
        drive::measure(
            &client,
            &tokens,
            path,
            args.spread,
            4,
            Duration::from_secs(1),
        )
        .await?;
        pgbench.measure(path, args.spread, 4, Duration::from_secs(1))?;
    }
    let (mut ours, mut theirs) = (Results::default(), Results::default());
    println!(
        "{:<20} {:>5} {:>6} {:>9} {:>8} {:>8}",
        "path", "round", "in fl.", "req/s", "p50 ms", "p99 ms"
    );
    for round in 1..=args.rounds {
        for &path in paths {
            for &n in in_flight {
                // Alternate which goes first, so neither always follows the other.
                let order = if round % 2 == 1 {
                    [true, false]
                } else {
                    [false, true]
                };
                for grpc in order {
                    let pids: Vec<u32> = servers.iter().map(|s| s.0.id()).collect();
                    let before: Vec<f64> = pids.iter().map(|p| cpu_secs(*p)).collect();
                    let f = if grpc {
                        let served: Vec<_> = admins
                            .iter()
                            .map(|a| breakdown::Served::scrape(a))
                            .collect();
                        let f =
                            drive::measure(&client, &tokens, path, args.spread, n, seconds).await?;
                        let calls = f.rate * seconds.as_secs_f64();
                        let mut times = vec![format!("client {:.2} ms", f.mean)];
                        for (a, before) in admins.iter().zip(&served) {
                            times.extend(breakdown::Served::scrape(a).since(before, calls));
                        }
                        println!("{:<20} mean per call: {}", "", times.join(", "));
                        let per: Vec<String> = ["directory", "consent", "caselog"]
                            .iter()
                            .zip(pids.iter().zip(&before))
                            .map(|(name, (p, b))| {
                                format!("{name} {:.0}", (cpu_secs(*p) - b) / calls * 1e6)
                            })
                            .collect();
                        println!("{:<20} CPU µs per call: {}", "", per.join(", "));
                        f
                    } else {
                        let (f, statements) = pgbench.measure(path, args.spread, n, seconds)?;
                        let ms: Vec<String> =
                            statements.iter().map(|l| format!("{l:.3}")).collect();
                        println!(
                            "{:<20} mean per call: pgbench {:.2} ms, its statements ms {}",
                            "",
                            f.mean,
                            ms.join(" + ")
                        );
                        f
                    };
                    let who = if grpc { "bti" } else { "pgbench" };
                    println!(
                        "{:<20} {round:>5} {n:>6} {:>9.0} {:>8.2} {:>8.2}  {who}",
                        path.label(),
                        f.rate,
                        f.p50,
                        f.p99
                    );
                    if grpc { &mut ours } else { &mut theirs }.add(path, n, f);
                }
            }
        }
    }
    println!();
    println!(
        "PostgreSQL: bti serve (caselog → consent over gRPC) vs the same SQL in pgbench; medians of {} rounds ({} entries, {:?})",
        args.rounds, args.entries, args.spread
    );
    println!(
        "{:<20} {:>6} {:>17} {:>7} {:>7} {:>17} {:>7} {:>7} {:>6}",
        "path", "in fl.", "bti req/s (range)", "p50", "p99", "pgbench tps", "p50", "p99", "ratio"
    );
    for &path in paths {
        for &n in in_flight {
            let (Some((o, olo, ohi)), Some((t, tlo, thi))) =
                (ours.median(path, n), theirs.median(path, n))
            else {
                continue;
            };
            println!(
                "{:<20} {n:>6} {:>6.0} ({:>4.0}–{:<4.0}) {:>7.2} {:>7.2} {:>6.0} ({:>4.0}–{:<4.0}) {:>7.2} {:>7.2} {:>6.2}",
                path.label(),
                o.rate,
                olo,
                ohi,
                o.p50,
                o.p99,
                t.rate,
                tlo,
                thi,
                t.p50,
                t.p99,
                o.rate / t.rate
            );
        }
    }
    drop(servers);
    Ok(())
}
