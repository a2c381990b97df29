//! Helpers for end-to-end tests that run the real `bti` binary.

#![allow(dead_code)]

pub mod cluster;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub const BTI: &str = env!("CARGO_BIN_EXE_bti");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `bti` process.
pub struct Proc {
    pub child: Child,
    pub addr: String,
}

impl Proc {
    /// Runs `bti <args>` with `envs`, listening on `addr`.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)], addr: String) -> Proc {
        let mut cmd = Command::new(BTI);
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Proc {
            child: cmd.spawn().expect("spawn bti"),
            addr,
        }
    }

    /// Waits until `service` answers health SERVING, then returns a channel.
    pub async fn channel(&self, service: &str) -> Channel {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(ch) = Channel::from_shared(format!("http://{}", self.addr))
                .unwrap()
                .connect()
                .await
            {
                let status = HealthClient::new(ch.clone())
                    .check(HealthCheckRequest {
                        service: service.into(),
                    })
                    .await;
                if matches!(status, Ok(ref r) if r.get_ref().status == ServingStatus::Serving as i32)
                {
                    return ch;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{service} did not become SERVING on {}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then the exit status (waiting asynchronously, so this test's
    /// own client connections can answer the server's GOAWAY).
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "bti did not stop on SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
