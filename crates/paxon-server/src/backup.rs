//! Backups: what `Maintenance.Snapshot` streams (`etcdctl snapshot save`)
//! and what `paxon snapshot restore` seeds a new cluster from.
//!
//! # File format
//!
//! `PAXONBAK` (8 bytes), the length of the store's snapshot (u64 little
//! endian), the store in `paxon-kv`'s snapshot format (itself
//! crc32c-checked), zero bytes up to a multiple of 512, then the SHA-256
//! of everything before it. etcdctl checks that a saved file's length is a
//! multiple of 512 plus 32 (etcd's "sha256 checksum not found") and keeps
//! the file as it came; `paxon snapshot restore` checks the digest, the
//! framing, the padding and the store.

use std::path::Path;

use paxon_core::{Record, Slot};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::disk::Disk;
use crate::state::StateMachine;

const MAGIC: &[u8; 8] = b"PAXONBAK";
const BLOCK: usize = 512;
const DIGEST: usize = 32;

/// Frames a store snapshot as a backup file.
pub fn encode(store: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(store.len() + BLOCK + DIGEST);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(store.len() as u64).to_le_bytes());
    out.extend_from_slice(store);
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// The store snapshot a backup file holds, or why it is not one.
pub fn decode(file: &[u8]) -> Result<&[u8], String> {
    if file.len() < BLOCK + DIGEST || !(file.len() - DIGEST).is_multiple_of(BLOCK) {
        return Err(format!(
            "not a Paxon snapshot: {} bytes is not a multiple of {BLOCK} plus a {DIGEST}-byte SHA-256",
            file.len()
        ));
    }
    let (body, digest) = file.split_at(file.len() - DIGEST);
    if Sha256::digest(body).as_slice() != digest {
        return Err("snapshot file corrupted: its SHA-256 does not match".to_string());
    }
    if &body[..8] != MAGIC {
        return Err("not a Paxon snapshot (an etcd backend file?): bad magic".to_string());
    }
    let len = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| len.checked_add(16))
        .filter(|end| *end <= body.len())
        .ok_or("snapshot file corrupted: its length field is too large")?;
    if body[end..].iter().any(|b| *b != 0) || body.len() - end >= BLOCK {
        return Err("snapshot file corrupted: bad padding".to_string());
    }
    Ok(&body[16..end])
}

/// Seeds `data_dir` for one member of a new cluster from a backup file
/// (etcdutl's `snapshot restore`): the store as it was, an empty ledger
/// after it. Every member of the new cluster is restored from the same
/// file. Refuses a data directory that already holds a ledger.
pub fn restore(file: &Path, data_dir: &Path, limits: paxon_kv::Limits) -> Result<i64, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let store = decode(&bytes)?;
    let machine = StateMachine::restore(store, limits)
        .map_err(|e| format!("snapshot file corrupted: the store does not decode: {e}"))?;
    let member_dir = data_dir.join("member");
    if member_dir.exists() {
        return Err(format!(
            "data-dir {} exists; restore into a new directory",
            data_dir.display()
        ));
    }
    let (persisted, _ignored) = mpsc::unbounded_channel();
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new(&[], Default::default()));
    let (mut disk, _) = Disk::open(&member_dir, persisted, metrics)?;
    disk.save_snapshot(&[Record::Commit { slot: Slot(0) }], store)?;
    Ok(machine.revision())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_round_trips_and_has_the_length_etcdctl_checks() {
        for len in [0, 1, 495, 496, 497, 5000] {
            let store: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let file = encode(&store);
            assert_eq!(file.len() % BLOCK, DIGEST, "len {len}");
            assert_eq!(decode(&file).unwrap(), store);
        }
    }

    #[test]
    fn any_flipped_bit_or_truncation_is_refused() {
        let file = encode(b"some store bytes");
        for at in [0, 9, 20, 300, file.len() - 1] {
            let mut bad = file.clone();
            bad[at] ^= 0x10;
            assert!(decode(&bad).is_err(), "flip at {at}");
        }
        assert!(decode(&file[..file.len() - 1]).is_err());
        assert!(decode(b"").is_err());
    }
}
