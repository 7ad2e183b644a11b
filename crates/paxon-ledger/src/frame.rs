//! The record frame: `[length: u32 LE][crc32c: u32 LE][kind: u8][payload]`.
//!
//! `length` counts the payload bytes only. The checksum covers the four
//! length bytes, the kind and the payload, so a flipped bit in the length is
//! caught even when the wrong length still lands inside the file.

use crate::error::CorruptReason;

/// Bytes before the payload: length, checksum, kind.
pub const FRAME_HEADER_BYTES: usize = 9;

/// Appends one frame for `(kind, payload)` to `out`.
///
/// The caller has checked `payload.len()` against `record_bytes_max`, which
/// is at most `u32::MAX`.
pub(crate) fn encode(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("payload length was checked against a u32 limit");
    let start = out.len();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(len, kind, payload).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    assert_eq!(out.len() - start, FRAME_HEADER_BYTES + payload.len());
}

/// The crc32c of a frame: length bytes, kind, payload.
fn checksum(len: u32, kind: u8, payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&len.to_le_bytes());
    let crc = crc32c::crc32c_append(crc, &[kind]);
    crc32c::crc32c_append(crc, payload)
}

/// One frame read back from disk.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    /// The record's kind.
    pub kind: u8,
    /// The record's payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Bytes the frame occupies on disk.
    pub fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES + self.payload.len()
    }
}

/// Reads the frame at the start of `buf`.
///
/// A frame that does not fit in `buf` is reported as
/// [`CorruptReason::Truncated`]; whether that is a torn tail or damage is
/// for the caller to decide.
pub(crate) fn decode(buf: &[u8], record_bytes_max: u32) -> Result<Frame<'_>, CorruptReason> {
    let Some(header) = buf.get(..FRAME_HEADER_BYTES) else {
        return Err(truncated(FRAME_HEADER_BYTES, buf.len()));
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let kind = header[8];
    if len > record_bytes_max {
        return Err(CorruptReason::LengthTooLarge {
            len,
            max: record_bytes_max,
        });
    }
    let needed = FRAME_HEADER_BYTES + len as usize;
    let Some(payload) = buf.get(FRAME_HEADER_BYTES..needed) else {
        return Err(truncated(needed, buf.len()));
    };
    let computed = checksum(len, kind, payload);
    if computed != stored {
        return Err(CorruptReason::BadChecksum { stored, computed });
    }
    Ok(Frame { kind, payload })
}

fn truncated(needed: usize, available: usize) -> CorruptReason {
    CorruptReason::Truncated {
        needed: needed as u64,
        available: available as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_is_length_crc_kind_payload() {
        let mut out = Vec::new();
        encode(&mut out, 7, b"abc");
        let crc = checksum(3, 7, b"abc");
        let mut expected = vec![3, 0, 0, 0];
        expected.extend_from_slice(&crc.to_le_bytes());
        expected.extend_from_slice(&[7, b'a', b'b', b'c']);
        assert_eq!(out, expected);
        assert_eq!(
            decode(&out, 16),
            Ok(Frame {
                kind: 7,
                payload: b"abc"
            })
        );
    }

    #[test]
    fn all_zero_header_is_not_a_valid_empty_record() {
        let zeros = [0u8; FRAME_HEADER_BYTES];
        assert_eq!(
            decode(&zeros, 16),
            Err(CorruptReason::BadChecksum {
                stored: 0,
                computed: checksum(0, 0, &[])
            })
        );
        assert_ne!(checksum(0, 0, &[]), 0);
    }

    #[test]
    fn flipped_length_bit_is_a_checksum_error_when_it_still_fits() {
        let mut out = Vec::new();
        encode(&mut out, 1, &[9u8; 10]);
        out[0] ^= 0b10; // length 10 -> 8: the shorter frame still fits in the buffer.
        assert!(matches!(
            decode(&out, 16),
            Err(CorruptReason::BadChecksum { .. })
        ));
    }

    #[test]
    fn oversized_and_short_frames_are_reported_exactly() {
        let mut out = Vec::new();
        encode(&mut out, 1, &[9u8; 10]);
        assert_eq!(
            decode(&out, 9),
            Err(CorruptReason::LengthTooLarge { len: 10, max: 9 })
        );
        assert_eq!(
            decode(&out[..15], 16),
            Err(CorruptReason::Truncated {
                needed: 19,
                available: 15
            })
        );
        assert_eq!(
            decode(&out[..4], 16),
            Err(CorruptReason::Truncated {
                needed: 9,
                available: 4
            })
        );
    }
}
