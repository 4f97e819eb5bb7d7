//! A bundle's content identity, which names its verdict in the cache: in a git work tree its
//! git blob id — taken from git's index when git vouches that the file still has those bytes,
//! else computed here — and outside git the SHA-256 of its bytes. Never a path, mtime or size.
//! One naming per source, so verdicts cached by any run are found by every other.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::git::ObjectFormat;

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
