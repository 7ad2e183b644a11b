//! What `/metrics` shows: etcd's metric names where the meaning is the
//! same (so etcd's dashboards and alerts work), and Paxon's own. The
//! driver, the sync thread and the gRPC layer update atomics; a scrape
//! reads them. See docs/operations.md for the list and what each means.

pub mod grpc;
pub mod registry;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paxon_core::NodeId;

use grpc::GrpcMetrics;
use registry::{Counter, Gauge, Histogram, Text};

/// Leader changes the status page lists.
const LEADER_CHANGES_KEPT_MAX: usize = 16;

/// A leader change as this member saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderChange {
    /// Wall-clock time, ms since the Unix epoch.
    pub at_unix_ms: u64,
    /// The new leader (`None`: none known).
    pub leader: Option<NodeId>,
    /// The ballot round it leads in (this member's promise).
    pub round: u64,
}

/// Every metric of one member.
#[derive(Debug)]
pub struct Metrics {
    /// `etcd_server_has_leader`.
    pub has_leader: Gauge,
    /// `etcd_server_is_leader`.
    pub is_leader: Gauge,
    /// `etcd_server_leader_changes_seen_total`.
    pub leader_changes_seen: Counter,
    /// `etcd_server_proposals_committed_total` (the commit slot).
    pub proposals_committed: Gauge,
    /// `etcd_server_proposals_applied_total` (the applied slot).
    pub proposals_applied: Gauge,
    /// `etcd_server_proposals_pending`.
    pub proposals_pending: Gauge,
    /// `etcd_server_proposals_failed_total`.
    pub proposals_failed: Counter,
    /// `etcd_disk_wal_fsync_duration_seconds`.
    pub wal_fsync_seconds: Histogram,
    /// `etcd_disk_backend_commit_duration_seconds`.
    pub backend_commit_seconds: Histogram,
    /// `etcd_network_peer_round_trip_time_seconds`, by peer: every peer
    /// the member has talked to (`Metrics::watch_peers`).
    peer_round_trip_seconds: Mutex<BTreeMap<NodeId, Histogram>>,
    /// `etcd_server_health_success`.
    pub health_success: Counter,
    /// `etcd_server_health_failures`.
    pub health_failures: Counter,
    /// `paxon_ballot_round`.
    pub ballot_round: Gauge,
    /// `paxon_slots_in_flight`.
    pub slots_in_flight: Gauge,
    /// `paxon_batch_size`: client commands per chosen decree.
    pub batch_size: Histogram,
    /// `paxon_fsync_batch_records`: ledger records per `fdatasync`.
    pub fsync_batch_records: Histogram,
    /// The gRPC counters.
    pub grpc: Arc<GrpcMetrics>,
    /// `etcd_mvcc_db_total_size_in_bytes`, published by the driver.
    db_size: Arc<AtomicU64>,
    /// The latest leader changes, newest last.
    leader_changes: Mutex<VecDeque<LeaderChange>>,
    /// The leader last seen (for counting changes).
    last_leader: Mutex<Option<NodeId>>,
}

/// etcd's buckets for peer round trips: 0.1 ms to 0.8 s.
fn peer_round_trip_histogram() -> Histogram {
    Histogram::seconds(0.0001, 2.0, 14)
}

impl Metrics {
    /// The metrics of a member with these `peers`, whose store size the
    /// driver publishes in `db_size`.
    pub fn new(peers: &[NodeId], db_size: Arc<AtomicU64>) -> Metrics {
        // etcd's buckets: 1 ms to 8 s for disk.
        let disk = || Histogram::seconds(0.001, 2.0, 14);
        Metrics {
            has_leader: Gauge::default(),
            is_leader: Gauge::default(),
            leader_changes_seen: Counter::default(),
            proposals_committed: Gauge::default(),
            proposals_applied: Gauge::default(),
            proposals_pending: Gauge::default(),
            proposals_failed: Counter::default(),
            wal_fsync_seconds: disk(),
            backend_commit_seconds: disk(),
            peer_round_trip_seconds: Mutex::new(
                peers
                    .iter()
                    .map(|peer| (*peer, peer_round_trip_histogram()))
                    .collect(),
            ),
            health_success: Counter::default(),
            health_failures: Counter::default(),
            ballot_round: Gauge::default(),
            slots_in_flight: Gauge::default(),
            batch_size: Histogram::exponential(1.0, 2.0, 14, 1.0),
            fsync_batch_records: Histogram::exponential(1.0, 2.0, 14, 1.0),
            grpc: Arc::new(GrpcMetrics::default()),
            db_size,
            leader_changes: Mutex::new(VecDeque::new()),
            last_leader: Mutex::new(None),
        }
    }

    /// The driver learned who leads (in ballot `round`). Counts a change
    /// to a leader other than the last one known, as etcd does (losing
    /// the leader is no change; finding the same one again neither).
    pub fn leader_seen(&self, leader: Option<NodeId>, round: u64) {
        self.has_leader.set(i64::from(leader.is_some()));
        let mut last = self.last_leader.lock().unwrap_or_else(|e| e.into_inner());
        let mut log = self
            .leader_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if leader.is_some() && leader != *last {
            self.leader_changes_seen.inc();
            *last = leader;
        }
        if log.back().map(|c| c.leader) != Some(leader) {
            if log.len() == LEADER_CHANGES_KEPT_MAX {
                log.pop_front();
            }
            log.push_back(LeaderChange {
                at_unix_ms: unix_ms(),
                leader,
                round,
            });
        }
    }

    /// The latest leader changes, oldest first.
    pub fn leader_changes(&self) -> Vec<LeaderChange> {
        let log = self
            .leader_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        log.iter().copied().collect()
    }

    /// A peer answered a probe after `rtt`.
    pub fn peer_round_trip(&self, peer: NodeId, rtt: Duration) {
        if let Some(histogram) = self.peer_round_trips().get(&peer) {
            histogram.observe_duration(rtt);
        }
    }

    /// Round trips to these peers are measured too (members added at run
    /// time); a removed peer's series stays, as etcd's does.
    pub fn watch_peers(&self, peers: impl Iterator<Item = NodeId>) {
        let mut histograms = self.peer_round_trips();
        for peer in peers {
            histograms
                .entry(peer)
                .or_insert_with(peer_round_trip_histogram);
        }
    }

    fn peer_round_trips(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, Histogram>> {
        self.peer_round_trip_seconds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The store's size in bytes.
    pub fn db_size(&self) -> u64 {
        self.db_size.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Everything, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = Text::default();
        self.write_server(&mut text);
        self.write_disk(&mut text);
        self.write_paxon(&mut text);
        self.grpc.write(&mut text);
        text.finish()
    }

    fn write_server(&self, text: &mut Text) {
        text.gauge(
            "etcd_server_has_leader",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            self.has_leader.get(),
        );
        text.gauge(
            "etcd_server_is_leader",
            "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            self.is_leader.get(),
        );
        text.counter(
            "etcd_server_leader_changes_seen_total",
            "The number of leader changes seen.",
            self.leader_changes_seen.get(),
        );
        text.gauge(
            "etcd_server_proposals_committed_total",
            "The total number of consensus proposals committed.",
            self.proposals_committed.get(),
        );
        text.gauge(
            "etcd_server_proposals_applied_total",
            "The total number of consensus proposals applied.",
            self.proposals_applied.get(),
        );
        text.gauge(
            "etcd_server_proposals_pending",
            "The current number of pending proposals to commit.",
            self.proposals_pending.get(),
        );
        text.counter(
            "etcd_server_proposals_failed_total",
            "The total number of failed proposals seen.",
            self.proposals_failed.get(),
        );
        text.counter(
            "etcd_server_health_success",
            "The total number of successful health checks",
            self.health_success.get(),
        );
        text.counter(
            "etcd_server_health_failures",
            "The total number of failed health checks",
            self.health_failures.get(),
        );
        text.gauge(
            "etcd_mvcc_db_total_size_in_bytes",
            "Total size of the underlying database physically allocated in bytes.",
            i64::try_from(self.db_size()).unwrap_or(i64::MAX),
        );
        let name = "etcd_network_peer_round_trip_time_seconds";
        text.family(name, "histogram", "Round-Trip-Time histogram between peers");
        for (peer, histogram) in self.peer_round_trips().iter() {
            let to = format!("{:x}", peer.0);
            text.histogram(name, &[("To", &to)], &histogram.snapshot());
        }
    }

    fn write_disk(&self, text: &mut Text) {
        let name = "etcd_disk_wal_fsync_duration_seconds";
        text.family(
            name,
            "histogram",
            "The latency distributions of fsync called by WAL.",
        );
        text.histogram(name, &[], &self.wal_fsync_seconds.snapshot());
        let name = "etcd_disk_backend_commit_duration_seconds";
        text.family(
            name,
            "histogram",
            "The latency distributions of commit called by backend.",
        );
        text.histogram(name, &[], &self.backend_commit_seconds.snapshot());
    }

    fn write_paxon(&self, text: &mut Text) {
        text.gauge(
            "paxon_ballot_round",
            "The round of the highest ballot this member promised (etcd's raft term).",
            self.ballot_round.get(),
        );
        text.gauge(
            "paxon_slots_in_flight",
            "Slots this leader proposed that are not chosen yet (0 on followers).",
            self.slots_in_flight.get(),
        );
        let name = "paxon_batch_size";
        text.family(
            name,
            "histogram",
            "Client commands per chosen decree, as this member applied them.",
        );
        text.histogram(name, &[], &self.batch_size.snapshot());
        let name = "paxon_fsync_batch_records";
        text.family(
            name,
            "histogram",
            "Ledger records made durable by one fdatasync (group commit).",
        );
        text.histogram(name, &[], &self.fsync_batch_records.snapshot());
    }
}

/// The wall clock in ms since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_new_leader_counts_as_a_change() {
        let m = Metrics::new(&[], Arc::new(AtomicU64::new(0)));
        m.leader_seen(Some(NodeId(1)), 1);
        m.leader_seen(None, 1);
        m.leader_seen(Some(NodeId(1)), 2);
        m.leader_seen(Some(NodeId(2)), 3);
        assert_eq!(m.leader_changes_seen.get(), 2);
        assert_eq!(m.has_leader.get(), 1);
        let leaders: Vec<_> = m.leader_changes().iter().map(|c| c.leader).collect();
        assert_eq!(
            leaders,
            vec![Some(NodeId(1)), None, Some(NodeId(1)), Some(NodeId(2))]
        );
    }
}
