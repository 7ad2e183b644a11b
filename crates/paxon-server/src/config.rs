//! `paxon serve`'s settings, with etcd's flag names and meanings, checked
//! once before anything starts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use paxon_core::NodeId;

/// Why the settings cannot work (the binary exits with status 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// A URL of the form `http://host:port` or `https://host:port` (TLS).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Url {
    /// `host:port`.
    pub host_port: String,
    /// `https`: the connection is TLS (see [`crate::tls`]).
    pub tls: bool,
}

impl Url {
    /// Parses one URL: `http://host:port` or `https://host:port`.
    pub fn parse(text: &str) -> Result<Url, ConfigError> {
        let text = text.trim();
        let (tls, rest) = match (text.strip_prefix("http://"), text.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ if text.starts_with("unix://") || text.starts_with("unixs://") => {
                return fail(format!(
                    "{text}: unix sockets are not supported by paxon; use http:// or https://"
                ));
            }
            _ => return fail(format!("{text}: a URL must look like http://host:port")),
        };
        let rest = rest.trim_end_matches('/');
        let Some((host, port)) = rest.rsplit_once(':') else {
            return fail(format!("{text}: the URL has no port"));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return fail(format!("{text}: bad host or port"));
        }
        Ok(Url {
            host_port: rest.to_string(),
            tls,
        })
    }

    /// The host without the port (and without the brackets of an IPv6
    /// address): the name a TLS peer's certificate must carry.
    pub fn host(&self) -> &str {
        let host = self
            .host_port
            .rsplit_once(':')
            .map_or(self.host_port.as_str(), |(host, _)| host);
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// Parses a comma-separated list of URLs (at least one).
    pub fn parse_list(flag: &str, text: &str) -> Result<Vec<Url>, ConfigError> {
        let urls: Vec<Url> = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Url::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| ConfigError(format!("--{flag}: {}", e.0)))?;
        if urls.is_empty() {
            return fail(format!("--{flag} needs at least one URL"));
        }
        Ok(urls)
    }

    /// The URL as etcd prints it.
    pub fn to_url_string(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host_port)
    }
}

/// `--initial-cluster-state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    /// A new cluster is being bootstrapped.
    New,
    /// Joining a running cluster (needs membership changes: not yet).
    Existing,
}

/// Every `paxon serve` setting, validated.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// `--name`.
    pub name: String,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--listen-client-urls`.
    pub listen_client_urls: Vec<Url>,
    /// `--advertise-client-urls`.
    pub advertise_client_urls: Vec<Url>,
    /// `--listen-metrics-urls`: extra listeners for `/metrics` and the
    /// health endpoints (may be empty).
    pub listen_metrics_urls: Vec<Url>,
    /// `--listen-peer-urls`.
    pub listen_peer_urls: Vec<Url>,
    /// `--initial-advertise-peer-urls`.
    pub initial_advertise_peer_urls: Vec<Url>,
    /// `--initial-cluster`: member name → peer URLs.
    pub initial_cluster: BTreeMap<String, Vec<Url>>,
    /// `--initial-cluster-state`.
    pub initial_cluster_state: ClusterState,
    /// `--initial-cluster-token`.
    pub initial_cluster_token: String,
    /// `--heartbeat-interval` in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// `--election-timeout` in milliseconds.
    pub election_timeout_ms: u64,
    /// `--quota-backend-bytes`.
    pub quota_backend_bytes: u64,
    /// `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// `--max-txn-ops`.
    pub max_txn_ops: usize,
    /// `--snapshot-count`: applied slots between two snapshots.
    pub snapshot_count: u64,
    /// `--cert-file` and its friends, when any client URL is `https`.
    pub client_tls: Option<TlsFiles>,
    /// `--peer-cert-file` and its friends, when any peer URL is `https`.
    pub peer_tls: Option<TlsFiles>,
}

/// One side's TLS flags as given (clients: `--cert-file`, `--key-file`,
/// `--trusted-ca-file`, `--client-cert-auth`; peers: the same with
/// `--peer-`).
#[derive(Clone, Debug, Default)]
pub struct TlsFlags {
    /// The certificate this member presents (PEM, chain allowed).
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub key_file: Option<PathBuf>,
    /// The CA that signs the other side's certificates (PEM).
    pub trusted_ca_file: Option<PathBuf>,
    /// Refuse a connection without a certificate signed by that CA.
    pub client_cert_auth: bool,
}

/// One side's TLS files, validated: a certificate and key, and the CA
/// when certificates are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--cert-file` / `--peer-cert-file`.
    pub cert_file: PathBuf,
    /// `--key-file` / `--peer-key-file`.
    pub key_file: PathBuf,
    /// `--trusted-ca-file` / `--peer-trusted-ca-file`.
    pub trusted_ca_file: Option<PathBuf>,
    /// `--client-cert-auth` / `--peer-client-cert-auth`.
    pub client_cert_auth: bool,
}

impl TlsFlags {
    /// Checks one side's flags against its URLs. `prefix` is `""` for
    /// clients and `"peer-"` for peers; `ca_needed` says whether the CA
    /// is needed anyway (a member dialling `https` peers checks their
    /// certificates against it).
    fn validate(
        &self,
        prefix: &str,
        urls: &[&Url],
        ca_needed: bool,
    ) -> Result<Option<TlsFiles>, ConfigError> {
        let Some(url) = urls.iter().find(|url| url.tls) else {
            return Ok(None);
        };
        let (Some(cert_file), Some(key_file)) = (&self.cert_file, &self.key_file) else {
            return fail(format!(
                "{}: TLS needs --{prefix}cert-file and --{prefix}key-file",
                url.to_url_string()
            ));
        };
        if self.trusted_ca_file.is_none() && (self.client_cert_auth || ca_needed) {
            let why = if self.client_cert_auth {
                format!("--{prefix}client-cert-auth")
            } else {
                format!("{} (checking the peers' certificates)", url.to_url_string())
            };
            return fail(format!("{why} needs --{prefix}trusted-ca-file"));
        }
        Ok(Some(TlsFiles {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            trusted_ca_file: self.trusted_ca_file.clone(),
            client_cert_auth: self.client_cert_auth,
        }))
    }
}

/// The flags as given (strings), before validation.
#[derive(Clone, Debug)]
pub struct Flags {
    /// `--name`.
    pub name: String,
    /// `--data-dir` (default `<name>.paxon`).
    pub data_dir: Option<PathBuf>,
    /// `--listen-client-urls`.
    pub listen_client_urls: String,
    /// `--advertise-client-urls`.
    pub advertise_client_urls: String,
    /// `--listen-metrics-urls` (empty: none).
    pub listen_metrics_urls: String,
    /// `--listen-peer-urls`.
    pub listen_peer_urls: String,
    /// `--initial-advertise-peer-urls`.
    pub initial_advertise_peer_urls: String,
    /// `--initial-cluster` (default `<name>=<initial-advertise-peer-urls>`).
    pub initial_cluster: Option<String>,
    /// `--initial-cluster-state`.
    pub initial_cluster_state: String,
    /// `--initial-cluster-token`.
    pub initial_cluster_token: String,
    /// `--heartbeat-interval` (ms).
    pub heartbeat_interval: u64,
    /// `--election-timeout` (ms).
    pub election_timeout: u64,
    /// `--quota-backend-bytes` (0: etcd's default, 2 GiB).
    pub quota_backend_bytes: u64,
    /// `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// `--max-txn-ops`.
    pub max_txn_ops: usize,
    /// `--snapshot-count`.
    pub snapshot_count: u64,
    /// `--cert-file`, `--key-file`, `--trusted-ca-file`, `--client-cert-auth`.
    pub client_tls: TlsFlags,
    /// `--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`,
    /// `--peer-client-cert-auth`.
    pub peer_tls: TlsFlags,
}

impl Default for Flags {
    fn default() -> Flags {
        Flags {
            name: "default".into(),
            data_dir: None,
            listen_client_urls: "http://localhost:2379".into(),
            advertise_client_urls: "http://localhost:2379".into(),
            listen_metrics_urls: String::new(),
            listen_peer_urls: "http://localhost:2380".into(),
            initial_advertise_peer_urls: "http://localhost:2380".into(),
            initial_cluster: None,
            initial_cluster_state: "new".into(),
            initial_cluster_token: "etcd-cluster".into(),
            heartbeat_interval: 100,
            election_timeout: 1000,
            quota_backend_bytes: 0,
            max_request_bytes: 1_572_864,
            max_txn_ops: 128,
            snapshot_count: 100_000,
            client_tls: TlsFlags::default(),
            peer_tls: TlsFlags::default(),
        }
    }
}

/// etcd's default backend quota.
pub const QUOTA_BACKEND_BYTES_DEFAULT: u64 = 2 * 1024 * 1024 * 1024;

impl Flags {
    /// Checks every flag and the cluster definition.
    pub fn validate(&self) -> Result<ServeConfig, ConfigError> {
        if self.name.is_empty() {
            return fail("--name must not be empty");
        }
        let advertise_peer = Url::parse_list(
            "initial-advertise-peer-urls",
            &self.initial_advertise_peer_urls,
        )?;
        let default_cluster = format!(
            "{}={}",
            self.name,
            advertise_peer
                .iter()
                .map(Url::to_url_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let text = self.initial_cluster.clone().unwrap_or(default_cluster);
        let initial_cluster = parse_initial_cluster(&text)?;
        let Some(own) = initial_cluster.get(&self.name) else {
            return fail(format!(
                "--initial-cluster has no member named {:?} (the value of --name)",
                self.name
            ));
        };
        let mut own_sorted = own.clone();
        own_sorted.sort();
        let mut advertised = advertise_peer.clone();
        advertised.sort();
        if own_sorted != advertised {
            return fail(format!(
                "--initial-cluster gives {} the peer URLs {:?} but --initial-advertise-peer-urls says {:?}",
                self.name,
                own.iter().map(Url::to_url_string).collect::<Vec<_>>(),
                advertise_peer.iter().map(Url::to_url_string).collect::<Vec<_>>()
            ));
        }
        check_unique_peer_urls(&initial_cluster)?;
        self.timing_and_limits()?;
        let initial_cluster_state = match self.initial_cluster_state.as_str() {
            "new" => ClusterState::New,
            "existing" => ClusterState::Existing,
            other => {
                return fail(format!(
                    "--initial-cluster-state must be new or existing, not {other:?}"
                ))
            }
        };
        let listen_client_urls = Url::parse_list("listen-client-urls", &self.listen_client_urls)?;
        let listen_metrics_urls = match self.listen_metrics_urls.trim() {
            "" => Vec::new(),
            urls => Url::parse_list("listen-metrics-urls", urls)?,
        };
        let listen_peer_urls = Url::parse_list("listen-peer-urls", &self.listen_peer_urls)?;
        let client_urls: Vec<&Url> = listen_client_urls
            .iter()
            .chain(&listen_metrics_urls)
            .collect();
        let client_tls = self.client_tls.validate("", &client_urls, false)?;
        let dialled: Vec<&Url> = initial_cluster.values().flatten().collect();
        let peer_urls: Vec<&Url> = listen_peer_urls.iter().chain(dialled.clone()).collect();
        let dials_tls = dialled.iter().any(|url| url.tls);
        let peer_tls = self.peer_tls.validate("peer-", &peer_urls, dials_tls)?;
        Ok(ServeConfig {
            name: self.name.clone(),
            data_dir: self
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{}.paxon", self.name))),
            listen_client_urls,
            advertise_client_urls: Url::parse_list(
                "advertise-client-urls",
                &self.advertise_client_urls,
            )?,
            listen_metrics_urls,
            listen_peer_urls,
            initial_advertise_peer_urls: advertise_peer,
            initial_cluster,
            initial_cluster_state,
            initial_cluster_token: self.initial_cluster_token.clone(),
            heartbeat_interval_ms: self.heartbeat_interval,
            election_timeout_ms: self.election_timeout,
            quota_backend_bytes: match self.quota_backend_bytes {
                0 => QUOTA_BACKEND_BYTES_DEFAULT,
                n => n,
            },
            max_request_bytes: self.max_request_bytes,
            max_txn_ops: self.max_txn_ops,
            snapshot_count: self.snapshot_count,
            client_tls,
            peer_tls,
        })
    }

    fn timing_and_limits(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval == 0 {
            return fail("--heartbeat-interval must be at least 1 ms");
        }
        if self.election_timeout < 5 * self.heartbeat_interval {
            // etcd: "--election-timeout[...] should be 5 times greater than --heartbeat-interval"
            return fail(format!(
                "--election-timeout ({} ms) must be at least 5 times --heartbeat-interval ({} ms)",
                self.election_timeout, self.heartbeat_interval
            ));
        }
        if self.election_timeout > 50_000 {
            return fail("--election-timeout must be at most 50000 ms");
        }
        if self.max_request_bytes == 0 || self.max_txn_ops == 0 || self.snapshot_count == 0 {
            return fail(
                "--max-request-bytes, --max-txn-ops and --snapshot-count must be positive",
            );
        }
        Ok(())
    }
}

/// Parses `name1=http://a:2380,name2=http://b:2380` (a name may repeat to
/// give several URLs).
pub fn parse_initial_cluster(text: &str) -> Result<BTreeMap<String, Vec<Url>>, ConfigError> {
    let mut cluster: BTreeMap<String, Vec<Url>> = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let Some((name, url)) = part.split_once('=') else {
            return fail(format!("--initial-cluster: {part:?} is not name=url"));
        };
        let url =
            Url::parse(url).map_err(|e| ConfigError(format!("--initial-cluster: {}", e.0)))?;
        cluster
            .entry(name.trim().to_string())
            .or_default()
            .push(url);
    }
    if cluster.is_empty() {
        return fail("--initial-cluster is empty");
    }
    Ok(cluster)
}

fn check_unique_peer_urls(cluster: &BTreeMap<String, Vec<Url>>) -> Result<(), ConfigError> {
    let mut seen: BTreeMap<&Url, &String> = BTreeMap::new();
    for (name, urls) in cluster {
        for url in urls {
            if let Some(other) = seen.insert(url, name) {
                return fail(format!(
                    "--initial-cluster: {} is the peer URL of both {other} and {name}",
                    url.to_url_string()
                ));
            }
        }
    }
    Ok(())
}

/// etcd-style member id: a hash of the member's sorted peer URLs and the
/// cluster token (stable across restarts, equal on every member).
pub fn member_id(peer_urls: &[Url], token: &str) -> NodeId {
    let mut urls: Vec<String> = peer_urls.iter().map(Url::to_url_string).collect();
    urls.sort();
    let mut hash = fnv1a(urls.join("").as_bytes());
    hash = fnv1a_continue(hash, token.as_bytes());
    NodeId(hash.max(1))
}

/// The id of a member added at run time: a hash of its sorted peer URLs,
/// the cluster and the time, as etcd draws one for `member add` (an id is
/// never reused, even for the same URLs).
pub fn new_member_id(peer_urls: &[String], cluster_id: u64, unix_nanos: u64) -> NodeId {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut hash = fnv1a(urls.join("").as_bytes());
    hash = fnv1a_continue(hash, &cluster_id.to_le_bytes());
    hash = fnv1a_continue(hash, &unix_nanos.to_le_bytes());
    NodeId(hash.max(1))
}

/// The cluster id: a hash of the sorted member ids.
pub fn cluster_id(members: &[NodeId]) -> u64 {
    let mut ids: Vec<u64> = members.iter().map(|m| m.0).collect();
    ids.sort_unstable();
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for id in ids {
        hash = fnv1a_continue(hash, &id.to_le_bytes());
    }
    hash
}

fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_continue(0xcbf2_9ce4_8422_2325, bytes)
}

fn fnv1a_continue(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_make_a_one_member_cluster_like_etcd() {
        let config = Flags::default().validate().unwrap();
        assert_eq!(config.name, "default");
        assert_eq!(config.data_dir, PathBuf::from("default.paxon"));
        assert_eq!(config.initial_cluster.len(), 1);
        assert_eq!(config.listen_client_urls[0].host_port, "localhost:2379");
        assert_eq!(config.quota_backend_bytes, QUOTA_BACKEND_BYTES_DEFAULT);
    }

    #[test]
    fn a_name_missing_from_the_initial_cluster_is_refused() {
        let flags = Flags {
            name: "x".into(),
            initial_cluster: Some("a=http://127.0.0.1:2380".into()),
            ..Flags::default()
        };
        assert_eq!(
            flags.validate().unwrap_err().0,
            "--initial-cluster has no member named \"x\" (the value of --name)"
        );
    }

    #[test]
    fn a_peer_url_shared_by_two_members_is_refused() {
        let flags = Flags {
            name: "a".into(),
            initial_advertise_peer_urls: "http://127.0.0.1:2380".into(),
            initial_cluster: Some("a=http://127.0.0.1:2380,b=http://127.0.0.1:2380".into()),
            ..Flags::default()
        };
        assert_eq!(
            flags.validate().unwrap_err().0,
            "--initial-cluster: http://127.0.0.1:2380 is the peer URL of both a and b"
        );
    }

    fn tls_flags(prefix: &str) -> TlsFlags {
        TlsFlags {
            cert_file: Some(PathBuf::from(format!("{prefix}cert.pem"))),
            key_file: Some(PathBuf::from(format!("{prefix}key.pem"))),
            trusted_ca_file: Some(PathBuf::from("ca.pem")),
            client_cert_auth: true,
        }
    }

    #[test]
    fn metrics_urls_are_optional_and_checked_like_the_others() {
        assert!(Flags::default()
            .validate()
            .unwrap()
            .listen_metrics_urls
            .is_empty());
        let flags = Flags {
            listen_metrics_urls: "http://127.0.0.1:2381".into(),
            ..Flags::default()
        };
        assert_eq!(
            flags.validate().unwrap().listen_metrics_urls[0].host_port,
            "127.0.0.1:2381"
        );
        let flags = Flags {
            listen_metrics_urls: "127.0.0.1:2381".into(),
            ..Flags::default()
        };
        assert_eq!(
            flags.validate().unwrap_err().0,
            "--listen-metrics-urls: 127.0.0.1:2381: a URL must look like http://host:port"
        );
    }

    #[test]
    fn https_urls_turn_tls_on_for_their_side_only() {
        let flags = Flags {
            listen_client_urls: "https://127.0.0.1:2379".into(),
            client_tls: tls_flags(""),
            peer_tls: tls_flags("peer-"),
            ..Flags::default()
        };
        let config = flags.validate().unwrap();
        assert!(config.listen_client_urls[0].tls);
        assert_eq!(
            config.client_tls.unwrap().cert_file,
            PathBuf::from("cert.pem")
        );
        assert_eq!(config.peer_tls, None, "peer URLs are http://");
        assert_eq!(
            Url::parse("https://[::1]:2380/").unwrap().to_url_string(),
            "https://[::1]:2380"
        );
        assert_eq!(Url::parse("https://[::1]:2380").unwrap().host(), "::1");
    }

    #[test]
    fn https_urls_without_their_certificate_are_refused_with_a_reason() {
        let flags = Flags {
            listen_client_urls: "https://127.0.0.1:2379".into(),
            ..Flags::default()
        };
        assert_eq!(
            flags.validate().unwrap_err().0,
            "https://127.0.0.1:2379: TLS needs --cert-file and --key-file"
        );
        let flags = Flags {
            listen_peer_urls: "https://127.0.0.1:2380".into(),
            initial_advertise_peer_urls: "https://127.0.0.1:2380".into(),
            peer_tls: TlsFlags {
                trusted_ca_file: None,
                ..tls_flags("peer-")
            },
            ..Flags::default()
        };
        assert_eq!(
            flags.validate().unwrap_err().0,
            "--peer-client-cert-auth needs --peer-trusted-ca-file"
        );
        let flags = Flags {
            listen_peer_urls: "https://127.0.0.1:2380".into(),
            initial_advertise_peer_urls: "https://127.0.0.1:2380".into(),
            peer_tls: TlsFlags {
                trusted_ca_file: None,
                client_cert_auth: false,
                ..tls_flags("peer-")
            },
            ..Flags::default()
        };
        assert_eq!(
            flags.validate().unwrap_err().0,
            "https://127.0.0.1:2380 (checking the peers' certificates) needs --peer-trusted-ca-file"
        );
        let err = Url::parse("unixs://x:1").unwrap_err();
        assert_eq!(
            err.0,
            "unixs://x:1: unix sockets are not supported by paxon; use http:// or https://"
        );
    }

    #[test]
    fn member_ids_are_stable_and_distinct() {
        let a = member_id(&[Url::parse("http://127.0.0.1:12380").unwrap()], "t");
        let b = member_id(&[Url::parse("http://127.0.0.1:22380").unwrap()], "t");
        assert_ne!(a, b);
        assert_eq!(
            a,
            member_id(&[Url::parse("http://127.0.0.1:12380").unwrap()], "t")
        );
        assert_ne!(
            a,
            member_id(&[Url::parse("http://127.0.0.1:12380").unwrap()], "u")
        );
    }
}
