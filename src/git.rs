//! What git knows about `registry-src/`: the entries of a commit or of the index with their
//! modes and blob ids, the blobs themselves, and attributes. Runs the
//! `git` command: it is on every CI machine and is the reference reader.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

/// A directory inside a git work tree.
#[derive(Debug, Clone)]
pub struct WorkTree {
    dir: PathBuf,
}

/// How a repository names its objects (`git rev-parse --show-object-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectFormat {
    Sha1,
    Sha256,
}

impl WorkTree {
    /// `Some` when `dir` is inside a git work tree (and git runs).
    pub fn discover(dir: &Path) -> Option<WorkTree> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--is-inside-work-tree"])
            .output()
            .ok()?;
        (out.status.success() && out.stdout.starts_with(b"true")).then(|| WorkTree {
            dir: dir.to_path_buf(),
        })
    }

    /// Runs git in the directory, returning stdout; the error names the command.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["-c", "core.quotePath=false"])
            .args(args)
            .output()
            .with_context(|| format!("cannot run git {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }

    /// Tracked files whose work-tree bytes differ from the index. Git compares stat data and
    /// re-hashes (serially) every file whose stat data changed or is too recent to trust.
    pub fn modified(&self) -> Result<BTreeSet<String>> {
        Ok(split_nul(&self.run(&["ls-files", "-z", "-m", "--", "."])?)
            .into_iter()
            .collect())
    }

    /// The hash that names this repository's objects. A git older than 2.25 echoes the
    /// unknown option back; it only knows SHA-1. (A wrong guess costs only cache hits: a blob
    /// id computed here that differs from git's is never trusted.)
    pub fn object_format(&self) -> Result<ObjectFormat> {
        let out = self.run(&["rev-parse", "--show-object-format"])?;
        Ok(match String::from_utf8_lossy(&out).trim() {
            "sha256" => ObjectFormat::Sha256,
            _ => ObjectFormat::Sha1,
        })
    }

    /// When git last wrote its index. A file changed in or after that second is one git
    /// cannot vouch for from stat data alone, so asking it about the file means re-hashing.
    pub fn index_written(&self) -> Result<SystemTime> {
        let out = self.run(&["rev-parse", "--git-path", "index"])?;
        let index = self.dir.join(String::from_utf8_lossy(&out).trim());
        std::fs::metadata(&index)
            .and_then(|m| m.modified())
            .with_context(|| format!("cannot read {}", index.display()))
    }

    /// `.mpk` files below the directory that git does not track (and does not ignore).
    pub fn untracked_bundles(&self) -> Result<Vec<String>> {
        let out = self.run(&[
            "ls-files",
            "-z",
            "--others",
            "--exclude-standard",
            "--",
            "*.mpk",
        ])?;
        Ok(split_nul(&out))
    }

    /// `.mpk` files below the directory that git ignores (`.gitignore`, `info/exclude`,
    /// `core.excludesFile`) and does not track.
    pub fn ignored_bundles(&self) -> Result<Vec<String>> {
        let out = self.run(&[
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--",
            "*.mpk",
        ])?;
        Ok(split_nul(&out))
    }

    /// The commit a revision names; an error that says so when it names none, with the fetch
    /// that brings it (`origin/main` is fetched as `main` from origin).
    pub fn resolve(&self, rev: &str) -> Result<String> {
        let fetched = rev.strip_prefix("origin/").unwrap_or(rev);
        let out = self
            .run(&["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")])
            .with_context(|| format!("{rev:?} is not a commit in this repository (fetch it, e.g. `git fetch origin {fetched}`)"))?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// Number of commits reachable from HEAD and HEAD's commit time (unix seconds): the
    /// deterministic clock of a build.
    pub fn head_clock(&self) -> Result<(u64, i64)> {
        let count = String::from_utf8_lossy(&self.run(&["rev-list", "--count", "HEAD"])?)
            .trim()
            .parse()
            .context("git rev-list --count gave no number")?;
        let time = String::from_utf8_lossy(&self.run(&["log", "-1", "--format=%ct", "HEAD"])?)
            .trim()
            .parse()
            .context("git log gave no commit time")?;
        Ok((count, time))
    }
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// A file mode as git records it in a tree or the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    File,
    Executable,
    Symlink,
    /// A commit of another repository (a submodule).
    Submodule,
    /// An index entry with unresolved merge stages.
    Unmerged,
    Other,
}

impl Mode {
    fn parse(mode: &str) -> Mode {
        match mode {
            "100644" => Mode::File,
            "100755" => Mode::Executable,
            "120000" => Mode::Symlink,
            "160000" => Mode::Submodule,
            _ => Mode::Other,
        }
    }
}

/// One entry of a commit's tree or of the index, by its path from the repository root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// The path's bytes are not UTF-8; `path` shows them with replacement characters.
    pub lossy: bool,
    pub mode: Mode,
    /// The object id (a blob, or a commit for a submodule).
    pub id: String,
}

/// Where git reads `.gitattributes` from when asked which attributes apply.
#[derive(Debug, Clone, Copy)]
pub enum AttributesFrom<'a> {
    Index,
    Commit(&'a str),
}

/// The repository that holds a registry folder, and the folder's place in it. Everything is
/// asked from the repository's root, so a folder replaced by a symbolic link is seen as the
/// link git records, never followed.
#[derive(Debug, Clone)]
pub struct Repository {
    pub top: WorkTree,
    /// The folder's path from the root, `/`-terminated; empty when it is the root.
    pub prefix: String,
    pub format: ObjectFormat,
}

impl Repository {
    /// The repository holding `src`, or `None` outside git. The folder's place is taken from
    /// its parent's real path plus its own name, so a link named like the folder is not
    /// resolved to wherever it points.
    pub fn locate(src: &Path) -> Result<Option<Repository>> {
        let Some(inner) = WorkTree::discover(src) else {
            return Ok(None);
        };
        let top = PathBuf::from(
            String::from_utf8_lossy(&inner.run(&["rev-parse", "--show-toplevel"])?).trim(),
        );
        let top = top
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", top.display()))?;
        let abs = std::path::absolute(src)
            .with_context(|| format!("cannot resolve {}", src.display()))?;
        let place = match (abs.parent(), abs.file_name()) {
            (Some(parent), Some(name)) => parent
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", parent.display()))?
                .join(name),
            _ => abs
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", src.display()))?,
        };
        let prefix = if place == top {
            String::new()
        } else {
            let rel = place.strip_prefix(&top).map_err(|_| {
                anyhow::anyhow!(
                    "{} leads out of its git repository ({}); give the registry folder itself",
                    src.display(),
                    top.display()
                )
            })?;
            let parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            format!("{}/", parts.join("/"))
        };
        let top = WorkTree { dir: top };
        Ok(Some(Repository {
            format: top.object_format()?,
            top,
            prefix,
        }))
    }

    /// Every entry of `commit`'s tree.
    pub fn entries_at(&self, commit: &str) -> Result<Vec<Entry>> {
        let out = self
            .top
            .run(&["ls-tree", "-r", "-z", "--full-tree", commit])?;
        Ok(records(&out)
            .filter_map(|(meta, path, lossy)| {
                // "<mode> <type> <id>"
                let mut meta = meta.split(' ');
                let mode = Mode::parse(meta.next()?);
                let id = meta.nth(1)?.to_owned();
                Some(Entry {
                    path,
                    lossy,
                    mode,
                    id,
                })
            })
            .collect())
    }

    /// Every entry of the index; a path with unresolved merge stages is one `Unmerged` entry.
    pub fn index_entries(&self) -> Result<Vec<Entry>> {
        let out = self.top.run(&["ls-files", "-s", "-z", "--full-name"])?;
        let mut entries: Vec<Entry> = Vec::new();
        for (meta, path, lossy) in records(&out) {
            // "<mode> <id> <stage>"
            let mut meta = meta.split(' ');
            let (Some(mode), Some(id), Some(stage)) = (meta.next(), meta.next(), meta.next())
            else {
                continue;
            };
            if stage != "0" {
                if entries.last().is_some_and(|e| e.path == path) {
                    continue;
                }
                entries.push(Entry {
                    path,
                    lossy,
                    mode: Mode::Unmerged,
                    id: String::new(),
                });
                continue;
            }
            entries.push(Entry {
                path,
                lossy,
                mode: Mode::parse(mode),
                id: id.to_owned(),
            });
        }
        Ok(entries)
    }

    /// The bytes of small blobs, read in one `git cat-file --batch`. A blob longer than `cap`
    /// is `Err(its length)`, and is never held in memory.
    pub fn read_blobs(
        &self,
        ids: &[String],
        cap: u64,
    ) -> Result<BTreeMap<String, std::result::Result<Vec<u8>, u64>>> {
        let mut blobs = BTreeMap::new();
        self.each_blob(ids, |i, size, body| {
            let blob = if size <= cap {
                let mut bytes = Vec::with_capacity(size as usize);
                body.read_to_end(&mut bytes)?;
                Ok(bytes)
            } else {
                Err(size)
            };
            blobs.insert(ids[i].clone(), blob);
            Ok(())
        })?;
        Ok(blobs)
    }

    /// Reads blobs, in order, through one `git cat-file --batch` (one process however many
    /// there are), handing `each` the index of each in `ids`, its size, and a reader of exactly
    /// its bytes; what `each` leaves unread is skipped. Nothing is held but what `each` keeps.
    pub fn each_blob(
        &self,
        ids: &[String],
        mut each: impl FnMut(usize, u64, &mut dyn Read) -> std::io::Result<()>,
    ) -> Result<()> {
        use std::io::{BufRead, BufReader, Write};
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.top.dir)
            .args(["cat-file", "--batch", "--buffer"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("cannot run git cat-file")?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let request: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let writer = std::thread::spawn(move || stdin.write_all(request.as_bytes()));
        let mut out = BufReader::with_capacity(1 << 16, child.stdout.take().expect("piped stdout"));
        let mut read = || -> Result<()> {
            for (i, id) in ids.iter().enumerate() {
                let mut header = String::new();
                out.read_line(&mut header)
                    .context("git cat-file stopped early")?;
                // "<id> <type> <size>", or "<id> missing"
                let size: u64 = match header.trim_end().split(' ').nth(2) {
                    Some(size) => size.parse().context("git cat-file gave no size")?,
                    None => bail!("git has no object {id}: {}", header.trim_end()),
                };
                let mut body = (&mut out).take(size);
                each(i, size, &mut body)
                    .with_context(|| format!("cannot read blob {id} from git"))?;
                std::io::copy(&mut body, &mut std::io::sink())?;
                let mut newline = [0u8; 1];
                out.read_exact(&mut newline)?;
            }
            Ok(())
        };
        let result = read();
        drop(out);
        if result.is_err() {
            let _ = child.kill();
        }
        let _ = writer.join();
        child.wait().context("git cat-file did not finish")?;
        result
    }

    /// Whether `ancestor` is `commit` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: &str, commit: &str) -> Result<bool> {
        let status = Command::new("git")
            .arg("-C")
            .arg(&self.top.dir)
            .args(["merge-base", "--is-ancestor", ancestor, commit])
            .status()
            .context("cannot run git merge-base")?;
        match status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => bail!("git merge-base --is-ancestor {ancestor} {commit} failed"),
        }
    }

    /// For each of `paths` (from the root), the attributes among `names` that git would apply
    /// with a value other than unspecified or unset: `(path, attribute, value)`.
    pub fn attributes(
        &self,
        from: AttributesFrom,
        names: &[&str],
        paths: &[String],
    ) -> Result<Vec<(String, String, String)>> {
        use std::io::{Read, Write};
        let mut args = vec!["check-attr".to_owned(), "-z".into(), "--stdin".into()];
        match from {
            AttributesFrom::Index => args.push("--cached".into()),
            AttributesFrom::Commit(commit) => args.push(format!("--source={commit}")),
        }
        args.extend(names.iter().map(|n| (*n).to_owned()));
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.top.dir)
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot run git check-attr")?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        let request: Vec<u8> = paths.iter().flat_map(|p| p.bytes().chain([0])).collect();
        let writer = std::thread::spawn(move || stdin.write_all(&request));
        let mut out = Vec::new();
        child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_end(&mut out)?;
        let _ = writer.join();
        let result = child.wait_with_output()?;
        if !result.status.success() {
            bail!(
                "git check-attr failed: {}",
                String::from_utf8_lossy(&result.stderr).trim()
            );
        }
        let fields = split_nul(&out);
        Ok(fields
            .chunks_exact(3)
            .filter(|f| f[2] != "unspecified" && f[2] != "unset")
            .map(|f| (f[0].clone(), f[1].clone(), f[2].clone()))
            .collect())
    }
}

/// NUL-terminated `<meta>\t<path>` records, with whether the path had to be decoded lossily.
fn records(bytes: &[u8]) -> impl Iterator<Item = (String, String, bool)> + '_ {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|record| {
            let tab = record.iter().position(|b| *b == b'\t')?;
            let meta = String::from_utf8_lossy(&record[..tab]).into_owned();
            let raw = &record[tab + 1..];
            let path = String::from_utf8_lossy(raw);
            let lossy = matches!(path, std::borrow::Cow::Owned(_));
            Some((meta, path.into_owned(), lossy))
        })
}
