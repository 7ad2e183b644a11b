//! Real `paxon serve` processes, on loopback or each in its own network
//! namespace, that the nemesis kills (`kill -9`), pauses (`SIGSTOP`),
//! restarts, wipes and starves of disk.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use etcd_client::{Client, ConnectOptions};

use crate::netns::Net;

/// Election timeout given to every member (etcd's `--election-timeout`).
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(500);

/// One member: its addresses and its process, if running.
pub struct Member {
    pub name: String,
    client_url: String,
    peer_url: String,
    child: Option<Child>,
    paused: bool,
    /// For a member added at run time: the `--initial-cluster` it starts
    /// with, and `--initial-cluster-state existing`.
    joined: Option<String>,
}

/// A cluster of real processes in a temporary directory.
pub struct Cluster {
    pub dir: PathBuf,
    pub members: Vec<Member>,
    initial_cluster: String,
    /// The namespaces, when the cluster runs in them; dropped after the
    /// members (field order).
    pub net: Option<Net>,
    /// A tmpfs mounted on a member's data dir, unmounted on drop.
    mounts: Vec<PathBuf>,
}

fn free_port() -> u16 {
    // A port is never handed out twice in this process, so clusters of
    // tests running one after the other never share one.
    static USED: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut used = USED.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("local addr").port();
        if !used.contains(&port) {
            used.push(port);
            return port;
        }
    }
}

impl Cluster {
    /// `n` members on loopback, not started yet.
    pub fn on_loopback(n: usize, test: &str) -> Cluster {
        let addrs = (0..n)
            .map(|_| {
                let client = format!("http://127.0.0.1:{}", free_port());
                let peer = format!("http://127.0.0.1:{}", free_port());
                (client, peer)
            })
            .collect();
        Cluster::new(test, addrs, None)
    }

    /// `n` members, each in its own network namespace (needs root).
    pub fn in_namespaces(n: usize, test: &str) -> Cluster {
        let net = Net::create(n).unwrap_or_else(|e| {
            panic!("cannot build the test network (the test needs root and `ip`): {e}")
        });
        let addrs = (0..n)
            .map(|i| {
                let client = format!("http://{}:2379", net.ip(i));
                let peer = format!("http://{}:2380", net.ip(i));
                (client, peer)
            })
            .collect();
        Cluster::new(test, addrs, Some(net))
    }

    fn new(test: &str, addrs: Vec<(String, String)>, net: Option<Net>) -> Cluster {
        let dir = std::env::temp_dir().join(format!("paxon-faults-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let members: Vec<Member> = addrs
            .into_iter()
            .enumerate()
            .map(|(i, (client_url, peer_url))| Member {
                name: format!("m{}", i + 1),
                client_url,
                peer_url,
                child: None,
                paused: false,
                joined: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        Cluster {
            dir,
            members,
            initial_cluster,
            net,
            mounts: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// A new member on fresh loopback ports, not started: it will join
    /// the cluster described by `initial_cluster` (which names it `name`
    /// with `peer_url`, as `etcdctl member add` prints it).
    pub fn add_member(&mut self, name: &str, peer_url: &str, initial_cluster: String) -> usize {
        assert!(self.net.is_none(), "members are added on loopback only");
        self.members.push(Member {
            name: name.to_string(),
            client_url: format!("http://127.0.0.1:{}", free_port()),
            peer_url: peer_url.to_string(),
            child: None,
            paused: false,
            joined: Some(initial_cluster),
        });
        self.members.len() - 1
    }

    /// A fresh loopback peer URL for a member to be added.
    pub fn new_peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", free_port())
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.join(&self.members[i].name)
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir.join(format!("{}.log", self.members[i].name))
    }

    /// The client endpoint of member `i`, as `host:port`.
    pub fn endpoint(&self, i: usize) -> String {
        self.members[i]
            .client_url
            .trim_start_matches("http://")
            .to_string()
    }

    /// Starts every member.
    pub fn start_all(&mut self) {
        for i in 0..self.len() {
            self.start(i);
        }
    }

    /// Starts member `i` with etcd's flags (in its namespace, if any).
    pub fn start(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "m{} already runs", i + 1);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("log file");
        let mut command = match &self.net {
            Some(net) => {
                let mut ip = Command::new("ip");
                ip.args(["netns", "exec", &net.ns(i)]);
                ip.arg(env!("CARGO_BIN_EXE_paxon"));
                ip
            }
            None => Command::new(env!("CARGO_BIN_EXE_paxon")),
        };
        let m = &self.members[i];
        command
            .arg("serve")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(self.dir.join(&m.name))
            .args(["--listen-client-urls", &m.client_url])
            .args(["--advertise-client-urls", &m.client_url])
            .args(["--listen-peer-urls", &m.peer_url])
            .args(["--initial-advertise-peer-urls", &m.peer_url])
            .args([
                "--initial-cluster",
                m.joined.as_deref().unwrap_or(&self.initial_cluster),
            ])
            .args(match m.joined {
                Some(_) => &["--initial-cluster-state", "existing"][..],
                None => &[],
            })
            .args(["--initial-cluster-token", "paxon-faults"])
            .args(["--heartbeat-interval", "50"])
            .arg("--election-timeout")
            .arg(ELECTION_TIMEOUT.as_millis().to_string())
            // Snapshots every 500 slots: restarts and laggards exercise the
            // law book, not only the log.
            .args(["--snapshot-count", "500"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let child = command.spawn().expect("spawn paxon serve");
        self.members[i].child = Some(child);
        self.members[i].paused = false;
    }

    /// `kill -9` (a paused member dies too).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.members[i].paused = false;
    }

    fn signal(&self, i: usize, signal: &str) {
        let child = self.members[i].child.as_ref().expect("a running member");
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} m{}", i + 1);
    }

    /// `SIGSTOP`: the process freezes, its sockets stay open.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, "-STOP");
        self.members[i].paused = true;
    }

    /// `SIGCONT`.
    pub fn resume(&mut self, i: usize) {
        self.signal(i, "-CONT");
        self.members[i].paused = false;
    }

    /// Whether member `i` exited by itself; returns its exit status.
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let child = self.members[i].child.as_mut()?;
        let status = child.try_wait().ok().flatten()?;
        self.members[i].child = None;
        Some(status)
    }

    /// Members running and not paused.
    pub fn live(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|i| self.members[*i].child.is_some() && !self.members[*i].paused)
            .collect()
    }

    /// Mounts a tmpfs of `bytes` on member `i`'s data dir (before its
    /// first start): a disk that can fill up.
    pub fn small_disk(&mut self, i: usize, bytes: u64) {
        let dir = self.data_dir(i);
        std::fs::create_dir_all(&dir).expect("data dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(&dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount a tmpfs on {} (needs root)",
            dir.display()
        );
        self.mounts.push(dir);
    }

    /// The last lines of member `i`'s log, for failure messages.
    pub fn log_tail(&self, i: usize) -> String {
        let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.len() {
            self.kill(i);
        }
        for dir in &self.mounts {
            let _ = Command::new("umount").arg(dir).status();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A client of member `i` only, with a per-request time-out: a request
/// that runs out of time has an unknown outcome.
pub async fn connect(endpoint: &str) -> Client {
    connect_all(&[endpoint]).await
}

/// A client balancing over `endpoints`.
pub async fn connect_all<E: AsRef<str>>(endpoints: &[E]) -> Client {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_millis(500))
        .with_timeout(Duration::from_secs(3));
    Client::connect(endpoints, Some(options))
        .await
        .expect("a client (connects lazily)")
}
