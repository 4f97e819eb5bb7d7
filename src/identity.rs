//! A node's ApplicationId (spec §4): the identity under which installs are tracked.

use sha2::{Digest, Sha256};

/// SHA-256 of borsh(package, signerId), shown in base58 (bitcoin alphabet). A different signer
/// for the same package is a different application.
pub fn application_id(package: &str, signer_id: &str) -> String {
    let mut hasher = Sha256::new();
    for field in [package, signer_id] {
        // borsh writes a string as its u32 little-endian byte length, then the UTF-8 bytes.
        hasher.update((field.len() as u32).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    bs58::encode(hasher.finalize()).into_string()
}
