//! The load: each call picks a log (or an employee) from the spread, carries
//! the token of a person allowed to make it, and is timed from send to
//! answer. Any failed call ends the run: a benchmark of errors measures
//! nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bti_proto::caselog::case_log_service_client::CaseLogServiceClient;
use bti_proto::caselog::{
    CreateEntryRequest, Entry, EntryKind, GetCaseLogRequest, ListAccessLogEntriesRequest,
    ListCaseLogsRequest,
};
use bti_runtime::auth::{LocalIssuer, Role, personas};
use bti_runtime::client::with_token;
use rand::Rng;
use tonic::transport::Channel;

use crate::seed::{self, EMPLOYEES, LOGS, TENANT};

/// The four hot paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// CreateEntry by the log's holder.
    Append,
    /// GetCaseLog (with its 20 newest entries) by the log's holder.
    Get,
    /// ListCaseLogs, a page of 50, by an employee: the logs they hold or take part in.
    List,
    /// ListAccessLogEntries, a page of 50, by the child's guardian.
    GuardianAccessLog,
}

impl Path {
    pub const ALL: [Path; 4] = [Path::Append, Path::Get, Path::List, Path::GuardianAccessLog];

    pub fn label(self) -> &'static str {
        match self {
            Path::Append => "append entry",
            Path::Get => "get log",
            Path::List => "list my logs",
            Path::GuardianAccessLog => "guardian access log",
        }
    }

    /// The pgbench script of the same SQL, under `bench/sql/`.
    pub fn script(self) -> &'static str {
        match self {
            Path::Append => "append.sql",
            Path::Get => "get.sql",
            Path::List => "list.sql",
            Path::GuardianAccessLog => "guardian_access_log.sql",
        }
    }
}

/// How calls spread over the logs and employees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Spread {
    /// Every log (and employee) equally often.
    Uniform,
    /// pgbench's `random_exponential(…, 10)`: the first tenth gets about 63%.
    Skewed,
}

pub const SKEW: f64 = 10.0;

impl Spread {
    /// A number in `0..n`, drawn as pgbench draws it.
    pub fn draw(self, rng: &mut impl Rng, n: u64) -> u64 {
        match self {
            Spread::Uniform => rng.gen_range(0..n),
            Spread::Skewed => {
                let cut = (-SKEW).exp();
                let uniform = 1.0 - rng.r#gen::<f64>();
                let x = -(cut + (1.0 - cut) * uniform).ln() / SKEW;
                ((n as f64 * x) as u64).min(n - 1)
            }
        }
    }

    /// The pgbench expression of the same draw.
    pub fn pgbench(self, n: u64) -> String {
        match self {
            Spread::Uniform => format!("random(0, {})", n - 1),
            Spread::Skewed => format!("random_exponential(0, {}, {SKEW:.1})", n - 1),
        }
    }
}

/// Every token the load needs, signed once before it starts.
pub struct Tokens {
    employees: Vec<String>,
    guardians: Vec<String>,
}

impl Tokens {
    pub fn sign(issuer: &LocalIssuer) -> anyhow::Result<Tokens> {
        let employees = (0..EMPLOYEES)
            .map(|e| {
                issuer.sign(personas::employee(
                    &format!("emp{e}"),
                    TENANT,
                    &[&seed::unit_name(seed::employee_unit(e))],
                    &[Role::Employee],
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        let guardians = (0..LOGS)
            .map(|i| {
                issuer.sign(personas::guardian(
                    &format!("guardian-{i}"),
                    TENANT,
                    &seed::guardian_name(i),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Tokens {
            employees,
            guardians,
        })
    }
}

/// Requests per second and the mean, 50th and 99th percentile latency in ms.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    pub rate: f64,
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

impl Figures {
    pub fn of(mut latencies: Vec<Duration>, elapsed: Duration) -> Figures {
        if latencies.is_empty() {
            return Figures::default();
        }
        latencies.sort();
        let pct = |p: f64| {
            latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)]
                .as_secs_f64()
                * 1000.0
        };
        let mean =
            latencies.iter().sum::<Duration>().as_secs_f64() * 1000.0 / latencies.len() as f64;
        Figures {
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            mean,
            p50: pct(0.50),
            p99: pct(0.99),
        }
    }
}

/// One call of `path`, chosen by `spread`.
async fn call(
    client: &mut CaseLogServiceClient<Channel>,
    tokens: &Tokens,
    path: Path,
    spread: Spread,
) -> Result<(), tonic::Status> {
    let (i, e) = {
        let mut rng = rand::thread_rng();
        (
            spread.draw(&mut rng, LOGS),
            spread.draw(&mut rng, EMPLOYEES),
        )
    };
    let holder = &tokens.employees[seed::holder(i) as usize];
    match path {
        Path::Append => {
            let r = CreateEntryRequest {
                parent: seed::log_name(i),
                entry: Some(Entry {
                    kind: EntryKind::Note as i32,
                    text: "Kort notat frå samtale med føresette.".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            };
            client.create_entry(with_token(r, holder)).await.map(drop)
        }
        Path::Get => {
            let r = GetCaseLogRequest {
                name: seed::log_name(i),
            };
            client.get_case_log(with_token(r, holder)).await.map(drop)
        }
        Path::List => {
            let r = ListCaseLogsRequest {
                parent: format!("tenants/{TENANT}"),
                page_size: 50,
                ..Default::default()
            };
            let page = client
                .list_case_logs(with_token(r, &tokens.employees[e as usize]))
                .await?
                .into_inner();
            if page.case_logs.is_empty() {
                return Err(tonic::Status::internal(
                    "an employee's own logs were not listed",
                ));
            }
            Ok(())
        }
        Path::GuardianAccessLog => {
            let r = ListAccessLogEntriesRequest {
                parent: seed::log_name(i),
                page_size: 50,
                page_token: String::new(),
            };
            let page = client
                .list_access_log_entries(with_token(r, &tokens.guardians[i as usize]))
                .await?
                .into_inner();
            if page.access_log_entries.is_empty() {
                return Err(tonic::Status::internal(
                    "the guardian saw no access-log rows",
                ));
            }
            Ok(())
        }
    }
}

/// Runs `path` with `in_flight` concurrent callers for `duration`.
pub async fn measure(
    client: &CaseLogServiceClient<Channel>,
    tokens: &Arc<Tokens>,
    path: Path,
    spread: Spread,
    in_flight: usize,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (mut c, tokens) = (client.clone(), tokens.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < duration {
                let t = Instant::now();
                if let Err(s) = call(&mut c, &tokens, path, spread).await {
                    anyhow::bail!("{}: {:?} {}", path.label(), s.code(), s.message());
                }
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(Figures::of(all, start.elapsed()))
}
