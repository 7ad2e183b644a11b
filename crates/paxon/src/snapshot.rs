//! `paxon snapshot restore`: the analogue of `etcdutl snapshot restore`.
//! A file saved with `etcdctl snapshot save` from any Paxon member seeds
//! the data directory of each member of a new cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// `paxon snapshot ...`
#[derive(Args, Debug)]
pub struct SnapshotArgs {
    #[command(subcommand)]
    command: SnapshotCommand,
}

#[derive(Subcommand, Debug)]
enum SnapshotCommand {
    /// Seed a new member's data directory from a file saved by `etcdctl
    /// snapshot save`; start every member of the new cluster from the same
    /// file, then `paxon serve` them with their usual flags.
    Restore(RestoreArgs),
}

#[derive(Args, Debug)]
struct RestoreArgs {
    /// The file `etcdctl snapshot save` wrote.
    file: PathBuf,
    /// Human-readable name of the member the directory is for.
    #[arg(long, default_value = "default")]
    name: String,
    /// The data directory to create (default: <name>.paxon); it must not
    /// hold a ledger yet.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Maximum number of operations permitted in a transaction (checked
    /// against the snapshot's store).
    #[arg(long, default_value_t = 128)]
    max_txn_ops: usize,
}

/// Runs `paxon snapshot ...`.
pub fn run(args: &SnapshotArgs) -> ExitCode {
    match &args.command {
        SnapshotCommand::Restore(args) => restore(args),
    }
}

fn restore(args: &RestoreArgs) -> ExitCode {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.paxon", args.name)));
    let limits = paxon_kv::Limits {
        txn_ops_max: args.max_txn_ops,
    };
    match paxon_server::backup::restore(&args.file, &data_dir, limits) {
        Ok(revision) => {
            println!(
                "restored snapshot {} (revision {revision}) into {}",
                args.file.display(),
                data_dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("paxon snapshot restore: {error}");
            ExitCode::FAILURE
        }
    }
}
