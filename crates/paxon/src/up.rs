//! `paxon up`: a local 3-member cluster in one command.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use clap::Args;

/// Options of `paxon up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where the members keep their data (one directory each).
    #[arg(long, default_value = "paxon-data")]
    data_dir: PathBuf,
}

/// (name, client port, peer port) of each member.
const MEMBERS: [(&str, u16, u16); 3] = [
    ("m1", 2379, 2380),
    ("m2", 22379, 22380),
    ("m3", 32379, 32380),
];

/// Starts the three members, waits for Ctrl-C, stops them.
pub fn run(args: &UpArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("paxon up: cannot find my own executable: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = std::fs::create_dir_all(&args.data_dir) {
        eprintln!(
            "paxon up: cannot create {}: {error}",
            args.data_dir.display()
        );
        return ExitCode::FAILURE;
    }
    let cluster: Vec<String> = MEMBERS
        .iter()
        .map(|(name, _, peer)| format!("{name}=http://127.0.0.1:{peer}"))
        .collect();
    let cluster = cluster.join(",");
    let mut children = Vec::new();
    for (name, client, peer) in MEMBERS {
        match start_member(&exe, &args.data_dir, name, client, peer, &cluster) {
            Ok(child) => children.push(child),
            Err(error) => {
                eprintln!("paxon up: cannot start {name}: {error}");
                stop(&mut children);
                return ExitCode::FAILURE;
            }
        }
    }
    let endpoints = "127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379";
    println!(
        "paxon up: 3 members running, data in {}",
        args.data_dir.display()
    );
    println!("  client endpoints: {endpoints}");
    println!("  logs: {}/<member>.log", args.data_dir.display());
    println!("  status page: http://127.0.0.1:2379/ (metrics: /metrics, health: /health)");
    println!("  try:  etcdctl --endpoints={endpoints} put greeting hello");
    println!("        etcdctl --endpoints={endpoints} get greeting");
    println!("        etcdctl --endpoints={endpoints} endpoint status -w table");
    println!("Ctrl-C stops the cluster; `paxon up` again resumes it with the same data.");
    wait_for_ctrl_c_or_exit(&mut children);
    stop(&mut children);
    println!("paxon up: stopped");
    ExitCode::SUCCESS
}

fn start_member(
    exe: &PathBuf,
    data_dir: &std::path::Path,
    name: &str,
    client: u16,
    peer: u16,
    cluster: &str,
) -> std::io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join(format!("{name}.log")))?;
    Command::new(exe)
        .arg("serve")
        .args(["--name", name])
        .arg("--data-dir")
        .arg(data_dir.join(name))
        .args([
            "--listen-client-urls",
            &format!("http://127.0.0.1:{client}"),
        ])
        .args([
            "--advertise-client-urls",
            &format!("http://127.0.0.1:{client}"),
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
        ])
        .args(["--initial-cluster", cluster])
        .args(["--initial-cluster-token", "paxon-up"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
}

fn wait_for_ctrl_c_or_exit(children: &mut [Child]) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => return,
    };
    runtime.block_on(async {
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    for child in children.iter_mut() {
                        if let Ok(Some(status)) = child.try_wait() {
                            eprintln!("paxon up: a member exited ({status}); see its log");
                            return;
                        }
                    }
                }
            }
        }
    });
}

/// SIGTERM to every member, then wait (SIGKILL after 10 s).
fn stop(children: &mut [Child]) {
    for child in children.iter() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
    }
    for child in children.iter_mut() {
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
