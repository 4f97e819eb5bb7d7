//! The registry's own JSON: `index.json` (one entry per app, so it stays small at any size)
//! and `apps/<package>/index.json` (every version of one app). Shapes: docs/index-schema.json.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::paths;
use super::plan::{App, Release, Site};

/// Bumped only on incompatible changes to either document.
pub const SCHEMA_VERSION: u32 = 1;

/// `apps/<package>/index.json`.
pub fn app_index(app: &App) -> Value {
    let face = app.face();
    json!({
        "schemaVersion": SCHEMA_VERSION,
        "package": app.package,
        "name": face.name(),
        "latestVersion": app.latest_version(),
        "versions": app.releases.iter().map(|r| release(&app.package, r)).collect::<Vec<_>>(),
    })
}

fn release(package: &str, r: &Release) -> Value {
    let b = &r.bundle;
    json!({
        "version": b.app_version,
        "yanked": r.yank_reason.is_some(),
        "yankReason": r.yank_reason,
        "publishedAt": r.published.map(rfc3339),
        "signerId": b.signer_id,
        "applicationId": b.application_id,
        "minRuntimeVersion": b.min_runtime_version,
        "bundle": {
            "sha256": b.bundle_sha256,
            "size": b.bundle_size,
            "path": paths::artifact(package, &b.app_version),
            "contentPath": paths::content_addressed(&b.bundle_sha256),
        },
        "manifest": {
            "sha256": b.manifest_sha256,
            "path": paths::manifest(package, &b.app_version),
        },
        "artifacts": b.artifacts,
    })
}

/// `index.json`. `app_index_bytes` are the bytes written for each app's index, in app order,
/// so the catalog pins them by SHA-256.
pub fn catalog(site: &Site, app_index_bytes: &[Vec<u8>]) -> Value {
    let apps: Vec<Value> = site
        .apps
        .iter()
        .zip(app_index_bytes)
        .map(|(app, bytes)| {
            let face = app.face();
            json!({
                "package": app.package,
                "name": face.name(),
                "description": face.description(),
                "author": face.author(),
                "tags": face.tags(),
                "signerId": face.bundle.signer_id,
                "applicationId": face.bundle.application_id,
                "latestVersion": app.latest_version(),
                "versionCount": app.releases.len(),
                "yankedVersions": app.releases.iter()
                    .filter(|r| r.yank_reason.is_some())
                    .map(|r| r.bundle.app_version.as_str())
                    .collect::<Vec<_>>(),
                "index": {
                    "path": paths::app_index(&app.package),
                    "sha256": hex::encode(Sha256::digest(bytes)),
                },
                "page": paths::app_page(&app.package),
            })
        })
        .collect();
    json!({
        "schemaVersion": SCHEMA_VERSION,
        "registry": {"title": site.title, "baseUrl": site.base_url},
        "apps": apps,
    })
}

/// What a signed catalog carries besides the signature, fixed before writing.
#[derive(Debug, Clone)]
pub struct Stamp {
    key: ed25519_dalek::SigningKey,
    version: u64,
    expires: i64,
}

impl Stamp {
    /// Takes the version and the clock from git, so the same commit gives the same catalog.
    pub fn new(
        signing: &super::IndexSigning,
        source: &crate::source::Source,
    ) -> anyhow::Result<Stamp> {
        use anyhow::Context;
        let signer = crate::keys::did_key(&signing.key.verifying_key());
        if !source.registry.index_keys.contains(&signer) {
            anyhow::bail!(
                "the signing key {signer} is not listed in registry.toml `index_keys`; clients would refuse the index (add it there first)"
            );
        }
        let tree = crate::git::WorkTree::discover(&source.root).context(
            "signing the index needs the source in a git work tree: its version and expiry come from the commit",
        )?;
        let (count, time) = tree.head_clock()?;
        Ok(Stamp {
            key: signing.key.clone(),
            version: signing.version.unwrap_or(count),
            expires: time + signing.expires_after,
        })
    }
}

/// Signs the catalog like a manifest (RFC 8785 of everything but `signature`, SHA-256,
/// Ed25519, `signerId` did:key), after adding its `version` and `expires`. An unsigned catalog
/// says so with `"signature": null`.
pub fn sign(catalog: &mut Value, stamp: Option<&Stamp>) {
    let map = catalog.as_object_mut().expect("the catalog is an object");
    match stamp {
        Some(stamp) => {
            map.insert("version".into(), json!(stamp.version));
            map.insert("expires".into(), json!(rfc3339(stamp.expires)));
            crate::signature::sign(map, &stamp.key);
        }
        None => {
            map.insert("signature".into(), Value::Null);
        }
    }
}

/// `keys.json`: the public keys that may sign `index.json`.
pub fn keys(site: &Site) -> Value {
    json!({"schemaVersion": SCHEMA_VERSION, "indexKeys": site.index_keys})
}

/// RFC 3339 in UTC, for times that came from git.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Pretty JSON with a final newline: what every JSON file of the site looks like.
///
/// `<`, `>` and `&` are written as `\u003c`, `\u003e`, `\u0026`. They can only occur inside
/// strings, so parsed values (and signatures over them) do not change, but a host that serves
/// an API file as `text/html` (GitHub Pages answers `/api/v2/bundles` with `bundles.html`) can
/// never be made to render markup from a manifest.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("JSON values serialize");
    let is_markup = |b: &u8| matches!(b, b'<' | b'>' | b'&');
    // Most documents have none: then the serializer's bytes are the answer.
    if text.iter().any(is_markup) {
        let mut escaped = Vec::with_capacity(text.len() + 16);
        for &b in &text {
            match b {
                b'<' => escaped.extend_from_slice(b"\\u003c"),
                b'>' => escaped.extend_from_slice(b"\\u003e"),
                b'&' => escaped.extend_from_slice(b"\\u0026"),
                b => escaped.push(b),
            }
        }
        text = escaped;
    }
    text.push(b'\n');
    text
}
