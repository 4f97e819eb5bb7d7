//! Registry rules that need more than one bundle: file names, signer continuity, version
//! collisions, names whose paths collide in the site, and the package settings that refer to
//! bundles.
//!
//! They run after every bundle was verified on its own, and add their findings to the bundles'
//! reports, so a refused bundle shows every reason in one place.

use std::collections::{BTreeMap, BTreeSet};

use crate::identity::application_id;
use crate::keys::parse_did_key;
use crate::report::{Problem, Rule};
use crate::site::collisions::Layout;
use crate::source::{resignature, version_in_path, BundleFile, Source};
use crate::verify::Report;

/// A bundle file and its verdict so far.
#[derive(Debug, Clone)]
pub struct Checked {
    pub file: BundleFile,
    pub report: Report,
}

impl Checked {
    fn refuse(&mut self, rule: Rule, subject: &str, message: String) {
        self.report
            .problems
            .push(Problem::new(rule, subject, message));
    }
}

/// Applies every cross-bundle rule. Returns reports for problems that belong to files rather
/// than to a bundle's contents (see [`file_problems`]).
pub fn apply(source: &Source, checked: &mut [Checked]) -> Vec<Report> {
    for c in checked.iter_mut() {
        check_file_name(c);
    }
    check_resignatures(checked);
    check_collisions(checked);
    check_site_paths(source, checked);
    check_signers(source, checked);
    file_reports(file_problems(source))
}

/// Every problem of a source that belongs to a file rather than to a bundle's contents: files
/// refused for what or where they are, and settings that refer to what does not exist.
/// `check` compares these between base and head, so they are data, by file.
pub fn file_problems(source: &Source) -> Vec<(String, Problem)> {
    let mut problems = source.refused_files.clone();
    problems.extend(check_settings(source));
    problems
}

/// One report per file, with all of its problems, in file order.
pub fn file_reports(problems: Vec<(String, Problem)>) -> Vec<Report> {
    let mut by_file: BTreeMap<String, Vec<Problem>> = BTreeMap::new();
    for (file, problem) in problems {
        by_file.entry(file).or_default().push(problem);
    }
    by_file
        .into_iter()
        .map(|(file, problems)| Report::for_file(&file, problems))
        .collect()
}

/// A refused bundle is judged too, by the names its manifest gives, so that its wrong name is
/// reported with its other problems rather than in the next round.
fn check_file_name(c: &mut Checked) {
    let field = |name: &str| {
        let manifest = c.report.manifest.as_ref()?;
        manifest.get(name)?.as_str().map(str::to_owned)
    };
    let (package, version) = match &c.report.bundle {
        Some(b) => (b.package.clone(), b.app_version.clone()),
        None => match (field("package"), field("appVersion")) {
            (Some(package), Some(version)) => (package, version),
            _ => return,
        },
    };
    let mut expected = format!("{package}/{package}-{version}.mpk");
    if let Some((_, scheme)) = resignature(&c.file.rel) {
        let scheme = c
            .report
            .bundle
            .as_ref()
            .map_or(scheme.to_owned(), |b| b.signature_scheme.to_string());
        expected = format!("{}+{scheme}.mpk", expected.trim_end_matches(".mpk"));
    }
    if c.file.rel != expected {
        let message =
            format!("the manifest says {package} {version}, so the file must be {expected}");
        c.refuse(Rule::FileName, "file name", message);
    }
}

fn is_resignature(c: &Checked) -> bool {
    resignature(&c.file.rel).is_some()
}

/// A re-signature (`<package>-<version>+<scheme>.mpk`) moves a published bundle to the other
/// signature scheme and changes nothing else: the original is beside it, signed under the
/// other scheme by the same key, and the two manifests are equal but for `signature`, so
/// their artifacts (declared by digest, each checked) are the same too. It is not a version of
/// its own, so the version rules skip it.
fn check_resignatures(checked: &mut [Checked]) {
    let originals: BTreeMap<&str, &Checked> = checked
        .iter()
        .filter(|c| !is_resignature(c))
        .map(|c| (c.file.rel.as_str(), c))
        .collect();
    let problems: Vec<(usize, String)> = checked
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let (original_rel, _) = resignature(&c.file.rel)?;
            let b = c.report.bundle.as_ref()?;
            let original = originals.get(original_rel.as_str());
            Some((
                i,
                resignature_problem(&original_rel, original.copied(), c, b)?,
            ))
        })
        .collect();
    for (i, message) in problems {
        checked[i].refuse(Rule::Resignature, "file name", message);
    }
}

/// Why `c` (verified as `b`) is not a re-signature of `original`, if it is not.
fn resignature_problem(
    original_rel: &str,
    original: Option<&Checked>,
    c: &Checked,
    b: &crate::verify::Verified,
) -> Option<String> {
    let Some(original) = original else {
        return Some(format!(
            "there is no {original_rel} to be a re-signature of; publish a version under its own name"
        ));
    };
    let Some(o) = &original.report.bundle else {
        return Some(format!(
            "{original_rel} does not verify, so nothing can be a re-signature of it"
        ));
    };
    let unsigned = |m: &serde_json::Map<String, serde_json::Value>| {
        let mut m = m.clone();
        m.remove("signature");
        m
    };
    if o.signature_scheme == b.signature_scheme {
        Some(format!(
            "{original_rel} is signed under the {} scheme too; a re-signature moves a bundle to the other scheme",
            b.signature_scheme
        ))
    } else if o.signer_id != b.signer_id {
        Some(format!(
            "{original_rel} is signed by {}, this file by {}; only the key that signed a version may re-sign it",
            o.signer_id, b.signer_id
        ))
    } else if original.report.manifest.as_ref().map(unsigned)
        != c.report.manifest.as_ref().map(unsigned)
    {
        Some(format!(
            "its manifest differs from {original_rel}'s in more than the signature; a re-signature changes nothing else"
        ))
    } else {
        None
    }
}

/// A bundle's package and version must give paths that fit in the site beside the site's own
/// and every other bundle's ([`crate::site::collisions`]): else the build fails, or a host
/// serves one file for another. Judged over every bundle of the source, coordinates from file
/// names, in order of seniority, so a published bundle keeps its paths and the newcomer is
/// refused; only bundles in `checked` are refused (`check` verifies only what changed).
fn check_site_paths(source: &Source, checked: &mut [Checked]) {
    let mut order: Vec<&BundleFile> = source.bundles.iter().collect();
    order.sort_by(|a, b| a.seniority(b));
    let mut layout = Layout::new();
    for file in order {
        let Some(version) = version_in_path(&file.dir, &file.rel) else {
            continue; // the file-name rule refuses it
        };
        let Err(collision) = layout.add(&file.dir, version) else {
            continue;
        };
        // Another spelling of a published name: policy.version-exists says so.
        if collision.owner.is_respelling_of(&collision.other_owner) {
            continue;
        }
        if let Some(c) = checked.iter_mut().find(|c| c.file.rel == file.rel) {
            let subject = if collision.from_version {
                "appVersion"
            } else {
                "package"
            };
            c.refuse(Rule::ReservedName, subject, collision.to_string());
        }
    }
}

/// Two bundles whose coordinates differ only in letter case would share a path on
/// case-insensitive file systems and CDNs; so would two spellings of one package.
fn check_collisions(checked: &mut [Checked]) {
    let mut spellings: BTreeMap<String, String> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    // The spelling published first keeps its paths; the later one is refused.
    let mut order: Vec<usize> = (0..checked.len()).collect();
    order.sort_by(|&a, &b| checked[a].file.seniority(&checked[b].file));
    for i in order {
        let c = &mut checked[i];
        let Some(b) = c.report.bundle.as_ref().filter(|_| !is_resignature(c)) else {
            continue;
        };
        let first_spelling = spellings
            .entry(b.package.to_lowercase())
            .or_insert_with(|| b.package.clone())
            .clone();
        if first_spelling != b.package {
            let message = format!(
                "package {} is already published as {first_spelling}; names that differ only in letter case map to the same paths",
                b.package
            );
            c.refuse(Rule::VersionExists, "package", message);
            continue;
        }
        let key = (b.package.to_lowercase(), b.app_version.to_lowercase());
        match seen.get(&key) {
            Some(first) => {
                let message = format!(
                    "{} {} is already published as {first} (versions that differ only in letter case map to the same path)",
                    b.package, b.app_version
                );
                c.refuse(Rule::VersionExists, "appVersion", message);
            }
            None => {
                seen.insert(key, c.file.rel.clone());
            }
        }
    }
}

/// A package belongs to the signer of its senior version ([`BundleFile::seniority`]: first
/// published, else lowest version); other versions must be signed by it or by a key
/// `package.toml` allows.
pub fn check_signers(source: &Source, checked: &mut [Checked]) {
    let mut by_package: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    // A re-signature's signer is its original's (check_resignatures).
    for (i, c) in checked.iter().enumerate() {
        if let Some(b) = c.report.bundle.as_ref().filter(|_| !is_resignature(c)) {
            by_package.entry(b.package.clone()).or_default().push(i);
        }
    }
    for (package, mut indices) in by_package {
        indices.sort_by(|&a, &b| checked[a].file.seniority(&checked[b].file));
        let first = &checked[indices[0]];
        let owner = first.report.bundle.as_ref().unwrap().signer_id.clone();
        let first_rel = first.file.rel.clone();
        let mut allowed: BTreeSet<String> = BTreeSet::from([owner.clone()]);
        if let Some(config) = source.packages.get(&package) {
            allowed.extend(config.signers.iter().cloned());
        }
        for &i in &indices[1..] {
            let signer = checked[i].report.bundle.as_ref().unwrap().signer_id.clone();
            if !allowed.contains(&signer) {
                let message = format!(
                    "{package} belongs to {owner} (first published in {first_rel}); this version is signed by {signer}. \
                     Nodes would see a different application (ApplicationId {} instead of {}), so existing installs would never get it",
                    application_id(&package, &signer),
                    application_id(&package, &owner),
                );
                checked[i].refuse(Rule::SignerChange, "signerId", message);
            }
        }
    }
}

/// Settings must refer to things that exist: `package.toml` yanks published versions, lists
/// did:keys as signers and names an existing org; `registry.toml` lists did:keys. Versions
/// come from file names, which the file-name rule ties to the manifests, so this holds even
/// when only some bundles were verified (as in `check`).
fn check_settings(source: &Source) -> Vec<(String, Problem)> {
    let mut problems = Vec::new();
    let mut refuse = |file: &str, message: String| {
        problems.push((
            file.to_owned(),
            Problem::new(Rule::PackageConfig, file, message),
        ));
    };
    for key in &source.registry.index_keys {
        if parse_did_key(key).is_none() {
            refuse(
                "registry.toml",
                format!("index_keys lists {key:?}, which is not an Ed25519 did:key"),
            );
        }
    }
    // Each package's versions, gathered in one pass (a package's bundles are in its folder).
    let mut published: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for b in &source.bundles {
        if let Some(version) = version_in_path(&b.dir, &b.rel) {
            published.entry(&b.dir).or_default().insert(version);
        }
    }
    let none = BTreeSet::new();
    for (package, config) in &source.packages {
        let file = format!("{package}/package.toml");
        let versions = published.get(package.as_str()).unwrap_or(&none);
        for yank in &config.yanked {
            if !versions.contains(yank.version.as_str()) {
                refuse(
                    &file,
                    format!("yanks {} {}, which is not published", package, yank.version),
                );
            }
        }
        for signer in &config.signers {
            if parse_did_key(signer).is_none() {
                refuse(
                    &file,
                    format!("signers lists {signer:?}, which is not an Ed25519 did:key"),
                );
            }
        }
        if let Some(org) = &config.org {
            if !source.orgs.contains_key(org) {
                refuse(
                    &file,
                    format!("names org {org:?}, but orgs/{org}.toml does not exist"),
                );
            }
        }
    }
    problems
}
