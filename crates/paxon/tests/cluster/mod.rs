//! Real `paxon serve` processes on loopback, driven by Debian's `etcdctl`.

#![allow(dead_code)]

pub mod certs;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A member's ports and process.
pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    /// `--listen-metrics-urls` (metrics and health only).
    pub metrics_port: u16,
    pub child: Option<Child>,
    /// This member's own extra `paxon serve` flags (its TLS files).
    pub args: Vec<String>,
    /// For a member added at run time: the `--initial-cluster` that
    /// `etcdctl member add` printed (it starts with
    /// `--initial-cluster-state existing`).
    pub joined: Option<String>,
}

/// A cluster of real processes in a temporary directory.
pub struct Cluster {
    pub dir: PathBuf,
    pub members: Vec<Member>,
    initial_cluster: String,
    extra_args: Vec<String>,
    tls: TlsOptions,
    /// etcdctl's TLS flags (`--cacert`, `--cert`, `--key`).
    pub etcdctl_args: Vec<String>,
}

/// TLS on a test cluster's client and peer URLs, with certificates made
/// by one CA at run time (`certs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsOptions {
    /// `https` client URLs (`--cert-file`, `--key-file`).
    pub client: bool,
    /// `--client-cert-auth` with `--trusted-ca-file`.
    pub client_cert_auth: bool,
    /// `https` peer URLs (`--peer-cert-file`, `--peer-key-file`,
    /// `--peer-trusted-ca-file`).
    pub peer: bool,
    /// `--peer-client-cert-auth`.
    pub peer_client_cert_auth: bool,
}

/// Ports handed out in this test process: clusters of tests running in
/// parallel must never share one (a client would reach the wrong cluster).
static USED_PORTS: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn free_port() -> u16 {
    let mut used = USED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("local addr").port();
        if used.insert(port) {
            return port;
        }
    }
}

impl Cluster {
    /// Starts `n` members and waits until a write goes through.
    pub fn start(n: usize, test: &str) -> Cluster {
        Cluster::start_with(n, test, &[])
    }

    /// Starts `n` members with extra `paxon serve` flags.
    pub fn start_with(n: usize, test: &str, extra_args: &[&str]) -> Cluster {
        Cluster::start_tls(n, test, extra_args, TlsOptions::default())
    }

    /// Starts `n` members with TLS as `tls` says; etcdctl gets a
    /// certificate from the same CA (`etcdctl_args`).
    pub fn start_tls(n: usize, test: &str, extra_args: &[&str], tls: TlsOptions) -> Cluster {
        let mut cluster = Cluster::create(n, test, extra_args, tls);
        for i in 0..n {
            cluster.start_member(i);
        }
        cluster.wait_ready();
        cluster
    }

    /// Lays out `n` members (ports, certificates) without starting them.
    pub fn create(n: usize, test: &str, extra_args: &[&str], tls: TlsOptions) -> Cluster {
        let dir = std::env::temp_dir().join(format!("paxon-e2e-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let members: Vec<Member> = (1..=n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                metrics_port: free_port(),
                child: None,
                args: Vec::new(),
                joined: None,
            })
            .collect();
        let peer_scheme = if tls.peer { "https" } else { "http" };
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={peer_scheme}://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            dir,
            members,
            initial_cluster,
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            tls,
            etcdctl_args: Vec::new(),
        };
        if tls.client || tls.peer {
            cluster.make_certificates();
        }
        cluster
    }

    /// One CA; a certificate per member (for both sides) and, with
    /// client TLS, one for etcdctl.
    fn make_certificates(&mut self) {
        let ca = certs::Ca::new(&self.dir.join("certs"), "ca");
        let path = |p: &Path| p.display().to_string();
        for member in &mut self.members {
            let files = certs::Ca::sign(&ca, &member.name);
            if self.tls.client {
                member.args.extend([
                    format!("--cert-file={}", path(&files.cert_file)),
                    format!("--key-file={}", path(&files.key_file)),
                ]);
                if self.tls.client_cert_auth {
                    member.args.push("--client-cert-auth".into());
                    member
                        .args
                        .push(format!("--trusted-ca-file={}", path(&ca.cert_file)));
                }
            }
            if self.tls.peer {
                member.args.extend(peer_tls_args(&files, &ca.cert_file));
                if self.tls.peer_client_cert_auth {
                    member.args.push("--peer-client-cert-auth".into());
                }
            }
        }
        if !self.tls.client {
            return;
        }
        let client = ca.sign("etcdctl");
        self.etcdctl_args = vec![
            format!("--cacert={}", path(&ca.cert_file)),
            format!("--cert={}", path(&client.cert_file)),
            format!("--key={}", path(&client.key_file)),
        ];
    }

    fn client_scheme(&self) -> &'static str {
        if self.tls.client {
            "https"
        } else {
            "http"
        }
    }

    fn peer_scheme(&self) -> &'static str {
        if self.tls.peer {
            "https"
        } else {
            "http"
        }
    }

    pub fn start_member(&mut self, i: usize) {
        let m = &self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{}.log", m.name)))
            .expect("log file");
        // PAXON_E2E_ETCD=/usr/bin/etcd runs the same members as real etcd
        // (`paxon serve` takes etcd's flags): a check that a test expects
        // etcd's behaviour, not Paxon's.
        let mut command = match std::env::var_os("PAXON_E2E_ETCD") {
            Some(etcd) => Command::new(etcd),
            None => {
                let mut paxon = Command::new(env!("CARGO_BIN_EXE_paxon"));
                paxon.arg("serve");
                paxon
            }
        };
        let child = command
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(self.dir.join(&m.name))
            .args([
                "--listen-client-urls",
                &format!("{}://127.0.0.1:{}", self.client_scheme(), m.client_port),
            ])
            .args([
                "--advertise-client-urls",
                &format!("{}://127.0.0.1:{}", self.client_scheme(), m.client_port),
            ])
            .args([
                "--listen-peer-urls",
                &format!("{}://127.0.0.1:{}", self.peer_scheme(), m.peer_port),
            ])
            .args([
                "--initial-advertise-peer-urls",
                &format!("{}://127.0.0.1:{}", self.peer_scheme(), m.peer_port),
            ])
            .args([
                "--listen-metrics-urls",
                &format!("http://127.0.0.1:{}", m.metrics_port),
            ])
            .args([
                "--initial-cluster",
                m.joined.as_deref().unwrap_or(&self.initial_cluster),
            ])
            .args(match m.joined {
                Some(_) => &["--initial-cluster-state", "existing"][..],
                None => &[],
            })
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(&self.extra_args)
            .args(&m.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn paxon serve");
        self.members[i].child = Some(child);
    }

    /// `etcdctl member add` (asked of every endpoint, as a learner if
    /// `learner`) of a new member on fresh ports, then starts it on an
    /// empty data directory with the `--initial-cluster` etcdctl printed.
    /// Returns its index and id.
    pub fn add_member(&mut self, learner: bool) -> (usize, u64) {
        assert!(!self.tls.peer, "add_member makes no certificates");
        let name = format!("m{}", self.members.len() + 1);
        let peer_port = free_port();
        let peer_url = format!("--peer-urls=http://127.0.0.1:{peer_port}");
        let mut args = vec!["member", "add", &name, &peer_url];
        if learner {
            args.push("--learner");
        }
        let out = self.etcdctl(&args);
        assert!(out.status.success(), "member add: {}", stderr(&out));
        let text = stdout(&out);
        let id = text
            .split_whitespace()
            .nth(1)
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .unwrap_or_else(|| panic!("no id in {text:?}"));
        let initial_cluster = text
            .lines()
            .find_map(|line| line.strip_prefix("ETCD_INITIAL_CLUSTER="))
            .map(|value| value.trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("no ETCD_INITIAL_CLUSTER in {text:?}"));
        self.members.push(Member {
            name,
            client_port: free_port(),
            peer_port,
            metrics_port: free_port(),
            child: None,
            args: Vec::new(),
            joined: Some(initial_cluster),
        });
        let i = self.members.len() - 1;
        self.start_member(i);
        (i, id)
    }

    /// kill -9.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn endpoints(&self) -> String {
        (0..self.members.len())
            .map(|i| self.endpoint(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `127.0.0.1:port`, or `https://127.0.0.1:port` with client TLS.
    pub fn endpoint(&self, i: usize) -> String {
        let port = self.members[i].client_port;
        match self.tls.client {
            true => format!("https://127.0.0.1:{port}"),
            false => format!("127.0.0.1:{port}"),
        }
    }

    /// Runs etcdctl against every endpoint.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        self.etcdctl_at(&self.endpoints(), args)
    }

    /// Runs etcdctl against `endpoints`, with the cluster's TLS flags.
    pub fn etcdctl_at(&self, endpoints: &str, args: &[&str]) -> Output {
        let mut all: Vec<&str> = self.etcdctl_args.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        etcdctl(endpoints, &all, None)
    }

    /// Waits until a linearizable write and read succeed (bounded).
    pub fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            let out = self.etcdctl(&["put", "__ready", "1"]);
            if out.status.success() {
                let out = self.etcdctl(&["del", "__ready"]);
                if out.status.success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "cluster in {} never became ready; see the logs there",
            self.dir.display()
        );
    }

    /// Index of the member that reports itself leader.
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|i| {
            self.members[*i].child.is_some() && {
                let out = self.etcdctl_at(&self.endpoint(*i), &["endpoint", "status"]);
                stdout(&out).contains(", true, false,")
            }
        })
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join(&self.members[i].name)
    }
}

/// `--peer-cert-file`, `--peer-key-file` and `--peer-trusted-ca-file`.
pub fn peer_tls_args(files: &certs::CertFiles, ca_file: &Path) -> Vec<String> {
    vec![
        format!("--peer-cert-file={}", files.cert_file.display()),
        format!("--peer-key-file={}", files.key_file.display()),
        format!("--peer-trusted-ca-file={}", ca_file.display()),
    ]
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs etcdctl with `input` on its stdin.
pub fn etcdctl(endpoints: &str, args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoints}"))
        .arg("--command-timeout=5s")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("etcdctl is installed (Debian package etcd-client; scripts/install-deps.sh)");
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(input) = input {
        stdin.write_all(input.as_bytes()).expect("write stdin");
    }
    drop(stdin);
    child.wait_with_output().expect("etcdctl output")
}

/// The cluster id `etcdctl endpoint status` reports at `endpoint`.
pub fn cluster_id(endpoint: &str) -> u64 {
    let out = etcdctl(endpoint, &["endpoint", "status", "-w", "fields"], None);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("\"ClusterID\""))
        .expect("ClusterID field");
    line.split(" : ").nth(1).unwrap().trim().parse().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Path of the one WAL segment under a member's data dir.
pub fn first_segment(data_dir: &Path) -> PathBuf {
    let wal = data_dir.join("member").join("wal");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&wal)
        .expect("wal dir")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    names.remove(0)
}

/// Runs `args` against every endpoint and asserts etcdctl's exact stdout.
pub fn expect(cluster: &Cluster, args: &[&str], expected: &str) {
    let out = cluster.etcdctl(args);
    assert!(
        out.status.success(),
        "etcdctl {args:?} failed: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), expected, "etcdctl {args:?}");
}

/// Runs `args` against every endpoint and expects failure with etcd's
/// error line.
pub fn expect_error(cluster: &Cluster, args: &[&str], error: &str) {
    let out = cluster.etcdctl(args);
    assert!(!out.status.success(), "etcdctl {args:?} should fail");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Error: {error}")),
        "etcdctl {args:?}: {err}"
    );
}

/// A long-running etcdctl (watch, lease keep-alive, lock, elect) whose
/// output is collected as it comes; killed when dropped.
pub struct Background {
    child: Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Background {
    pub fn start(endpoints: &str, args: &[&str]) -> Background {
        use std::io::Read;
        let mut child = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcdctl is installed");
        let mut pipe = child.stdout.take().expect("stdout");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                sink.lock().unwrap().push_str(&text);
            }
        });
        Background { child, out }
    }

    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits (bounded) until the output is `expected`, then a little
    /// longer to see that nothing more (a duplicate) follows.
    pub fn expect_output(&self, expected: &str) {
        let start = Instant::now();
        while !self.output().starts_with(expected) && start.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(self.output(), expected);
    }

    /// Waits (bounded) for `lines` lines of output, then returns it.
    pub fn lines(&self, lines: usize) -> String {
        let start = Instant::now();
        while self.output().lines().count() < lines && start.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        self.output()
    }

    /// Ctrl-C: etcdctl resigns or unlocks before it exits.
    pub fn interrupt(mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-INT", &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let _ = self.child.wait();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
