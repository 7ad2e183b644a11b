//! The tables: Markdown on stdout and in `<out>/bench.md`, with the plot in
//! `<out>/bench.svg`.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use super::cluster::Etcd;
use super::load::Point;
use super::phases::{Memory, Sustained};
use super::stats::Summary;
use super::{plot, Plan};

/// Everything measured in one run, and how.
pub struct Report {
    header: String,
    /// The load phase's points.
    pub load: Vec<Point>,
    /// The memory (and restart) phase, per system.
    pub memory: Vec<Memory>,
    /// The sustained phase, per system.
    pub sustained: Vec<Sustained>,
}

impl Report {
    /// An empty report that says when, where and how it was run.
    pub fn new(plan: &Plan, etcd: &Etcd, command: &str) -> Report {
        let mut header = String::from("# paxon bench\n\n");
        let _ = writeln!(header, "- date: {}", now_utc());
        let _ = writeln!(header, "- machine: {}", machine());
        let _ = writeln!(header, "- etcd: {} ({})", etcd.path.display(), etcd.version);
        let _ = writeln!(header, "- command: `{command}`");
        let _ = writeln!(
            header,
            "- each system: 3 members on 127.0.0.1, data under the same temporary \
             directory, default heartbeat (100 ms) and election timeout (1000 ms); \
             clients share min(clients, {}) gRPC connections spread over the members; \
             each point: {:?} warm-up, {:?} measured; values of {} bytes; {} keys",
            plan.connections,
            plan.warmup,
            plan.duration,
            super::workload::VALUE_BYTES,
            plan.key_space,
        );
        Report {
            header,
            load: Vec::new(),
            memory: Vec::new(),
            sustained: Vec::new(),
        }
    }

    /// The whole report as Markdown.
    pub fn markdown(&self) -> String {
        let mut text = self.header.clone();
        let _ = writeln!(text, "- load average at the end: {}", load_average());
        let mut workloads: Vec<_> = self.load.iter().map(|p| p.workload).collect();
        workloads.dedup();
        for workload in workloads {
            let _ = writeln!(text, "\n## {}\n", workload.name());
            text.push_str(
                "| clients | conns | system | ops/s | p50 ms | p99 ms | p99.9 ms | errors |\n",
            );
            text.push_str("|---:|---:|---|---:|---:|---:|---:|---:|\n");
            for point in self.load.iter().filter(|p| p.workload == workload) {
                point_rows(&mut text, point);
            }
        }
        memory_table(&mut text, &self.memory);
        sustained_table(&mut text, &self.sustained);
        text
    }

    /// Prints the Markdown and writes it and the plot into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        let markdown = self.markdown();
        println!("{markdown}");
        let md = dir.join("bench.md");
        std::fs::write(&md, &markdown).map_err(|e| format!("{}: {e}", md.display()))?;
        if !self.load.is_empty() {
            let svg = dir.join("bench.svg");
            std::fs::write(&svg, plot::svg(&self.load))
                .map_err(|e| format!("{}: {e}", svg.display()))?;
            eprintln!("paxon bench: wrote {} and {}", md.display(), svg.display());
        }
        Ok(())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn point_rows(text: &mut String, point: &Point) {
    for (system, s) in &point.results {
        let _ = writeln!(
            text,
            "| {} | {} | {system} | {:.0} | {} | {} | {} | {} |",
            point.clients,
            point.connections,
            s.throughput(),
            ms(s.p50),
            ms(s.p99),
            ms(s.p999),
            s.errors
        );
    }
    if let [(_, paxon), (_, etcd)] = point.results.as_slice() {
        let _ = writeln!(
            text,
            "| {} | {} | **paxon/etcd** | **{}** | {} | {} | {} | |",
            point.clients,
            point.connections,
            ratio(paxon.throughput(), etcd.throughput()),
            latency_ratio(paxon, etcd, |s| s.p50),
            latency_ratio(paxon, etcd, |s| s.p99),
            latency_ratio(paxon, etcd, |s| s.p999),
        );
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "–".into()
    }
}

fn latency_ratio(a: &Summary, b: &Summary, pick: fn(&Summary) -> Duration) -> String {
    ratio(pick(a).as_secs_f64(), pick(b).as_secs_f64())
}

fn memory_table(text: &mut String, memory: &[Memory]) {
    if memory.is_empty() {
        return;
    }
    text.push_str("\n## memory and restart\n\n");
    text.push_str(
        "| system | keys | load s | VmRSS per member MiB | restart of a follower, kill -9 to a linearizable read |\n",
    );
    text.push_str("|---|---:|---:|---|---|\n");
    for m in memory {
        let rss: Vec<String> = m
            .rss_kib
            .iter()
            .map(|k| format!("{:.0}", *k as f64 / 1024.0))
            .collect();
        let restart = match &m.restart {
            None => "not measured".to_string(),
            Some(Ok(took)) => format!("{:.2} s", took.as_secs_f64()),
            Some(Err(error)) => format!("failed: {error}"),
        };
        let _ = writeln!(
            text,
            "| {} | {} | {:.1} | {} | {restart} |",
            m.system,
            m.keys,
            m.load.as_secs_f64(),
            rss.join(" / "),
        );
    }
}

fn sustained_table(text: &mut String, sustained: &[Sustained]) {
    if sustained.is_empty() {
        return;
    }
    text.push_str("\n## sustained puts into a growing store\n\n");
    text.push_str(
        "| system | first window ops/s | last window ops/s | mean ops/s | every window |\n",
    );
    text.push_str("|---|---:|---:|---:|---|\n");
    for s in sustained {
        let mean = s.windows.iter().sum::<f64>() / s.windows.len().max(1) as f64;
        let every: Vec<String> = s.windows.iter().map(|w| format!("{w:.0}")).collect();
        let _ = writeln!(
            text,
            "| {} | {:.0} | {:.0} | {mean:.0} | {} (windows of {:?}) |",
            s.system,
            s.windows.first().copied().unwrap_or(0.0),
            s.windows.last().copied().unwrap_or(0.0),
            every.join(", "),
            s.window,
        );
    }
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cpus} CPUs ({model}); load average at the start: {}",
        load_average()
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
