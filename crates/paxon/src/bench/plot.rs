//! The latency-versus-throughput plot, as a self-contained SVG: one panel
//! per workload, x = throughput, y = latency on a log scale, one line per
//! system for p50 (solid) and p99 (dashed), each point labelled with its
//! client count.

use std::fmt::Write;
use std::time::Duration;

use super::load::Point;
use super::stats::Summary;
use super::workload::Workload;

const PANEL_W: f64 = 420.0;
const PANEL_H: f64 = 300.0;
const MARGIN: f64 = 55.0;
const COLUMNS: usize = 2;
const LEGEND_H: f64 = 40.0;

fn colour(system: &str) -> &'static str {
    if system == "paxon" {
        "#1f77b4"
    } else {
        "#e6550d"
    }
}

/// The plot of every point.
pub fn svg(points: &[Point]) -> String {
    let mut workloads: Vec<Workload> = points.iter().map(|p| p.workload).collect();
    workloads.dedup();
    let rows = workloads.len().div_ceil(COLUMNS);
    let width = PANEL_W * COLUMNS as f64;
    let height = LEGEND_H + PANEL_H * rows as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="white"/><text x="10" y="16" font-size="13">Latency vs throughput (solid p50, dashed p99; labels: clients)</text>"##
    );
    for (i, system) in ["paxon", "etcd"].iter().enumerate() {
        let x = 10.0 + 90.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="30" x2="{}" y2="30" stroke="{}" stroke-width="2"/><text x="{}" y="34">{system}</text>"#,
            x + 20.0,
            colour(system),
            x + 25.0
        );
    }
    for (i, workload) in workloads.iter().enumerate() {
        let x0 = PANEL_W * (i % COLUMNS) as f64;
        let y0 = LEGEND_H + PANEL_H * (i / COLUMNS) as f64;
        let mine: Vec<&Point> = points.iter().filter(|p| p.workload == *workload).collect();
        panel(&mut out, x0, y0, workload.name(), &mine);
    }
    out.push_str("</svg>\n");
    out
}

/// Maps throughput and latency into one panel's pixels.
struct Axes {
    x0: f64,
    y0: f64,
    x_max: f64,
    log_min: f64,
    log_max: f64,
}

impl Axes {
    fn x(&self, ops: f64) -> f64 {
        self.x0 + MARGIN + (PANEL_W - 1.5 * MARGIN) * ops / self.x_max
    }

    fn y(&self, latency: Duration) -> f64 {
        let ms = (latency.as_secs_f64() * 1e3).max(10f64.powf(self.log_min));
        let f = (ms.log10() - self.log_min) / (self.log_max - self.log_min);
        self.y0 + PANEL_H - MARGIN - (PANEL_H - 1.5 * MARGIN) * f
    }
}

fn panel(out: &mut String, x0: f64, y0: f64, title: &str, points: &[&Point]) {
    let summaries = || points.iter().flat_map(|p| p.results.iter().map(|(_, s)| s));
    let x_max = summaries().map(Summary::throughput).fold(1.0, f64::max) * 1.05;
    let ms = |d: Duration| (d.as_secs_f64() * 1e3).max(0.01);
    let low = summaries().map(|s| ms(s.p50)).fold(f64::MAX, f64::min);
    let high = summaries().map(|s| ms(s.p99)).fold(0.01, f64::max);
    let axes = Axes {
        x0,
        y0,
        x_max,
        log_min: low.min(high).log10().floor(),
        log_max: high.log10().ceil().max(low.log10().floor() + 1.0),
    };
    frame(out, &axes, title);
    let systems: Vec<&str> = points
        .first()
        .map(|p| p.results.iter().map(|(name, _)| *name).collect())
        .unwrap_or_default();
    for (k, system) in systems.iter().enumerate() {
        let series: Vec<(usize, &Summary)> = points
            .iter()
            .filter_map(|p| p.results.get(k).map(|(_, s)| (p.clients, s)))
            .collect();
        line(out, &axes, system, &series, |s| s.p50, "");
        line(
            out,
            &axes,
            system,
            &series,
            |s| s.p99,
            r#" stroke-dasharray="5,3""#,
        );
    }
}

fn frame(out: &mut String, axes: &Axes, title: &str) {
    let (left, right) = (axes.x(0.0), axes.x(axes.x_max));
    let (top, bottom) = (axes.y0 + MARGIN / 2.0, axes.y0 + PANEL_H - MARGIN);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-size="12" font-weight="bold">{title}</text><path d="M{left},{top} V{bottom} H{right}" fill="none" stroke="black"/>"#,
        left,
        top - 8.0
    );
    for tick in 0..=4 {
        let ops = axes.x_max * f64::from(tick) / 4.0;
        let x = axes.x(ops);
        let _ = writeln!(
            out,
            r#"<text x="{x}" y="{}" text-anchor="middle">{ops:.0}</text>"#,
            bottom + 14.0
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">ops/s</text>"#,
        (left + right) / 2.0,
        bottom + 28.0
    );
    let mut exponent = axes.log_min;
    while exponent <= axes.log_max {
        let y = axes.y(Duration::from_secs_f64(10f64.powf(exponent) / 1e3));
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{} ms</text>"##,
            left - 4.0,
            y + 4.0,
            10f64.powf(exponent)
        );
        exponent += 1.0;
    }
}

fn line(
    out: &mut String,
    axes: &Axes,
    system: &str,
    series: &[(usize, &Summary)],
    pick: fn(&Summary) -> Duration,
    dash: &str,
) {
    let path: Vec<String> = series
        .iter()
        .map(|(_, s)| format!("{:.1},{:.1}", axes.x(s.throughput()), axes.y(pick(s))))
        .collect();
    let colour = colour(system);
    let _ = writeln!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>"#,
        path.join(" ")
    );
    for (clients, s) in series {
        let (x, y) = (axes.x(s.throughput()), axes.y(pick(s)));
        let _ = writeln!(
            out,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="9" fill="{colour}">{clients}</text>"#,
            x + 4.0,
            y - 4.0
        );
    }
}
