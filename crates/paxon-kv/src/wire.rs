//! The primitives of the binary encodings ([`crate::Command`] and
//! snapshots): canonical, length-checked, never panicking on input.
//!
//! | item | encoding |
//! |---|---|
//! | `u8`, `bool` | one byte; a `bool` is 0 or 1 |
//! | `u64`, counts, lengths | unsigned LEB128, minimal |
//! | `i64` | zigzag, then as `u64` |
//! | bytes | length, then the bytes |

use thiserror::Error;

/// Why bytes could not be decoded. Input from the network or the disk is
/// validated, never trusted.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended early.
    #[error("input truncated: at least {needed} more bytes needed, {remaining} left")]
    Truncated {
        /// Bytes the next item needs at least.
        needed: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// The version byte is not one this build reads.
    #[error("unknown encoding version {0}")]
    UnknownVersion(u8),
    /// A tag names nothing.
    #[error("unknown tag {0}")]
    UnknownTag(u8),
    /// Bytes follow a complete value.
    #[error("{0} trailing bytes after the end")]
    TrailingBytes(usize),
    /// A snapshot's checksum does not match its contents.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum the input carries.
        stored: u32,
        /// The checksum of the input's contents.
        computed: u32,
    },
    /// Well-formed bytes describing something that cannot exist.
    #[error("invalid encoding: {0}")]
    Invalid(&'static str),
}

/// Longest LEB128 encoding of a `u64`.
const VARINT_BYTES_MAX: usize = 10;

pub(crate) fn put_u64(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

pub(crate) fn put_i64(out: &mut Vec<u8>, n: i64) {
    put_u64(out, ((n << 1) ^ (n >> 63)) as u64);
}

pub(crate) fn put_bool(out: &mut Vec<u8>, b: bool) {
    out.push(u8::from(b));
}

pub(crate) fn put_len(out: &mut Vec<u8>, len: usize) {
    put_u64(out, len as u64);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A cursor over input being decoded.
pub(crate) struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { input }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self.input.split_first().ok_or(DecodeError::Truncated {
            needed: 1,
            remaining: 0,
        })?;
        self.input = rest;
        Ok(first)
    }

    pub(crate) fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("bool other than 0 or 1")),
        }
    }

    /// A minimal LEB128 `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for i in 0..VARINT_BYTES_MAX {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if i == VARINT_BYTES_MAX - 1 && byte > 1 {
                return Err(DecodeError::Invalid("varint overflows 64 bits"));
            }
            n |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if byte == 0 && i > 0 {
                    return Err(DecodeError::Invalid("non-minimal varint"));
                }
                return Ok(n);
            }
        }
        Err(DecodeError::Invalid("varint longer than 10 bytes"))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        let z = self.u64()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count of items each at least `item_bytes_min` long, checked
    /// against the input left before anything is allocated.
    pub(crate) fn count(&mut self, item_bytes_min: u64) -> Result<usize, DecodeError> {
        let count = self.u64()?;
        let needed = count.saturating_mul(item_bytes_min.max(1));
        if needed > self.input.len() as u64 {
            return Err(DecodeError::Truncated {
                needed,
                remaining: self.input.len(),
            });
        }
        Ok(count as usize)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.count(1)?;
        let (bytes, rest) = self.input.split_at(len);
        self.input = rest;
        Ok(bytes)
    }

    pub(crate) fn vec(&mut self) -> Result<Vec<u8>, DecodeError> {
        self.bytes().map(<[u8]>::to_vec)
    }

    /// Length-prefixed UTF-8 text (names, URLs).
    pub(crate) fn text(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.vec()?).map_err(|_| DecodeError::Invalid("a name is not UTF-8"))
    }

    /// Succeeds if the input is used up.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        match self.input.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}
