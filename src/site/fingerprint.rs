//! One digest of everything a site is made from, so a build whose inputs did not change can
//! leave the previous site in place instead of writing the same bytes again.

use sha2::{Digest, Sha256};

use super::catalog::Stamp;
use crate::content_id::ContentId;
use crate::source::Source;

/// The fingerprint of a build, or `None` when some bundle has no content identity (it could
/// not be read, so the build will refuse it anyway).
///
/// Covers the tool itself (the digest of the sources it was built from, so a tool with other
/// templates or rules never reuses a site), every settings file as parsed, every bundle's path, content
/// identity and publication time, and the catalog's signing stamp. Not the source or output
/// location: the same inputs give the same site wherever they are.
pub fn fingerprint(
    source: &Source,
    ids: &[Option<ContentId>],
    stamp: Option<&Stamp>,
) -> Option<String> {
    let mut hasher = Sha256::new();
    let mut add = |part: &str| {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    };
    add("mpk-registry-site-v1");
    add(env!("CARGO_PKG_VERSION"));
    add(env!("MPK_REGISTRY_SOURCE_DIGEST"));
    add(&format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{}",
        source.registry,
        source.packages,
        source.orgs,
        source.misplaced,
        source.invalid_settings,
        source.from_git
    ));
    for (file, id) in source.bundles.iter().zip(ids) {
        add(&format!(
            "{}\n{}\n{:?}\n{}",
            file.rel,
            file.dir,
            file.added,
            id.as_ref()?
        ));
    }
    add(&format!("{stamp:?}"));
    Some(hex::encode(hasher.finalize()))
}
