//! [`SimVfs`]: an in-memory file layer for tests and the deterministic
//! simulator, with power-loss crashes, torn writes and bit flips.
//!
//! Each file keeps the bytes that reached the disk (`durable`) and the
//! writes made since its last `sync_data`; each directory keeps the entries
//! that reached the disk and its current ones. A crash keeps only what is
//! durable — plus, with [`SimVfs::crash_with`], a seed-chosen prefix of the
//! later writes, the last one possibly torn. Nothing here reads a clock or a
//! global RNG, and every map is a `BTreeMap`: the same calls with the same
//! seeds give the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::vfs::{Vfs, VfsFile};

type NodeId = u64;
const ROOT: NodeId = 0;

/// An in-memory, crashable file layer. Clones share the same files.
#[derive(Clone, Debug, Default)]
pub struct SimVfs {
    state: Arc<Mutex<SimState>>,
}

/// An open file of a [`SimVfs`]. It stops working after a crash, like the
/// file descriptors of a process that died.
#[derive(Debug)]
pub struct SimFile {
    state: Arc<Mutex<SimState>>,
    id: NodeId,
    generation: u64,
}

#[derive(Debug)]
struct SimState {
    /// Bumped by every crash; handles from an older generation are stale.
    generation: u64,
    nodes: BTreeMap<NodeId, Node>,
    next_id: NodeId,
    /// While set, `sync_data` fails with an I/O error and syncs nothing.
    fail_sync_data: bool,
    /// Successful `sync_data` calls so far.
    sync_data_count: u64,
}

#[derive(Debug)]
enum Node {
    File(FileNode),
    Dir(DirNode),
}

#[derive(Debug, Default)]
struct FileNode {
    durable: Vec<u8>,
    current: Vec<u8>,
    unsynced: Vec<Op>,
}

#[derive(Clone, Debug)]
enum Op {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct DirNode {
    durable: BTreeMap<String, NodeId>,
    current: BTreeMap<String, NodeId>,
}

impl Default for SimState {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(ROOT, Node::Dir(DirNode::default()));
        SimState {
            generation: 0,
            nodes,
            next_id: ROOT + 1,
            fail_sync_data: false,
            sync_data_count: 0,
        }
    }
}

impl SimVfs {
    /// An empty file system holding only the root directory `/`.
    pub fn new() -> Self {
        SimVfs::default()
    }

    /// Power loss: every write and directory change not yet synced is lost.
    /// Open files become stale.
    pub fn crash(&self) {
        let mut state = self.lock();
        for node in state.nodes.values_mut() {
            match node {
                Node::File(file) => file.revert_to_durable(),
                Node::Dir(dir) => dir.current = dir.durable.clone(),
            }
        }
        state.after_crash();
    }

    /// Power loss where the disk had written some of the unsynced data.
    ///
    /// For each file (in a fixed order) the seed chooses how many of its
    /// unsynced writes reached the disk, in the order they were made; with
    /// `torn`, the first write that did not make it is torn: a seed-chosen
    /// prefix of its bytes lands, and, if the seed says so, the rest of the
    /// region it extended reads as zeros (size updated, data not). For each
    /// directory the seed chooses whether its unsynced changes reached the
    /// disk. Open files become stale.
    pub fn crash_with(&self, torn: bool, seed: u64) {
        let mut rng = SplitMix64(seed);
        let mut state = self.lock();
        for node in state.nodes.values_mut() {
            match node {
                Node::File(file) => file.crash_keeping_prefix(torn, &mut rng),
                Node::Dir(dir) if rng.next() & 1 == 1 => dir.durable = dir.current.clone(),
                Node::Dir(dir) => dir.current = dir.durable.clone(),
            }
        }
        state.after_crash();
    }

    /// Flips bit `bit` (0..8) of byte `offset` of the file at `path`, in
    /// what is on disk and in what reads see: the medium has decayed.
    /// Meant for files with no unsynced writes (e.g. between a crash and
    /// the next open).
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) -> io::Result<()> {
        if bit >= 8 {
            return Err(invalid_input("bit must be in 0..8"));
        }
        let mut state = self.lock();
        let id = state.resolve(path)?;
        let file = state.file_mut(id)?;
        let index = usize::try_from(offset).map_err(|_| invalid_input("offset too large"))?;
        let Some(byte) = file.current.get_mut(index) else {
            return Err(invalid_input("offset beyond the end of the file"));
        };
        *byte ^= 1 << bit;
        if let Some(byte) = file.durable.get_mut(index) {
            *byte ^= 1 << bit;
        }
        Ok(())
    }

    /// Writes a whole file durably, creating missing parent directories
    /// durably too: a way to plant arbitrary bytes for recovery tests.
    pub fn put_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        let mut dir = ROOT;
        let names = components(path)?;
        let Some((file_name, dir_names)) = names.split_last() else {
            return Err(invalid_input("empty path"));
        };
        for name in dir_names {
            dir = match state.dir(dir)?.current.get(name).copied() {
                Some(id) => id,
                None => state.insert_durable(dir, name, Node::Dir(DirNode::default()))?,
            };
        }
        if let Some(old) = state.dir(dir)?.current.get(file_name).copied() {
            state.file_mut(old)?; // a directory of that name is an error
        }
        let file = FileNode {
            durable: bytes.to_vec(),
            current: bytes.to_vec(),
            unsynced: Vec::new(),
        };
        state.insert_durable(dir, file_name, Node::File(file))?;
        Ok(())
    }

    /// While `fail` is set, every `sync_data` fails with an I/O error and
    /// makes nothing durable (the disk-error fault class).
    pub fn set_fail_sync_data(&self, fail: bool) {
        self.lock().fail_sync_data = fail;
    }

    /// How many `sync_data` calls have succeeded, for checking group commit.
    pub fn sync_data_count(&self) -> u64 {
        self.lock().sync_data_count
    }

    /// The bytes a read of the file at `path` sees now.
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut state = self.lock();
        let id = state.resolve(path)?;
        Ok(state.file_mut(id)?.current.clone())
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, state: &SimState, id: NodeId) -> SimFile {
        SimFile {
            state: Arc::clone(&self.state),
            id,
            generation: state.generation,
        }
    }
}

impl FileNode {
    fn revert_to_durable(&mut self) {
        self.current = self.durable.clone();
        self.unsynced.clear();
    }

    fn crash_keeping_prefix(&mut self, torn: bool, rng: &mut SplitMix64) {
        let ops = std::mem::take(&mut self.unsynced);
        let kept = rng.below(ops.len() as u64 + 1) as usize;
        for op in &ops[..kept] {
            apply(&mut self.durable, op);
        }
        if let (true, Some(Op::Write { offset, bytes })) = (torn, ops.get(kept)) {
            let landed = rng.below(bytes.len() as u64 + 1) as usize;
            let zero_extend = rng.next() & 1 == 1;
            let end = if zero_extend { bytes.len() } else { landed };
            let old_len = self.durable.len() as u64;
            apply(
                &mut self.durable,
                &Op::Write {
                    offset: *offset,
                    bytes: bytes[..landed].to_vec(),
                },
            );
            let extent_end = (*offset + end as u64).max(old_len) as usize;
            if self.durable.len() < extent_end {
                self.durable.resize(extent_end, 0);
            }
        }
        self.revert_to_durable();
    }
}

fn apply(bytes: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write {
            offset,
            bytes: data,
        } => {
            let start = *offset as usize;
            let end = start + data.len();
            if bytes.len() < end {
                bytes.resize(end, 0);
            }
            bytes[start..end].copy_from_slice(data);
        }
        Op::SetLen(len) => bytes.resize(*len as usize, 0),
    }
}

impl SimState {
    fn after_crash(&mut self) {
        self.generation += 1;
        self.collect_garbage();
    }

    /// Drops nodes that no directory entry, durable or current, reaches.
    fn collect_garbage(&mut self) {
        let mut reachable = BTreeSet::from([ROOT]);
        let mut stack = vec![ROOT];
        while let Some(id) = stack.pop() {
            if let Some(Node::Dir(dir)) = self.nodes.get(&id) {
                for child in dir.durable.values().chain(dir.current.values()) {
                    if reachable.insert(*child) {
                        stack.push(*child);
                    }
                }
            }
        }
        self.nodes.retain(|id, _| reachable.contains(id));
    }

    fn resolve(&self, path: &Path) -> io::Result<NodeId> {
        let mut id = ROOT;
        for name in components(path)? {
            id = *self
                .dir(id)?
                .current
                .get(&name)
                .ok_or_else(|| not_found(path))?;
        }
        Ok(id)
    }

    fn parent_and_name(&self, path: &Path) -> io::Result<(NodeId, String)> {
        let mut names = components(path)?;
        let name = names.pop().ok_or_else(|| invalid_input("empty path"))?;
        let mut id = ROOT;
        for dir_name in names {
            id = *self
                .dir(id)?
                .current
                .get(&dir_name)
                .ok_or_else(|| not_found(path))?;
        }
        self.dir(id)?;
        Ok((id, name))
    }

    fn dir(&self, id: NodeId) -> io::Result<&DirNode> {
        match self.nodes.get(&id) {
            Some(Node::Dir(dir)) => Ok(dir),
            Some(Node::File(_)) => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            )),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such node")),
        }
    }

    fn dir_mut(&mut self, id: NodeId) -> io::Result<&mut DirNode> {
        match self.nodes.get_mut(&id) {
            Some(Node::Dir(dir)) => Ok(dir),
            Some(Node::File(_)) => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            )),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no such node")),
        }
    }

    fn file_mut(&mut self, id: NodeId) -> io::Result<&mut FileNode> {
        match self.nodes.get_mut(&id) {
            Some(Node::File(file)) => Ok(file),
            Some(Node::Dir(_)) => Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            )),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "file was removed")),
        }
    }

    fn insert_current(&mut self, dir: NodeId, name: &str, node: Node) -> io::Result<NodeId> {
        let id = self.next_id;
        self.dir_mut(dir)?.current.insert(name.to_string(), id);
        self.next_id += 1;
        self.nodes.insert(id, node);
        Ok(id)
    }

    fn insert_durable(&mut self, dir: NodeId, name: &str, node: Node) -> io::Result<NodeId> {
        let id = self.insert_current(dir, name, node)?;
        self.dir_mut(dir)?.durable.insert(name.to_string(), id);
        Ok(id)
    }
}

impl Vfs for SimVfs {
    type File = SimFile;

    fn exists(&self, path: &Path) -> io::Result<bool> {
        match self.lock().resolve(path) {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let (parent, name) = state.parent_and_name(path)?;
        if state.dir(parent)?.current.contains_key(&name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "already exists",
            ));
        }
        state.insert_current(parent, &name, Node::Dir(DirNode::default()))?;
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<SimFile> {
        let mut state = self.lock();
        let (parent, name) = state.parent_and_name(path)?;
        let id = match state.dir(parent)?.current.get(&name).copied() {
            Some(id) => {
                let file = state.file_mut(id)?;
                file.current.clear();
                file.unsynced.push(Op::SetLen(0));
                id
            }
            None => state.insert_current(parent, &name, Node::File(FileNode::default()))?,
        };
        Ok(self.handle(&state, id))
    }

    fn open(&self, path: &Path) -> io::Result<SimFile> {
        let mut state = self.lock();
        let id = state.resolve(path)?;
        state.file_mut(id)?;
        Ok(self.handle(&state, id))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let (from_dir, from_name) = state.parent_and_name(from)?;
        let (to_dir, to_name) = state.parent_and_name(to)?;
        let id = *state
            .dir(from_dir)?
            .current
            .get(&from_name)
            .ok_or_else(|| not_found(from))?;
        if let Some(existing) = state.dir(to_dir)?.current.get(&to_name).copied() {
            state.file_mut(existing)?;
        }
        state.dir_mut(from_dir)?.current.remove(&from_name);
        state.dir_mut(to_dir)?.current.insert(to_name, id);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let (parent, name) = state.parent_and_name(path)?;
        let id = *state
            .dir(parent)?
            .current
            .get(&name)
            .ok_or_else(|| not_found(path))?;
        state.file_mut(id)?;
        state.dir_mut(parent)?.current.remove(&name);
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let state = self.lock();
        let id = state.resolve(path)?;
        Ok(state.dir(id)?.current.keys().cloned().collect())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let id = state.resolve(path)?;
        let dir = state.dir_mut(id)?;
        dir.durable = dir.current.clone();
        state.collect_garbage();
        Ok(())
    }
}

impl SimFile {
    /// Locks the file system, failing if this handle predates a crash.
    fn lock_current(&self) -> io::Result<MutexGuard<'_, SimState>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.generation != self.generation {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stale file handle: the simulated machine crashed",
            ));
        }
        Ok(state)
    }

    fn with_file<T>(&self, f: impl FnOnce(&mut FileNode) -> io::Result<T>) -> io::Result<T> {
        f(self.lock_current()?.file_mut(self.id)?)
    }
}

impl VfsFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        self.with_file(|file| Ok(file.current.len() as u64))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.with_file(|file| {
            let start = usize::try_from(offset).map_err(|_| invalid_input("offset too large"))?;
            let end = start
                .checked_add(buf.len())
                .ok_or_else(|| invalid_input("read past u64"))?;
            let Some(bytes) = file.current.get(start..end) else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the file",
                ));
            };
            buf.copy_from_slice(bytes);
            Ok(())
        })
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.with_file(|file| {
            let op = Op::Write {
                offset,
                bytes: bytes.to_vec(),
            };
            apply(&mut file.current, &op);
            file.unsynced.push(op);
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with_file(|file| {
            let op = Op::SetLen(len);
            apply(&mut file.current, &op);
            file.unsynced.push(op);
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.lock_current()?;
        if state.fail_sync_data {
            return Err(io::Error::other("simulated fdatasync failure"));
        }
        state.sync_data_count += 1;
        let file = state.file_mut(self.id)?;
        for op in std::mem::take(&mut file.unsynced) {
            apply(&mut file.durable, &op);
        }
        assert_eq!(
            file.durable, file.current,
            "sim: synced bytes must equal what reads see"
        );
        Ok(())
    }
}

fn components(path: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                names.push(
                    name.to_str()
                        .ok_or_else(|| invalid_input("path is not UTF-8"))?
                        .to_string(),
                );
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(invalid_input("unsupported path component"))
            }
        }
    }
    Ok(names)
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

fn invalid_input(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_string())
}

/// splitmix64: a tiny, seedable, well-mixed generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.next() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_file(vfs: &SimVfs, path: &str, chunks: &[&[u8]], sync: bool) -> SimFile {
        let file = vfs.create(Path::new(path)).expect("create");
        let mut offset = 0;
        for chunk in chunks {
            file.write_at(offset, chunk).expect("write");
            offset += chunk.len() as u64;
        }
        if sync {
            file.sync_data().expect("sync");
        }
        file
    }

    fn read(vfs: &SimVfs, path: &str) -> Option<Vec<u8>> {
        vfs.read_file(Path::new(path)).ok()
    }

    #[test]
    fn crash_loses_unsynced_bytes_and_entries_that_were_never_dir_synced() {
        let vfs = SimVfs::new();
        vfs.create_dir(Path::new("/d")).expect("mkdir");
        vfs.sync_dir(Path::new("/")).expect("sync root");
        let file = write_file(&vfs, "/d/a", &[b"durable"], true);
        vfs.sync_dir(Path::new("/d")).expect("sync dir");
        file.write_at(7, b" and not").expect("write");
        write_file(&vfs, "/d/b", &[b"synced data, entry not"], true);
        vfs.crash();
        assert_eq!(read(&vfs, "/d/a"), Some(b"durable".to_vec()));
        assert_eq!(read(&vfs, "/d/b"), None);
        assert_eq!(vfs.list_dir(Path::new("/d")).expect("list"), ["a"]);
        let stale = file.len().expect_err("handles die with the crash");
        assert_eq!(stale.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn rename_without_dir_sync_is_undone_by_a_crash() {
        let vfs = SimVfs::new();
        write_file(&vfs, "/tmp-name", &[b"x"], true);
        vfs.sync_dir(Path::new("/")).expect("sync");
        vfs.rename(Path::new("/tmp-name"), Path::new("/final"))
            .expect("rename");
        vfs.crash();
        assert_eq!(vfs.list_dir(Path::new("/")).expect("list"), ["tmp-name"]);
        vfs.rename(Path::new("/tmp-name"), Path::new("/final"))
            .expect("rename");
        vfs.sync_dir(Path::new("/")).expect("sync");
        vfs.crash();
        assert_eq!(vfs.list_dir(Path::new("/")).expect("list"), ["final"]);
    }

    #[test]
    fn the_same_seed_tears_the_same_way() {
        let outcome = |seed| {
            let vfs = SimVfs::new();
            write_file(&vfs, "/f", &[b"0123", b"4567", b"89ab"], false);
            vfs.sync_dir(Path::new("/")).expect("sync");
            vfs.crash_with(true, seed);
            read(&vfs, "/f").expect("entry is durable")
        };
        assert_eq!(outcome(7), outcome(7));
        let outcomes: BTreeSet<Vec<u8>> = (0..64).map(outcome).collect();
        assert!(outcomes.contains(&Vec::new()), "everything lost");
        assert!(
            outcomes.contains(b"0123456789ab".as_slice()),
            "everything landed"
        );
        let prefix_then_zeros = |bytes: &Vec<u8>| {
            let landed = bytes
                .iter()
                .zip(b"0123456789ab")
                .take_while(|(a, b)| a == b)
                .count();
            bytes.len() <= 12 && bytes[landed..].iter().all(|&b| b == 0)
        };
        assert!(
            outcomes.iter().all(prefix_then_zeros),
            "a crash keeps a prefix, maybe zero-extended"
        );
        assert!(
            outcomes.iter().any(|bytes| bytes.ends_with(&[0])),
            "some torn writes read as zeros"
        );
        assert!(outcomes.len() > 4, "torn lengths vary with the seed");
    }

    #[test]
    fn flip_bit_changes_durable_and_visible_bytes() {
        let vfs = SimVfs::new();
        write_file(&vfs, "/f", &[&[0b1010]], true);
        vfs.sync_dir(Path::new("/")).expect("sync");
        vfs.flip_bit(Path::new("/f"), 0, 0).expect("flip");
        assert_eq!(read(&vfs, "/f"), Some(vec![0b1011]));
        vfs.crash();
        assert_eq!(read(&vfs, "/f"), Some(vec![0b1011]));
        assert!(vfs.flip_bit(Path::new("/f"), 1, 0).is_err());
        assert!(vfs.flip_bit(Path::new("/f"), 0, 8).is_err());
    }
}
