//! The JSON documents of a registry site, as types: the catalog (`index.json`), each app's
//! `apps/<package>/index.json`, `keys.json`, and the answers of the read API. [`crate::site`]
//! builds and writes them; `fetch` reads the catalog and the app indexes into them. The two
//! indexes are published as docs/index-schema.json, the read API in docs/read-api.md.
//!
//! Field names are written in camelCase. A writer turns a document into a `serde_json::Value`
//! before its bytes, and a `Value`'s objects keep their keys sorted: the bytes of a document
//! do not depend on the order of the fields here.
//!
//! Reading, a key no type here declares is ignored: a later build may add fields within a
//! `schemaVersion` (it never removes or re-purposes one), and an older client must still read
//! its documents. Every field declared must be there with its JSON type, except where it is an
//! `Option`, which may be missing. A key twice in one object, or a document larger than a
//! client allows, is the reader's to refuse before these types see it.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::Scheme;
use crate::manifest::Artifact;

/// The `schemaVersion` of `index.json`, `apps/<package>/index.json` and `keys.json`. Bumped
/// only on incompatible changes to one of them.
pub const SCHEMA_VERSION: u32 = 1;

/// The `schemaVersion` a document declares, read before anything else in it: a reader refuses
/// a document of another version rather than guess at its shape. `None` when there is none
/// that can be compared (missing, or not a whole number).
pub fn declared_version(document: &Map<String, Value>) -> Option<u64> {
    document.get("schemaVersion").and_then(Value::as_u64)
}

/// A time as every document writes one (`publishedAt`, `expires`): RFC 3339 in UTC, to the
/// second. Empty for a time RFC 3339 cannot write.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// index.json

/// `index.json`: one entry per app (so it stays small at any size), each pinning its app index
/// by SHA-256.
///
/// A signed catalog has `version`, `expires` and `signerId`, and `signature` over the rest (RFC
/// 8785, SHA-256, Ed25519, as for manifests: [`crate::signature`]). An unsigned one has none of
/// the three and says so with `"signature": null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    pub schema_version: u32,
    pub registry: RegistryInfo,
    /// Sorted by package.
    pub apps: Vec<CatalogApp>,
    /// Signed catalogs only: grows with every build, so a client can tell a rolled-back
    /// catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Signed catalogs only: the time (RFC 3339) after which clients refuse the catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Signed catalogs only: the did:key of the key that signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_id: Option<String>,
    /// Always written; `None` (`null`) when the catalog is unsigned.
    #[serde(default)]
    pub signature: Option<Signature>,
}

/// The catalog's `registry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryInfo {
    pub title: String,
    /// Ends with `/` when set.
    #[serde(default)]
    pub base_url: Option<String>,
}

/// One app in the catalog, as its latest version (or newest, when every one is yanked)
/// presents it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogApp {
    pub package: String,
    /// `metadata.name`, else the package.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub signer_id: String,
    pub application_id: String,
    /// `None` when every version is yanked.
    #[serde(default)]
    pub latest_version: Option<String>,
    pub version_count: u64,
    pub yanked_versions: Vec<String>,
    /// `apps/<package>/index.json` and the SHA-256 of its bytes.
    pub index: PinnedFile,
    /// The app's page.
    pub page: String,
}

/// A file of the site and the SHA-256 (lowercase hex) of its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedFile {
    pub path: String,
    pub sha256: String,
}

/// A signed catalog's `signature`: the form a manifest's signature has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    /// `ed25519`.
    pub algorithm: String,
    /// base64url without padding, 32 bytes.
    pub public_key: String,
    /// base64url without padding, 64 bytes.
    pub signature: String,
}

// ---------------------------------------------------------------------------------------------
// apps/<package>/index.json

/// `apps/<package>/index.json`: every version of one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppIndex {
    pub schema_version: u32,
    pub package: String,
    pub name: String,
    #[serde(default)]
    pub latest_version: Option<String>,
    /// Newest first.
    pub versions: Vec<ReleaseEntry>,
}

/// One version of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseEntry {
    pub version: String,
    pub yanked: bool,
    #[serde(default)]
    pub yank_reason: Option<String>,
    /// The commit time of the commit that added the bundle; `None` outside git.
    #[serde(default)]
    pub published_at: Option<String>,
    pub signer_id: String,
    /// What the signature of `bundle` covers, and so which nodes install it.
    pub signature_scheme: Scheme,
    pub application_id: String,
    pub min_runtime_version: String,
    pub bundle: BundleFile,
    /// The signed manifest, byte for byte as in the bundle.
    pub manifest: PinnedFile,
    pub artifacts: Vec<Artifact>,
    /// The same version signed by the same key under the other scheme (a re-signature), at
    /// its content address; the same manifest but for the signature, the same artifacts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_signatures: Vec<OtherSignature>,
}

/// A release's bundle under another signature scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtherSignature {
    pub signature_scheme: Scheme,
    pub sha256: String,
    pub size: u64,
    /// `artifacts/sha256/<sha256>.mpk`.
    pub content_path: String,
}

/// Where a release's bundle is, and what its bytes must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleFile {
    pub sha256: String,
    pub size: u64,
    /// `artifacts/<package>/<version>/<package>-<version>.mpk`, the path nodes fetch.
    pub path: String,
    /// `artifacts/sha256/<sha256>.mpk`: the same bytes.
    pub content_path: String,
}

// ---------------------------------------------------------------------------------------------
// keys.json

/// `keys.json`: the public keys that may sign `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Keys {
    pub schema_version: u32,
    /// did:keys.
    pub index_keys: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The read API (docs/read-api.md)

/// A version as the read API answers it: the signed manifest plus the fields clients expect.
/// Lists and `?package=` answers are arrays of these. A writer lends the manifest it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiBundle<'a> {
    /// The signed manifest. The fields below replace any of the same name in it.
    #[serde(flatten)]
    pub manifest: Cow<'a, Map<String, Value>>,
    #[serde(rename = "minRuntimeVersion")]
    pub min_runtime_version: String,
    /// The same, under the name the hosted API also gives it.
    #[serde(rename = "min_runtime_version")]
    pub min_runtime_version_snake: String,
    /// Always 0: a static site counts nothing.
    pub downloads: u64,
    /// In lists only, and always true: everything published passed every check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// In `?package=` answers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<bool>,
}

/// The body of an API error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ApiErrorCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiErrorCode {
    /// Every 404 of the API.
    NotFound,
    /// `?all_versions=true` without a package (400).
    InvalidParams,
}

/// `GET /api/healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
}
