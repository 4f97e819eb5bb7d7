//! Discovering `registry-src/`: bundles, per-package settings, organisations.
//!
//! Inside git the registry is what git holds, read from git's own records rather than from
//! the checkout: `build` lists the index, `check` a commit's tree, and every path is judged by
//! [`layout::classify`]. Links, submodules, unknown files, odd names and `.gitattributes` that
//! could change checked-out bytes are refused, never followed or skipped; settings files are
//! read from git (or checked against the blob id git holds), and each bundle carries the blob
//! id its bytes must have. Outside git every file of the folder counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{self, OrgConfig, PackageConfig, RegistryConfig};
use crate::content_id::{BlobReader, ContentId};
use crate::git::{AttributesFrom, Entry, Mode, Repository};
use crate::layout::{self, Kind};
use crate::publication::{History, Publication};
use crate::report::{Problem, Rule};

/// One bundle file found in the source folder.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// Path relative to the source folder, with `/` separators (`pkg/pkg-1.0.0.mpk`).
    pub rel: String,
    pub path: PathBuf,
    /// The folder it sits in (`pkg`), which must be its manifest's package.
    pub dir: String,
    /// When the branch published it ([`crate::publication`]); `None` outside git, and for
    /// a file the branch does not hold yet.
    pub published: Option<Publication>,
    /// The blob id git holds for it: the bytes that may be published. `None` outside git.
    pub blob: Option<String>,
}

/// What the file system reports about a file. Any write to a file changes it (the inode's
/// change time at least, which no one can set back), so the same state before and after a read
/// means the bytes read are the bytes there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub len: u64,
    /// Last change of the data, then of the inode, in nanoseconds since the epoch.
    pub modified: i128,
    pub changed: i128,
    pub inode: u64,
}

impl FileState {
    pub fn of(path: &Path) -> std::io::Result<FileState> {
        let meta = std::fs::metadata(path)?;
        let nanos = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128)
        };
        let modified = meta.modified().map_or(0, nanos);
        #[cfg(unix)]
        let (changed, inode) = {
            use std::os::unix::fs::MetadataExt;
            (
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
                meta.ino(),
            )
        };
        #[cfg(not(unix))]
        let (changed, inode) = (modified, 0);
        Ok(FileState {
            len: meta.len(),
            modified,
            changed,
            inode,
        })
    }
}

impl BundleFile {
    /// Seniority, the one order of "who came first" among bundles: by publication (the
    /// unpublished last), then by the version in the file name, then by path.
    pub fn seniority(&self, other: &BundleFile) -> std::cmp::Ordering {
        Publication::order(self.published, other.published, || {
            let mine = version_in_path(&self.dir, &self.rel).unwrap_or(&self.rel);
            let theirs = version_in_path(&other.dir, &other.rel).unwrap_or(&other.rel);
            crate::version::compare(mine, theirs).then_with(|| self.rel.cmp(&other.rel))
        })
    }
}

/// The version in a bundle's path `<package>/<package>-<version>.mpk`, if it has that shape.
/// The file-name rule ties it to the manifest, so it can stand in for the manifest's version.
/// A re-signature (see [`resignature`]) is not a version of its own: `None`.
pub fn version_in_path<'a>(package: &str, rel: &'a str) -> Option<&'a str> {
    rel.strip_prefix(package)?
        .strip_prefix('/')?
        .strip_prefix(package)?
        .strip_prefix('-')?
        .strip_suffix(".mpk")
        .filter(|version| !version.contains('+'))
}

/// For a re-signature `<package>/<package>-<version>+<scheme>.mpk` (the published
/// `<package>-<version>.mpk` signed again under `<scheme>`, added beside it: the original is
/// never replaced), the original's path and the scheme its name claims. `+` never appears in a
/// version, so the two kinds of name cannot be confused.
pub fn resignature(rel: &str) -> Option<(String, &str)> {
    let stem = rel.strip_suffix(".mpk")?;
    let (original, scheme) = stem.rsplit_once('+')?;
    Some((format!("{original}.mpk"), scheme))
}

/// Everything `build` and `check` read from the source folder.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub root: PathBuf,
    pub registry: RegistryConfig,
    pub packages: BTreeMap<String, PackageConfig>,
    pub orgs: BTreeMap<String, OrgConfig>,
    pub bundles: Vec<BundleFile>,
    /// Files refused for what or where they are rather than what a bundle holds: unknown
    /// shapes, links, odd names, misplaced bundles, settings that cannot be read. Named by
    /// their path in the folder, or `/<path from the repository root>` outside it.
    pub refused_files: Vec<(String, Problem)>,
    /// Bundles in the work tree that git does not track: not published, but worth a note.
    pub untracked: Vec<String>,
    /// Bundles in the work tree that git ignores (`.gitignore` and the like): as untracked
    /// ones, but easier to miss, since `git status` does not show them.
    pub ignored: Vec<String>,
    /// The repository the listing came from; `None` outside git.
    pub repository: Option<Repository>,
}

/// Largest settings file read: they are a few lines; anything bigger is refused unread.
const SETTINGS_CAP: u64 = 1 << 20;

/// Attributes that make git check out other bytes than it stores.
const CONTENT_ATTRIBUTES: &[&str] = &[
    "text",
    "eol",
    "crlf",
    "filter",
    "ident",
    "working-tree-encoding",
];

/// Where a git listing came from, which decides where its files' bytes are read.
#[derive(Clone, Copy)]
enum Origin<'a> {
    /// The index, with the bytes in the work tree (they must have the index's blob ids).
    Index,
    Commit(&'a str),
}

/// Lists the source folder and reads its settings files: from git's index inside a
/// repository, else from the file system.
pub fn discover(root: &Path) -> Result<Source> {
    // Inside git, a folder that is not a plain one (a link, say) is refused from git's own
    // records, like anything else wrong with the registry.
    if let Some(repo) = Repository::locate(root)? {
        let entries = repo.index_entries()?;
        let history = if repo
            .top
            .run(&["rev-parse", "--verify", "--quiet", "HEAD"])
            .is_ok()
        {
            History::read(&repo, "HEAD")?
        } else {
            History::default() // no commit yet: nothing was published
        };
        let mut source = from_git(&repo, root, &entries, Origin::Index, &history)?;
        if let Some(tree) = crate::git::WorkTree::discover(root) {
            source.untracked = tree.untracked_bundles()?;
            source.ignored = tree.ignored_bundles()?;
        }
        return Ok(source);
    }
    if !std::fs::symlink_metadata(root).is_ok_and(|m| m.is_dir()) {
        bail!(
            "{} is not a folder; give the registry source folder (default registry-src)",
            root.display()
        );
    }
    from_files(root)
}

/// The source folder as `commit` holds it, read from git objects only (nothing of the work
/// tree is read, so a commit that was never checked out can be judged).
/// `entries` is the commit's tree as [`Repository::entries_at`] lists it; `history` dates its
/// files (for a pull request's head, the base's: the head publishes nothing by itself).
pub fn at_commit(
    repo: &Repository,
    root: &Path,
    commit: &str,
    entries: &[Entry],
    history: &History,
) -> Result<Source> {
    from_git(repo, root, entries, Origin::Commit(commit), history)
}

fn from_git(
    repo: &Repository,
    root: &Path,
    entries: &[Entry],
    origin: Origin,
    history: &History,
) -> Result<Source> {
    let prefix = repo.prefix.as_str();
    let mut source = Source {
        root: root.to_path_buf(),
        repository: Some(repo.clone()),
        ..Default::default()
    };
    // The folder itself, and every folder above it, must be plain trees.
    for e in entries
        .iter()
        .filter(|e| prefix.starts_with(&format!("{}/", e.path)))
    {
        source.refuse(
            &format!("/{}", e.path),
            Rule::NotATree,
            format!(
                "git records {} as {}, so the registry folder {} is not a plain folder",
                e.path,
                describe(e.mode),
                prefix.trim_end_matches('/')
            ),
        );
    }
    let inside: Vec<(&str, &Entry)> = entries
        .iter()
        .filter_map(|e| Some((e.path.strip_prefix(prefix)?, e)))
        .filter(|(rel, _)| !rel.is_empty())
        .collect();
    source.check_attributes(repo, entries, &inside, origin)?;

    let mut settings: Vec<(String, Kind, String)> = Vec::new();
    for (rel, entry) in inside {
        let kind = match layout::classify(rel, entry.mode, entry.lossy) {
            Ok(kind) => kind,
            Err(refusal) => {
                source.refuse(rel, refusal.rule, refusal.message);
                continue;
            }
        };
        match kind {
            Kind::Bundle { package } => {
                let path = root.join(rel);
                if matches!(origin, Origin::Index) && std::fs::symlink_metadata(&path).is_err() {
                    bail!(
                        "{} is tracked by git but missing from the work tree; restore it (published bundles are never deleted)",
                        path.display()
                    );
                }
                source.bundles.push(BundleFile {
                    published: history.get(rel),
                    dir: package,
                    rel: rel.to_owned(),
                    path,
                    blob: Some(entry.id.clone()),
                });
            }
            Kind::Document => {}
            settings_kind => settings.push((rel.to_owned(), settings_kind, entry.id.clone())),
        }
    }
    let texts = read_settings(repo, root, &settings, origin)?;
    for ((rel, kind, _), text) in settings.into_iter().zip(texts) {
        match text {
            Ok(text) => source.settings(&rel, kind, &text),
            Err((rule, message)) => source.refuse(&rel, rule, message),
        }
    }
    source.bundles.sort_by(|a, b| a.rel.cmp(&b.rel));
    source.refused_files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(source)
}

fn describe(mode: Mode) -> &'static str {
    match mode {
        Mode::File | Mode::Executable => "a file",
        Mode::Symlink => "a symbolic link",
        Mode::Submodule => "a submodule",
        Mode::Unmerged => "an unmerged file",
        Mode::Other => "an object of an unknown kind",
    }
}

/// The settings files' text, or why it cannot be had. From a commit, the blobs; from the
/// index, the work-tree files, which must be the bytes git holds.
fn read_settings(
    repo: &Repository,
    root: &Path,
    settings: &[(String, Kind, String)],
    origin: Origin,
) -> Result<Vec<std::result::Result<String, (Rule, String)>>> {
    let too_large = |len: u64| {
        (
            Rule::Settings,
            format!("the file is {len} bytes; settings files are at most {SETTINGS_CAP} bytes"),
        )
    };
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .map_err(|_| (Rule::Settings, "the file is not UTF-8 text".to_owned()))
    };
    match origin {
        Origin::Commit(_) => {
            let ids: Vec<String> = settings.iter().map(|(_, _, id)| id.clone()).collect();
            // Files with the same bytes share one blob (two packages with the same owners,
            // say): each reads it, so the blobs are looked up, never taken out.
            let blobs = repo.read_blobs(&ids, SETTINGS_CAP)?;
            Ok(ids
                .iter()
                .map(|id| match blobs.get(id) {
                    Some(Ok(bytes)) => text(bytes.clone()),
                    Some(Err(len)) => Err(too_large(*len)),
                    None => Err((Rule::NotInGit, format!("git has no blob {id}"))),
                })
                .collect())
        }
        Origin::Index => {
            let format = repo.format;
            Ok(settings
                .iter()
                .map(|(rel, _, id)| {
                    let path = root.join(rel);
                    let bytes = read_capped(&path).map_err(|e| match e {
                        ReadError::TooLarge(len) => too_large(len),
                        ReadError::Io(e) => (
                            Rule::Settings,
                            format!("cannot read {}: {e}", path.display()),
                        ),
                    })?;
                    let mut reader = BlobReader::new(bytes.as_slice(), format, bytes.len() as u64);
                    std::io::copy(&mut reader, &mut std::io::sink()).expect("reading memory");
                    match reader.finish() {
                        Some(ContentId::GitBlob(_, held)) if held == *id => text(bytes),
                        _ => Err((
                            Rule::NotInGit,
                            "the file in the work tree differs from what git holds for it"
                                .to_owned(),
                        )),
                    }
                })
                .collect())
        }
    }
}

enum ReadError {
    TooLarge(u64),
    Io(std::io::Error),
}

/// A settings file's bytes, refusing to read one over the cap.
fn read_capped(path: &Path) -> std::result::Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    file.take(SETTINGS_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > SETTINGS_CAP {
        let len = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(ReadError::TooLarge(len));
    }
    Ok(bytes)
}

/// The source folder outside git: every file below it, links refused rather than followed.
fn from_files(root: &Path) -> Result<Source> {
    let mut source = Source {
        root: root.to_path_buf(),
        ..Default::default()
    };
    let mut settings = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {}", root.display()))?;
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("walkdir yields paths below its root");
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let lossy = rel.to_str().is_none();
        let rel = parts.join("/");
        let mode = if kind.is_file() {
            Mode::File
        } else if kind.is_symlink() {
            Mode::Symlink
        } else {
            Mode::Other
        };
        match layout::classify(&rel, mode, lossy) {
            Err(refusal) => source.refuse(&rel, refusal.rule, refusal.message),
            Ok(Kind::Bundle { package }) => source.bundles.push(BundleFile {
                path: entry.path().to_path_buf(),
                dir: package,
                rel,
                published: None,
                blob: None,
            }),
            Ok(Kind::Document) => {}
            Ok(kind) => settings.push((rel, kind, entry.path().to_path_buf())),
        }
    }
    for (rel, kind, path) in settings {
        match read_capped(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => source.settings(&rel, kind, &text),
                Err(_) => source.refuse(&rel, Rule::Settings, "the file is not UTF-8 text".into()),
            },
            Err(ReadError::TooLarge(len)) => source.refuse(
                &rel,
                Rule::Settings,
                format!("the file is {len} bytes; settings files are at most {SETTINGS_CAP} bytes"),
            ),
            Err(ReadError::Io(e)) => source.refuse(
                &rel,
                Rule::Settings,
                format!("cannot read {}: {e}", path.display()),
            ),
        }
    }
    source.refused_files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(source)
}

impl Source {
    /// Warnings about the folder as a whole: a build that would publish no bundle while bundle
    /// files sit in the folder, left out by git (a `.gitignore` that swallows `*.mpk`, say),
    /// would otherwise replace a registry with an empty one without a word.
    pub fn warnings(&self) -> Vec<String> {
        let left_out = self.untracked.len() + self.ignored.len();
        if !self.bundles.is_empty() || left_out == 0 {
            return Vec::new();
        }
        let why: Vec<String> = [
            (self.untracked.len(), "not tracked by git"),
            (self.ignored.len(), "ignored by git (.gitignore)"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
        vec![format!(
            "0 bundles published, but {left_out} .mpk file(s) are under {}: {}",
            self.root.display(),
            why.join(", ")
        )]
    }

    fn refuse(&mut self, file: &str, rule: Rule, message: String) {
        self.refused_files
            .push((file.to_owned(), Problem::new(rule, file, message)));
    }

    /// Parses a settings file into its place; one that cannot be parsed is refused like a
    /// bad bundle rather than stopping the run.
    fn settings(&mut self, rel: &str, kind: Kind, text: &str) {
        let file = Path::new(rel);
        let parsed = match kind {
            Kind::Registry => config::parse(text, file).map(|c| self.registry = c),
            Kind::Package(package) => {
                config::parse(text, file).map(|c| drop(self.packages.insert(package, c)))
            }
            Kind::Org(org) => config::parse(text, file).map(|c| drop(self.orgs.insert(org, c))),
            Kind::Bundle { .. } | Kind::Document => Ok(()),
        };
        if let Err(e) = parsed {
            self.refuse(rel, Rule::Settings, format!("{e:#}"));
        }
    }

    /// `.gitattributes` above the folder may set attributes on its files (those inside it
    /// are refused by the layout): git is asked which apply, and each such file is refused.
    fn check_attributes(
        &mut self,
        repo: &Repository,
        entries: &[Entry],
        inside: &[(&str, &Entry)],
        origin: Origin,
    ) -> Result<()> {
        let prefix = repo.prefix.as_str();
        let above: Vec<&Entry> = entries
            .iter()
            .filter(|e| {
                e.path.strip_suffix(".gitattributes").is_some_and(|dir| {
                    (dir.is_empty() || dir.ends_with('/'))
                        && prefix.starts_with(dir)
                        && dir != prefix
                })
            })
            .collect();
        if above.is_empty() || inside.is_empty() {
            return Ok(());
        }
        let paths: Vec<String> = inside.iter().map(|(_, e)| e.path.clone()).collect();
        let from = match origin {
            Origin::Index => AttributesFrom::Index,
            Origin::Commit(commit) => AttributesFrom::Commit(commit),
        };
        let applied = match repo.attributes(from, CONTENT_ATTRIBUTES, &paths) {
            Ok(applied) => applied.first().map(|(path, attr, value)| {
                format!(
                    "sets {attr}={value} on {path} (and {} more)",
                    applied.len() - 1
                )
            }),
            // A git too old to read attributes from a commit: any file above may apply.
            Err(_) => Some(
                "may set attributes on the registry folder's files (this git cannot tell)"
                    .to_owned(),
            ),
        };
        if let Some(applied) = applied {
            for e in above {
                self.refuse(
                    &format!("/{}", e.path),
                    Rule::Gitattributes,
                    format!("{} {applied}", e.path),
                );
            }
        }
        Ok(())
    }
}
