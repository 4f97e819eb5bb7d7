//! The app asked for (`PACKAGE[@VERSION]`): its own index, which must be the one the catalog
//! pins, and the release chosen from it.

use anyhow::anyhow;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::document::{is_sha256_hex, site_path, Document};
use super::registry::{Registry, MAX_BUNDLE_BYTES, MAX_INDEX_BYTES};
use super::{FetchError, Refusal, Step};
use crate::schema::{self, Catalog, ReleaseEntry};

/// What was asked for.
pub(super) struct Spec {
    pub(super) package: String,
    pub(super) version: Option<String>,
}

impl Spec {
    pub(super) fn parse(spec: &str) -> Step<Spec> {
        let (package, version) = match spec.split_once('@') {
            Some((p, v)) => (p, Some(v)),
            None => (spec, None),
        };
        if !crate::manifest::is_coordinate(package) {
            return Err(anyhow!(
                "{spec:?}: the package must be 1-128 characters from A-Z a-z 0-9 . _ - (PACKAGE or PACKAGE@VERSION)"
            )
            .into());
        }
        if version.is_some_and(|v| !crate::manifest::is_coordinate(v)) {
            return Err(anyhow!(
                "{spec:?}: the version must be 1-128 characters from A-Z a-z 0-9 . _ - (PACKAGE@VERSION)"
            )
            .into());
        }
        Ok(Spec {
            package: package.to_owned(),
            version: version.map(str::to_owned),
        })
    }
}

/// A package's `index.json`, checked against the catalog.
pub(super) struct AppIndex {
    path: String,
    index: schema::AppIndex,
}

/// Step 4: the package's own index, with the SHA-256 the catalog pins for it. That digest is
/// what carries the catalog's signature over to the app index, and so to every bundle.
/// `catalog_version` only makes a refusal more precise.
pub(super) fn load_index(
    registry: &Registry,
    catalog: &Catalog,
    catalog_version: Option<u64>,
    package: &str,
) -> Step<AppIndex> {
    let (path, expected) = catalog_entry(catalog, package, registry)?;
    let bytes = registry.read(&path, MAX_INDEX_BYTES)?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != expected {
        return Err(Refusal::AppIndexDigest {
            path,
            expected,
            actual,
            catalog_version,
        }
        .into());
    }
    let document = Document::parse(bytes, &path)?;
    document.check_schema()?;
    let index: schema::AppIndex =
        document.read("versions", || Refusal::NoVersions { path: path.clone() })?;
    if index.package != package {
        return Err(Refusal::AppIndexPackage {
            found: Value::String(index.package),
            expected: package.to_owned(),
            path,
        }
        .into());
    }
    Ok(AppIndex { path, index })
}

/// Where the catalog says `package`'s index is, and the SHA-256 it must have.
fn catalog_entry(catalog: &Catalog, package: &str, registry: &Registry) -> Step<(String, String)> {
    let Some(app) = catalog.apps.iter().find(|a| a.package == package) else {
        let names = listing(catalog.apps.iter().map(|a| a.package.as_str()));
        return Err(anyhow!("{} has no package {package}; {names}", registry.key).into());
    };
    let index = &app.index;
    if site_path(&index.path) && is_sha256_hex(&index.sha256) {
        Ok((index.path.clone(), index.sha256.clone()))
    } else {
        Err(Refusal::AppEntry {
            package: package.to_owned(),
        }
        .into())
    }
}

/// What exists, for a message about what does not: `names`, up to 20 of them.
fn listing<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 20;
    let count = names.len();
    if count == 0 {
        return "it lists none".to_owned();
    }
    let mut shown: Vec<String> = names
        .take(SHOWN)
        .map(|n| crate::report::escape_controls(n).into_owned())
        .collect();
    if count > SHOWN {
        shown.push(format!("and {} more", count - SHOWN));
    }
    format!("it lists {count}: {}", shown.join(", "))
}

/// Step 5: the version named, or else the newest that is neither yanked nor (unless
/// `prerelease`) a prerelease. A yanked version is fetched only by name, and then with a note.
/// Every version listed is checked first.
pub(super) fn choose_release(
    index: AppIndex,
    spec: &Spec,
    prerelease: bool,
    notes: &mut Vec<String>,
) -> Step<ReleaseEntry> {
    for release in &index.index.versions {
        check_release(release, &index.path)?;
    }
    let releases = index.index.versions;
    let releases_names: Vec<String> = releases.iter().map(|r| r.version.clone()).collect();
    let release = match &spec.version {
        Some(version) => releases
            .into_iter()
            .find(|r| r.version == *version)
            .ok_or_else(|| {
                let names = listing(releases_names.iter().map(String::as_str));
                FetchError::Failed(anyhow!(
                    "{} has no version {version}; {names}",
                    spec.package
                ))
            })?,
        None => latest(releases, &spec.package, prerelease)?,
    };
    if release.yanked {
        notes.push(format!(
            "{} {} is yanked{}; fetched because it was named explicitly",
            spec.package,
            release.version,
            release
                .yank_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    Ok(release)
}

fn latest(releases: Vec<ReleaseEntry>, package: &str, prerelease: bool) -> Step<ReleaseEntry> {
    let is_prerelease = |r: &ReleaseEntry| crate::version::is_prerelease(&r.version);
    let yanked = releases.iter().filter(|r| r.yanked).count();
    let prereleases = releases
        .iter()
        .filter(|r| !r.yanked && is_prerelease(r))
        .count();
    releases
        .into_iter()
        .filter(|r| !r.yanked && (prerelease || !is_prerelease(r)))
        .max_by(|a, b| crate::version::compare(&a.version, &b.version))
        .ok_or_else(|| {
            Refusal::NoLatest {
                package: package.to_owned(),
                yanked,
                prereleases,
                prerelease_allowed: prerelease,
            }
            .into()
        })
}

/// One entry of `versions`: a version a registry can serve, and a bundle named by a plain path
/// and a SHA-256, no larger than a node accepts.
fn check_release(release: &ReleaseEntry, index_path: &str) -> Step<()> {
    let bad = |field: &'static str| -> FetchError {
        Refusal::ReleaseField {
            path: index_path.to_owned(),
            version: release.version.clone(),
            field,
        }
        .into()
    };
    let bundle = &release.bundle;
    if !crate::manifest::is_coordinate(&release.version) {
        return Err(bad("version"));
    }
    if !is_sha256_hex(&bundle.sha256) {
        return Err(bad("bundle.sha256"));
    }
    if !site_path(&bundle.path) {
        return Err(bad("bundle.path"));
    }
    if bundle.size > MAX_BUNDLE_BYTES {
        return Err(Refusal::ReleaseTooLarge {
            path: index_path.to_owned(),
            version: release.version.clone(),
            size: bundle.size,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Spec;

    #[test]
    fn specs_are_checked() {
        assert!(Spec::parse("com.example.app@1.0.0").is_ok());
        assert!(Spec::parse("com.example.app").is_ok());
        for bad in ["", "a/b", "..", "a@", "a@../x", "a@1@2"] {
            assert!(Spec::parse(bad).is_err(), "{bad:?}");
        }
    }
}
