//! The memo of search states already explored: which operations are
//! linearized and what the register holds.
//!
//! The set of linearized operations is kept as two bitsets, one for
//! operations with a known outcome and one for optional ones, each in
//! invocation order. Known operations get linearized roughly in invocation
//! order, so their bitset is a run of ones, a short ragged window, then zeros:
//! the memo key stores the length of the run and the window only. The key is
//! exact — no hash stands in for a state — so the memo never prunes a state
//! it has not seen.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use crate::register::{Slot, State};

/// Bits per bitset word.
const WORD_BITS: u32 = u64::BITS;

/// Keys of at most this many words are stored without a heap allocation.
const INLINE_WORDS: usize = 3;

/// Which operations are linearized, as bitsets.
#[derive(Debug)]
pub(crate) struct Linearized {
    known: Vec<u64>,
    optional: Vec<u64>,
    /// The last key built, reused to avoid an allocation per step.
    key: Vec<u64>,
}

impl Linearized {
    /// No operation linearized, out of `known_count` with a known outcome
    /// and `optional_count` with an unknown one.
    pub(crate) fn new(known_count: u32, optional_count: u32) -> Self {
        Self {
            known: vec![0; known_count.div_ceil(WORD_BITS) as usize],
            optional: vec![0; optional_count.div_ceil(WORD_BITS) as usize],
            key: Vec::new(),
        }
    }

    /// Adds the operation in `slot` if absent, removes it if present.
    pub(crate) fn toggle(&mut self, slot: Slot) {
        let (words, bit) = match slot {
            Slot::Known(bit) => (&mut self.known, bit),
            Slot::Optional(bit) => (&mut self.optional, bit),
        };
        words[(bit / WORD_BITS) as usize] ^= 1 << (bit % WORD_BITS);
    }

    /// Whether the operation in `slot` is linearized.
    pub(crate) fn contains(&self, slot: Slot) -> bool {
        let (words, bit) = match slot {
            Slot::Known(bit) => (&self.known, bit),
            Slot::Optional(bit) => (&self.optional, bit),
        };
        words[(bit / WORD_BITS) as usize] & (1 << (bit % WORD_BITS)) != 0
    }

    /// The exact memo key of the search state made of these bitsets, the
    /// register's `state`, and whether the last linearized operation was
    /// optional (the search treats such states differently).
    ///
    /// Layout: a header word (`state`, the flag, the number of leading
    /// all-ones words of the known bitset), the following known words up to
    /// the last non-zero one, then all optional words. The optional part has
    /// a fixed length, so the layout is unambiguous.
    pub(crate) fn key(&mut self, state: State, last_optional: bool) -> &[u64] {
        let full = self
            .known
            .iter()
            .take_while(|&&word| word == u64::MAX)
            .count();
        let used = self
            .known
            .iter()
            .rposition(|&word| word != 0)
            .map_or(0, |last| last + 1);
        let full_field = u32::try_from(full).expect("bitset too long for a memo key");
        assert!(full_field < 1 << 31, "bitset too long for a memo key");
        let header =
            (u64::from(state) << 32) | (u64::from(last_optional) << 31) | u64::from(full_field);
        self.key.clear();
        self.key.push(header);
        self.key
            .extend_from_slice(&self.known[full..used.max(full)]);
        self.key.extend_from_slice(&self.optional);
        &self.key
    }
}

/// A stored memo key; short keys live inline.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key {
    Inline { len: u8, words: [u64; INLINE_WORDS] },
    Heap(Box<[u64]>),
}

impl Key {
    fn new(words: &[u64]) -> Self {
        if words.len() > INLINE_WORDS {
            return Key::Heap(words.into());
        }
        let mut inline = [0; INLINE_WORDS];
        inline[..words.len()].copy_from_slice(words);
        let len = u8::try_from(words.len()).expect("INLINE_WORDS fits a u8");
        Key::Inline { len, words: inline }
    }
}

/// The search states already visited.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    seen: HashSet<Key, BuildHasherDefault<FxHasher>>,
}

impl Memo {
    /// Records `key`; `false` if it was already there.
    pub(crate) fn insert(&mut self, key: &[u64]) -> bool {
        self.seen.insert(Key::new(key))
    }
}

/// A fast multiplicative hasher for words (the idea of rustc's FxHash) with
/// a final avalanche so that the table's high and low bits both vary.
#[derive(Debug, Default)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("chunks of 8")));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's 64-bit finaliser.
        let mut hash = self.hash;
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^= hash >> 33;
        hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        hash ^ (hash >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_drops_leading_full_words_and_trailing_empty_known_words() {
        let mut linearized = Linearized::new(200, 0);
        for bit in 0..64 {
            linearized.toggle(Slot::Known(bit));
        }
        linearized.toggle(Slot::Known(66));
        let header = (7 << 32) | 1;
        assert_eq!(linearized.key(7, false), &[header, 1 << 2]);
    }

    #[test]
    fn key_keeps_optional_words_and_the_last_optional_flag() {
        let mut linearized = Linearized::new(3, 70);
        linearized.toggle(Slot::Optional(65));
        assert_eq!(linearized.key(0, true), &[1 << 31, 0, 1 << 1]);
        linearized.toggle(Slot::Optional(65));
        assert_eq!(linearized.key(0, true), &[1 << 31, 0, 0]);
    }

    #[test]
    fn memo_insert_reports_only_the_first_sighting_of_a_key() {
        let mut memo = Memo::default();
        assert!(memo.insert(&[1, 2]));
        assert!(memo.insert(&[1, 2, 0, 0]));
        assert!(!memo.insert(&[1, 2]));
        assert!(!memo.insert(&[1, 2, 0, 0]));
    }
}
