//! Throughput and latency percentiles of one measured point.

use std::time::Duration;

/// What one point measured.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Operations that completed inside the measured window.
    pub ops: u64,
    /// Operations that failed (not in the latencies).
    pub errors: u64,
    /// Length of the measured window.
    pub window: Duration,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// 99.9th percentile latency.
    pub p999: Duration,
}

impl Summary {
    /// Summarises latencies in microseconds (any order).
    pub fn new(mut latencies_us: Vec<u32>, errors: u64, window: Duration) -> Summary {
        latencies_us.sort_unstable();
        let at = |q: f64| percentile(&latencies_us, q);
        Summary {
            ops: latencies_us.len() as u64,
            errors,
            window,
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
        }
    }

    /// Operations per second.
    pub fn throughput(&self) -> f64 {
        self.ops as f64 / self.window.as_secs_f64()
    }
}

/// The smallest latency that `q` of the sorted samples do not exceed
/// (nearest-rank); zero without samples.
fn percentile(sorted_us: &[u32], q: f64) -> Duration {
    if sorted_us.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    Duration::from_micros(u64::from(sorted_us[index]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_a_thousand() {
        let samples: Vec<u32> = (1..=1000).rev().collect();
        let summary = Summary::new(samples, 3, Duration::from_secs(2));
        assert_eq!(summary.ops, 1000);
        assert_eq!(summary.errors, 3);
        assert_eq!(summary.p50, Duration::from_micros(500));
        assert_eq!(summary.p99, Duration::from_micros(990));
        assert_eq!(summary.p999, Duration::from_micros(999));
        assert_eq!(summary.throughput(), 500.0);
    }

    #[test]
    fn no_samples_give_zero_latency() {
        let summary = Summary::new(Vec::new(), 0, Duration::from_secs(1));
        assert_eq!(summary.p99, Duration::ZERO);
        assert_eq!(summary.throughput(), 0.0);
    }
}
