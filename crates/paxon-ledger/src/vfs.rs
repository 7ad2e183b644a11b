//! The file layer: the only way the ledger touches a disk.
//!
//! [`StdVfs`] is the real one. [`SimVfs`](crate::sim::SimVfs) keeps files in
//! memory and can crash, tear writes and flip bits deterministically, so the
//! simulator and the tests can drive the very same ledger code.
//!
//! The contract the ledger relies on, which both implementations keep:
//! - writes become durable only through [`VfsFile::sync_data`] (`fdatasync`);
//! - a created, renamed or removed directory entry becomes durable only
//!   through [`Vfs::sync_dir`] on the directory holding it;
//! - after a crash, each file holds its durable bytes, possibly followed by
//!   a prefix of its later writes, the last of which may be torn.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A directory tree of files, as the ledger needs it.
///
/// Paths are the ledger's own (under its data directory); names returned by
/// [`Vfs::list_dir`] are plain file names.
pub trait Vfs: Clone + Send + Sync + 'static {
    /// An open file.
    type File: VfsFile;

    /// Whether anything exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Creates one directory; its parent must exist.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Creates a file for reading and writing, truncating an existing one.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens an existing file for reading and writing.
    fn open(&self, path: &Path) -> io::Result<Self::File>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of a directory, sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// An open file. Methods take `&self` so that one thread can `fdatasync` a
/// file while others keep appending to the ledger's memory buffer.
pub trait VfsFile: Send + Sync + 'static {
    /// The file's current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Fills `buf` from `offset`; fails if the file is too short.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `bytes` at `offset`, growing the file if needed.
    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()>;
    /// Truncates or zero-extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data and size durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
}

/// Reads a whole file into memory.
pub(crate) fn read_all<F: VfsFile>(file: &F) -> io::Result<Vec<u8>> {
    let len =
        usize::try_from(file.len()?).map_err(|_| io::Error::other("file larger than memory"))?;
    let mut buf = vec![0u8; len];
    file.read_at(0, &mut buf)?;
    Ok(buf)
}

/// Real files through `std::fs` (Linux and other Unix systems).
#[derive(Clone, Copy, Debug, Default)]
pub struct StdVfs;

/// A real open file.
#[derive(Debug)]
pub struct StdFile {
    file: File,
}

impl Vfs for StdVfs {
    type File = StdFile;

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        fs::create_dir(path)
    }

    fn create(&self, path: &Path) -> io::Result<StdFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(StdFile { file })
    }

    fn open(&self, path: &Path) -> io::Result<StdFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(StdFile { file })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            // A name that is not UTF-8 was not written by the ledger; the
            // lossy form keeps it visible so recovery can report it.
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

impl VfsFile for StdFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}
