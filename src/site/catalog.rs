//! The registry's own JSON: `index.json` (one entry per app, so it stays small at any size),
//! `apps/<package>/index.json` (every version of one app) and `keys.json`, made from the site's
//! model as the types of [`crate::schema`], and the bytes every JSON file of the site is
//! written as.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::paths;
use super::plan::{App, Release, Site};
use crate::canonical::Scheme;
pub use crate::schema::rfc3339;
use crate::schema::{
    self, AppIndex, BundleFile, Catalog, CatalogApp, Keys, OtherSignature, PinnedFile,
    RegistryInfo, SCHEMA_VERSION,
};

/// `apps/<package>/index.json`.
pub fn app_index(app: &App) -> AppIndex {
    AppIndex {
        schema_version: SCHEMA_VERSION,
        package: app.package.clone(),
        name: app.face().name(),
        latest_version: app.latest_version().map(str::to_owned),
        versions: app
            .releases
            .iter()
            .map(|r| release(&app.package, r))
            .collect(),
    }
}

fn release(package: &str, r: &Release) -> schema::ReleaseEntry {
    let b = &r.bundle;
    schema::ReleaseEntry {
        version: b.app_version.clone(),
        yanked: r.yank_reason.is_some(),
        yank_reason: r.yank_reason.clone(),
        published_at: r.published.map(rfc3339),
        signer_id: b.signer_id.clone(),
        signature_scheme: b.signature_scheme,
        application_id: b.application_id.clone(),
        min_runtime_version: b.min_runtime_version.clone(),
        bundle: BundleFile {
            sha256: b.bundle_sha256.clone(),
            size: b.bundle_size,
            path: paths::artifact(package, &b.app_version),
            content_path: paths::content_addressed(&b.bundle_sha256),
        },
        manifest: PinnedFile {
            sha256: b.manifest_sha256.clone(),
            path: paths::manifest(package, &b.app_version),
        },
        artifacts: b.artifacts.clone(),
        other_signatures: r
            .others
            .iter()
            .map(|o| OtherSignature {
                signature_scheme: o.bundle.signature_scheme,
                sha256: o.bundle.bundle_sha256.clone(),
                size: o.bundle.bundle_size,
                content_path: paths::content_addressed(&o.bundle.bundle_sha256),
            })
            .collect(),
    }
}

/// `index.json`, unsigned (see [`sign`]). `app_index_bytes` are the bytes written for each
/// app's index, in app order, so the catalog pins them by SHA-256.
pub fn catalog(site: &Site, app_index_bytes: &[Vec<u8>]) -> Catalog {
    let apps = site
        .apps
        .iter()
        .zip(app_index_bytes)
        .map(|(app, bytes)| {
            let face = app.face();
            CatalogApp {
                package: app.package.clone(),
                name: face.name(),
                description: face.description(),
                author: face.author(),
                tags: face.tags(),
                signer_id: face.bundle.signer_id.clone(),
                application_id: face.bundle.application_id.clone(),
                latest_version: app.latest_version().map(str::to_owned),
                version_count: app.releases.len() as u64,
                yanked_versions: app
                    .releases
                    .iter()
                    .filter(|r| r.yank_reason.is_some())
                    .map(|r| r.bundle.app_version.clone())
                    .collect(),
                index: PinnedFile {
                    path: paths::app_index(&app.package),
                    sha256: hex::encode(Sha256::digest(bytes)),
                },
                page: paths::app_page(&app.package),
            }
        })
        .collect();
    Catalog {
        schema_version: SCHEMA_VERSION,
        registry: RegistryInfo {
            title: site.title.clone(),
            base_url: site.base_url.clone(),
        },
        apps,
        version: None,
        expires: None,
        signer_id: None,
        signature: None,
    }
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
        // A registry.toml that could not be read leaves `index_keys` empty: say that instead.
        if let Some((file, problem)) = source
            .refused_files
            .iter()
            .find(|(f, _)| f == "registry.toml")
        {
            anyhow::bail!(
                "{file} cannot be read ({}), so the signing key {signer} cannot be checked against its `index_keys`; {}",
                problem.message,
                problem.hint
            );
        }
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
/// Ed25519, `signerId` did:key), after adding its `version` and `expires`. Without a stamp the
/// catalog stays unsigned, which its `"signature": null` says.
pub fn sign(catalog: &mut Catalog, stamp: Option<&Stamp>) {
    let Some(stamp) = stamp else {
        return;
    };
    catalog.version = Some(stamp.version);
    catalog.expires = Some(rfc3339(stamp.expires));
    let serde_json::Value::Object(mut signed) = document(&*catalog) else {
        unreachable!("a catalog is a JSON object")
    };
    crate::signature::sign(&mut signed, &stamp.key, Scheme::Legacy);
    // Every field of the signed object is one of the catalog's, so the catalog written from
    // this is the object that was signed.
    *catalog = serde_json::from_value(serde_json::Value::Object(signed))
        .expect("a signed catalog is a catalog");
}

/// `keys.json`: the public keys that may sign `index.json`.
pub fn keys(site: &Site) -> Keys {
    Keys {
        schema_version: SCHEMA_VERSION,
        index_keys: site.index_keys.clone(),
    }
}

/// Pretty JSON with a final newline: what every JSON file of the site looks like. Keys are
/// sorted, whatever the order of a type's fields (see [`crate::schema`]).
///
/// `<`, `>` and `&` are written as `\u003c`, `\u003e`, `\u0026`. They can only occur inside
/// strings, so parsed values (and signatures over them) do not change, but a host that serves
/// an API file as `text/html` (GitHub Pages answers `/api/v2/bundles` with `bundles.html`) can
/// never be made to render markup from a manifest.
pub fn to_bytes<T: Serialize + ?Sized>(doc: &T) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(&document(doc)).expect("JSON values serialize");
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

/// `doc` as a JSON value: objects with their keys sorted, and where a type writes a key twice
/// (a field beside a flattened map that has it too) the later one.
fn document<T: Serialize + ?Sized>(doc: &T) -> serde_json::Value {
    serde_json::to_value(doc).expect("the site's documents are JSON")
}
