//! Publication facts: when each file of the registry was published, and so which of a
//! package's versions came first (its first signer, its owner's anchor).
//!
//! They come from the first-parent history of the branch only: the commits a maintainer put on
//! it, in the order they went on. A file is published by the first-parent commit that first
//! brought it (a maintainer's merge commit, for a merged pull request); commits inside a merged
//! pull request, with whatever dates their author gave them, add nothing of their own, so a
//! pull request that deletes and re-adds a published file, or dates a commit before the first
//! release, cannot move anything already published. Committer times are shown, never compared.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use anyhow::Result;

use crate::git::Repository;

/// When a file was published on the branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Publication {
    /// Place of the publishing commit among the branch's first-parent commits that added
    /// files, oldest first: what decides who came first. Commits appended later never change
    /// it.
    pub position: u64,
    /// The publishing commit's committer time (unix seconds), for display only. For a merged
    /// pull request it is the maintainer's merge commit that dates the file; with a
    /// fast-forward or rebase merge, the commit as it went onto the branch.
    pub time: i64,
}

impl Publication {
    /// Orders files by publication, files not published (not committed on the branch, or only
    /// in a pull request's head) after every published one; `then` breaks ties (the same
    /// commit, or neither published).
    pub fn order(
        a: Option<Publication>,
        b: Option<Publication>,
        then: impl FnOnce() -> Ordering,
    ) -> Ordering {
        let key = |p: Option<Publication>| p.map_or(u64::MAX, |p| p.position);
        key(a).cmp(&key(b)).then_with(then)
    }
}

/// The publication of every file of the registry folder on the first-parent history of a
/// revision, by path in the folder.
#[derive(Debug, Clone, Default)]
pub struct History {
    published: BTreeMap<String, Publication>,
}

impl History {
    /// Reads `rev`'s first-parent history, once, in one `git log`.
    pub fn read(repo: &Repository, rev: &str) -> Result<History> {
        let pathspec = format!(":(literal){}", repo.prefix);
        // `-m` with `--first-parent`: a merge commit shows what it brought compared with the
        // branch (older git shows merges no diff without it).
        let mut args = vec![
            "log",
            rev,
            "--first-parent",
            "-m",
            "--reverse",
            "--diff-filter=A",
            "--no-renames",
            "--format=%x01%ct",
            "--name-only",
            "-z",
            "--",
        ];
        if !repo.prefix.is_empty() {
            args.push(&pathspec);
        }
        let log = repo.top.run(&args)?;
        let mut published = BTreeMap::new();
        let mut current: Option<Publication> = None;
        let mut position = 0;
        // With `-z`: "\x01<time>" NUL, then "\n<name>" NUL and "<name>" NUL for each file.
        for field in log.split(|b| *b == 0) {
            let field = String::from_utf8_lossy(field);
            let field = field.strip_prefix('\n').unwrap_or(&field);
            if let Some(time) = field.strip_prefix('\u{1}') {
                current = Some(Publication {
                    position,
                    time: time.trim().parse().unwrap_or(0),
                });
                position += 1;
            } else if let (Some(p), Some(rel)) = (current, field.strip_prefix(repo.prefix.as_str()))
            {
                if !rel.is_empty() {
                    // Oldest first: a file deleted and added again keeps its first publication.
                    published.entry(rel.to_owned()).or_insert(p);
                }
            }
        }
        Ok(History { published })
    }

    /// When the file at `rel` (a path in the registry folder) was published, if it was.
    pub fn get(&self, rel: &str) -> Option<Publication> {
        self.published.get(rel).copied()
    }
}
