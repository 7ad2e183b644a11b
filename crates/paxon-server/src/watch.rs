//! The watch hub: every watcher of every watch stream on this member, fed
//! by the events of each applied decree in revision order (etcd's
//! `watchableStore`, `server/mvcc/watchable_store.go`).
//!
//! The driver owns the hub and never waits on a client. Each stream has one
//! bounded channel; a watcher whose events do not fit is marked *lagging*
//! (etcd's "unsynced" group) and, on later ticks, is caught up from the
//! store's retained history ([`paxon_kv::Store::events_since`]) in batches
//! of whole revisions. Each watcher keeps `next_rev`, the first revision it
//! has not been sent: every send covers `next_rev..=r` and moves it to
//! `r + 1`, so a watcher sees every event after its start exactly once and
//! in order. A lagging watcher whose `next_rev` has been compacted away is
//! canceled with the compact revision, as etcd does. After a snapshot is
//! installed every watcher is caught up the same way: no gap.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use paxon_kv::{Event, EventKind, KvError, Revision, Store};
use tokio::sync::{mpsc, oneshot};

/// Most events sent in one catch-up message (whole revisions are never
/// split, so a message may hold more when one revision has more).
const CATCH_UP_EVENTS_MAX: usize = 1_000;

/// A watch stream, numbered by the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId(u64);

/// What the hub sends a stream.
#[derive(Debug)]
pub enum WatchMsg {
    /// Events for one watcher (none: a progress notification).
    Events {
        /// The watcher.
        watch_id: i64,
        /// The header revision.
        revision: i64,
        /// The ballot round (etcd's raft term).
        term: u64,
        /// In revision order.
        events: Vec<Event>,
    },
    /// The watcher's next revision was compacted away; it is canceled.
    Compacted {
        /// The watcher.
        watch_id: i64,
        /// The store's compaction revision.
        compact_revision: i64,
        /// The header revision.
        revision: i64,
        /// The ballot round.
        term: u64,
    },
    /// Every watcher of the stream has been sent everything up to
    /// `revision` (the answer to a progress request).
    Progress {
        /// The header revision.
        revision: i64,
        /// The ballot round.
        term: u64,
    },
}

/// What one watcher selects.
#[derive(Clone, Debug, Default)]
pub struct WatchSpec {
    /// The watch id asked for; 0 lets the hub choose.
    pub watch_id: i64,
    /// First key.
    pub key: Vec<u8>,
    /// As in a range; empty for one key, `[0]` for every key from `key`.
    pub range_end: Vec<u8>,
    /// First revision to send; 0 for "after the current one".
    pub start_revision: i64,
    /// Drop put events.
    pub no_put: bool,
    /// Drop delete events.
    pub no_delete: bool,
    /// Send progress notifications.
    pub progress_notify: bool,
}

/// The answer to a create: the watcher's id and the current revision, or
/// why it was refused (etcd's `cancel_reason`).
pub type Created = Result<(i64, i64, u64), String>;

/// A request from a watch stream to the hub.
pub enum WatchOp {
    /// Opens a stream whose messages go to `tx`.
    Open {
        /// The stream's channel.
        tx: mpsc::Sender<WatchMsg>,
        /// Where the stream's id goes.
        reply: oneshot::Sender<StreamId>,
    },
    /// Adds a watcher to a stream.
    Create {
        /// The stream.
        stream: StreamId,
        /// The watcher.
        spec: WatchSpec,
        /// Where the answer goes.
        reply: oneshot::Sender<Created>,
    },
    /// Removes a watcher; answers the current revision and term if it
    /// existed.
    Cancel {
        /// The stream.
        stream: StreamId,
        /// The watcher.
        watch_id: i64,
        /// Where the answer goes.
        reply: oneshot::Sender<Option<(i64, u64)>>,
    },
    /// Asks for a [`WatchMsg::Progress`] once every watcher of the stream
    /// is caught up.
    Progress {
        /// The stream.
        stream: StreamId,
    },
    /// The stream ended.
    Close {
        /// The stream.
        stream: StreamId,
    },
}

struct Watcher {
    spec: WatchSpec,
    /// The first revision not yet sent.
    next_rev: Revision,
    /// Sends failed (or it starts in the past): catch up from history.
    lagging: bool,
}

impl Watcher {
    fn wants(&self, event: &Event) -> bool {
        let kind_ok = match event.kind {
            EventKind::Put => !self.spec.no_put,
            EventKind::Delete => !self.spec.no_delete,
        };
        kind_ok
            && event.kv.mod_revision >= self.next_rev
            && paxon_kv::range_contains(&self.spec.key, &self.spec.range_end, &event.kv.key)
    }
}

struct Stream {
    tx: mpsc::Sender<WatchMsg>,
    watchers: BTreeMap<i64, Watcher>,
    /// The next automatic watch id (etcd's `watchStream.nextID`).
    next_id: i64,
    progress_wanted: bool,
}

/// Every watch stream of this member.
pub struct Hub {
    streams: BTreeMap<StreamId, Stream>,
    next_stream: u64,
    /// How often watchers that asked for it get a progress notification.
    progress_notify_interval: Duration,
    last_progress_notify: Instant,
}

impl Hub {
    /// An empty hub.
    pub fn new(progress_notify_interval: Duration) -> Hub {
        Hub {
            streams: BTreeMap::new(),
            next_stream: 0,
            progress_notify_interval,
            last_progress_notify: Instant::now(),
        }
    }

    /// Carries out a stream's request against the applied `store`.
    pub fn handle(&mut self, op: WatchOp, store: &Store, term: u64) {
        match op {
            WatchOp::Open { tx, reply } => {
                self.next_stream += 1;
                let id = StreamId(self.next_stream);
                let stream = Stream {
                    tx,
                    watchers: BTreeMap::new(),
                    next_id: 0,
                    progress_wanted: false,
                };
                self.streams.insert(id, stream);
                let _ = reply.send(id);
            }
            WatchOp::Create {
                stream,
                spec,
                reply,
            } => {
                let _ = reply.send(self.create(stream, spec, store, term));
                self.catch_up(store, term);
            }
            WatchOp::Cancel {
                stream,
                watch_id,
                reply,
            } => {
                let removed = self
                    .streams
                    .get_mut(&stream)
                    .and_then(|s| s.watchers.remove(&watch_id));
                let _ = reply.send(removed.map(|_| (store.revision().0, term)));
            }
            WatchOp::Progress { stream } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.progress_wanted = true;
                }
                self.catch_up(store, term);
            }
            WatchOp::Close { stream } => {
                self.streams.remove(&stream);
            }
        }
    }

    /// etcd's `watchStream.Watch`: refuses an empty range and a duplicate
    /// id with etcd's reasons.
    fn create(&mut self, stream: StreamId, spec: WatchSpec, store: &Store, term: u64) -> Created {
        let Some(s) = self.streams.get_mut(&stream) else {
            return Err("etcdserver: server stopped".into());
        };
        if !spec.range_end.is_empty() && spec.range_end != [0] && spec.key >= spec.range_end {
            return Err("mvcc: watcher range is empty".into());
        }
        let id = match spec.watch_id {
            0 => {
                while s.watchers.contains_key(&s.next_id) {
                    s.next_id += 1;
                }
                s.next_id += 1;
                s.next_id - 1
            }
            id if s.watchers.contains_key(&id) => {
                return Err("mvcc: duplicate watch ID provided on the WatchStream".into())
            }
            id => id,
        };
        let current = store.revision();
        let next_rev = match spec.start_revision {
            rev if rev <= 0 => Revision(current.0 + 1),
            rev => Revision(rev),
        };
        let watcher = Watcher {
            lagging: next_rev <= current,
            next_rev,
            spec,
        };
        s.watchers.insert(id, watcher);
        Ok((id, current.0, term))
    }

    /// Sends the events of one applied decree to every watcher that is
    /// not lagging; a watcher whose channel is full starts lagging.
    pub fn publish(&mut self, events: &[Event], store: &Store, term: u64) {
        if events.is_empty() {
            return;
        }
        let revision = store.revision();
        self.streams.retain(|_, stream| {
            for (id, watcher) in stream.watchers.iter_mut() {
                if watcher.lagging || watcher.next_rev > revision {
                    continue;
                }
                let mine: Vec<Event> = events
                    .iter()
                    .filter(|e| watcher.wants(e))
                    .cloned()
                    .collect();
                if !mine.is_empty() {
                    let msg = WatchMsg::Events {
                        watch_id: *id,
                        revision: revision.0,
                        term,
                        events: mine,
                    };
                    match stream.tx.try_send(msg) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            watcher.lagging = true;
                            continue;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return false,
                    }
                }
                watcher.next_rev = Revision(revision.0 + 1);
            }
            true
        });
    }

    /// After a snapshot replaced the store: every watcher catches up from
    /// the new store's history (or is canceled as compacted).
    pub fn restart_all(&mut self, store: &Store, term: u64) {
        for stream in self.streams.values_mut() {
            for watcher in stream.watchers.values_mut() {
                watcher.lagging = true;
            }
        }
        self.catch_up(store, term);
    }

    /// Catches lagging watchers up from history as far as their channels
    /// allow, answers progress requests of streams now caught up, and
    /// sends the periodic progress notifications. Called on every tick.
    pub fn catch_up(&mut self, store: &Store, term: u64) {
        let notify = self.last_progress_notify.elapsed() >= self.progress_notify_interval;
        if notify {
            self.last_progress_notify = Instant::now();
        }
        for stream in self.streams.values_mut() {
            let ids: Vec<i64> = stream.watchers.keys().copied().collect();
            for id in ids {
                catch_up_one(stream, id, store, term);
            }
            let synced = stream.watchers.values().all(|w| !w.lagging);
            let revision = store.revision().0;
            if stream.progress_wanted && synced {
                let msg = WatchMsg::Progress { revision, term };
                stream.progress_wanted = stream.tx.try_send(msg).is_err();
            }
            if notify {
                notify_progress(stream, revision, term);
            }
        }
    }
}

/// Sends one lagging watcher the next batch of its events from history.
fn catch_up_one(stream: &mut Stream, id: i64, store: &Store, term: u64) {
    let Some(watcher) = stream.watchers.get_mut(&id) else {
        return;
    };
    if !watcher.lagging {
        return;
    }
    let current = store.revision();
    let spec = &watcher.spec;
    let events = match store.events_since(&spec.key, &spec.range_end, watcher.next_rev) {
        Ok(events) => events,
        Err(KvError::Compacted) => {
            let msg = WatchMsg::Compacted {
                watch_id: id,
                compact_revision: store.compact_revision().map_or(0, |r| r.0),
                revision: current.0,
                term,
            };
            if stream.tx.try_send(msg).is_ok() {
                stream.watchers.remove(&id);
            }
            return;
        }
        Err(_) => return,
    };
    let mut batch: Vec<Event> = Vec::new();
    let mut through = current;
    for event in events.into_iter().filter(|e| watcher.wants(e)) {
        let rev = event.kv.mod_revision;
        if batch.len() >= CATCH_UP_EVENTS_MAX
            && batch.last().is_some_and(|l| l.kv.mod_revision < rev)
        {
            through = Revision(rev.0 - 1);
            break;
        }
        batch.push(event);
    }
    if !batch.is_empty() {
        let msg = WatchMsg::Events {
            watch_id: id,
            revision: through.0,
            term,
            events: batch,
        };
        if stream.tx.try_send(msg).is_err() {
            return;
        }
    }
    watcher.next_rev = Revision(through.0 + 1);
    watcher.lagging = through < current;
}

/// etcd's periodic progress notification: an empty message with the
/// current revision to every caught-up watcher that asked for them.
fn notify_progress(stream: &mut Stream, revision: i64, term: u64) {
    for (id, watcher) in &stream.watchers {
        if watcher.spec.progress_notify && !watcher.lagging {
            let msg = WatchMsg::Events {
                watch_id: *id,
                revision,
                term,
                events: Vec::new(),
            };
            let _ = stream.tx.try_send(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxon_kv::{Command, CompactionRequest, PutRequest};

    fn put(store: &mut Store, key: &str, value: &str) -> Vec<Event> {
        let req = PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        };
        store.apply(&Command::Put(req)).expect("put");
        store.take_events()
    }

    fn open(hub: &mut Hub, store: &Store, capacity: usize) -> (StreamId, mpsc::Receiver<WatchMsg>) {
        let (tx, rx) = mpsc::channel(capacity);
        let (reply, id) = oneshot::channel();
        hub.handle(WatchOp::Open { tx, reply }, store, 1);
        (id.blocking_recv().expect("stream id"), rx)
    }

    fn create(hub: &mut Hub, store: &Store, stream: StreamId, spec: WatchSpec) -> Created {
        let (reply, created) = oneshot::channel();
        hub.handle(
            WatchOp::Create {
                stream,
                spec,
                reply,
            },
            store,
            1,
        );
        created.blocking_recv().expect("created")
    }

    /// Every message waiting, as (watch id, revisions of its events), or
    /// (watch id, [-compact revision]) for a compaction.
    fn drain(rx: &mut mpsc::Receiver<WatchMsg>) -> Vec<(i64, Vec<i64>)> {
        let mut out = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            out.push(match msg {
                WatchMsg::Events {
                    watch_id, events, ..
                } => (
                    watch_id,
                    events.iter().map(|e| e.kv.mod_revision.0).collect(),
                ),
                WatchMsg::Compacted {
                    watch_id,
                    compact_revision,
                    ..
                } => (watch_id, vec![-compact_revision]),
                WatchMsg::Progress { revision, .. } => (-1, vec![revision]),
            });
        }
        out
    }

    fn hub() -> Hub {
        Hub::new(Duration::from_secs(3600))
    }

    #[test]
    fn a_slow_watcher_never_blocks_and_catches_up_without_loss_or_duplicate() {
        let (mut hub, mut store) = (hub(), Store::new());
        let (stream, mut rx) = open(&mut hub, &store, 2);
        let spec = WatchSpec {
            key: b"k".to_vec(),
            range_end: b"l".to_vec(),
            ..Default::default()
        };
        assert_eq!(create(&mut hub, &store, stream, spec), Ok((0, 1, 1)));
        for i in 0..50 {
            let events = put(&mut store, &format!("k{}", i % 7), "v");
            hub.publish(&events, &store, 1);
            let events = put(&mut store, "other", "v");
            hub.publish(&events, &store, 1);
        }
        let mut seen: Vec<i64> = Vec::new();
        for _ in 0..100 {
            seen.extend(drain(&mut rx).into_iter().flat_map(|(_, revs)| revs));
            hub.catch_up(&store, 1);
        }
        let expected: Vec<i64> = (0..50).map(|i| 2 + 2 * i).collect();
        assert_eq!(seen, expected);
        let events = put(&mut store, "k9", "v");
        hub.publish(&events, &store, 1);
        assert_eq!(drain(&mut rx), [(0, vec![102])], "caught up: live again");
    }

    #[test]
    fn a_watcher_from_the_past_replays_then_streams_and_a_compacted_one_is_canceled() {
        let (mut hub, mut store) = (hub(), Store::new());
        for value in ["1", "2", "3"] {
            put(&mut store, "k", value);
        }
        let (stream, mut rx) = open(&mut hub, &store, 8);
        let from = |start_revision| WatchSpec {
            key: b"k".to_vec(),
            start_revision,
            ..Default::default()
        };
        assert_eq!(create(&mut hub, &store, stream, from(3)), Ok((0, 4, 1)));
        assert_eq!(drain(&mut rx), [(0, vec![3, 4])]);
        store
            .apply(&Command::Compact(CompactionRequest {
                revision: Revision(3),
                physical: false,
            }))
            .expect("compact");
        assert_eq!(create(&mut hub, &store, stream, from(2)), Ok((1, 4, 1)));
        assert_eq!(drain(&mut rx), [(1, vec![-3])]);
        let events = put(&mut store, "k", "4");
        hub.publish(&events, &store, 1);
        assert_eq!(
            drain(&mut rx),
            [(0, vec![5])],
            "the canceled watcher is gone"
        );
    }

    #[test]
    fn after_a_snapshot_watchers_resume_from_the_new_stores_history() {
        let (mut hub, store) = (hub(), Store::new());
        let (stream, mut rx) = open(&mut hub, &store, 8);
        let spec = WatchSpec {
            key: b"k".to_vec(),
            ..Default::default()
        };
        create(&mut hub, &store, stream, spec).expect("created");
        // The member misses revisions 2..=3 and installs a snapshot at 3.
        let mut leader = store.clone();
        put(&mut leader, "k", "a");
        put(&mut leader, "k", "b");
        let store = Store::restore(&leader.snapshot()).expect("restore");
        hub.restart_all(&store, 1);
        assert_eq!(drain(&mut rx), [(0, vec![2, 3])]);
    }

    #[test]
    fn duplicate_ids_and_empty_ranges_are_refused_with_etcds_reasons() {
        let (mut hub, store) = (hub(), Store::new());
        let (stream, _rx) = open(&mut hub, &store, 8);
        let spec = |watch_id, key: &str, range_end: &str| WatchSpec {
            watch_id,
            key: key.into(),
            range_end: range_end.into(),
            ..Default::default()
        };
        assert_eq!(
            create(&mut hub, &store, stream, spec(7, "a", "")),
            Ok((7, 1, 1))
        );
        assert_eq!(
            create(&mut hub, &store, stream, spec(7, "a", "")),
            Err("mvcc: duplicate watch ID provided on the WatchStream".into())
        );
        assert_eq!(
            create(&mut hub, &store, stream, spec(0, "b", "a")),
            Err("mvcc: watcher range is empty".into())
        );
        assert_eq!(
            create(&mut hub, &store, stream, spec(0, "a", "\0")),
            Ok((0, 1, 1))
        );
    }
}
