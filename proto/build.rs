//! Compiles every contract under `bti/` (and the googleapis types they use) and
//! writes a descriptor set for gRPC server reflection.

use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read proto dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
}

/// Messages with a `national_id` field; keep in step with src/redact.rs.
const REDACTED: [&str; 6] = [
    ".bti.directory.v1.Person",
    ".bti.directory.v1.LookupPersonRequest",
    ".bti.gateway.v1.ReferralSubject",
    ".bti.gateway.v1.ReferralSubject.identity",
    ".bti.gateway.v1.Referral",
    ".bti.gateway.v1.Referral.content",
];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let mut protos = Vec::new();
    collect(&root.join("bti"), &mut protos);
    protos.sort();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());

    println!("cargo:rerun-if-changed=bti");
    println!("cargo:rerun-if-changed=third_party");
    // A fresh machine may have only the Rust toolchain: fall back to the protoc
    // shipped in the protoc-bin-vendored crate when none is installed.
    let have_protoc = std::env::var_os("PROTOC").is_some()
        || std::process::Command::new("protoc")
            .arg("--version")
            .output()
            .is_ok();
    let mut includes = vec![root.clone(), root.join("third_party/googleapis")];
    let mut config = prost_build::Config::new();
    if !have_protoc {
        config.protoc_executable(protoc_bin_vendored::protoc_bin_path().expect("vendored protoc"));
        includes.push(protoc_bin_vendored::include_path().expect("vendored protoc includes"));
    }
    // `prost::Name` gives every message its full name, used as the event type.
    config.enable_type_names();
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("bti_descriptor.bin"))
        // Messages holding a national id get a hand-written, redacting Debug
        // (src/redact.rs) so `{:?}` can never print one.
        .skip_debug(REDACTED)
        .compile_with_config(
            config,
            &protos,
            &[root.clone(), root.join("third_party/googleapis")],
        )
        .expect("compile protos");
}
