//! The bytes a manifest signature covers (spec §3).
//!
//! Works on the raw JSON value exactly as parsed, never on a re-serialized struct: unknown
//! fields are signed too, and a struct would drop or reorder them.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Whether a top-level manifest key is outside what the signature covers: `_`-prefixed keys are
/// left out of the signed bytes (nested `_` keys stay and are signed).
pub fn is_unsigned_key(key: &str) -> bool {
    key.starts_with('_')
}

/// `manifest` without its unsigned top-level keys: what the site may repeat of a manifest as
/// the publisher's word (the signature stays, so a reader can check it).
pub fn signed_view(manifest: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    manifest
        .iter()
        .filter(|(k, _)| !is_unsigned_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The RFC 8785 canonical form of `manifest` minus the top-level `signature` and every
/// unsigned key.
pub fn signed_bytes(manifest: &serde_json::Map<String, Value>) -> Vec<u8> {
    let mut unsigned = signed_view(manifest);
    unsigned.remove("signature");
    // Serializing a serde_json::Value cannot fail: keys are strings and numbers are finite.
    serde_json_canonicalizer::to_vec(&Value::Object(unsigned))
        .expect("a JSON value always canonicalizes")
}

/// Which bytes a manifest's Ed25519 signature covers. Nothing in the manifest says which: a
/// signature verifies under one scheme or the other, and that is the scheme it carries.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// SHA-256 of the canonical bytes: what mero-sign 0.11 and every node released so far use.
    #[default]
    Legacy,
    /// SHA-256 of `calimero.bundle.manifest.v1`, a zero byte, then the canonical bytes: the
    /// domain-separated payload of core #4307; nodes that ship it accept only this one.
    V1,
}

impl Scheme {
    pub const ALL: [Scheme; 2] = [Scheme::Legacy, Scheme::V1];

    /// The name used in settings, file names, flags and reports.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Legacy => "legacy",
            Scheme::V1 => "v1",
        }
    }

    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Which nodes install a bundle signed this way.
    pub fn installs_on(self) -> &'static str {
        match self {
            Scheme::Legacy => "nodes before core #4307",
            Scheme::V1 => "nodes with core #4307 or later",
        }
    }
}

impl std::fmt::Display for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The domain that separates [`Scheme::V1`] payloads from every other use of the key.
const V1_DOMAIN: &[u8] = b"calimero.bundle.manifest.v1";

/// What Ed25519 signs under `scheme`. Under either, SHA-256 of the canonical bytes alone is
/// what the node calls the bundle hash.
pub fn signing_payload(manifest: &serde_json::Map<String, Value>, scheme: Scheme) -> [u8; 32] {
    let canonical = signed_bytes(manifest);
    let mut hasher = Sha256::new();
    if scheme == Scheme::V1 {
        hasher.update(V1_DOMAIN);
        hasher.update([0u8]);
    }
    hasher.update(&canonical);
    hasher.finalize().into()
}
