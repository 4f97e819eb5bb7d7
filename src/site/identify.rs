//! Naming a source's bundles before they are read: which blob ids git vouches for, so that
//! cached verdicts are found without reading the bundles again (see [`crate::content_id`]).

use std::time::SystemTime;

use anyhow::Result;

use crate::content_id::{ContentId, Scheme};
use crate::git::WorkTree;
use crate::source::{FileState, Source};

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
