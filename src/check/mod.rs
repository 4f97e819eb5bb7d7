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

use crate::git::{Entry, Mode, Repository};
use crate::layout::{self, Governor, Kind};
use crate::policy::{self, Checked};
use crate::publication::History;
use crate::report::{Problem, Rule};
use crate::site::collisions::Layout;
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
    /// Package folders holding any file, by their name as spelled.
    folders: BTreeSet<String>,
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
            .map(|(dir, _)| dir.to_owned())
            .collect();
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
            bundles_by_folder,
        })
    }

    /// The package folders and orgs here, as spelled: whoever governs a path of the folder.
    fn names(&self, prefix: &str) -> BTreeSet<Governor> {
        self.entries
            .keys()
            .filter_map(|path| path.strip_prefix(prefix))
            .map(layout::governor)
            .filter(|g| *g != Governor::Registry)
            .collect()
    }

    /// Whether a package folder exists here. Exact: another spelling of a name is refused as
    /// a new name (`change.name-taken`), so each package has one.
    fn has_package(&self, package: &str) -> bool {
        self.folders.contains(package)
    }

    /// The bundles in `package`'s folder, in any letter case.
    fn bundles_of(&self, package: &str) -> impl Iterator<Item = &BundleFile> {
        self.bundles_by_folder
            .get(&package.to_ascii_lowercase())
            .into_iter()
            .flatten()
            .map(|&i| &self.source.bundles[i])
    }

    /// Whether `actor` owns `package` here, directly or through its org.
    fn may_change(&self, package: &str, actor: &str) -> bool {
        let source = &self.source;
        source.packages.get(package).is_some_and(|p| {
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
    judge_signers(&repo, &base, &head, &changed, &mut reports);
    let mut unchanged = judge_file_problems(&base, &head, &mut reports);
    for anchor in anchors {
        let report = unchanged
            .entry(anchor.file.clone())
            .or_insert_with(|| Report::for_file(&anchor.file, Vec::new()));
        report.problems.extend(anchor.problems);
    }
    judge_bundles(&base, &changed, &mut reports);
    check_names(&base, &head, &repo.prefix, &changed, &mut reports);
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
    // The bundles the added ones are judged against: each package's first published version
    // (its owner), and the original of each re-signature.
    let originals: BTreeSet<String> = added
        .iter()
        .filter_map(|b| Some(source::resignature(&b.rel)?.0))
        .collect();
    let anchors: Vec<&BundleFile> = touched
        .iter()
        .filter_map(|package| first_published(head, package))
        .chain(
            head.source
                .bundles
                .iter()
                .filter(|b| originals.contains(&b.rel)),
        )
        .filter(|b| !added.iter().any(|a| a.rel == b.rel))
        .map(|b| (b.rel.as_str(), b))
        .collect::<BTreeMap<&str, &BundleFile>>()
        .into_values()
        .collect();
    let verify_options = verify::Options {
        allow_dev_key: base.source.registry.allow_dev_key,
        ..Default::default()
    };
    let files: Vec<&BundleFile> = added.iter().copied().chain(anchors).collect();
    let mut checked: Vec<Checked> = verify_blobs(repo, &files, &verify_options)
        .into_iter()
        .zip(files)
        .map(|(report, file)| Checked {
            report,
            file: file.clone(),
        })
        .collect();
    policy::apply(&head.source, &mut checked);
    let accepted = base.source.registry.accepted_schemes();
    for c in &mut checked {
        let Some(b) = &c.report.bundle else { continue };
        let is_new = added.iter().any(|a| a.rel == c.file.rel);
        if is_new && !accepted.contains(&b.signature_scheme) {
            let names: Vec<&str> = accepted.iter().map(|s| s.name()).collect();
            c.report.problems.push(Problem::new(
                Rule::SignatureScheme,
                "signature",
                format!(
                    "is under the {} scheme; this registry accepts new bundles under: {}",
                    b.signature_scheme,
                    names.join(", ")
                ),
            ));
        }
    }
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

/// A change to a package's settings must leave every published version publishable:
/// dropping from `signers` a key that signed one, or deleting `package.toml`, would make
/// `build` refuse that version and with it the whole registry. So the published versions of
/// each package whose `package.toml` is modified or deleted are judged by the signer rule
/// under both settings, and what only the head's refuses is refused on the settings file,
/// with the rule `build` would use.
fn judge_signers(
    repo: &Repository,
    base: &Side,
    head: &Side,
    changed: &Changed,
    reports: &mut BTreeMap<String, Report>,
) {
    let options = verify::Options {
        allow_dev_key: base.source.registry.allow_dev_key,
        ..Default::default()
    };
    for (file, (_, kind)) in changed {
        if !matches!(kind, ChangeKind::Modified | ChangeKind::Deleted) {
            continue;
        }
        let Ok(Kind::Package(package)) = layout::classify(file, Mode::File, false) else {
            continue;
        };
        // Only a key the base allows and the head does not can be missed (owners and yanks
        // change nothing here), so nothing else is read.
        let allowed = |side: &Side| {
            side.source
                .packages
                .get(&package)
                .map(|p| p.signers.clone())
                .unwrap_or_default()
        };
        let kept = allowed(head);
        if allowed(base).iter().all(|s| kept.contains(s)) {
            continue;
        }
        let published: Vec<&BundleFile> = head
            .source
            .bundles
            .iter()
            .filter(|b| b.dir == package && base.source.bundles.iter().any(|o| o.rel == b.rel))
            .collect();
        let checked: Vec<Checked> = verify_blobs(repo, &published, &options)
            .into_iter()
            .zip(&published)
            .map(|(report, file)| Checked {
                report,
                file: (*file).clone(),
            })
            .collect();
        let before = signer_refusals(&base.source, checked.clone());
        let report = reports.get_mut(file).expect("every change has a report");
        for (rel, message) in signer_refusals(&head.source, checked) {
            if !before.contains_key(&rel) {
                report.problems.push(Problem::new(
                    Rule::SignerChange,
                    file.as_str(),
                    format!("with this change, {rel} could no longer be published: {message}"),
                ));
            }
        }
    }
}

/// The signer rule's refusals of `checked` under `source`'s settings, by bundle.
fn signer_refusals(source: &Source, mut checked: Vec<Checked>) -> BTreeMap<String, String> {
    let earlier: Vec<usize> = checked.iter().map(|c| c.report.problems.len()).collect();
    policy::check_signers(source, &mut checked);
    checked
        .into_iter()
        .zip(earlier)
        .filter_map(|(c, n)| {
            let p = c
                .report
                .problems
                .into_iter()
                .skip(n)
                .find(|p| p.rule == Rule::SignerChange)?;
            Some((c.file.rel, p.message))
        })
        .collect()
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
            ChangeKind::Added if source::resignature(file).is_some() => {} // not a version
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

/// Invariant 2, one identity per name: a package folder or org that the change brings (its
/// files are new or changed, and the base has no such name) may not be another spelling of a
/// name at the head ([`layout::identity`]), nor a name the registry keeps: the folder of orgs,
/// or a package whose site paths are the site's own. Each of its changed files is refused; a
/// name already at the base keeps it, and two new spellings are both refused.
fn check_names(
    base: &Side,
    head: &Side,
    prefix: &str,
    changed: &Changed,
    reports: &mut BTreeMap<String, Report>,
) {
    let (before, after) = (base.names(prefix), head.names(prefix));
    // A deleted file's name is the base's, so only added and changed files can bring a name.
    for file in changed.keys().filter(|file| !file.starts_with('/')) {
        let name = layout::governor(file);
        if name == Governor::Registry || before.contains(&name) {
            continue;
        }
        let (Governor::Package(spelled) | Governor::Org(spelled)) = &name else {
            continue;
        };
        let other = after.iter().find_map(|n| match (n, &name) {
            (Governor::Package(o), Governor::Package(_)) | (Governor::Org(o), Governor::Org(_))
                if o != spelled && layout::identity(o) == layout::identity(spelled) =>
            {
                Some(o)
            }
            _ => None,
        });
        let message = if let Some(other) = other {
            let what = if matches!(name, Governor::Org(_)) {
                "org"
            } else {
                "package"
            };
            Some(format!(
                "{what} {spelled} is {what} {other} in another letter case, and case-insensitive file systems and hosts take the two for one"
            ))
        } else if matches!(name, Governor::Package(_)) {
            reserved(spelled)
        } else {
            None
        };
        if let Some(message) = message {
            let report = reports.get_mut(file).expect("every change has a report");
            report
                .problems
                .push(Problem::new(Rule::NameTaken, file.as_str(), message));
        }
    }
}

/// Why the registry keeps `package` for itself, if it does: the folder of orgs in any letter
/// case, or a name whose site paths are the site's own (whatever its versions).
fn reserved(package: &str) -> Option<String> {
    if layout::identity(package) == layout::ORGS {
        return Some(format!(
            "{package} is the folder of orgs ({}) in another letter case",
            layout::ORGS
        ));
    }
    // Version `0` collides with nothing of the site's, so a collision is the package's.
    let collision = Layout::new().add(package, "0").err()?;
    Some(format!("the site keeps {package} for itself: {collision}"))
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
