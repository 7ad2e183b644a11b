//! The few metric kinds Paxon needs, lock-free (relaxed atomics: a
//! scrape may see one counter a moment ahead of another, never a torn
//! value), and the Prometheus text format (version 0.0.4) they are
//! written in.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A value that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts of observations at or below each bound, their sum and number.
/// Observations are whole units (nanoseconds, records); the text shows
/// them times `unit` (seconds, records).
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in whole units, ascending.
    bounds: Vec<u64>,
    /// Upper bounds as written (`le`).
    bounds_shown: Vec<f64>,
    /// Observations per bucket (not cumulative); the last is `+Inf`.
    buckets: Vec<AtomicU64>,
    sum: AtomicU64,
    count: AtomicU64,
    unit: f64,
}

/// What a scrape reads from a histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(le, cumulative count)`, `+Inf` last.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of observations, in shown units.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Buckets `start, start·factor, …` (`count` of them), like
    /// Prometheus' `ExponentialBuckets`; observations in units of `unit`.
    pub fn exponential(start: f64, factor: f64, count: usize, unit: f64) -> Histogram {
        assert!(start > 0.0 && factor > 1.0 && count > 0, "bad buckets");
        let shown: Vec<f64> = (0..count).map(|i| start * factor.powi(i as i32)).collect();
        Histogram::with_bounds(&shown, unit)
    }

    /// Buckets with the given upper bounds (ascending).
    pub fn with_bounds(shown: &[f64], unit: f64) -> Histogram {
        assert!(shown.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds: shown.iter().map(|b| (b / unit).round() as u64).collect(),
            bounds_shown: shown.to_vec(),
            buckets: (0..=shown.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            count: AtomicU64::new(0),
            unit,
        }
    }

    /// A histogram of durations, shown in seconds (observed in ns).
    pub fn seconds(start_s: f64, factor: f64, count: usize) -> Histogram {
        Histogram::exponential(start_s, factor, count, 1e-9)
    }

    /// Records one observation of `units`.
    pub fn observe(&self, units: u64) {
        let bucket = self.bounds.partition_point(|bound| *bound < units);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(units, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a duration (the histogram must count nanoseconds).
    pub fn observe_duration(&self, duration: Duration) {
        self.observe(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The histogram as a scrape shows it.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = self.bounds_shown.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((le, cumulative));
        }
        HistogramSnapshot {
            buckets,
            sum: self.sum.load(Ordering::Relaxed) as f64 * self.unit,
            // The buckets were read one by one: the count is their total,
            // so that `+Inf` and `_count` agree as the format demands.
            count: cumulative,
        }
    }
}

/// Writes metric families in the Prometheus text format.
#[derive(Default)]
pub struct Text {
    out: String,
}

/// Label pairs of one sample.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Text {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// A whole counter family with one unlabelled sample.
    pub fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value as f64);
    }

    /// A whole gauge family with one unlabelled sample.
    pub fn gauge(&mut self, name: &str, help: &str, value: i64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value as f64);
    }

    /// The `_bucket`, `_sum` and `_count` lines of one histogram (after
    /// its family's header).
    pub fn histogram(&mut self, name: &str, labels: Labels<'_>, histogram: &HistogramSnapshot) {
        for (le, count) in &histogram.buckets {
            let le = format_value(*le);
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(&le));
            let _ = writeln!(self.out, " {count}");
        }
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", format_value(histogram.sum));
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", histogram.count);
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: Labels<'_>, le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    let le = le.map(|le| ("le", le));
    for (name, value) in labels.iter().copied().chain(le) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

/// A sample value as Prometheus writes it (`+Inf`, integers without a
/// fraction).
fn format_value(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_each_observation_in_the_first_bucket_that_holds_it() {
        let h = Histogram::with_bounds(&[1.0, 2.0, 4.0], 1.0);
        for units in [0, 1, 2, 3, 9] {
            h.observe(units);
        }
        let snap = h.snapshot();
        assert_eq!(
            snap.buckets,
            vec![(1.0, 2), (2.0, 3), (4.0, 4), (f64::INFINITY, 5)]
        );
        assert_eq!(snap.sum, 15.0);
        assert_eq!(snap.count, 5);
    }

    #[test]
    fn durations_are_shown_in_seconds() {
        let h = Histogram::seconds(0.001, 2.0, 3);
        h.observe_duration(Duration::from_micros(1500));
        let snap = h.snapshot();
        assert_eq!(
            snap.buckets,
            vec![(0.001, 0), (0.002, 1), (0.004, 1), (f64::INFINITY, 1)]
        );
        assert!((snap.sum - 0.0015).abs() < 1e-12);
    }

    #[test]
    fn the_text_format_escapes_labels_and_writes_inf() {
        let mut text = Text::default();
        text.family("x_seconds", "histogram", "Some help.");
        let h = Histogram::with_bounds(&[0.5], 0.5);
        h.observe(1);
        text.histogram("x_seconds", &[("to", "a\"b")], &h.snapshot());
        assert_eq!(
            text.finish(),
            "# HELP x_seconds Some help.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{to=\"a\\\"b\",le=\"0.5\"} 1\n\
             x_seconds_bucket{to=\"a\\\"b\",le=\"+Inf\"} 1\n\
             x_seconds_sum{to=\"a\\\"b\"} 0.5\n\
             x_seconds_count{to=\"a\\\"b\"} 1\n"
        );
    }
}
