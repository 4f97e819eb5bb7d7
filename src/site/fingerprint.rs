//! One digest of everything a site is made from, so a build whose inputs did not change can
//! leave the previous site in place instead of writing the same bytes again.

use sha2::{Digest, Sha256};

use super::catalog::Stamp;
use super::plan::{App, Site};
use crate::content_id::ContentId;
use crate::source::Source;

/// The fingerprint of a build, or `None` when some bundle has no content identity (it could
/// not be read, so the build will refuse it anyway).
///
/// Covers the tool itself (`tool`, see [`super::TOOL`]), every settings file as parsed, every
/// bundle's path, content identity and publication time, and the catalog's signing stamp. Not
/// the source or output location: the same inputs give the same site wherever they are.
pub fn fingerprint(
    tool: &str,
    source: &Source,
    ids: &[Option<ContentId>],
    stamp: Option<&Stamp>,
) -> Option<String> {
    let mut hasher = hasher("mpk-registry-site-v1", tool);
    add(
        &mut hasher,
        &format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{}",
            source.registry,
            source.packages,
            source.orgs,
            source.refused_files,
            source.repository.is_some()
        ),
    );
    for (file, id) in source.bundles.iter().zip(ids) {
        let id = id.as_ref()?;
        add(
            &mut hasher,
            &format!("{}\n{}\n{:?}\n{id}", file.rel, file.dir, file.published),
        );
    }
    add(&mut hasher, &format!("{stamp:?}"));
    Some(hex::encode(hasher.finalize()))
}

/// The fingerprint of what one app's files are made from: its releases (each bundle's bytes
/// decide its verdict and manifest), their publication times and yank reasons, and the site's
/// title and base URL, which its page shows — by the same `tool`.
pub fn app(tool: &str, site: &Site, app: &App) -> String {
    let mut hasher = hasher("mpk-registry-app-v1", tool);
    add(
        &mut hasher,
        &format!("{:?}\n{:?}\n{}", site.title, site.base_url, app.package),
    );
    for r in &app.releases {
        add(
            &mut hasher,
            &format!(
                "{}\n{:?}\n{:?}",
                r.bundle.bundle_sha256, r.published, r.yank_reason
            ),
        );
    }
    hex::encode(hasher.finalize())
}

/// A hasher that has taken in what it is for and the tool's identity (which names the
/// sources it was built from, so a tool with other templates or rules never reuses a site).
fn hasher(purpose: &str, tool: &str) -> Sha256 {
    let mut hasher = Sha256::new();
    add(&mut hasher, purpose);
    add(&mut hasher, tool);
    hasher
}

/// Adds one length-prefixed part, so parts can never run into each other.
fn add(hasher: &mut Sha256, part: &str) {
    hasher.update((part.len() as u64).to_le_bytes());
    hasher.update(part);
}
