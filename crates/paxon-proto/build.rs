//! Compiles the etcd v3 API in `proto/` to Rust.
//!
//! `protox` parses the `.proto` files in pure Rust (no `protoc` needed on the
//! machine) and `tonic-prost-build` turns the resulting descriptors into prost
//! messages plus tonic clients and servers, one file per proto package in
//! `OUT_DIR` (`etcdserverpb.rs`, `mvccpb.rs`, ...), which `src/lib.rs`
//! includes.

use std::path::Path;

/// Every file of the API; the imports between them resolve inside `proto/`.
const PROTO_FILES: [&str; 5] = [
    "kv.proto",
    "auth.proto",
    "rpc.proto",
    "v3lock.proto",
    "v3election.proto",
];

/// Folder holding [`PROTO_FILES`], relative to the crate root.
const PROTO_DIR: &str = "proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for file in PROTO_FILES {
        let path = Path::new(PROTO_DIR).join(file);
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let descriptors = protox::compile(PROTO_FILES, [PROTO_DIR])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
