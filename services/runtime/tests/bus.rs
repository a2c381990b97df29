//! One behavioural suite for both event buses: in-process always, NATS
//! JetStream when `BTI_TEST_NATS_URL` is set (CI sets it). Each NATS test uses
//! its own stream, so runs never see each other's events.

use std::sync::Arc;
use std::time::Duration;

use bti_proto::types::EventEnvelope;
use bti_runtime::events::{EventBus, InProcessBus, NatsBus};
use futures::StreamExt;

fn envelope(id: &str, ty: &str, subject: &str) -> EventEnvelope {
    EventEnvelope {
        id: id.into(),
        source: "//bti.no/test".into(),
        r#type: ty.into(),
        subject: subject.into(),
        data: vec![1, 2, 3],
        ..Default::default()
    }
}

async fn next(
    stream: &mut futures::stream::BoxStream<'static, anyhow::Result<bti_runtime::events::Delivery>>,
) -> EventEnvelope {
    let d = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("delivery");
    d.ack().await.unwrap();
    d.envelope
}

async fn filters_by_package_and_keeps_order(bus: Arc<dyn EventBus>) {
    let mut consent = bus.subscribe("c1", "bti.consent.v1.").await.unwrap();
    let mut exact = bus
        .subscribe("c2", "bti.directory.v1.UnitCreated")
        .await
        .unwrap();
    bus.publish(&envelope(
        "1",
        "bti.directory.v1.UnitCreated",
        "tenants/1/units/a",
    ))
    .await
    .unwrap();
    bus.publish(&envelope(
        "2",
        "bti.consent.v1.ConsentGranted",
        "consents/a",
    ))
    .await
    .unwrap();
    bus.publish(&envelope(
        "3",
        "bti.directory.v1.TenantCreated",
        "tenants/1",
    ))
    .await
    .unwrap();
    bus.publish(&envelope(
        "4",
        "bti.consent.v1.ConsentWithdrawn",
        "consents/a",
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut consent).await.id, "2");
    assert_eq!(next(&mut consent).await.id, "4");
    let got = next(&mut exact).await;
    assert_eq!(
        (got.id.as_str(), got.subject.as_str(), got.data.as_slice()),
        ("1", "tenants/1/units/a", &[1u8, 2, 3][..])
    );
    // Nothing else matches the exact type.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), exact.next())
            .await
            .is_err()
    );
}

mod inprocess {
    use super::*;

    #[tokio::test]
    async fn filters_by_package_and_keeps_order() {
        super::filters_by_package_and_keeps_order(Arc::new(InProcessBus::default())).await;
    }
}

mod nats {
    use super::*;

    async fn bus() -> Option<NatsBus> {
        let Some(url) = std::env::var("BTI_TEST_NATS_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("skipped: BTI_TEST_NATS_URL not set");
            return None;
        };
        let stream = format!("T{}", uuid::Uuid::new_v4().simple());
        Some(
            NatsBus::connect(&url, &stream)
                .await
                .expect("connect to NATS"),
        )
    }

    #[tokio::test]
    async fn filters_by_package_and_keeps_order() {
        if let Some(bus) = bus().await {
            let bus = Arc::new(bus);
            super::filters_by_package_and_keeps_order(bus.clone()).await;
            bus.delete_stream().await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_republished_event_is_delivered_once() {
        let Some(bus) = bus().await else { return };
        let mut sub = bus.subscribe("dedupe", "").await.unwrap();
        // A relay that crashed after publishing but before marking the row
        // publishes the same event id again.
        bus.publish(&envelope("same", "bti.x.v1.A", "s"))
            .await
            .unwrap();
        bus.publish(&envelope("same", "bti.x.v1.A", "s"))
            .await
            .unwrap();
        bus.publish(&envelope("other", "bti.x.v1.A", "s"))
            .await
            .unwrap();
        assert_eq!(next(&mut sub).await.id, "same");
        assert_eq!(next(&mut sub).await.id, "other");
        bus.delete_stream().await.unwrap();
    }

    #[tokio::test]
    async fn a_durable_consumer_resumes_after_its_last_ack() {
        let Some(bus) = bus().await else { return };
        bus.publish(&envelope("1", "bti.x.v1.A", "s"))
            .await
            .unwrap();
        {
            let mut sub = bus.subscribe("worker", "bti.x.v1.").await.unwrap();
            assert_eq!(next(&mut sub).await.id, "1");
        }
        bus.publish(&envelope("2", "bti.x.v1.A", "s"))
            .await
            .unwrap();
        // Events published while nobody listened wait for the durable consumer.
        let mut sub = bus.subscribe("worker", "bti.x.v1.").await.unwrap();
        assert_eq!(next(&mut sub).await.id, "2");
        bus.delete_stream().await.unwrap();
    }
}
