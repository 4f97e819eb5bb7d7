//! `check`: the pull-request gate.
//!
//! Compares the registry at a base commit with a head commit, both read from git objects (the
//! head is never checked out, so a pull request is only ever data), over the whole repository
//! with renames off: moves into, out of and around the registry folder are a deletion plus an
//! addition. It verifies only the bundles that changed (plus the first-published version of
//! each package they touch, which decides its first signer: a problem on it refuses the
//! change), and applies the rules that need history:
//! immutability, new versions, ownership. Ownership is judged by the settings at the base, so
//! a change cannot grant itself rights.
//!
//! File problems (unknown files, links, settings that refer to what does not exist, …) are
//! judged on the whole registry at both sides: what the change introduces or touches is
//! refused, what was already wrong at the base and is left alone is a warning, so one bad
//! merge from before can never block every later pull request (only changes to a package
//! whose first-published version has a problem, since nothing else can vouch for its signer).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::Serialize;

use crate::git::{Entry, Repository};
use crate::layout::{self, Governor};
use crate::policy::{self, Checked};
use crate::publication::History;
use crate::report::{Problem, Rule};
use crate::source::{self, version_in_path, BundleFile, Source};
use crate::verify::{self, Report};
use crate::version;

mod output;
pub use output::{summary_markdown, to_github, to_json, to_text};

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub src: PathBuf,
    /// The revision the change is compared with (the pull request's base).
    pub base: String,
    /// The revision holding the change [default: HEAD]. Read from git objects only.
    pub head: Option<String>,
    /// Who made the change (GitHub logins): the pull request's author and whoever pushed its
    /// latest commits. Every one of them must have the right to make every change; ownership
    /// is enforced only when some are given.
    pub actors: Vec<String>,
}

/// How a file differs from the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    /// Not changed, but the change gives it a problem (an org it names was deleted, say), or
    /// it has a problem from before the change (a warning).
    Unchanged,
}

/// One changed file and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The path in the registry folder, or `/<path from the repository root>` outside it.
    pub file: String,
    /// The path from the repository root, for annotations.
    pub path: String,
    pub kind: ChangeKind,
    pub report: Report,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutcome {
    pub base: String,
    /// Problems with the change as a whole rather than a file.
    pub problems: Vec<Problem>,
    pub changes: Vec<Change>,
}

impl CheckOutcome {
    pub fn refused(&self) -> bool {
        !self.problems.is_empty() || self.changes.iter().any(|c| !c.report.ok())
    }
}

/// One side of the comparison, indexed once so that judging each change is a lookup.
struct Side {
    entries: BTreeMap<String, (crate::git::Mode, String)>,
    source: Source,
    /// Package folders holding any file, by their name in lower case.
    folders: BTreeSet<String>,
    /// The spellings of each package with settings, by lower case.
    spellings: BTreeMap<String, Vec<String>>,
    /// Indices into `source.bundles` of the bundles in each folder, by lower case.
    bundles_by_folder: BTreeMap<String, Vec<usize>>,
}

impl Side {
    /// The registry at `commit`, its files dated by `history` (the base's, for both sides).
    fn read(
        repo: &Repository,
        options: &CheckOptions,
        commit: &str,
        history: &History,
    ) -> Result<Side> {
        let entries: Vec<Entry> = repo.entries_at(commit)?;
        let source = source::at_commit(repo, &options.src, commit, &entries, history)?;
        let folders = entries
            .iter()
            .filter_map(|e| e.path.strip_prefix(repo.prefix.as_str())?.split_once('/'))
            .map(|(dir, _)| dir.to_ascii_lowercase())
            .collect();
        let mut spellings: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in source.packages.keys() {
            spellings
                .entry(name.to_ascii_lowercase())
                .or_default()
                .push(name.clone());
        }
        let mut bundles_by_folder: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, b) in source.bundles.iter().enumerate() {
            bundles_by_folder
                .entry(b.dir.to_ascii_lowercase())
                .or_default()
                .push(i);
        }
        Ok(Side {
            entries: entries
                .into_iter()
                .map(|e| (e.path, (e.mode, e.id)))
                .collect(),
            source,
            folders,
            spellings,
            bundles_by_folder,
        })
    }

    /// Whether a package folder exists here in any letter case (case-insensitive hosts and
    /// file systems see one folder).
    fn has_package(&self, package: &str) -> bool {
        self.folders.contains(&package.to_ascii_lowercase())
    }

    /// The bundles in `package`'s folder, in any letter case.
    fn bundles_of(&self, package: &str) -> impl Iterator<Item = &BundleFile> {
        self.bundles_by_folder
            .get(&package.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .map(|&i| &self.source.bundles[i])
    }

    /// Whether `actor` owns `package` here (in any letter case), directly or through its org.
    fn may_change(&self, package: &str, actor: &str) -> bool {
        let source = &self.source;
        self.spellings
            .get(&package.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .filter_map(|name| source.packages.get(name))
            .any(|p| {
                names(&p.owners, actor)
                    || p.org
                        .as_ref()
                        .and_then(|org| source.orgs.get(org))
                        .is_some_and(|org| names(&org.members, actor))
            })
    }

    /// Published versions of `package`, from their file names (which the build that
    /// published them checked against the manifests).
    fn versions(&self, package: &str) -> Vec<(String, String)> {
        self.bundles_of(package)
            .filter_map(|b| Some((b.rel.clone(), version_in_path(package, &b.rel)?.to_owned())))
            .collect()
    }
}

/// Whether a list of GitHub logins names `actor` (logins are case-insensitive).
fn names(logins: &[String], actor: &str) -> bool {
    logins.iter().any(|l| l.eq_ignore_ascii_case(actor))
}

/// Runs the gate. `Err` means it could not run (not a git repository, unknown revision);
/// anything wrong with what the revisions hold is a refusal in the outcome.
pub fn check(options: &CheckOptions) -> Result<CheckOutcome> {
    let Some(repo) = Repository::locate(&options.src)? else {
        bail!(
            "{} is not inside a git work tree; check compares git revisions, so run it in a clone of the registry repository",
            options.src.display()
        );
    };
    if options.actors.iter().any(|a| a.trim().is_empty()) {
        bail!("an actor is empty: give each --actor a GitHub login (an empty one would turn the ownership rules off)");
    }
    let (base_commit, head_commit, whole) = revisions(&repo, options)?;
    // Publication facts are the base branch's: nothing in the pull request dates anything.
    let history = History::read(&repo, &base_commit)?;
    let base = Side::read(&repo, options, &base_commit, &history)?;
    let head = Side::read(&repo, options, &head_commit, &history)?;
    let changed = changes(&repo.prefix, &base, &head);
    let (mut reports, anchors) = verify_added(&repo, &base, &head, &changed);
    let mut unchanged = judge_file_problems(&base, &head, &mut reports);
    for anchor in anchors {
        let report = unchanged
            .entry(anchor.file.clone())
            .or_insert_with(|| Report::for_file(&anchor.file, Vec::new()));
        report.problems.extend(anchor.problems);
    }
    judge_bundles(&base, &changed, &mut reports);
    for actor in &options.actors {
        check_ownership(&base, &head, &repo.prefix, &changed, actor, &mut reports);
    }
    Ok(CheckOutcome {
        base: options.base.clone(),
        problems: whole,
        changes: assemble(&repo.prefix, changed, reports, unchanged),
    })
}

/// Every changed path of the repository, by its name in reports (see [`Change::file`]), with
/// its path from the root and how it changed.
type Changed = BTreeMap<String, (String, ChangeKind)>;

/// The two commits compared, and a problem when the head does not contain the base.
fn revisions(repo: &Repository, options: &CheckOptions) -> Result<(String, String, Vec<Problem>)> {
    let base_commit = repo.top.resolve(&options.base)?;
    let head_rev = options.head.as_deref().unwrap_or("HEAD");
    let head_commit = repo.top.resolve(head_rev)?;
    let mut whole = Vec::new();
    if !repo.is_ancestor(&base_commit, &head_commit)? {
        whole.push(Problem::new(
            Rule::BaseNotAncestor,
            head_rev,
            format!(
                "{head_rev} does not contain {}: compared with it, the change would also undo whatever the base gained since the change was started",
                options.base
            ),
        ));
    }
    Ok((base_commit, head_commit, whole))
}

/// Every path whose mode or bytes differ between the two sides, over the whole repository.
fn changes(prefix: &str, base: &Side, head: &Side) -> Changed {
    let name = |path: &str| match path.strip_prefix(prefix) {
        Some(rel) if !rel.is_empty() => rel.to_owned(),
        _ => format!("/{path}"),
    };
    let mut changed = Changed::new();
    for (path, entry) in &head.entries {
        let kind = match base.entries.get(path) {
            None => ChangeKind::Added,
            Some(old) if old != entry => ChangeKind::Modified,
            Some(_) => continue,
        };
        changed.insert(name(path), (path.clone(), kind));
    }
    for path in base.entries.keys() {
        if !head.entries.contains_key(path) {
            changed.insert(name(path), (path.clone(), ChangeKind::Deleted));
        }
    }
    changed
}

/// A report per change, with the verdicts on the added bundles: verified, with the senior
/// version of every package they touch (its anchor, which decides its first signer), and
/// judged by the rules across bundles. Also returns the reports of anchors the change does not
/// touch that have problems: a package whose anchor does not hold cannot take a new version.
fn verify_added(
    repo: &Repository,
    base: &Side,
    head: &Side,
    changed: &Changed,
) -> (BTreeMap<String, Report>, Vec<Report>) {
    let mut reports: BTreeMap<String, Report> = changed
        .keys()
        .map(|file| (file.clone(), Report::for_file(file, Vec::new())))
        .collect();
    let added: Vec<&BundleFile> = head
        .source
        .bundles
        .iter()
        .filter(|b| changed.get(&b.rel).map(|c| c.1) == Some(ChangeKind::Added))
        .collect();
    let touched: BTreeSet<&str> = added.iter().map(|b| b.dir.as_str()).collect();
    let anchors: Vec<&BundleFile> = touched
        .iter()
        .filter_map(|package| first_published(head, package))
        .collect();
    let verify_options = verify::Options {
        allow_dev_key: base.source.registry.allow_dev_key,
        ..Default::default()
    };
    let files: Vec<&BundleFile> = added.into_iter().chain(anchors).collect();
    let mut checked: Vec<Checked> = verify_blobs(repo, &files, &verify_options)
        .into_iter()
        .zip(files)
        .map(|(report, file)| Checked {
            report,
            file: file.clone(),
        })
        .collect();
    policy::apply(&head.source, &mut checked);
    let mut anchor_problems = Vec::new();
    for c in checked {
        match reports.get_mut(&c.file.rel) {
            Some(report) => *report = c.report,
            None if !c.report.problems.is_empty() => anchor_problems.push(c.report),
            None => {}
        }
    }
    (reports, anchor_problems)
}

/// File problems, judged on the whole registry at both sides: refused where the change is;
/// on a file it did not touch, refused when the change brought them and warned about when
/// they were there before. Returns the reports of such untouched files.
fn judge_file_problems(
    base: &Side,
    head: &Side,
    reports: &mut BTreeMap<String, Report>,
) -> BTreeMap<String, Report> {
    let before: BTreeSet<(String, Rule, String)> = policy::file_problems(&base.source)
        .into_iter()
        .map(|(file, p)| (file, p.rule, p.message))
        .collect();
    let mut unchanged: BTreeMap<String, Report> = BTreeMap::new();
    for (file, p) in policy::file_problems(&head.source) {
        if let Some(report) = reports.get_mut(&file) {
            report.problems.push(p);
            continue;
        }
        let report = unchanged
            .entry(file.clone())
            .or_insert_with(|| Report::for_file(&file, Vec::new()));
        if before.contains(&(file, p.rule, p.message.clone())) {
            report.warnings.push(p);
        } else {
            report.problems.push(p);
        }
    }
    unchanged
}

/// Published bundles never change nor disappear; a new one must be a new version.
fn judge_bundles(base: &Side, changed: &Changed, reports: &mut BTreeMap<String, Report>) {
    for (file, (_, kind)) in changed {
        if !file.ends_with(".mpk") || file.starts_with('/') {
            continue;
        }
        let report = reports.get_mut(file).expect("every change has a report");
        match kind {
            ChangeKind::Modified => report.problems.push(Problem::new(
                Rule::Immutable,
                file,
                "this published bundle was changed (its bytes or its file mode); published bytes never change",
            )),
            ChangeKind::Deleted => report.problems.push(Problem::new(
                Rule::Immutable,
                file,
                "this published bundle was deleted or renamed; published versions never disappear (yank it in package.toml instead)",
            )),
            ChangeKind::Added => check_new_version(base, report),
            ChangeKind::Unchanged => {}
        }
    }
}

/// The changes in path order, then the untouched files with problems.
fn assemble(
    prefix: &str,
    changed: Changed,
    mut reports: BTreeMap<String, Report>,
    unchanged: BTreeMap<String, Report>,
) -> Vec<Change> {
    let mut changes: Vec<Change> = changed
        .into_iter()
        .map(|(file, (path, kind))| {
            let report = reports.remove(&file).expect("every change has a report");
            Change {
                file,
                path,
                kind,
                report,
            }
        })
        .collect();
    changes.extend(unchanged.into_iter().map(|(file, report)| Change {
        path: match file.strip_prefix('/') {
            Some(path) => path.to_owned(),
            None => format!("{prefix}{file}"),
        },
        file,
        kind: ChangeKind::Unchanged,
        report,
    }));
    changes
}

/// Largest bundle read whole and handed to a worker; a larger one is verified as git streams
/// it. With [`QUEUED`], this bounds what the gate holds in memory whatever the change's size.
const IN_MEMORY: u64 = 4 << 20;
/// Bundles read and waiting for a worker, at most.
const QUEUED: usize = 16;

/// Verifies bundles as git holds them, all read through one `git cat-file --batch`: each is
/// verified on a worker while the next ones are read, or (over [`IN_MEMORY`]) as it streams.
/// Reports are in the order of `files`.
fn verify_blobs(
    repo: &Repository,
    files: &[&BundleFile],
    options: &verify::Options,
) -> Vec<Report> {
    let ids: Vec<String> = files
        .iter()
        .map(|f| {
            f.blob
                .clone()
                .expect("bundles listed from git have blob ids")
        })
        .collect();
    let (queue, queued) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(QUEUED);
    let (read, mut reports) = std::thread::scope(|scope| {
        let workers = scope.spawn(|| {
            queued
                .into_iter()
                .par_bridge()
                .map(|(i, bytes)| {
                    (
                        i,
                        verify::verify_reader(bytes.as_slice(), &files[i].rel, options),
                    )
                })
                .collect::<Vec<_>>()
        });
        let mut streamed = Vec::new();
        let read = repo.each_blob(&ids, |i, size, body| {
            if size <= IN_MEMORY {
                let mut bytes = Vec::with_capacity(size as usize);
                body.read_to_end(&mut bytes)?;
                // Only fails if the workers stopped, which their join reports.
                let _ = queue.send((i, bytes));
            } else {
                streamed.push((i, verify::verify_reader(body, &files[i].rel, options)));
            }
            Ok(())
        });
        drop(queue);
        let mut reports = workers.join().expect("verifying a bundle does not panic");
        reports.extend(streamed);
        (read, reports)
    });
    reports.sort_by_key(|(i, _)| *i);
    let mut reports = reports.into_iter().peekable();
    files
        .iter()
        .enumerate()
        .map(|(i, file)| match reports.next_if(|(at, _)| *at == i) {
            Some((_, report)) => report,
            None => Report::for_file(
                &file.rel,
                vec![Problem::new(
                    Rule::Io,
                    file.rel.as_str(),
                    match &read {
                        Err(e) => format!("cannot read the bundle from git: {e:#}"),
                        Ok(()) => "git did not give the bundle".to_owned(),
                    },
                )],
            ),
        })
        .collect()
}

/// The bundle that decides a package's first signer: its senior one published at the base.
fn first_published<'a>(head: &'a Side, package: &str) -> Option<&'a BundleFile> {
    head.bundles_of(package)
        .filter(|b| b.dir == package && b.published.is_some())
        .min_by(|a, b| a.seniority(b))
}

/// A new version must not exist at the base in any spelling; one below the latest is a
/// back-port, allowed with a warning.
fn check_new_version(base: &Side, report: &mut Report) {
    let Some(bundle) = &report.bundle else { return };
    if report
        .problems
        .iter()
        .any(|p| p.rule == Rule::VersionExists)
    {
        return; // already found among the bundles the policy compared
    }
    let existing = base.versions(&bundle.package);
    // Another spelling of a published package shares its paths on a case-insensitive host.
    if let Some(dir) = base
        .bundles_of(&bundle.package)
        .map(|b| b.dir.as_str())
        .find(|dir| *dir != bundle.package && dir.eq_ignore_ascii_case(&bundle.package))
    {
        report.problems.push(Problem::new(
            Rule::VersionExists,
            "package",
            format!(
                "package {} is already published as {dir}; names that differ only in letter case map to the same paths",
                bundle.package
            ),
        ));
        return;
    }
    // Any spelling that maps to the same path on a case-insensitive host, package included.
    let own_path = format!("{0}/{0}-{1}.mpk", bundle.package, bundle.app_version);
    if let Some(path) = base
        .bundles_of(&bundle.package)
        .map(|b| &b.rel)
        .find(|p| p.eq_ignore_ascii_case(&own_path))
    {
        report.problems.push(Problem::new(
            Rule::VersionExists,
            "appVersion",
            format!(
                "{} {} is already published as {path}",
                bundle.package, bundle.app_version
            ),
        ));
        return;
    }
    let latest = existing
        .iter()
        .map(|(_, v)| v.as_str())
        .max_by(|a, b| version::compare(a, b));
    if let Some(latest) = latest {
        if version::compare(&bundle.app_version, latest).is_lt() {
            report.warnings.push(Problem::new(
                Rule::VersionOrder,
                "appVersion",
                format!(
                    "{} is lower than the latest published version {latest}; it is published as a back-port",
                    bundle.app_version
                ),
            ));
        }
    }
}

/// With an actor, every change needs the right to make it, as of the base: registry
/// maintainers may change anything (their changes are still verified); a package's owners or
/// its org's members may change the package's folder; an org's members may edit it, but
/// creating or deleting an org, and changing anything else, needs a maintainer. A new package
/// is open to anyone, but its package.toml must name them as an owner.
fn check_ownership(
    base: &Side,
    head: &Side,
    prefix: &str,
    changed: &Changed,
    actor: &str,
    reports: &mut BTreeMap<String, Report>,
) {
    if names(&base.source.registry.maintainers, actor) {
        return;
    }
    let maintainers_only = |what: &str| {
        Some(format!(
            "{actor} is not a registry maintainer (registry.toml `maintainers`), so cannot change {what}"
        ))
    };
    for (file, (_, kind)) in changed {
        if file.starts_with('/') {
            let message = format!(
                "{actor} is not a registry maintainer, so cannot change files outside the registry folder {}",
                prefix.trim_end_matches('/')
            );
            let report = reports.get_mut(file).expect("every change has a report");
            report
                .problems
                .push(Problem::new(Rule::OutsideRegistry, file.as_str(), message));
            continue;
        }
        let refusal = match layout::governor(file) {
            Governor::Org(org) => match (kind, base.source.orgs.get(&org)) {
                (ChangeKind::Modified, Some(o)) if names(&o.members, actor) => None,
                (ChangeKind::Modified, Some(_)) => Some(format!(
                    "{actor} is not a member of org {org}, so cannot change its members"
                )),
                _ => maintainers_only("the set of orgs (creating or deleting one)"),
            },
            Governor::Package(package) if base.has_package(&package) => {
                (!base.may_change(&package, actor)).then(|| {
                    format!(
                        "{actor} is not an owner of {package} (package.toml `owners`) nor a member of its org"
                    )
                })
            }
            Governor::Package(package) => {
                let names_actor = head
                    .source
                    .packages
                    .get(&package)
                    .is_some_and(|p| names(&p.owners, actor));
                (!names_actor).then(|| {
                    format!(
                        "{package} is a new package: add {package}/package.toml with owners = [\"{actor}\"]"
                    )
                })
            }
            Governor::Registry => maintainers_only("the registry's own files"),
        };
        if let Some(message) = refusal {
            let report = reports.get_mut(file).expect("every change has a report");
            report
                .problems
                .push(Problem::new(Rule::Ownership, file.as_str(), message));
        }
    }
}
