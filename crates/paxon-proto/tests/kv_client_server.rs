//! The generated KV client reaches the generated KV server over real gRPC
//! on loopback: proves the method path `/etcdserverpb.KV/Range` and that the
//! messages survive tonic's framing both ways.

mod common;

use paxon_proto::etcdserverpb::kv_client::KvClient;
use paxon_proto::etcdserverpb::kv_server::Kv;
use paxon_proto::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use paxon_proto::mvccpb::KeyValue;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// Answers every Range with one fixed key, echoing the requested key in the
/// value so the test sees the request arrived intact.
struct FixedRange;

#[tonic::async_trait]
impl Kv for FixedRange {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let asked = request.into_inner().key;
        Ok(Response::new(RangeResponse {
            header: Some(common::TEST_HEADER),
            kvs: vec![KeyValue {
                key: b"fixed".to_vec(),
                create_revision: 2,
                mod_revision: 3,
                version: 1,
                value: asked,
                lease: 0,
            }],
            more: false,
            count: 1,
        }))
    }

    async fn put(&self, _: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        Err(paxon_proto::unimplemented("KV.Put"))
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

#[tokio::test]
async fn generated_kv_client_gets_the_fixed_range_answer_from_generated_server() {
    let address = common::serve_kv(FixedRange).await;
    let mut client = KvClient::connect(format!("http://{address}"))
        .await
        .expect("connect to the test server");

    let response = client
        .range(RangeRequest {
            key: b"asked".to_vec(),
            ..Default::default()
        })
        .await
        .expect("Range succeeds")
        .into_inner();

    assert_eq!(
        response,
        RangeResponse {
            header: Some(common::TEST_HEADER),
            kvs: vec![KeyValue {
                key: b"fixed".to_vec(),
                create_revision: 2,
                mod_revision: 3,
                version: 1,
                value: b"asked".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        }
    );
}

#[tokio::test]
async fn range_is_served_at_the_literal_etcd_path() {
    let address = common::serve_kv(FixedRange).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .expect("valid endpoint")
        .connect()
        .await
        .expect("connect to the test server");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("channel ready");

    // The path etcd's Go client sends, spelled out rather than taken from
    // the generated client, so a wrong package or service name fails here.
    let path = PathAndQuery::from_static("/etcdserverpb.KV/Range");
    let response: Response<RangeResponse> = grpc
        .unary(
            Request::new(RangeRequest {
                key: b"literal".to_vec(),
                ..Default::default()
            }),
            path,
            ProstCodec::default(),
        )
        .await
        .expect("Range succeeds at the literal path");

    assert_eq!(response.into_inner().kvs[0].value, b"literal");
}

#[tokio::test]
async fn unimplemented_method_reaches_the_client_as_unimplemented_with_paxon_message() {
    let address = common::serve_kv(FixedRange).await;
    let mut client = KvClient::connect(format!("http://{address}"))
        .await
        .expect("connect to the test server");

    let status = client
        .compact(CompactionRequest::default())
        .await
        .expect_err("Compact is not implemented by the test server");

    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert_eq!(status.message(), "paxon: KV.Compact is not implemented yet");
}
