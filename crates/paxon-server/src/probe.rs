//! Round-trip probes between members, for etcd's
//! `etcd_network_peer_round_trip_time_seconds`: every second the driver
//! sends each peer a `Probe` stamped with its own clock, the peer's
//! driver echoes it, and the time until the echo comes back is the round
//! trip (network and both drivers' queues, as etcd's prober measures
//! through its HTTP handlers).

use std::time::{Duration, Instant};

/// Time between two probes of every peer.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Stamps probes and times their echoes.
#[derive(Debug)]
pub struct Prober {
    /// Stamps are nanoseconds since then.
    epoch: Instant,
    /// When the last probes left.
    last: Option<Instant>,
}

impl Prober {
    /// A prober whose first probes are due at once.
    pub fn new(now: Instant) -> Prober {
        Prober {
            epoch: now,
            last: None,
        }
    }

    /// The stamp for this round of probes, if one is due.
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < PROBE_INTERVAL)
        {
            return None;
        }
        self.last = Some(now);
        Some(stamp(now.duration_since(self.epoch)))
    }

    /// The round trip of the probe stamped `sent_ns`, unless the stamp
    /// cannot be one of ours (a peer's echo is not trusted).
    pub fn round_trip(&self, sent_ns: u64, now: Instant) -> Option<Duration> {
        let now_ns = stamp(now.duration_since(self.epoch));
        now_ns.checked_sub(sent_ns).map(Duration::from_nanos)
    }
}

fn stamp(since_epoch: Duration) -> u64 {
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_leave_once_per_interval_and_time_their_echo() {
        let start = Instant::now();
        let mut prober = Prober::new(start);
        let stamp = prober.due(start).expect("first probe at once");
        assert_eq!(prober.due(start + PROBE_INTERVAL / 2), None);
        let later = start + Duration::from_millis(3);
        assert_eq!(
            prober.round_trip(stamp, later),
            Some(Duration::from_millis(3))
        );
        assert!(prober.due(start + PROBE_INTERVAL).is_some());
    }

    #[test]
    fn a_stamp_from_the_future_is_ignored() {
        let start = Instant::now();
        let prober = Prober::new(start);
        assert_eq!(prober.round_trip(u64::MAX, start), None);
    }
}
