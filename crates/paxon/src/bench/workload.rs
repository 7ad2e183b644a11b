//! The workloads: what one client does per operation.

use std::time::Duration;

use paxon_proto::etcdserverpb as pb;
use pb::kv_client::KvClient;
use tonic::transport::Channel;

/// Bytes of every value written.
pub const VALUE_BYTES: usize = 256;
/// Puts per transaction when keys are loaded in bulk (etcd's
/// `--max-txn-ops` default is 128).
const BULK_PUTS_PER_TXN: u64 = 100;

/// One kind of operation mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Put of a 256-byte value under a random key.
    Put,
    /// Linearizable get of a random existing key.
    GetLinearizable,
    /// Serializable get (`--consistency=s`) of a random existing key.
    GetSerializable,
    /// Txn compare-and-set: if the key's mod revision is the one last seen,
    /// put a new value, else read it.
    TxnCas,
    /// 90% linearizable gets, 10% puts.
    Mix,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 5] = [
        Workload::Put,
        Workload::GetLinearizable,
        Workload::GetSerializable,
        Workload::TxnCas,
        Workload::Mix,
    ];

    /// The name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::GetLinearizable => "get-linearizable",
            Workload::GetSerializable => "get-serializable",
            Workload::TxnCas => "txn-cas",
            Workload::Mix => "mix",
        }
    }

    /// Whether it reads keys that must exist beforehand.
    pub fn reads(self) -> bool {
        matches!(
            self,
            Workload::GetLinearizable | Workload::GetSerializable | Workload::Mix
        )
    }
}

/// The key of number `n` in the load phase's key space.
pub fn key(n: u64) -> Vec<u8> {
    format!("key/{n:012}").into_bytes()
}

/// One client: its connection, random numbers and CAS state.
pub struct Client {
    kv: KvClient<Channel>,
    rng: u64,
    key_space: u64,
    cas_key: Vec<u8>,
    cas_revision: i64,
}

impl Client {
    /// Client number `id` on `channel`.
    pub fn new(channel: Channel, id: usize, key_space: u64) -> Client {
        Client {
            kv: KvClient::new(channel),
            rng: 0x9e37_79b9_7f4a_7c15 ^ (id as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
            key_space,
            cas_key: format!("cas/{id:06}").into_bytes(),
            cas_revision: 0,
        }
    }

    /// xorshift64*: the same sequence on both systems.
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Performs one operation of `workload`.
    pub async fn op(&mut self, workload: Workload) -> Result<(), tonic::Status> {
        match workload {
            Workload::Put => self.put().await,
            Workload::GetLinearizable => self.get(false).await,
            Workload::GetSerializable => self.get(true).await,
            Workload::TxnCas => self.cas().await,
            Workload::Mix if self.next().is_multiple_of(10) => self.put().await,
            Workload::Mix => self.get(false).await,
        }
    }

    /// Puts `key` with a 256-byte value.
    pub async fn put_key(&mut self, key: Vec<u8>) -> Result<(), tonic::Status> {
        let request = pb::PutRequest {
            key,
            value: vec![b'v'; VALUE_BYTES],
            ..Default::default()
        };
        self.kv.put(request).await.map(|_| ())
    }

    async fn put(&mut self) -> Result<(), tonic::Status> {
        let n = self.next() % self.key_space;
        self.put_key(key(n)).await
    }

    async fn get(&mut self, serializable: bool) -> Result<(), tonic::Status> {
        let n = self.next() % self.key_space;
        let request = pb::RangeRequest {
            key: key(n),
            serializable,
            ..Default::default()
        };
        let answer = self.kv.range(request).await?.into_inner();
        if answer.kvs.is_empty() {
            return Err(tonic::Status::not_found("a loaded key is missing"));
        }
        Ok(())
    }

    async fn cas(&mut self) -> Result<(), tonic::Status> {
        let key = self.cas_key.clone();
        let put = pb::PutRequest {
            key: key.clone(),
            value: vec![b'c'; VALUE_BYTES],
            ..Default::default()
        };
        let read = pb::RangeRequest {
            key: key.clone(),
            ..Default::default()
        };
        let request = pb::TxnRequest {
            compare: vec![pb::Compare {
                result: pb::compare::CompareResult::Equal as i32,
                target: pb::compare::CompareTarget::Mod as i32,
                key,
                target_union: Some(pb::compare::TargetUnion::ModRevision(self.cas_revision)),
                ..Default::default()
            }],
            success: vec![request_op(pb::request_op::Request::RequestPut(put))],
            failure: vec![request_op(pb::request_op::Request::RequestRange(read))],
        };
        let answer = self.kv.txn(request).await?.into_inner();
        self.cas_revision = if answer.succeeded {
            answer.header.map_or(0, |h| h.revision)
        } else {
            last_mod_revision(&answer).unwrap_or(0)
        };
        Ok(())
    }

    /// Puts keys `first..end` (`name(n)`) in transactions of
    /// [`BULK_PUTS_PER_TXN`] puts.
    pub async fn load(
        &mut self,
        first: u64,
        end: u64,
        name: fn(u64) -> Vec<u8>,
    ) -> Result<(), tonic::Status> {
        let mut n = first;
        while n < end {
            let last = end.min(n + BULK_PUTS_PER_TXN);
            let success = (n..last)
                .map(|k| {
                    request_op(pb::request_op::Request::RequestPut(pb::PutRequest {
                        key: name(k),
                        value: vec![b'v'; VALUE_BYTES],
                        ..Default::default()
                    }))
                })
                .collect();
            let txn = pb::TxnRequest {
                success,
                ..Default::default()
            };
            // As etcd's client does, try again while the cluster elects a
            // leader (the puts are idempotent); say so, since it shows.
            let mut attempts = 1;
            loop {
                match self.kv.txn(txn.clone()).await {
                    Ok(_) => break,
                    Err(status) if is_transient(&status) && attempts < LOAD_ATTEMPTS_MAX => {
                        eprintln!("paxon bench: loader retries after: {}", status.message());
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(status) => return Err(status),
                }
            }
            n = last;
        }
        Ok(())
    }
}

/// Times a loader sends one batch before it gives up.
const LOAD_ATTEMPTS_MAX: u32 = 50;

/// An error a client library retries: no leader, or no answer in time.
fn is_transient(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
    )
}

fn request_op(request: pb::request_op::Request) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(request),
    }
}

fn last_mod_revision(answer: &pb::TxnResponse) -> Option<i64> {
    let op = answer.responses.first()?.response.as_ref()?;
    match op {
        pb::response_op::Response::ResponseRange(range) => {
            Some(range.kvs.first().map_or(0, |kv| kv.mod_revision))
        }
        _ => None,
    }
}
