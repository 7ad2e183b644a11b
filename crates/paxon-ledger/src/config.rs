//! The ledger's limits, validated once in [`LedgerConfig::validate`].

use crate::error::LedgerError;
use crate::frame::FRAME_HEADER_BYTES;

/// Limits and tuning of one [`Ledger`](crate::Ledger).
///
/// Every limit ends in `_max`; [`LedgerConfig::validate`] checks the
/// relations between them when the ledger opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// A segment is rolled (sealed, and a new file started) before a record
    /// would make it grow past this many bytes.
    pub segment_bytes_max: u64,
    /// Largest payload of one record. A frame (header + payload) must fit in
    /// an empty segment.
    pub record_bytes_max: u32,
    /// Largest number of framed bytes appended but not yet handed to a
    /// sync; `append` fails with [`LedgerError::PendingFull`] beyond it.
    pub pending_bytes_max: u64,
    /// Largest snapshot body accepted when saving or loading.
    pub snapshot_bytes_max: u64,
    /// The active segment is extended with written zeros this many bytes
    /// at a time, so that most `fdatasync`s find the file's size and blocks
    /// already on disk and flush data only. `0` turns preallocation off.
    pub preallocate_bytes: u64,
}

const MIB: u64 = 1024 * 1024;

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            segment_bytes_max: 64 * MIB,
            record_bytes_max: 8 * 1024 * 1024,
            pending_bytes_max: 64 * MIB,
            snapshot_bytes_max: 1024 * MIB,
            preallocate_bytes: MIB,
        }
    }
}

impl LedgerConfig {
    /// Checks every limit and the relations between them.
    pub fn validate(&self) -> Result<(), LedgerError> {
        let frame_bytes_max = FRAME_HEADER_BYTES as u64 + u64::from(self.record_bytes_max);
        if self.record_bytes_max == 0 {
            return invalid("record_bytes_max must be at least 1".to_string());
        }
        if self.segment_bytes_max < frame_bytes_max {
            return invalid(format!(
                "segment_bytes_max ({}) must hold one frame of record_bytes_max ({}) \
                 plus its {FRAME_HEADER_BYTES}-byte header",
                self.segment_bytes_max, self.record_bytes_max
            ));
        }
        if self.pending_bytes_max < frame_bytes_max {
            return invalid(format!(
                "pending_bytes_max ({}) must hold one frame of record_bytes_max ({}) \
                 plus its {FRAME_HEADER_BYTES}-byte header",
                self.pending_bytes_max, self.record_bytes_max
            ));
        }
        if self.snapshot_bytes_max == 0 {
            return invalid("snapshot_bytes_max must be at least 1".to_string());
        }
        if self.preallocate_bytes > self.segment_bytes_max {
            return invalid(format!(
                "preallocate_bytes ({}) must not exceed segment_bytes_max ({})",
                self.preallocate_bytes, self.segment_bytes_max
            ));
        }
        Ok(())
    }
}

fn invalid(message: String) -> Result<(), LedgerError> {
    Err(LedgerError::Config(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert!(LedgerConfig::default().validate().is_ok());
    }

    #[test]
    fn segment_smaller_than_one_frame_is_rejected_with_both_numbers() {
        let config = LedgerConfig {
            segment_bytes_max: 100,
            record_bytes_max: 100,
            ..LedgerConfig::default()
        };
        let message = config.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid ledger config: segment_bytes_max (100) must hold one frame of \
             record_bytes_max (100) plus its 9-byte header"
        );
    }

    #[test]
    fn preallocation_beyond_a_segment_is_rejected() {
        let config = LedgerConfig {
            segment_bytes_max: 1024,
            record_bytes_max: 64,
            preallocate_bytes: 2048,
            ..LedgerConfig::default()
        };
        assert!(matches!(config.validate(), Err(LedgerError::Config(_))));
    }
}
