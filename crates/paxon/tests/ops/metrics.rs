//! `/metrics` parses strictly and etcd's metrics move as etcd's do: the
//! committed and applied counts grow with puts, every Put is counted once
//! by the member that served it, the disk and peer histograms fill, and a
//! leader kill is seen as a leader change with a leader again after it.

use std::time::{Duration, Instant};

use crate::cluster::{self, Cluster};
use crate::http;
use crate::prom::{self, Scrape};

pub fn scrape(port: u16) -> Scrape {
    let reply = http::get(port, "/metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    prom::parse(&reply.body).unwrap_or_else(|e| panic!("{e}\n{}", reply.body))
}

/// Scrapes `ports` until `done` holds for every scrape (bounded).
fn scrape_until(ports: &[u16], what: &str, done: impl Fn(&Scrape) -> bool) -> Vec<Scrape> {
    let start = Instant::now();
    loop {
        let scrapes: Vec<Scrape> = ports.iter().map(|p| scrape(*p)).collect();
        if scrapes.iter().all(&done) {
            return scrapes;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never saw {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn client_ports(cluster: &Cluster, alive: &[usize]) -> Vec<u16> {
    alive
        .iter()
        .map(|i| cluster.members[*i].client_port)
        .collect()
}

fn puts_ok(s: &Scrape) -> f64 {
    s.sum(
        "grpc_server_handled_total",
        &[("grpc_method", "Put"), ("grpc_code", "OK")],
    )
}

#[test]
fn metrics_parse_and_move_with_puts_and_a_leader_kill() {
    let mut cluster = Cluster::start(3, "ops-metrics");
    let ports = client_ports(&cluster, &[0, 1, 2]);
    let before = scrape_until(&ports, "a leader everywhere", |s| {
        s.value("etcd_server_has_leader", &[]) == 1.0
    });
    let leaders: f64 = before
        .iter()
        .map(|s| s.value("etcd_server_is_leader", &[]))
        .sum();
    assert_eq!(leaders, 1.0, "exactly one member leads");

    const PUTS: f64 = 20.0;
    for i in 0..PUTS as usize {
        cluster::expect(&cluster, &["put", &format!("k{i}"), "v"], "OK\n");
    }
    let committed = |s: &Scrape| s.value("etcd_server_proposals_committed_total", &[]);
    let applied = |s: &Scrape| s.value("etcd_server_proposals_applied_total", &[]);
    let floor = before.iter().map(applied).fold(f64::MAX, f64::min) + PUTS;
    let after = scrape_until(&ports, "every put applied everywhere", |s| {
        applied(s) >= floor
    });
    let puts: f64 =
        after.iter().map(puts_ok).sum::<f64>() - before.iter().map(puts_ok).sum::<f64>();
    assert_eq!(
        puts, PUTS,
        "each Put counted once, by the member that served it"
    );
    for (b, a) in before.iter().zip(&after) {
        assert!(committed(a) >= committed(b) + PUTS);
        assert!(committed(a) >= applied(a));
        let batches = |s: &Scrape| s.value("paxon_batch_size_count", &[]);
        assert!(
            batches(a) >= batches(b) + PUTS,
            "one decree per sequential put"
        );
        let synced = |s: &Scrape| s.value("paxon_fsync_batch_records_sum", &[]);
        assert!(synced(a) >= synced(b) + PUTS, "every vote reached the disk");
        let fsyncs = |s: &Scrape| s.value("etcd_disk_wal_fsync_duration_seconds_count", &[]);
        assert!(fsyncs(a) > fsyncs(b));
        assert!(a.value("etcd_mvcc_db_total_size_in_bytes", &[]) > 0.0);
        assert_eq!(a.value("etcd_server_proposals_pending", &[]), 0.0);
    }
    let rounds: Vec<f64> = after
        .iter()
        .map(|s| s.value("paxon_ballot_round", &[]))
        .collect();
    assert!(
        rounds.iter().all(|r| *r == rounds[0] && *r >= 1.0),
        "{rounds:?}"
    );

    // Probes go out every second: every member measures both peers.
    scrape_until(&ports, "round trips to every peer", |s| {
        let series: Vec<_> = s
            .matching("etcd_network_peer_round_trip_time_seconds_count", &[])
            .collect();
        series.len() == 2 && series.iter().all(|c| c.value > 0.0)
    });

    // The metrics listener shows the same families, and no status page.
    for member in &cluster.members {
        let extra = scrape(member.metrics_port);
        assert_eq!(extra.types, after[0].types);
        assert_eq!(http::get(member.metrics_port, "/").status, 404);
    }

    let old = cluster.leader().expect("a leader");
    cluster.kill(old);
    let alive: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let survivors = client_ports(&cluster, &alive);
    let changes = |s: &Scrape| s.value("etcd_server_leader_changes_seen_total", &[]);
    let seen_before: Vec<f64> = alive.iter().map(|i| changes(&after[*i])).collect();
    let settled = scrape_until(&survivors, "a new leader after the kill", |s| {
        s.value("etcd_server_has_leader", &[]) == 1.0
            && s.value("paxon_ballot_round", &[]) > rounds[0]
    });
    let leaders: f64 = settled
        .iter()
        .map(|s| s.value("etcd_server_is_leader", &[]))
        .sum();
    assert_eq!(leaders, 1.0, "one survivor leads");
    for (s, seen) in settled.iter().zip(seen_before) {
        assert!(changes(s) >= seen + 1.0, "the change was seen");
    }
}
