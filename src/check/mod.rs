//! `check`: the pull-request gate.
//!
//! Compares the source folder at a base revision with the work tree, verifies only the bundles
//! that changed (plus the first version of each package they touch, which decides its owner),
//! and applies the rules that need history: immutability, new versions, ownership.
//! Ownership is judged by the settings at the base, so a change cannot grant itself rights.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::{self, OrgConfig, PackageConfig, RegistryConfig};
use crate::git::WorkTree;
use crate::policy::{self, Checked};
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
    /// Who made the change (a GitHub login); ownership is enforced only when given.
    pub actor: Option<String>,
}

/// How a file differs from the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One changed file and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub file: String,
    pub kind: ChangeKind,
    pub report: Report,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckOutcome {
    pub base: String,
    /// The source folder's path from the repository root, for annotations.
    #[serde(skip)]
    pub prefix: String,
    pub changes: Vec<Change>,
}

impl CheckOutcome {
    pub fn refused(&self) -> bool {
        self.changes.iter().any(|c| !c.report.ok)
    }
}

/// The base revision's view of the settings that decide who may change what.
struct Base {
    files: BTreeMap<String, String>,
    registry: RegistryConfig,
    packages: BTreeMap<String, PackageConfig>,
    orgs: BTreeMap<String, OrgConfig>,
}

impl Base {
    fn load(tree: &WorkTree, commit: &str) -> Result<Base> {
        let files = tree.files_at(commit)?;
        let read = |path: &str| -> Result<String> {
            Ok(String::from_utf8_lossy(&tree.read_at(commit, path)?).into_owned())
        };
        let mut base = Base {
            files: BTreeMap::new(),
            registry: RegistryConfig::default(),
            packages: BTreeMap::new(),
            orgs: BTreeMap::new(),
        };
        for path in files.keys() {
            let file = Path::new(path);
            match path.split('/').collect::<Vec<_>>().as_slice() {
                ["registry.toml"] => base.registry = config::parse(&read(path)?, file)?,
                [package, "package.toml"] => {
                    base.packages
                        .insert((*package).to_owned(), config::parse(&read(path)?, file)?);
                }
                ["orgs", org] if org.ends_with(".toml") => {
                    base.orgs.insert(
                        org.trim_end_matches(".toml").to_owned(),
                        config::parse(&read(path)?, file)?,
                    );
                }
                _ => {}
            }
        }
        base.files = files;
        Ok(base)
    }

    /// Published versions of `package` at the base, from their file names (which the build
    /// that published them checked against the manifests).
    fn versions(&self, package: &str) -> Vec<(String, String)> {
        self.files
            .keys()
            .filter_map(|path| Some((path.clone(), version_in_path(package, path)?.to_owned())))
            .collect()
    }

    fn may_change(&self, package: &str, actor: &str) -> bool {
        self.packages.get(package).is_some_and(|p| {
            names(&p.owners, actor)
                || p.org
                    .as_ref()
                    .and_then(|org| self.orgs.get(org))
                    .is_some_and(|org| names(&org.members, actor))
        })
    }
}

/// Whether a list of GitHub logins names `actor` (logins are case-insensitive).
fn names(logins: &[String], actor: &str) -> bool {
    logins.iter().any(|l| l.eq_ignore_ascii_case(actor))
}

/// Runs the gate. `Err` means it could not run (not a git work tree, unknown revision).
pub fn check(options: &CheckOptions) -> Result<CheckOutcome> {
    let Some(tree) = WorkTree::discover(&options.src) else {
        bail!(
            "{} is not inside a git work tree; check compares with a git revision, so run it in a clone of the registry repository",
            options.src.display()
        );
    };
    let base_commit = tree.resolve(&options.base)?;
    let base = Base::load(&tree, &base_commit)?;
    let head = source::discover(&options.src)?;

    let mut head_blobs = BTreeMap::new();
    for t in tree.tracked()? {
        let blob = match t.blob {
            Some(blob) => blob,
            None => tree.hash_object(&t.path)?,
        };
        head_blobs.insert(t.path, blob);
    }
    let mut changed: BTreeMap<String, ChangeKind> = BTreeMap::new();
    for (path, blob) in &head_blobs {
        match base.files.get(path) {
            None => {
                changed.insert(path.clone(), ChangeKind::Added);
            }
            Some(old) if old != blob => {
                changed.insert(path.clone(), ChangeKind::Modified);
            }
            Some(_) => {}
        }
    }
    for path in base.files.keys() {
        if !head_blobs.contains_key(path) {
            changed.insert(path.clone(), ChangeKind::Deleted);
        }
    }

    let mut reports: BTreeMap<String, Report> = changed
        .keys()
        .map(|path| (path.clone(), Report::for_file(path, Vec::new())))
        .collect();

    // Bundles: verify the added ones, and the first version of every package they touch.
    let added: Vec<&BundleFile> = head
        .bundles
        .iter()
        .filter(|b| changed.get(&b.rel) == Some(&ChangeKind::Added))
        .collect();
    let touched: BTreeSet<&str> = added.iter().map(|b| b.dir.as_str()).collect();
    let anchors: Vec<&BundleFile> = touched
        .iter()
        .filter_map(|package| first_published(&head, &base, package))
        .collect();
    let verify_options = verify::Options {
        allow_dev_key: base.registry.allow_dev_key,
        ..Default::default()
    };
    let mut checked: Vec<Checked> = added
        .iter()
        .chain(&anchors)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|file| Checked {
            report: verify::verify_file(&file.path, &file.rel, &verify_options),
            file: (**file).clone(),
        })
        .collect();
    let settings = policy::apply(&head, &mut checked);
    for c in checked {
        if let Some(report) = reports.get_mut(&c.file.rel) {
            *report = c.report;
        }
    }
    for s in settings {
        if let Some(report) = reports.get_mut(&s.file) {
            report.problems.extend(s.problems);
        } else if changed.contains_key(&s.file) || head.misplaced.contains(&s.file) {
            reports.insert(s.file.clone(), s);
        }
    }

    for (path, kind) in &changed {
        let report = reports.get_mut(path).expect("every change has a report");
        let is_bundle = path.ends_with(".mpk");
        match (kind, is_bundle) {
            (ChangeKind::Modified, true) => report.problems.push(Problem::new(
                Rule::Immutable,
                path,
                "this published bundle was changed; published bytes never change",
            )),
            (ChangeKind::Deleted, true) => report.problems.push(Problem::new(
                Rule::Immutable,
                path,
                "this published bundle was deleted or renamed; published versions never disappear (yank it in package.toml instead)",
            )),
            (ChangeKind::Added, true) => check_new_version(&base, report),
            _ => {}
        }
    }

    if let Some(actor) = &options.actor {
        check_ownership(&base, &head, &changed, actor, &mut reports);
    }

    let changes = changed
        .into_iter()
        .map(|(file, kind)| {
            let mut report = reports.remove(&file).expect("every change has a report");
            report.ok = report.problems.is_empty();
            Change { file, kind, report }
        })
        .collect();
    Ok(CheckOutcome {
        base: options.base.clone(),
        prefix: tree.prefix()?,
        changes,
    })
}

/// The bundle that decides a package's owner: its earliest published at the base.
fn first_published<'a>(head: &'a Source, base: &Base, package: &str) -> Option<&'a BundleFile> {
    head.bundles
        .iter()
        .filter(|b| b.dir == package && base.files.contains_key(&b.rel))
        .min_by(|a, b| {
            let version = |f: &'a BundleFile| version_in_path(package, &f.rel).unwrap_or(&f.rel);
            a.added
                .unwrap_or(i64::MAX)
                .cmp(&b.added.unwrap_or(i64::MAX))
                .then_with(|| version::compare(version(a), version(b)))
        })
}

/// A new version must not exist at the base in any spelling; one below the latest is a
/// back-port, allowed with a warning.
fn check_new_version(base: &Base, report: &mut Report) {
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
        .files
        .keys()
        .filter(|p| p.ends_with(".mpk"))
        .filter_map(|p| p.split_once('/').map(|(dir, _)| dir))
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
        .files
        .keys()
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

/// Changes to an existing package need an owner or a member of its org (as of the base); a
/// new package is open to anyone, but its package.toml must name them as an owner.
fn check_ownership(
    base: &Base,
    head: &Source,
    changed: &BTreeMap<String, ChangeKind>,
    actor: &str,
    reports: &mut BTreeMap<String, Report>,
) {
    for path in changed.keys() {
        let parts: Vec<&str> = path.split('/').collect();
        let message = match parts.as_slice() {
            ["registry.toml"] => (!names(&base.registry.maintainers, actor)).then(|| {
                format!("{actor} is not a registry maintainer (registry.toml `maintainers`), so cannot change the registry's settings")
            }),
            ["orgs", org] => {
                let org = org.trim_end_matches(".toml");
                match base.orgs.get(org) {
                    Some(o) if !names(&o.members, actor) => {
                        Some(format!(
                            "{actor} is not a member of org {org}, so cannot change its members"
                        ))
                    }
                    None if !head.orgs.get(org).is_some_and(|o| names(&o.members, actor)) =>
                    {
                        Some(format!("a new org must list {actor} among its members"))
                    }
                    _ => None,
                }
            }
            [package, _] => {
                let exists = base
                    .files
                    .keys()
                    .any(|p| p.starts_with(&format!("{package}/")));
                if exists {
                    (!base.may_change(package, actor)).then(|| {
                        format!(
                            "{actor} is not an owner of {package} (package.toml `owners`) nor a member of its org"
                        )
                    })
                } else {
                    let names_actor = head
                        .packages
                        .get(*package)
                        .is_some_and(|p| names(&p.owners, actor));
                    (!names_actor).then(|| {
                        format!(
                            "{package} is a new package: add {package}/package.toml with owners = [\"{actor}\"]"
                        )
                    })
                }
            }
            _ => None,
        };
        if let Some(message) = message {
            let report = reports.get_mut(path).expect("every change has a report");
            report
                .problems
                .push(Problem::new(Rule::Ownership, path.as_str(), message));
        }
    }
}
