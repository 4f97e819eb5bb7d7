//! A bundle's content identity, which names its verdict in the cache: in a git work tree its
//! git blob id — taken from git's index when git vouches that the file still has those bytes,
//! else computed here — and outside git the SHA-256 of its bytes. Never a path, mtime or size.
//! One naming per source, so verdicts cached by any run are found by every other.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::git::{ObjectFormat, WorkTree};
use crate::source::{FileState, Source};

/// What a bundle's bytes are called.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContentId {
    /// SHA-256 of the file, lowercase hex.
    Sha256(String),
    /// The git blob id, in the repository's object format.
    GitBlob(ObjectFormat, String),
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentId::Sha256(hex) => write!(f, "sha256:{hex}"),
            ContentId::GitBlob(ObjectFormat::Sha1, id) => write!(f, "git-sha1:{id}"),
            ContentId::GitBlob(ObjectFormat::Sha256, id) => write!(f, "git-sha256:{id}"),
        }
    }
}

/// How the bundles of one source are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sha256,
    GitBlob(ObjectFormat),
}

/// The naming of a source's bundles, and the ids git vouches for (in `source.bundles` order).
pub struct Claimed {
    pub scheme: Scheme,
    pub ids: Vec<Option<ContentId>>,
}

/// Share of the bundles' bytes git may have to re-hash before the blob ids are worth asking
/// for (git hashes one file at a time; this tool hashes on every core).
const GIT_REHASH_LIMIT: (u64, u64) = (1, 16);

/// The blob ids git vouches for: tracked, not modified in the work tree, and only when that is
/// cheap to tell. Git tells from its index's stat data, except for files changed in or after
/// the second its index was written, which it re-reads one at a time: after a checkout, the
/// files of its last second; after a fast clone, nearly all. When those are too many, every
/// bundle gets `None` and is hashed here instead, on every core.
/// `states` are the bundles' file states (in `source.bundles` order; `None` when unreadable).
pub fn claimed_by_git(source: &Source, states: &[Option<FileState>]) -> Result<Claimed> {
    let none = vec![None; source.bundles.len()];
    let scheme = scheme(source);
    let (Scheme::GitBlob(format), Some(tree)) = (scheme, WorkTree::discover(&source.root)) else {
        return Ok(Claimed { scheme, ids: none });
    };
    // A repository where nothing was ever staged has no index: nothing to vouch for.
    let Ok(written) = tree.index_written() else {
        return Ok(Claimed { scheme, ids: none });
    };
    // Changed in or after the second the index was written.
    let second = written
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i128::from(d.as_secs()) * 1_000_000_000);
    let states = states.iter().flatten();
    let total: u64 = states.clone().map(|s| s.len).sum();
    let recent: u64 = states
        .filter(|s| s.modified >= second || s.changed >= second)
        .map(|s| s.len)
        .sum();
    if recent * GIT_REHASH_LIMIT.1 > total * GIT_REHASH_LIMIT.0 {
        return Ok(Claimed { scheme, ids: none });
    }
    let modified = tree.modified()?;
    let ids = source
        .bundles
        .iter()
        .map(|file| {
            let blob = file
                .blob
                .as_ref()
                .filter(|_| !modified.contains(&file.rel))?;
            Some(ContentId::GitBlob(format, blob.clone()))
        })
        .collect();
    Ok(Claimed { scheme, ids })
}

/// How a source's bundles are named: by git blob id when git lists them (the ids they must
/// have), else by SHA-256.
pub fn scheme(source: &Source) -> Scheme {
    match &source.repository {
        Some(repo) => Scheme::GitBlob(repo.format),
        None => Scheme::Sha256,
    }
}

/// Reads and names a whole file.
pub fn of_file(path: &Path, scheme: Scheme) -> io::Result<ContentId> {
    let mut file = File::open(path)?;
    match scheme {
        Scheme::Sha256 => {
            let mut hasher = Sha256::new();
            io::copy(&mut file, &mut hasher)?;
            Ok(ContentId::Sha256(hex::encode(hasher.finalize())))
        }
        Scheme::GitBlob(format) => {
            let len = file.metadata()?.len();
            let mut reader = BlobReader::new(file, format, len);
            io::copy(&mut reader, &mut io::sink())?;
            reader
                .finish()
                .ok_or_else(|| io::Error::other("the file changed size while it was read"))
        }
    }
}

/// Passes a file's bytes through while hashing them as a git blob, so a bundle is verified and
/// named from the same single read.
pub struct BlobReader<R> {
    inner: R,
    hasher: BlobHasher,
    format: ObjectFormat,
    /// The length the blob header announced; a file that turned out longer or shorter has
    /// no id.
    announced: u64,
    read: u64,
}

enum BlobHasher {
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl<R: Read> BlobReader<R> {
    /// `len` is the file's size when it was opened (git's header comes first).
    pub fn new(inner: R, format: ObjectFormat, len: u64) -> Self {
        let header = format!("blob {len}\0");
        let hasher = match format {
            ObjectFormat::Sha1 => BlobHasher::Sha1(sha1::Sha1::new_with_prefix(&header)),
            ObjectFormat::Sha256 => BlobHasher::Sha256(Sha256::new_with_prefix(&header)),
        };
        BlobReader {
            inner,
            hasher,
            format,
            announced: len,
            read: 0,
        }
    }

    /// The blob id of everything read, when that was exactly the announced length.
    pub fn finish(self) -> Option<ContentId> {
        if self.read != self.announced {
            return None;
        }
        let id = match self.hasher {
            BlobHasher::Sha1(h) => hex::encode(h.finalize()),
            BlobHasher::Sha256(h) => hex::encode(h.finalize()),
        };
        Some(ContentId::GitBlob(self.format, id))
    }
}

impl<R: Read> Read for BlobReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match &mut self.hasher {
            BlobHasher::Sha1(h) => h.update(&buf[..n]),
            BlobHasher::Sha256(h) => h.update(&buf[..n]),
        }
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_id(bytes: &[u8], format: ObjectFormat, announced: u64) -> Option<ContentId> {
        let mut reader = BlobReader::new(bytes, format, announced);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        reader.finish()
    }

    #[test]
    fn blob_ids_match_git() {
        // `printf 'hello\n' | git hash-object --stdin` (and with --object-format=sha256).
        assert_eq!(
            blob_id(b"hello\n", ObjectFormat::Sha1, 6)
                .unwrap()
                .to_string(),
            "git-sha1:ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            blob_id(b"hello\n", ObjectFormat::Sha256, 6)
                .unwrap()
                .to_string(),
            "git-sha256:2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4"
        );
    }

    #[test]
    fn a_file_that_changed_length_while_read_has_no_blob_id() {
        assert_eq!(blob_id(b"hello\n", ObjectFormat::Sha1, 5), None);
        assert_eq!(blob_id(b"hello\n", ObjectFormat::Sha1, 7), None);
    }
}
