//! The real `etcdctl` (Debian package `etcd-client`) talks to the generated
//! KV server: proves wire compatibility with etcd's own Go client, not only
//! with our generated one. Skipped, with a message, where `etcdctl` is not on
//! PATH; CI installs it (scripts/install-deps.sh).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Mutex;

use paxon_proto::etcdserverpb::kv_server::Kv;
use paxon_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, ResponseHeader, TxnRequest, TxnResponse,
};
use paxon_proto::mvccpb::KeyValue;
use tonic::{Request, Response, Status};

/// The smallest store etcdctl's `put` and `get KEY` need: single keys in a
/// map, one revision counter. Just for this test; the real store is paxon-kv.
#[derive(Default)]
struct MemoryKv {
    store: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    revision: i64,
    keys: BTreeMap<Vec<u8>, KeyValue>,
}

fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..common::TEST_HEADER
    })
}

#[tonic::async_trait]
impl Kv for MemoryKv {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let request = request.into_inner();
        if !request.range_end.is_empty() {
            return Err(paxon_proto::unimplemented("KV.Range over a key range"));
        }
        let store = self.store.lock().expect("store lock");
        let kvs: Vec<KeyValue> = store.keys.get(&request.key).cloned().into_iter().collect();
        Ok(Response::new(RangeResponse {
            header: header(store.revision),
            count: kvs.len() as i64,
            kvs,
            more: false,
        }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let request = request.into_inner();
        let mut store = self.store.lock().expect("store lock");
        store.revision += 1;
        let revision = store.revision;
        let previous = store.keys.get(&request.key).cloned();
        let (create_revision, version) = previous
            .as_ref()
            .map_or((revision, 1), |kv| (kv.create_revision, kv.version + 1));
        let kv = KeyValue {
            key: request.key.clone(),
            create_revision,
            mod_revision: revision,
            version,
            value: request.value,
            lease: request.lease,
        };
        store.keys.insert(request.key, kv);
        Ok(Response::new(PutResponse {
            header: header(revision),
            prev_kv: previous.filter(|_| request.prev_kv),
        }))
    }

    async fn delete_range(
        &self,
        _: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        Err(paxon_proto::unimplemented("KV.DeleteRange"))
    }

    async fn txn(&self, _: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        Err(paxon_proto::unimplemented("KV.Txn"))
    }

    async fn compact(
        &self,
        _: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        Err(paxon_proto::unimplemented("KV.Compact"))
    }
}

/// Whether `etcdctl` can be started at all.
fn etcdctl_on_path() -> bool {
    Command::new("etcdctl").arg("version").output().is_ok()
}

/// Runs `etcdctl --endpoints=ADDRESS ARGS...` on a blocking thread (so the
/// server keeps running on the runtime) and returns its output. Inherited
/// `ETCDCTL_*` variables are removed so they cannot redirect it.
async fn etcdctl(address: SocketAddr, args: &[&str]) -> Output {
    let mut command = Command::new("etcdctl");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ETCDCTL_") {
            command.env_remove(name);
        }
    }
    command
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={address}"))
        .args(["--dial-timeout=5s", "--command-timeout=10s"])
        .args(args);
    tokio::task::spawn_blocking(move || command.output().expect("run etcdctl"))
        .await
        .expect("etcdctl thread")
}

/// Asserts `etcdctl` exited 0 and printed exactly `expected` on stdout.
fn assert_printed(output: &Output, expected: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "etcdctl failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    assert_eq!(stdout, expected, "stderr: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_etcdctl_puts_and_gets_a_key_through_the_generated_kv_server() {
    if !etcdctl_on_path() {
        eprintln!(
            "skipped: etcdctl is not on PATH (install the Debian package etcd-client to run it)"
        );
        return;
    }
    let address = common::serve_kv(MemoryKv::default()).await;

    assert_printed(&etcdctl(address, &["put", "foo", "bar"]).await, "OK\n");
    assert_printed(&etcdctl(address, &["get", "foo"]).await, "foo\nbar\n");
}
