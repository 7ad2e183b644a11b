//! What the Lock and Election services share, as etcd's
//! `clientv3/concurrency` does for them: transactions and reads through
//! this member, and waiting for the keys ahead in a queue to go
//! (`waitDeletes`), by a watch on the hub.

use paxon_kv as kv;
use tokio::sync::mpsc;
use tonic::Status;

use super::watch::WATCH_STREAM_MESSAGES_MAX;
use super::Handle;
use crate::error::ServeError;
use crate::member::ClientOp;
use crate::watch::{StreamId, WatchMsg, WatchSpec};

/// A hub stream opened by the server itself, closed when dropped (also
/// when the client gives up and the request's future is dropped).
struct OwnStream {
    handle: Handle,
    id: StreamId,
}

impl Drop for OwnStream {
    fn drop(&mut self) {
        self.handle.close_watch_stream(self.id);
    }
}

impl Handle {
    /// A linearizable range.
    pub(super) async fn read(
        &self,
        request: kv::RangeRequest,
    ) -> Result<(kv::RangeResponse, u64), Status> {
        let answer = self
            .ask(|reply| ClientOp::Read {
                request,
                linearizable: true,
                reply,
            })
            .await?;
        Ok(answer?)
    }

    /// A read index on this member: once it returns, the state here (keys,
    /// leases, auth) holds every decree chosen before the call. Returns the
    /// revision then.
    pub(super) async fn read_point(&self) -> Result<i64, Status> {
        let request = kv::RangeRequest {
            key: vec![0],
            count_only: true,
            ..Default::default()
        };
        let (ranged, _) = self.read(request).await?;
        Ok(ranged.header.revision.0)
    }

    /// A transaction; its response and the term.
    pub(super) async fn txn(&self, txn: kv::TxnRequest) -> Result<(kv::TxnResponse, u64), Status> {
        match self.write(kv::Command::Txn(txn)).await? {
            (kv::Response::Txn(txn), term) => Ok((txn, term)),
            _ => Err(Status::internal("paxon: a txn answered with another kind")),
        }
    }

    /// etcd's `waitDeletes`: waits until no key under `prefix` created at
    /// or before `max_create` remains; answers the header of the last read.
    pub(super) async fn wait_deletes(
        &self,
        prefix: &[u8],
        max_create: kv::Revision,
    ) -> Result<(kv::Header, u64), Status> {
        loop {
            let request = kv::RangeRequest {
                key: prefix.to_vec(),
                range_end: kv::prefix_range_end(prefix),
                max_create_revision: max_create,
                sort_order: kv::SortOrder::Descend,
                sort_target: kv::SortTarget::Create,
                limit: 1,
                ..Default::default()
            };
            let (range, term) = self.read(request).await?;
            let Some(last) = range.kvs.into_iter().next() else {
                return Ok((range.header, term));
            };
            self.wait_delete(last.key, range.header.revision).await?;
        }
    }

    /// Waits until `key` is deleted at a revision after `after`.
    pub(super) async fn wait_delete(
        &self,
        key: Vec<u8>,
        after: kv::Revision,
    ) -> Result<(), Status> {
        let spec = WatchSpec {
            key,
            start_revision: after.0 + 1,
            no_put: true,
            ..Default::default()
        };
        let (_stream, mut events) = self.own_watch(spec).await?;
        while let Some(msg) = events.recv().await {
            match msg {
                WatchMsg::Events { events, .. } if !events.is_empty() => return Ok(()),
                WatchMsg::Compacted { .. } => {
                    return Err(ServeError::Kv(kv::KvError::Compacted).into())
                }
                _ => {}
            }
        }
        Err(ServeError::Stopped.into())
    }

    /// Opens a hub stream with one watcher; events arrive on the receiver
    /// until the returned stream is dropped.
    pub(super) async fn own_watch(
        &self,
        spec: WatchSpec,
    ) -> Result<(impl Drop, mpsc::Receiver<WatchMsg>), Status> {
        let (tx, rx) = mpsc::channel(WATCH_STREAM_MESSAGES_MAX);
        let id = self.open_watch_stream(tx).await?;
        let stream = OwnStream {
            handle: self.clone(),
            id,
        };
        if let Err(reason) = self.create_watcher(id, spec).await? {
            return Err(Status::internal(format!(
                "paxon: internal watch refused: {reason}"
            )));
        }
        Ok((stream, rx))
    }
}
