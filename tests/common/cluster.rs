//! Every distributed service as `bti serve` replicas, each service on its own
//! PostgreSQL database, one JetStream stream, tokens from a test identity
//! provider: the world of the distributed end-to-end test and the fault
//! harness. Each replica is given every peer as the list of all its replicas,
//! so calls between services are spread over them.

use std::collections::BTreeMap;

use bti_runtime::auth::LocalIssuer;
use bti_runtime::testing::{TempDir, TestDb};
use tonic::transport::Channel;

use super::{Proc, free_port};

/// The services `bti serve` runs, in start order (peers first).
pub const SERVICES: [&str; 6] = [
    "directory",
    "consent",
    "caselog",
    "gateway",
    "scheduling",
    "notification",
];

/// The gRPC service a `bti serve <service>` process serves.
pub fn grpc_service(service: &str) -> String {
    let name = match service {
        "directory" => "Directory",
        "consent" => "Consent",
        "caselog" => "CaseLog",
        "gateway" => "Gateway",
        "scheduling" => "Scheduling",
        "notification" => "Notification",
        other => panic!("unknown service {other}"),
    };
    format!("bti.{service}.v1.{name}Service")
}

pub struct Cluster {
    pub replicas: usize,
    pub idp: std::sync::Arc<LocalIssuer>,
    pub stream: String,
    pub dbs: BTreeMap<&'static str, TestDb>,
    pub addrs: BTreeMap<&'static str, Vec<String>>,
    pub procs: BTreeMap<(&'static str, usize), Proc>,
    /// Extra settings for every process, as `BTI__…` variables.
    pub extra_env: Vec<(String, String)>,
    config: String,
    _keys: TempDir,
}

impl Cluster {
    /// A database per service and the configuration; nothing runs yet.
    /// `None` (the caller skips) without `BTI_TEST_POSTGRES_URL`.
    pub async fn new(replicas: usize, nats_url: Option<&str>) -> Option<Cluster> {
        let mut dbs = BTreeMap::new();
        for s in SERVICES {
            dbs.insert(s, bti_runtime::testing::postgres().await?);
        }
        let keys = TempDir::new("bti-cluster");
        let idp =
            std::sync::Arc::new(LocalIssuer::open_named(keys.path(), "test-idp", true).unwrap());
        let internal = LocalIssuer::open_named(keys.path(), "bti-internal", true).unwrap();
        let stream = format!("C{}", uuid::Uuid::new_v4().simple());
        let config = keys.path().join("bti.toml");
        std::fs::write(
            &config,
            format!(
                "[[auth.issuers]]\nissuer = \"test-idp\"\njwks_path = \"{}\"\n\n\
                 [[auth.issuers]]\nissuer = \"bti-internal\"\njwks_path = \"{}\"\n\n\
                 [internal]\nkey_dir = \"{}\"\n\n[events]\nstream = \"{stream}\"\n{}",
                idp.jwks_path.display(),
                internal.jwks_path.display(),
                keys.path().display(),
                nats_url
                    .map(|u| format!("nats_url = \"{u}\"\n"))
                    .unwrap_or_default(),
            ),
        )
        .unwrap();
        Some(Cluster {
            replicas,
            idp,
            stream,
            addrs: SERVICES
                .iter()
                .map(|s| {
                    let addrs = (0..replicas)
                        .map(|_| format!("127.0.0.1:{}", free_port()))
                        .collect();
                    (*s, addrs)
                })
                .collect(),
            dbs,
            procs: BTreeMap::new(),
            extra_env: Vec::new(),
            config: config.display().to_string(),
            _keys: keys,
        })
    }

    fn env(&self, service: &'static str, i: usize) -> Vec<(String, String)> {
        let mut env = vec![
            ("BTI_CONFIG".to_string(), self.config.clone()),
            ("BTI__LISTEN".into(), self.addrs[service][i].clone()),
            ("BTI__DATABASE__URL".into(), self.dbs[service].url.clone()),
        ];
        for peer in SERVICES {
            let list = self.addrs[peer]
                .iter()
                .map(|a| format!("http://{a}"))
                .collect::<Vec<_>>();
            env.push((
                format!("BTI__PEERS__{}", peer.to_uppercase()),
                list.join(","),
            ));
        }
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// Starts replica `i` of `service`.
    pub fn start(&mut self, service: &'static str, i: usize) {
        let env = self.env(service, i);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let p = Proc::spawn(&["serve", service], &env, self.addrs[service][i].clone());
        self.procs.insert((service, i), p);
    }

    /// Starts every replica of every service and waits until each is SERVING.
    pub async fn start_all(&mut self) {
        for s in SERVICES {
            for i in 0..self.replicas {
                self.start(s, i);
            }
        }
        for s in SERVICES {
            for i in 0..self.replicas {
                self.serving(s, i).await;
            }
        }
    }

    /// Waits until replica `i` of `service` is SERVING; a channel to it.
    pub async fn serving(&self, service: &'static str, i: usize) -> Channel {
        self.procs[&(service, i)]
            .channel(&grpc_service(service))
            .await
    }

    /// Stops every process with SIGTERM; each must exit cleanly.
    pub async fn terminate_all(&mut self) {
        for ((service, i), p) in std::mem::take(&mut self.procs) {
            let status = p.terminate().await;
            assert!(status.success(), "{service}/{i} exited with {status}");
        }
    }
}
