//! The app asked for (`PACKAGE[@VERSION]`): its own index, which must be the one the catalog
//! pins, and the release chosen from it.

use anyhow::anyhow;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::document::{check_schema, is_sha256_hex, parse_object, site_path};
use super::registry::{Registry, MAX_BUNDLE_BYTES, MAX_INDEX_BYTES};
use super::{FetchError, Outcome, Refusal};

/// What was asked for.
pub(super) struct Spec {
    pub(super) package: String,
    pub(super) version: Option<String>,
}

impl Spec {
    pub(super) fn parse(spec: &str) -> Outcome<Spec> {
        let (package, version) = match spec.split_once('@') {
            Some((p, v)) => (p, Some(v)),
            None => (spec, None),
        };
        if !coordinate(package) {
            return Err(anyhow!(
                "{spec:?}: the package must be 1-128 characters from A-Z a-z 0-9 . _ - (PACKAGE or PACKAGE@VERSION)"
            )
            .into());
        }
        if version.is_some_and(|v| !coordinate(v)) {
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

/// A package or version a registry can serve (spec §2: the charset merod fetches, no `..`).
fn coordinate(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && !text.contains("..")
        && text.bytes().all(crate::manifest::is_coordinate_byte)
}

/// A package's `index.json`, checked against the catalog.
pub(super) struct AppIndex {
    path: String,
    doc: Map<String, Value>,
}

/// One version as the app index lists it.
pub(super) struct Release {
    pub(super) version: String,
    pub(super) yanked: bool,
    pub(super) yank_reason: Option<String>,
    pub(super) signer_id: String,
    pub(super) sha256: String,
    pub(super) size: u64,
    pub(super) path: String,
}

/// Step 4: the package's own index, with the SHA-256 the catalog pins for it. That digest is
/// what carries the catalog's signature over to the app index, and so to every bundle.
/// `catalog_version` only makes a refusal more precise.
pub(super) fn load_index(
    registry: &Registry,
    catalog: &Map<String, Value>,
    catalog_version: Option<u64>,
    package: &str,
) -> Outcome<AppIndex> {
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
    let doc = parse_object(&bytes, &path)?;
    check_schema(&doc, &path)?;
    if doc.get("package").and_then(Value::as_str) != Some(package) {
        return Err(Refusal::AppIndexPackage {
            found: doc.get("package").cloned().unwrap_or(Value::Null),
            expected: package.to_owned(),
            path,
        }
        .into());
    }
    Ok(AppIndex { path, doc })
}

/// Where the catalog says `package`'s index is, and the SHA-256 it must have.
fn catalog_entry(
    catalog: &Map<String, Value>,
    package: &str,
    registry: &Registry,
) -> Outcome<(String, String)> {
    let Some(apps) = catalog.get("apps").and_then(Value::as_array) else {
        return Err(Refusal::NoApps.into());
    };
    let Some(app) = apps
        .iter()
        .find(|a| a.get("package").and_then(Value::as_str) == Some(package))
    else {
        return Err(anyhow!(
            "{} has no package {package} ({} apps in its index.json)",
            registry.key,
            apps.len()
        )
        .into());
    };
    let path = app.pointer("/index/path").and_then(Value::as_str);
    let sha256 = app.pointer("/index/sha256").and_then(Value::as_str);
    match (path, sha256) {
        (Some(path), Some(sha256)) if site_path(path) && is_sha256_hex(sha256) => {
            Ok((path.to_owned(), sha256.to_owned()))
        }
        _ => Err(Refusal::AppEntry {
            package: package.to_owned(),
        }
        .into()),
    }
}

/// Step 5: the version named, or else the newest that is neither yanked nor (unless
/// `prerelease`) a prerelease. A yanked version is fetched only by name, and then with a note.
pub(super) fn choose_release(
    index: &AppIndex,
    spec: &Spec,
    prerelease: bool,
    notes: &mut Vec<String>,
) -> Outcome<Release> {
    let Some(entries) = index.doc.get("versions").and_then(Value::as_array) else {
        return Err(Refusal::NoVersions {
            path: index.path.clone(),
        }
        .into());
    };
    let releases = entries
        .iter()
        .map(|entry| release(entry, &index.path))
        .collect::<Outcome<Vec<_>>>()?;
    let release = match &spec.version {
        Some(version) => releases
            .into_iter()
            .find(|r| r.version == *version)
            .ok_or_else(|| {
                FetchError::Failed(anyhow!("{} has no version {version}", spec.package))
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

fn latest(releases: Vec<Release>, package: &str, prerelease: bool) -> Outcome<Release> {
    let is_prerelease = |r: &Release| crate::version::is_prerelease(&r.version);
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

/// One entry of `versions`, every field checked before it is used.
fn release(entry: &Value, index_path: &str) -> Outcome<Release> {
    let text = |pointer: &str| entry.pointer(pointer).and_then(Value::as_str);
    let version = text("/version").unwrap_or_default();
    let bad = |field: &'static str| -> FetchError {
        Refusal::ReleaseField {
            path: index_path.to_owned(),
            version: version.to_owned(),
            field,
        }
        .into()
    };
    if !coordinate(version) {
        return Err(bad("version"));
    }
    let yanked = entry
        .get("yanked")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("yanked"))?;
    let signer_id = text("/signerId").ok_or_else(|| bad("signerId"))?;
    let sha256 = text("/bundle/sha256")
        .filter(|s| is_sha256_hex(s))
        .ok_or_else(|| bad("bundle.sha256"))?;
    let size = entry
        .pointer("/bundle/size")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("bundle.size"))?;
    let path = text("/bundle/path")
        .filter(|p| site_path(p))
        .ok_or_else(|| bad("bundle.path"))?;
    if size > MAX_BUNDLE_BYTES {
        return Err(Refusal::ReleaseTooLarge {
            path: index_path.to_owned(),
            version: version.to_owned(),
            size,
        }
        .into());
    }
    Ok(Release {
        version: version.to_owned(),
        yanked,
        yank_reason: text("/yankReason").map(str::to_owned),
        signer_id: signer_id.to_owned(),
        sha256: sha256.to_owned(),
        size,
        path: path.to_owned(),
    })
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
