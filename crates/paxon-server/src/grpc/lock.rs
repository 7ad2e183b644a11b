//! The `Lock` service (etcd's v3lock, built like `clientv3/concurrency`'s
//! `Mutex`): the lock `name` is a queue of keys `name/<lease in hex>`,
//! each attached to its holder's lease and served in create-revision
//! order; a caller holds the lock once every key created before its own is
//! gone. The create revision of the returned key is the fencing token
//! (docs/locks.md).

use paxon_kv as kv;
use paxon_proto::v3lockpb as lpb;
use tonic::{Request, Response, Status};

use super::auth::{key_accesses, queue_accesses};
use super::Handle;
use paxon_kv::PermissionKind::{Read, Write};

/// The key of a caller's place in the queue of `prefix`.
pub(super) fn queue_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    [prefix, format!("{lease:x}").as_bytes()].concat()
}

/// The txn that joins a queue at `key` (etcd's v3lock and v3election
/// recipes): a new key is put with `value` and `lease`, a key already there
/// is read back; `also` runs after either.
pub(super) fn join_queue(
    key: &[u8],
    value: Vec<u8>,
    lease: i64,
    also: Vec<kv::RequestOp>,
) -> kv::TxnRequest {
    let new = kv::Compare {
        result: kv::CompareResult::Equal,
        target: kv::CompareTarget::Create(kv::Revision(0)),
        key: key.to_vec(),
        range_end: Vec::new(),
    };
    let put = kv::PutRequest {
        key: key.to_vec(),
        value,
        lease: kv::LeaseId(lease),
        ..Default::default()
    };
    let own = kv::RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    };
    kv::TxnRequest {
        compare: vec![new],
        success: [vec![kv::RequestOp::Put(put)], also.clone()].concat(),
        failure: [vec![kv::RequestOp::Range(own)], also].concat(),
    }
}

/// A range of the first-created key under `prefix` (etcd's
/// `WithFirstCreate`).
pub(super) fn first_created(prefix: &[u8]) -> kv::RangeRequest {
    kv::RangeRequest {
        key: prefix.to_vec(),
        range_end: kv::prefix_range_end(prefix),
        sort_order: kv::SortOrder::Ascend,
        sort_target: kv::SortTarget::Create,
        limit: 1,
        ..Default::default()
    }
}

/// The first key of a range answer inside a txn response.
pub(super) fn first_kv(response: &kv::ResponseOp) -> Option<&kv::KeyValue> {
    match response {
        kv::ResponseOp::Range(range) => range.kvs.first(),
        _ => None,
    }
}

/// Deletes a queue key if the caller gave up (or failed) before holding
/// the lock or leading the election, as etcd's recipes do.
pub(super) struct Attempt {
    pub(super) handle: Handle,
    pub(super) key: Vec<u8>,
    pub(super) done: bool,
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (handle, key) = (self.handle.clone(), std::mem::take(&mut self.key));
        tokio::spawn(async move {
            let delete = kv::DeleteRangeRequest {
                key,
                ..Default::default()
            };
            let _ = handle.write(kv::Command::DeleteRange(delete)).await;
        });
    }
}

impl Handle {
    /// etcd's `Mutex.Lock`: joins the queue (or finds its key already
    /// there), then waits for every earlier key to go.
    async fn acquire(&self, name: &[u8], lease: i64) -> Result<(Vec<u8>, kv::Header, u64), Status> {
        let prefix = [name, b"/"].concat();
        let key = queue_key(&prefix, lease);
        let first = vec![kv::RequestOp::Range(first_created(&prefix))];
        let txn = join_queue(&key, Vec::new(), lease, first);
        let (answer, term) = self.txn(txn).await?;
        let mut attempt = Attempt {
            handle: self.clone(),
            key: key.clone(),
            done: false,
        };
        let my_rev = match (
            answer.succeeded,
            answer.responses.first().and_then(first_kv),
        ) {
            (true, _) => answer.header.revision,
            (false, Some(kv)) => kv.create_revision,
            (false, None) => return Err(Status::internal("paxon: lock key vanished")),
        };
        let owner = answer.responses.get(1).and_then(first_kv);
        if owner.is_none_or(|o| o.create_revision == my_rev) {
            attempt.done = true;
            return Ok((key, answer.header, term));
        }
        let (header, term) = self
            .wait_deletes(&prefix, kv::Revision(my_rev.0 - 1))
            .await?;
        attempt.done = true;
        Ok((key, header, term))
    }
}

#[tonic::async_trait]
impl lpb::lock_server::Lock for Handle {
    async fn lock(
        &self,
        request: Request<lpb::LockRequest>,
    ) -> Result<Response<lpb::LockResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.check_access(&metadata, &queue_accesses(&request.name, &[Read, Write]))
            .await?;
        let (key, header, term) = self.acquire(&request.name, request.lease).await?;
        Ok(Response::new(lpb::LockResponse {
            header: Some(self.header(header.revision.0, term)),
            key,
        }))
    }

    async fn unlock(
        &self,
        request: Request<lpb::UnlockRequest>,
    ) -> Result<Response<lpb::UnlockResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.check_access(&metadata, &key_accesses(&request.key, &[Write]))
            .await?;
        let delete = kv::DeleteRangeRequest {
            key: request.key,
            ..Default::default()
        };
        let (response, term) = self.write(kv::Command::DeleteRange(delete)).await?;
        Ok(Response::new(lpb::UnlockResponse {
            header: Some(self.header(response.header().revision.0, term)),
        }))
    }
}
