//! TLS with etcd's flags: etcdctl with `--cacert/--cert/--key` against
//! `https` client URLs, `--client-cert-auth` refusing clients without a
//! certificate from the trusted CA, and peers talking over TLS
//! (`--peer-client-cert-auth` keeping out a member whose certificate
//! another CA signed). Certificates are made at run time (`cluster::certs`).

mod cluster;

use std::time::{Duration, Instant};

use cluster::{certs, etcdctl, peer_tls_args, stderr, stdout, Cluster, TlsOptions};

const ALL: TlsOptions = TlsOptions {
    client: true,
    client_cert_auth: true,
    peer: true,
    peer_client_cert_auth: true,
};

#[test]
fn etcdctl_over_tls_reads_and_writes_on_three_members_whose_peers_talk_tls() {
    let cluster = Cluster::start_tls(3, "tls-all", &[], ALL);
    let out = cluster.etcdctl(&["put", "greeting", "hello"]);
    assert_eq!(stdout(&out), "OK\n", "{}", stderr(&out));
    for i in 0..3 {
        let out = cluster.etcdctl_at(
            &cluster.endpoint(i),
            &["get", "greeting", "--consistency=l"],
        );
        assert_eq!(
            stdout(&out),
            "greeting\nhello\n",
            "member {i}: {}",
            stderr(&out)
        );
    }
    let out = cluster.etcdctl(&["member", "list"]);
    let mut lines: Vec<String> = stdout(&out)
        .lines()
        .map(|line| line.split_once(", ").expect("id, rest").1.to_string())
        .collect();
    lines.sort();
    let expected: Vec<String> = cluster
        .members
        .iter()
        .map(|m| {
            format!(
                "started, {}, https://127.0.0.1:{}, https://127.0.0.1:{}, false",
                m.name, m.peer_port, m.client_port
            )
        })
        .collect();
    assert_eq!(lines, expected, "{}", stderr(&out));
}

#[test]
fn a_client_without_a_certificate_from_the_trusted_ca_is_refused_and_changes_nothing() {
    let cluster = Cluster::start_tls(1, "tls-refuse", &[], ALL);
    let ca = cluster.etcdctl_args[0].clone();
    let other_ca = certs::Ca::new(&cluster.dir.join("other"), "other");
    let stranger = other_ca.sign("stranger");
    let stranger_cert = format!("--cert={}", stranger.cert_file.display());
    let stranger_key = format!("--key={}", stranger.key_file.display());
    let endpoint = cluster.endpoint(0);
    let plain = endpoint.replace("https://", "http://");
    let attempts: [(&str, Vec<&str>); 3] = [
        (&endpoint, vec![&ca]),
        (&endpoint, vec![&ca, &stranger_cert, &stranger_key]),
        (&plain, vec![]),
    ];
    for (endpoint, flags) in attempts {
        let mut args = flags.clone();
        args.extend(["--dial-timeout=2s", "put", "intruder", "x"]);
        let out = etcdctl(endpoint, &args, None);
        assert!(!out.status.success(), "{flags:?} was let in");
        assert_eq!(stdout(&out), "", "{flags:?}");
        assert!(
            stderr(&out).contains("context deadline exceeded"),
            "{flags:?}: {}",
            stderr(&out)
        );
    }
    let out = cluster.etcdctl(&["get", "intruder"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_member_whose_peer_certificate_another_ca_signed_is_kept_out_until_it_has_a_good_one() {
    let peers_only = TlsOptions {
        peer: true,
        peer_client_cert_auth: true,
        ..TlsOptions::default()
    };
    let mut cluster = Cluster::start_tls(3, "tls-rogue", &[], peers_only);
    let good_args = cluster.members[2].args.clone();
    let ca_file = cluster.dir.join("certs").join("ca.pem");
    let rogue = certs::Ca::new(&cluster.dir.join("rogue"), "rogue").sign("m3");
    cluster.kill(2);
    cluster.members[2].args = peer_tls_args(&rogue, &ca_file);
    cluster.members[2]
        .args
        .push("--peer-client-cert-auth".into());
    cluster.start_member(2);
    let m1 = cluster.endpoint(0);
    // m3 may have been the leader: the first puts can time out while the
    // other two elect a new one.
    let start = Instant::now();
    loop {
        let out = etcdctl(&m1, &["put", "after", "restart"], None);
        if stdout(&out) == "OK\n" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "m1 and m2 never took the write: {}",
            stderr(&out)
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    let m3 = cluster.endpoint(2);
    let out = etcdctl(&m3, &["get", "after", "--consistency=s"], None);
    assert_eq!(stdout(&out), "", "the rogue member learned a write");
    cluster.kill(2);
    cluster.members[2].args = good_args;
    cluster.start_member(2);
    let start = Instant::now();
    loop {
        let out = etcdctl(&m3, &["get", "after", "--consistency=s"], None);
        if stdout(&out) == "after\nrestart\n" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "m3 with a good certificate never caught up: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
