//! Test harness shared by every service's suites (feature `testing`): a fresh
//! database per test on each backend, and a real gRPC server on a random port
//! with a real token issuer.
//!
//! PostgreSQL runs when `BTI_TEST_POSTGRES_URL` points at a server where the
//! user may create databases (for example `postgres://postgres@127.0.0.1:5432/test`);
//! each test gets its own `bti_test_…` database.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::transport::Channel;

use crate::auth::{Claims, LocalIssuer, Verifier};
use crate::db::Db;

pub const POSTGRES_ENV: &str = "BTI_TEST_POSTGRES_URL";

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let p = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database that lives as long as the test.
pub struct TestDb {
    pub db: Db,
    /// Connection URL, for handing the database to a spawned process.
    pub url: String,
    _dir: Option<TempDir>,
}

impl std::ops::Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl TestDb {
    /// Another fresh database on the same backend, for a second service.
    pub async fn another(&self) -> TestDb {
        match self.db {
            Db::Sqlite(_) => sqlite().await,
            Db::Postgres(_) => postgres().await.expect("postgres is configured"),
        }
    }
}

/// A fresh SQLite file.
pub async fn sqlite() -> TestDb {
    let dir = TempDir::new("bti-test");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    TestDb {
        db: Db::connect(&url, 8).await.expect("open sqlite"),
        url,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, or `None` when `BTI_TEST_POSTGRES_URL` is unset.
pub async fn postgres() -> Option<TestDb> {
    let admin_url = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())?;
    let name = format!("bti_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Db::connect(&admin_url, 1)
        .await
        .expect("connect to BTI_TEST_POSTGRES_URL");
    let Db::Postgres(pool) = &admin else {
        panic!("{POSTGRES_ENV} must be a postgres:// url");
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(pool)
        .await
        .expect("create test database");
    admin.close().await;
    let (base, _) = admin_url
        .split_once('?')
        .map(|(b, q)| (b.to_string(), q.to_string()))
        .unwrap_or((admin_url.clone(), String::new()));
    let base = &base[..base.rfind('/').expect("url has a database path")];
    let url = format!("{base}/{name}");
    Some(TestDb {
        db: Db::connect(&url, 16)
            .await
            .expect("connect to test database"),
        url,
        _dir: None,
    })
}

/// Generates each test twice, `sqlite::name` and `postgres::name`, binding a
/// fresh [`TestDb`] to the given identifier. The PostgreSQL variant says it
/// skipped (and passes) when `BTI_TEST_POSTGRES_URL` is unset; CI sets it.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($db:ident) $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let $db = $crate::testing::sqlite().await;
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some($db) = $crate::testing::postgres().await else {
                        eprintln!("skipped: {} not set", $crate::testing::POSTGRES_ENV);
                        return;
                    };
                    $body
                }
            )*
        }
    };
}

/// Every service under test on one real server, wired by the same
/// [`crate::host`] as `bti dev` and `bti serve`: a fresh dev issuer that the
/// server trusts and that signs the services' calls to each other, the
/// in-process bus, and (unless given) the system clock. Relays, tasks and
/// probes run as in production.
pub struct TestHost {
    pub addr: std::net::SocketAddr,
    pub issuer: Arc<LocalIssuer>,
    pub channel: Channel,
    pub bus: Arc<dyn crate::events::EventBus>,
    running: Option<crate::host::Running>,
    _dir: TempDir,
}

/// Options of a [`TestHost`].
pub struct TestHostOptions {
    pub settings: crate::config::Settings,
    pub clock: crate::clock::SharedClock,
    pub bus: Arc<dyn crate::events::EventBus>,
}

impl Default for TestHostOptions {
    fn default() -> Self {
        TestHostOptions {
            settings: crate::config::Settings::load_with_env(None, []).expect("default settings"),
            clock: crate::clock::system(),
            bus: Arc::new(crate::events::InProcessBus::default()),
        }
    }
}

impl TestHost {
    /// Starts the services `build` makes from the host's wiring, and opens.
    pub async fn start(
        build: impl FnOnce(&crate::host::Host) -> anyhow::Result<Vec<crate::host::Service>>,
    ) -> Self {
        Self::start_with(TestHostOptions::default(), build).await
    }

    pub async fn start_with(
        options: TestHostOptions,
        build: impl FnOnce(&crate::host::Host) -> anyhow::Result<Vec<crate::host::Service>>,
    ) -> Self {
        let dir = TempDir::new("bti-test-host");
        let issuer = Arc::new(LocalIssuer::open(dir.path()).expect("dev issuer"));
        let mut settings = options.settings;
        settings.listen = "127.0.0.1:0".parse().expect("addr");
        settings.auth.issuers.push(issuer.issuer_config());
        let verifier = Verifier::new(&settings.auth).await.expect("verifier");
        let bus = options.bus.clone();
        let host = crate::host::Host::bind(crate::host::HostOptions {
            settings,
            verifier,
            bus: options.bus,
            clock: options.clock,
            peers: crate::host::PeerUrls::ThisServer,
            issuer: Some(issuer.clone()),
            probe_every: std::time::Duration::from_millis(500),
        })
        .await
        .expect("bind");
        let services = build(&host).expect("build services");
        let running = host
            .start(services, std::future::pending())
            .await
            .expect("start host");
        running.open().await;
        let addr = running.local_addr;
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        TestHost {
            addr,
            issuer,
            channel,
            bus,
            running: Some(running),
            _dir: dir,
        }
    }

    pub fn token(&self, claims: Claims) -> String {
        self.issuer.sign(claims).expect("sign")
    }

    /// A request carrying a bearer token for `claims`.
    pub fn request<T>(&self, message: T, claims: Claims) -> tonic::Request<T> {
        with_token(message, &self.token(claims))
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.expect("clean shutdown");
        }
    }
}

/// Waits (polling, up to 10 s) until `check` holds; for effects of
/// background work such as an event being consumed.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// What the PostgreSQL server writes to its own log from a point on, for
/// tests that nothing personal reaches it (a unique violation logs the key).
/// The file is `BTI_TEST_POSTGRES_LOG`, or Debian's
/// `/var/log/postgresql/postgresql-*-main.log`; `None` when unreadable.
pub struct ServerLog {
    path: PathBuf,
    from: u64,
}

impl ServerLog {
    pub fn mark() -> Option<ServerLog> {
        let path = match std::env::var_os("BTI_TEST_POSTGRES_LOG") {
            Some(p) => PathBuf::from(p),
            None => std::fs::read_dir("/var/log/postgresql")
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.extension().is_some_and(|x| x == "log"))?,
        };
        let from = std::fs::metadata(&path).ok()?.len();
        std::fs::File::open(&path).ok()?;
        Some(ServerLog { path, from })
    }

    /// Everything written since the mark.
    pub fn since(&self) -> String {
        use std::io::{Read, Seek};
        let mut out = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.path) {
            let _ = f.seek(std::io::SeekFrom::Start(self.from));
            let mut raw = Vec::new();
            let _ = f.read_to_end(&mut raw);
            out = String::from_utf8_lossy(&raw).into_owned();
        }
        out
    }
}

pub use crate::client::with_token;

/// Asserts a call failed with `code`, returning the status for further checks.
#[track_caller]
pub fn expect_code<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
) -> tonic::Status {
    match result {
        Ok(v) => panic!("expected {code:?}, got Ok({v:?})"),
        Err(s) => {
            assert_eq!(s.code(), code, "unexpected status: {s:?}");
            s
        }
    }
}

/// The field names of a status's `BadRequest` violations.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// Event types in the outbox, oldest first (to assert a write committed its
/// event, and a refused write none).
pub async fn outbox_types(db: &Db) -> Vec<String> {
    const SQL: &str = "SELECT event_type FROM bti_outbox ORDER BY seq";
    match db {
        Db::Postgres(p) => sqlx::query_scalar(SQL).fetch_all(p).await,
        Db::Sqlite(p) => sqlx::query_scalar(SQL).fetch_all(p).await,
    }
    .expect("read outbox")
}

/// A real SMTP server for tests: Python's `aiosmtpd` on 127.0.0.1:`port`,
/// keeping every message it receives in a Maildir; stopped when dropped,
/// however the test ends.
pub struct Smtpd {
    child: std::process::Child,
    mailbox: PathBuf,
}

impl Smtpd {
    /// Starts it with its Maildir at `mailbox` (a path not yet there:
    /// Maildir makes its tmp/new/cur only then), and waits until it listens.
    pub async fn start(port: u16, mailbox: &std::path::Path) -> Smtpd {
        let child = std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(mailbox)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd (pip install aiosmtpd)");
        let server = Smtpd {
            child,
            mailbox: mailbox.to_path_buf(),
        };
        eventually("the SMTP server listens", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        server
    }

    /// The messages received so far, as files.
    pub fn received(&self) -> Vec<PathBuf> {
        files(&self.mailbox.join("new"))
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The files in `dir` (none when it is not there), sorted.
pub fn files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// An e-mail file as Python's e-mail parser reads it (independent of the
/// code that wrote it): its subject, its recipients and its decoded body.
pub fn parse_email(path: &std::path::Path) -> (String, String, String) {
    let script = r#"
import sys, email, email.policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.default)
print(m['subject']); print(m['to']); print(m.get_body().get_content(), end='')
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut lines = text.splitn(3, '\n');
    let subject = lines.next().unwrap_or_default().to_string();
    let to = lines.next().unwrap_or_default().to_string();
    (subject, to, lines.next().unwrap_or_default().to_string())
}
