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

/// What Ed25519 signs: SHA-256 of the canonical bytes (the node also calls it the bundle hash).
pub fn signing_payload(manifest: &serde_json::Map<String, Value>) -> [u8; 32] {
    Sha256::digest(signed_bytes(manifest)).into()
}
