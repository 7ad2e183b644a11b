//! etcd's `/health`, `/livez` and `/readyz` (etcd 3.5's JSON and rules)
//! and `etcdctl endpoint health` (etcd 3.4's client: healthy when a
//! linearizable Get of "health" succeeds).

use std::time::{Duration, Instant};

use crate::cluster::{self, etcdctl, stderr, Cluster};
use crate::{http, metrics};

const HEALTHY: &str = r#"{"health":"true","reason":""}"#;

fn unhealthy(reason: &str) -> String {
    format!("{{\"health\":\"false\",\"reason\":\"{reason}\"}}\n")
}

/// Asserts the status and exact body of `GET path`.
fn expect(port: u16, path: &str, status: u16, body: &str) {
    let reply = http::get(port, path);
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (status, body),
        "{path}"
    );
}

/// Polls `GET path` until it answers `status` (bounded).
fn wait_for(port: u16, path: &str, status: u16) {
    let start = Instant::now();
    while http::get(port, path).status != status {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{path} never {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// etcdctl 3.4 prints one line per endpoint on stderr, in no set order:
/// `<ep> is healthy: successfully committed proposal: took = <duration>`.
fn expect_healthy(cluster: &Cluster, endpoints: &str) {
    let out = etcdctl(endpoints, &["endpoint", "health"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut lines: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| !l.starts_with('{'))
        .map(|line| {
            let (head, took) = line.split_once(" took = ").expect("took");
            let unit = took.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            assert!(["ns", "µs", "ms", "s"].contains(&unit), "{line}");
            assert!(took.len() > unit.len(), "{line}");
            head.to_string()
        })
        .collect();
    lines.sort();
    let mut expected: Vec<String> = cluster
        .members
        .iter()
        .map(|m| {
            format!(
                "127.0.0.1:{} is healthy: successfully committed proposal:",
                m.client_port
            )
        })
        .collect();
    expected.sort();
    assert_eq!(lines, expected);
}

#[test]
fn health_is_true_with_a_leader_and_false_without_one() {
    let mut cluster = Cluster::start(3, "ops-health");
    for member in &cluster.members {
        for port in [member.client_port, member.metrics_port] {
            for path in ["/health", "/livez", "/readyz", "/health?serializable=true"] {
                expect(port, path, 200, HEALTHY);
            }
        }
    }
    expect_healthy(&cluster, &cluster.endpoints());

    cluster.kill(1);
    cluster.kill(2);
    let port = cluster.members[0].client_port;
    wait_for(port, "/health", 503);
    expect(port, "/health", 503, &unhealthy("RAFT NO LEADER"));
    let no_leader = unhealthy("RANGE ERROR:etcdserver: no leader");
    expect(port, "/readyz", 503, &no_leader);
    expect(port, "/livez", 503, &no_leader);
    // This member's own view needs no quorum.
    expect(port, "/health?serializable=true", 200, HEALTHY);
    expect(
        cluster.members[0].metrics_port,
        "/health",
        503,
        &unhealthy("RAFT NO LEADER"),
    );

    // A write without a quorum is a failed proposal.
    let failed = |port| metrics::scrape(port).value("etcd_server_proposals_failed_total", &[]);
    let before = failed(port);
    assert!(!etcdctl(&cluster.endpoint(0), &["put", "k", "v"], None)
        .status
        .success());
    assert!(failed(port) > before);

    let out = etcdctl(&cluster.endpoint(0), &["endpoint", "health"], None);
    assert!(!out.status.success());
    let lines: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| !l.starts_with('{'))
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        vec![
            format!(
                "{} is unhealthy: failed to commit proposal: etcdserver: no leader",
                cluster.endpoint(0)
            ),
            "Error: unhealthy cluster".to_string(),
        ]
    );
}

/// etcd 3.5 answers `/health` false while an alarm is raised (unless
/// excluded; `/livez` always ignores NOSPACE); etcdctl 3.4 does not look
/// at alarms and says healthy, as it does against etcd 3.4.
#[test]
fn an_alarm_makes_health_false_unless_excluded() {
    let cluster = Cluster::start_with(3, "ops-alarm", &["--quota-backend-bytes", "4096"]);
    let value = "v".repeat(400);
    let mut refused = false;
    for i in 0..40 {
        if !etcdctl(
            &cluster.endpoint(0),
            &["put", &format!("q{i:02}"), &value],
            None,
        )
        .status
        .success()
        {
            refused = true;
            break;
        }
    }
    assert!(refused, "a put over the quota is refused");
    for member in &cluster.members {
        let port = member.client_port;
        wait_for(port, "/health", 503);
        expect(port, "/health", 503, &unhealthy("ALARM NOSPACE"));
        expect(port, "/readyz", 503, &unhealthy("ALARM NOSPACE"));
        expect(port, "/health?exclude=NOSPACE", 200, HEALTHY);
        expect(port, "/livez", 200, HEALTHY);
    }
    expect_healthy(&cluster, &cluster.endpoints());

    cluster::expect(&cluster, &["alarm", "disarm"], &alarm_line(&cluster));
    for member in &cluster.members {
        wait_for(member.client_port, "/health", 200);
        expect(member.client_port, "/health", 200, HEALTHY);
    }
}

/// `alarm disarm` prints the alarm it lowered.
fn alarm_line(cluster: &Cluster) -> String {
    let out = etcdctl(&cluster.endpoints(), &["alarm", "list"], None);
    cluster::stdout(&out)
}
