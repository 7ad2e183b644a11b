//! Shared by the integration tests: serves a KV service on a loopback port
//! chosen by the OS.

use std::net::SocketAddr;

use paxon_proto::etcdserverpb::kv_server::{Kv, KvServer};
use paxon_proto::etcdserverpb::ResponseHeader;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

/// Header the test services put in every response.
pub const TEST_HEADER: ResponseHeader = ResponseHeader {
    cluster_id: 1,
    member_id: 2,
    revision: 3,
    raft_term: 4,
};

/// Binds 127.0.0.1:0, serves `kv` there on a spawned task for as long as the
/// test's runtime lives, and returns the address bound.
pub async fn serve_kv(kv: impl Kv) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let address = listener.local_addr().expect("bound address");
    let server = Server::builder()
        .add_service(KvServer::new(kv))
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(async move { server.await.expect("test gRPC server failed") });
    address
}
