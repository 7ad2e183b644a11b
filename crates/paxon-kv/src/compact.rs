//! Compaction: dropping history no read may ask for any more, as etcd
//! 3.5's `store.updateCompactRev` (`server/mvcc/kvstore.go`) and
//! `keyIndex.compact` (`server/mvcc/key_index.go`).

use crate::error::KvError;
use crate::request::CompactionRequest;
use crate::response::{CompactionResponse, Header};
use crate::store::Store;

impl Store {
    /// Compacts at `req.revision`: every key keeps its newest version at or
    /// below it (unless that is a tombstone older than it) and everything
    /// after; reads below it then fail with [`KvError::Compacted`].
    ///
    /// Errors, as etcd: a revision at or below the last compaction (any
    /// below 0 before the first) is [`KvError::Compacted`], one after the
    /// current revision [`KvError::FutureRevision`]. Compaction is a decree
    /// but does not advance the revision.
    pub fn compact(&mut self, req: &CompactionRequest) -> Result<CompactionResponse, KvError> {
        if req.revision <= self.compact_floor() {
            return Err(KvError::Compacted);
        }
        if req.revision > self.revision {
            return Err(KvError::FutureRevision);
        }
        self.compacted = Some(req.revision);
        let mut freed = 0;
        self.keys.retain(|key, history| {
            freed += history.compact(req.revision, key.len());
            !history.is_empty()
        });
        self.size_bytes -= freed;
        Ok(CompactionResponse {
            header: Header {
                revision: self.revision,
            },
        })
    }
}
