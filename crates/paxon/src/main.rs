//! `paxon`: the server and its tools.
//!
//! ```text
//! paxon serve [etcd flags]   one member of a cluster
//! paxon up                   a local 3-member cluster, in one command
//! paxon snapshot restore F    seed a new member from `etcdctl snapshot save`
//! paxon demo                 kill -9 all members mid-stream, lose nothing
//! paxon bench                Paxon and etcd side by side
//! ```

mod bench;
mod demo;
mod snapshot;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use paxon_server::config::{Flags, TlsFlags};

#[derive(Parser)]
#[command(
    name = "paxon",
    version,
    about = "Multi-Paxos key-value service speaking the etcd v3 API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one member, configured with etcd's flags.
    Serve(Box<ServeArgs>),
    /// Start a local 3-member cluster (clients on 127.0.0.1:2379, 22379,
    /// 32379); Ctrl-C stops it, running it again resumes with the same data.
    Up(up::UpArgs),
    /// Restore a backup taken with `etcdctl snapshot save` into a new data
    /// directory (the analogue of `etcdutl snapshot restore`).
    Snapshot(snapshot::SnapshotArgs),
    /// Show the promise: a 3-member cluster takes numbered writes, all
    /// three are killed with kill -9 at once, two restart, every
    /// acknowledged write is read back, the third catches up.
    Demo(demo::DemoArgs),
    /// Start a 3-member Paxon cluster and a 3-member etcd cluster and measure
    /// both with the same load (see BENCHMARKS.md).
    Bench(Box<bench::BenchArgs>),
}

/// etcd's flags, with etcd's names, defaults and meanings.
#[derive(Args, Debug)]
struct ServeArgs {
    /// Human-readable name for this member.
    #[arg(long, default_value = "default")]
    name: String,
    /// Path to the data directory (default: <name>.paxon).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// URLs to listen on for client traffic.
    #[arg(long, default_value = "http://localhost:2379")]
    listen_client_urls: String,
    /// This member's client URLs to advertise to the rest of the cluster.
    #[arg(long, default_value = "http://localhost:2379")]
    advertise_client_urls: String,
    /// URLs to listen on for peer traffic.
    #[arg(long, default_value = "http://localhost:2380")]
    listen_peer_urls: String,
    /// List of URLs to listen on for the metrics and health endpoints.
    #[arg(long, default_value = "")]
    listen_metrics_urls: String,
    /// This member's peer URLs to advertise to the rest of the cluster.
    #[arg(long, default_value = "http://localhost:2380")]
    initial_advertise_peer_urls: String,
    /// Initial cluster configuration for bootstrapping: name=url,...
    #[arg(long)]
    initial_cluster: Option<String>,
    /// Initial cluster state ('new' or 'existing').
    #[arg(long, default_value = "new")]
    initial_cluster_state: String,
    /// Initial cluster token for the cluster during bootstrap.
    #[arg(long, default_value = "etcd-cluster")]
    initial_cluster_token: String,
    /// Time (in milliseconds) of a heartbeat interval.
    #[arg(long, default_value_t = 100)]
    heartbeat_interval: u64,
    /// Time (in milliseconds) for an election to timeout.
    #[arg(long, default_value_t = 1000)]
    election_timeout: u64,
    /// Raise alarms when the backend size exceeds the given quota (0 defaults to 2 GiB).
    #[arg(long, default_value_t = 0)]
    quota_backend_bytes: u64,
    /// Maximum client request size in bytes the server will accept.
    #[arg(long, default_value_t = 1_572_864)]
    max_request_bytes: usize,
    /// Maximum number of operations permitted in a transaction.
    #[arg(long, default_value_t = 128)]
    max_txn_ops: usize,
    /// Number of committed transactions to trigger a snapshot to disk.
    #[arg(long, default_value_t = 100_000)]
    snapshot_count: u64,
    /// Path to the client server TLS cert file.
    #[arg(long)]
    cert_file: Option<PathBuf>,
    /// Path to the client server TLS key file.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Path to the client server TLS trusted CA cert file.
    #[arg(long)]
    trusted_ca_file: Option<PathBuf>,
    /// Enable client cert authentication.
    #[arg(long)]
    client_cert_auth: bool,
    /// Path to the peer server TLS cert file.
    #[arg(long)]
    peer_cert_file: Option<PathBuf>,
    /// Path to the peer server TLS key file.
    #[arg(long)]
    peer_key_file: Option<PathBuf>,
    /// Path to the peer server TLS trusted CA file.
    #[arg(long)]
    peer_trusted_ca_file: Option<PathBuf>,
    /// Enable peer client cert authentication.
    #[arg(long)]
    peer_client_cert_auth: bool,
    /// Log level: debug, info, warn, error.
    #[arg(long, default_value = "info")]
    log_level: String,
}

impl ServeArgs {
    fn flags(&self) -> Flags {
        Flags {
            name: self.name.clone(),
            data_dir: self.data_dir.clone(),
            listen_client_urls: self.listen_client_urls.clone(),
            advertise_client_urls: self.advertise_client_urls.clone(),
            listen_peer_urls: self.listen_peer_urls.clone(),
            listen_metrics_urls: self.listen_metrics_urls.clone(),
            initial_advertise_peer_urls: self.initial_advertise_peer_urls.clone(),
            initial_cluster: self.initial_cluster.clone(),
            initial_cluster_state: self.initial_cluster_state.clone(),
            initial_cluster_token: self.initial_cluster_token.clone(),
            heartbeat_interval: self.heartbeat_interval,
            election_timeout: self.election_timeout,
            quota_backend_bytes: self.quota_backend_bytes,
            max_request_bytes: self.max_request_bytes,
            max_txn_ops: self.max_txn_ops,
            snapshot_count: self.snapshot_count,
            client_tls: TlsFlags {
                cert_file: self.cert_file.clone(),
                key_file: self.key_file.clone(),
                trusted_ca_file: self.trusted_ca_file.clone(),
                client_cert_auth: self.client_cert_auth,
            },
            peer_tls: TlsFlags {
                cert_file: self.peer_cert_file.clone(),
                key_file: self.peer_key_file.clone(),
                trusted_ca_file: self.peer_trusted_ca_file.clone(),
                client_cert_auth: self.peer_client_cert_auth,
            },
        }
    }
}

fn init_logging(level: &str) -> Result<(), String> {
    let filter = match level {
        "debug" | "info" | "warn" | "error" => format!("paxon={level},paxon_server={level},warn"),
        other => {
            return Err(format!(
                "--log-level must be debug, info, warn or error, not {other:?}"
            ))
        }
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Up(args) => up::run(&args),
        Command::Snapshot(args) => snapshot::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Bench(args) => bench::run(&args),
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    if let Err(message) = init_logging(&args.log_level) {
        eprintln!("paxon serve: {message}");
        return ExitCode::from(2);
    }
    let config = match args.flags().validate() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("paxon serve: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("paxon serve: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(paxon_server::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("paxon serve: {error}");
            ExitCode::FAILURE
        }
    }
}
