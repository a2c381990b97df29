//! End-to-end: the real `bti` binary in dev mode, driven over gRPC the way an
//! operator's grpcurl would — health, reflection (v1 and v1alpha), a dev token
//! from `bti token`, a create and a get, graceful shutdown on SIGTERM, and the
//! data surviving a restart.

mod common;

use std::process::Command;

use bti_proto::directory::directory_service_client::DirectoryServiceClient;
use bti_proto::directory::{CreateTenantRequest, GetTenantRequest, Tenant};
use bti_runtime::testing::{TempDir, with_token};
use common::{BTI, Proc, free_port};
use futures::StreamExt;
use tonic::transport::Channel;

fn start_dev(data_dir: &std::path::Path) -> Proc {
    let addr = format!("127.0.0.1:{}", free_port());
    let dir = data_dir.to_str().unwrap();
    Proc::spawn(
        &["dev", "--listen", &addr, "--data-dir", dir],
        &[],
        addr.clone(),
    )
}

fn token(data_dir: &std::path::Path) -> String {
    let out = Command::new(BTI)
        .arg("token")
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn reflected_services_v1(ch: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(ch)
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    match stream
        .next()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
    {
        MessageResponse::ListServicesResponse(l) => l.service.into_iter().map(|s| s.name).collect(),
        other => panic!("{other:?}"),
    }
}

async fn reflected_services_v1alpha(ch: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(ch)
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    match stream
        .next()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
    {
        MessageResponse::ListServicesResponse(l) => l.service.into_iter().map(|s| s.name).collect(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dev_serves_health_reflection_and_the_directory_and_keeps_data() {
    let dir = TempDir::new("bti-e2e");
    let dev = start_dev(dir.path());
    let ch = dev.channel("bti.directory.v1.DirectoryService").await;

    for services in [
        reflected_services_v1(ch.clone()).await,
        reflected_services_v1alpha(ch.clone()).await,
    ] {
        assert!(
            services.contains(&"bti.directory.v1.DirectoryService".to_string()),
            "{services:?}"
        );
        assert!(
            services.contains(&"grpc.health.v1.Health".to_string()),
            "{services:?}"
        );
    }

    let token = token(dir.path());
    let mut client = DirectoryServiceClient::new(ch.clone());
    let created = client
        .create_tenant(with_token(
            CreateTenantRequest {
                tenant_id: "4201".into(),
                tenant: Some(Tenant {
                    display_name: "Sauda".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, "tenants/4201");
    assert_eq!(created.settings.unwrap().youth_consent_age, 15);
    // Without a token the same call is refused.
    let anon = client
        .get_tenant(GetTenantRequest {
            name: "tenants/4201".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(anon.code(), tonic::Code::Unauthenticated);
    drop(client);
    drop(ch);

    let status = dev.terminate().await;
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );

    // The SQLite data and the dev key survive a restart: the old token still works.
    let dev = start_dev(dir.path());
    let ch = dev.channel("bti.consent.v1.ConsentService").await;
    let got = DirectoryServiceClient::new(ch)
        .get_tenant(with_token(
            GetTenantRequest {
                name: "tenants/4201".into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.display_name, "Sauda");
    assert!(dev.terminate().await.success());
}

/// `bti dev` registers a demo client for a demo municipality with one child,
/// so the printed example (a report of concern) works on a fresh data
/// directory; a restart leaves the seed as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_seeds_a_demo_client_whose_example_referral_works() {
    use bti_proto::gateway::gateway_service_client::GatewayServiceClient;
    use bti_proto::gateway::*;

    let dir = TempDir::new("bti-e2e-gateway");
    for round in 0..2 {
        let dev = start_dev(dir.path());
        let ch = dev.channel("bti.gateway.v1.GatewayService").await;
        let services = reflected_services_v1(ch.clone()).await;
        assert!(
            services.contains(&"bti.gateway.v1.GatewayService".to_string()),
            "{services:?}"
        );
        let operator = token(dir.path());
        let mut gw = GatewayServiceClient::new(ch.clone());
        // The seed runs once serving starts.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while gw
            .get_client(with_token(
                GetClientRequest {
                    name: "clients/dev-barnevern".into(),
                },
                &operator,
            ))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "demo client not registered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let out = Command::new(BTI)
            .args([
                "token",
                "--principal",
                "client",
                "--subject",
                "dev-barnevern",
                "--org",
                "974760673",
            ])
            .args([
                "--scope",
                "bti:referrals.write bti:referrals.read bti:summaries.read",
                "--data-dir",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        let client = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let child = bti_runtime::ids::first_national_id(
            chrono::NaiveDate::from_ymd_opt(2015, 6, 1).unwrap(),
            false,
            true,
        );
        let r = gw
            .create_referral(with_token(
                CreateReferralRequest {
                    request_id: format!("00000000-0000-4000-8000-00000000000{round}"),
                    referral: Some(Referral {
                        tenant: "4299".into(),
                        kind: ReferralKind::ChildWelfareReport as i32,
                        external_reference: "BV-2026-0001".into(),
                        subject: Some(ReferralSubject {
                            identity: Some(referral_subject::Identity::NationalId(child)),
                        }),
                        content: Some(referral::Content::Structured(ReferralContent {
                            concern: "Eleven har vore mykje borte.".into(),
                            ..Default::default()
                        })),
                        ..Default::default()
                    }),
                },
                &client,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.placement, Placement::Intake as i32);
        let listed = gw
            .list_referrals(with_token(ListReferralsRequest::default(), &client))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.referrals.len(), round + 1);
        drop((gw, ch));
        assert!(dev.terminate().await.success());
    }
}
