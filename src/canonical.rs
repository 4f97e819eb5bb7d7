//! The bytes a manifest signature covers (spec §3).
//!
//! Works on the raw JSON value exactly as parsed, never on a re-serialized struct: unknown
//! fields are signed too, and a struct would drop or reorder them.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The RFC 8785 canonical form of `manifest` minus the top-level `signature` and every
/// top-level key that starts with `_` (nested `_` keys stay and are signed).
pub fn signed_bytes(manifest: &serde_json::Map<String, Value>) -> Vec<u8> {
    let unsigned: serde_json::Map<String, Value> = manifest
        .iter()
        .filter(|(k, _)| k.as_str() != "signature" && !k.starts_with('_'))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Serializing a serde_json::Value cannot fail: keys are strings and numbers are finite.
    serde_json_canonicalizer::to_vec(&Value::Object(unsigned))
        .expect("a JSON value always canonicalizes")
}

/// What Ed25519 signs: SHA-256 of the canonical bytes (the node also calls it the bundle hash).
pub fn signing_payload(manifest: &serde_json::Map<String, Value>) -> [u8; 32] {
    Sha256::digest(signed_bytes(manifest)).into()
}
