//! The two kinds of 3-member cluster the bench drives: `paxon serve`
//! processes and real etcd, started with the same etcd flags.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paxon_proto::etcdserverpb as pb;
use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;
use tonic::transport::{Channel, Endpoint};

/// Members per cluster.
const MEMBERS: usize = 3;
/// How long a cluster or a restarted member may take to serve.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Which server a cluster runs, and its executable.
#[derive(Clone, Debug)]
pub enum Kind {
    /// `<exe> serve`.
    Paxon(PathBuf),
    /// `<etcd>`.
    Etcd(PathBuf),
}

impl Kind {
    /// The name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Paxon(_) => "paxon",
            Kind::Etcd(_) => "etcd",
        }
    }

    fn command(&self) -> Command {
        match self {
            Kind::Paxon(exe) => {
                let mut command = Command::new(exe);
                command.arg("serve");
                command
            }
            Kind::Etcd(etcd) => Command::new(etcd),
        }
    }
}

/// The etcd binary found, and what `etcd --version` says.
pub struct Etcd {
    /// Its path.
    pub path: PathBuf,
    /// Its first line of `--version`.
    pub version: String,
}

/// Finds etcd: `given`, else `etcd` on PATH, else /usr/bin/etcd.
pub fn find_etcd(given: Option<&Path>) -> Result<Etcd, String> {
    let candidates: Vec<PathBuf> = match given {
        Some(path) => vec![path.to_path_buf()],
        None => {
            let mut found: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|paths| {
                    std::env::split_paths(&paths)
                        .map(|p| p.join("etcd"))
                        .collect()
                })
                .unwrap_or_default();
            found.push(PathBuf::from("/usr/bin/etcd"));
            found
        }
    };
    for path in candidates {
        let Ok(output) = Command::new(&path).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout);
        if let Some(version) = text.lines().next().filter(|_| output.status.success()) {
            eprintln!("paxon bench: etcd is {} ({version})", path.display());
            return Ok(Etcd {
                path,
                version: version.to_string(),
            });
        }
    }
    Err("etcd not found: install the Debian package etcd-server \
         (apt-get install etcd-server, as scripts/install-deps.sh does) or pass --etcd PATH"
        .into())
}

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// Three running members of one kind, killed when dropped.
pub struct Cluster {
    /// What runs.
    pub kind: Kind,
    dir: PathBuf,
    members: Vec<Member>,
    initial_cluster: String,
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl Cluster {
    /// Starts one cluster of every kind under `dir`, each in its own
    /// subdirectory.
    pub async fn start_both(kinds: &[Kind], dir: &Path) -> Result<Vec<Cluster>, String> {
        let mut clusters = Vec::new();
        for kind in kinds {
            clusters.push(Cluster::start(kind.clone(), &dir.join(kind.name())).await?);
        }
        Ok(clusters)
    }

    /// Starts three members under `dir` and waits until they serve.
    pub async fn start(kind: Kind, dir: &Path) -> Result<Cluster, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut members = Vec::new();
        for i in 1..=MEMBERS {
            members.push(Member {
                name: format!("m{i}"),
                client_port: free_port()?,
                peer_port: free_port()?,
                child: None,
            });
        }
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            kind,
            dir: dir.to_path_buf(),
            members,
            initial_cluster,
        };
        for i in 0..MEMBERS {
            cluster.start_member(i)?;
        }
        for i in 0..MEMBERS {
            cluster.wait_serving(i, b"__bench_ready").await?;
        }
        Ok(cluster)
    }

    /// Starts (or restarts) member `i` with its data directory.
    pub fn start_member(&mut self, i: usize) -> Result<(), String> {
        let m = &self.members[i];
        let log_path = self.dir.join(format!("{}.log", m.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("{}: {e}", log_path.display()))?;
        let client = format!("http://127.0.0.1:{}", m.client_port);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let child = self
            .kind
            .command()
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(self.dir.join(&m.name))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-token", "paxon-bench"])
            .args(["--initial-cluster-state", "new"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {} {}: {e}", self.kind.name(), m.name))?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// Waits until member `i` answers a linearizable read of `key` (written
    /// first if it is the readiness key), bounded by [`READY_TIMEOUT`].
    pub async fn wait_serving(&self, i: usize, key: &[u8]) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if let Ok(channel) = self.connect_member(i).await {
                let mut kv = KvClient::new(channel);
                let put = pb::PutRequest {
                    key: key.to_vec(),
                    value: b"1".to_vec(),
                    ..Default::default()
                };
                let ready = key != b"__bench_ready" || kv.put(put).await.is_ok();
                let get = pb::RangeRequest {
                    key: key.to_vec(),
                    ..Default::default()
                };
                if ready {
                    if let Ok(answer) = kv.range(get).await {
                        if !answer.into_inner().kvs.is_empty() {
                            return Ok(());
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!(
            "{} member {} did not serve within {READY_TIMEOUT:?}; see {}",
            self.kind.name(),
            self.members[i].name,
            self.dir.display()
        ))
    }

    async fn connect_member(&self, i: usize) -> Result<Channel, String> {
        let url = format!("http://127.0.0.1:{}", self.members[i].client_port);
        Endpoint::from_shared(url)
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(1))
            .connect()
            .await
            .map_err(|e| e.to_string())
    }

    /// `n` connections, spread over the members in turn.
    pub async fn connect(&self, n: usize) -> Result<Vec<Channel>, String> {
        let mut channels = Vec::new();
        for i in 0..n {
            channels.push(self.connect_member(i % MEMBERS).await?);
        }
        Ok(channels)
    }

    /// The member that says it leads, if one does.
    pub async fn leader(&self) -> Option<usize> {
        for i in 0..MEMBERS {
            let Ok(channel) = self.connect_member(i).await else {
                continue;
            };
            let Ok(status) = MaintenanceClient::new(channel)
                .status(pb::StatusRequest {})
                .await
            else {
                continue;
            };
            let status = status.into_inner();
            let me = status.header.map(|h| h.member_id);
            if me == Some(status.leader) {
                return Some(i);
            }
        }
        None
    }

    /// Resident memory of member `i` (VmRSS), in KiB.
    pub fn rss_kib(&self, i: usize) -> Option<u64> {
        let pid = self.members[i].child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// `kill -9` of member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
