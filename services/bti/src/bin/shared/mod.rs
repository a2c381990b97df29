//! What the benchmark binaries share: child processes stopped on drop, free
//! ports, waiting for a server to report SERVING.

use std::process::Child;
use std::time::{Duration, Instant};

use tonic::transport::Channel;

/// A child process (a `bti serve`, an SMTP server), stopped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A channel to `addr` once its health check says SERVING (90 s at most).
#[allow(dead_code)] // not every bench binary waits at the default pace
pub async fn wait_ready(addr: &str) -> anyhow::Result<Channel> {
    wait_ready_every(addr, Duration::from_millis(100)).await
}

/// [`wait_ready`], asking every `poll` (finely, to time a start-up).
pub async fn wait_ready_every(addr: &str, poll: Duration) -> anyhow::Result<Channel> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(ch) = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await
        {
            let ok = tonic_health::pb::health_client::HealthClient::new(ch.clone())
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|r| r.into_inner().status == 1)
                .unwrap_or(false);
            if ok {
                return Ok(ch);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{addr} did not become ready");
        tokio::time::sleep(poll).await;
    }
}
