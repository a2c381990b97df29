//! Generated gRPC contracts of the BTI services (from `proto/bti/**`), plus the
//! encoded descriptor set that servers register for reflection.

#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

/// Encoded `FileDescriptorSet` of every BTI contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/bti_descriptor.bin"));

pub mod google {
    pub mod api {
        tonic::include_proto!("google.api");
    }
    pub mod r#type {
        tonic::include_proto!("google.r#type");
    }
}

pub mod bti {
    pub mod r#type {
        pub mod v1 {
            tonic::include_proto!("bti.r#type.v1");
        }
    }
    pub mod directory {
        pub mod v1 {
            tonic::include_proto!("bti.directory.v1");
        }
    }
    pub mod consent {
        pub mod v1 {
            tonic::include_proto!("bti.consent.v1");
        }
    }
    pub mod caselog {
        pub mod v1 {
            tonic::include_proto!("bti.caselog.v1");
        }
    }
    pub mod scheduling {
        pub mod v1 {
            tonic::include_proto!("bti.scheduling.v1");
        }
    }
    pub mod notification {
        pub mod v1 {
            tonic::include_proto!("bti.notification.v1");
        }
    }
    pub mod gateway {
        pub mod v1 {
            tonic::include_proto!("bti.gateway.v1");
        }
    }
}

mod redact;

pub use bti::caselog::v1 as caselog;
pub use bti::consent::v1 as consent;
pub use bti::directory::v1 as directory;
pub use bti::gateway::v1 as gateway;
pub use bti::notification::v1 as notification;
pub use bti::scheduling::v1 as scheduling;
pub use bti::r#type::v1 as types;
