//! Where each thing lives in the output tree. Clients depend on these paths; change none.
//!
//! [`site_files`], [`app_files`], [`release_files`] and [`filter_files`] list every file the
//! site writes, and `write` stages exactly what they list: a new file is added to the site by
//! adding it here, where the collision rules ([`super::collisions`]) see it too.

use std::collections::BTreeMap;

use super::pages;
use super::plan::App;

pub fn app_page(package: &str) -> String {
    format!("apps/{package}/index.html")
}

pub fn app_index(package: &str) -> String {
    format!("apps/{package}/index.json")
}

pub fn manifest(package: &str, version: &str) -> String {
    format!("apps/{package}/{version}/manifest.json")
}

/// The path merod and Desktop fetch (spec §5).
pub fn artifact(package: &str, version: &str) -> String {
    format!("artifacts/{package}/{version}/{package}-{version}.mpk")
}

/// The folder of the content-addressed copies. Their names are digests, not coordinates, so
/// no list can name them: the folder is the site's alone.
pub const CONTENT_ADDRESSED: &str = "artifacts/sha256";

/// Content-addressed copy: immutable, cacheable forever.
pub fn content_addressed(sha256: &str) -> String {
    format!("{CONTENT_ADDRESSED}/{sha256}.mpk")
}

/// `GET /api/v2/bundles/P/V`, answered by the host's `x` → `x.html` lookup.
pub fn api_bundle(package: &str, version: &str) -> String {
    format!("api/v2/bundles/{package}/{version}.html")
}

/// The answer to `?package=P`.
pub fn api_package_latest(package: &str) -> String {
    format!("api/v2/packages/{package}/latest.json")
}

/// The answer to `?package=P&all_versions=true`.
pub fn api_package_all(package: &str) -> String {
    format!("api/v2/packages/{package}/all.json")
}

/// The answer to `?package=P&version=V`.
pub fn api_package_version(package: &str, version: &str) -> String {
    format!("api/v2/packages/{package}/versions/{version}.json")
}

/// The answer to `?developer=D`, for the signer `D`.
pub fn api_developer(signer_id: &str) -> String {
    format!("api/v2/developers/{}.json", filter_file_name(signer_id))
}

/// The answer to `?author=A`.
pub fn api_author(author: &str) -> String {
    format!("api/v2/authors/{}.json", filter_file_name(author))
}

/// Longest encoded value a developer's or author's file is named after: with `.json`, a name
/// every file system holds (255 bytes). A longer one is named by its digest.
pub const MAX_FILTER_NAME_BYTES: usize = 250;

/// How a file named by a digest begins: `.` is always encoded in the other names, so no value
/// is named like a digest.
pub const DIGEST_NAME_PREFIX: &str = "sha256.";

/// The name of a developer's or author's file (docs/read-api.md): every UTF-8 byte outside
/// `a-z 0-9 - _ ~` as `%XX`, upper-case hex. Upper-case letters are escaped so that values
/// differing only in letter case get names that differ in more than letter case
/// (case-insensitive file systems and CDNs take those for one), and `.` so that no name is
/// hidden or climbs out of its folder. When that is over [`MAX_FILTER_NAME_BYTES`] (a long
/// `metadata.author`), the name is `sha256.` and the value's SHA-256 in hex instead, so every
/// name fits a file system. Every host's shim computes this same name.
pub fn filter_file_name(value: &str) -> String {
    let encoded = percent_encode(value, |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'~')
    });
    if encoded.len() <= MAX_FILTER_NAME_BYTES {
        return encoded;
    }
    use sha2::Digest;
    format!(
        "{DIGEST_NAME_PREFIX}{}",
        hex::encode(sha2::Sha256::digest(value.as_bytes()))
    )
}

/// `value` with every UTF-8 byte that `keep` refuses written as `%XX`, upper-case hex.
pub fn percent_encode(value: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut encoded = String::with_capacity(value.len());
    for b in value.bytes() {
        if keep(b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
}

/// What a file the site writes once holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteFile {
    Catalog,
    Keys,
    Home,
    NotFoundPage,
    Feed,
    /// Written only when the base URL is known.
    Sitemap,
    /// A static asset, with its text.
    Asset(&'static str),
    /// The latest version of every package: `GET /api/v2/bundles`.
    LatestList,
    ApiNotFound,
    /// `[]`: what a filter that matches nothing answers.
    ApiEmpty,
    ApiInvalidParams,
    Health,
    Headers,
    Redirects,
    /// Cloudflare Pages' worker, which answers what its static hosting cannot (OPTIONS, the
    /// read API's query strings): `templates/hosts/_worker.js`.
    Worker,
    NoJekyll,
}

impl SiteFile {
    /// Rules the host reads and does not publish (Cloudflare Pages, Netlify): a preview or a
    /// self-hosted server must not publish them either.
    pub fn is_host_rule(self) -> bool {
        matches!(
            self,
            SiteFile::Headers | SiteFile::Redirects | SiteFile::Worker
        )
    }
}

/// Every file the site writes once, whatever its apps.
pub fn site_files() -> Vec<(&'static str, SiteFile)> {
    let mut files = vec![
        ("index.json", SiteFile::Catalog),
        ("keys.json", SiteFile::Keys),
        ("index.html", SiteFile::Home),
        ("404.html", SiteFile::NotFoundPage),
        ("feed.xml", SiteFile::Feed),
        ("sitemap.xml", SiteFile::Sitemap),
        // `/api/v2/bundles` is answered by `bundles.html` on hosts that look up `x.html`, and
        // by `bundles/index.html` on hosts that treat it as a folder.
        ("api/v2/bundles.html", SiteFile::LatestList),
        ("api/v2/bundles/index.html", SiteFile::LatestList),
        ("api/v2/not-found.json", SiteFile::ApiNotFound),
        ("api/v2/empty.json", SiteFile::ApiEmpty),
        ("api/v2/invalid-params.json", SiteFile::ApiInvalidParams),
        // `/api/healthz`, by the same `x` → `x.html` lookup as `/api/v2/bundles`.
        ("api/healthz.html", SiteFile::Health),
        ("_headers", SiteFile::Headers),
        ("_redirects", SiteFile::Redirects),
        ("_worker.js", SiteFile::Worker),
        // GitHub Pages runs Jekyll unless told not to, and Jekyll drops files starting with `_`.
        (".nojekyll", SiteFile::NoJekyll),
    ];
    files.extend(
        pages::ASSETS
            .iter()
            .map(|(rel, text)| (*rel, SiteFile::Asset(text))),
    );
    files
}

/// What a file of one app holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppFile {
    Index,
    Page,
    ApiLatest,
    ApiAll,
}

/// Every file the site writes once per app.
pub fn app_files(package: &str) -> [(String, AppFile); 4] {
    [
        (app_index(package), AppFile::Index),
        (app_page(package), AppFile::Page),
        (api_package_latest(package), AppFile::ApiLatest),
        (api_package_all(package), AppFile::ApiAll),
    ]
}

/// What a file of one release holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseFile {
    Manifest,
    /// The bundle's bytes, also kept under [`CONTENT_ADDRESSED`].
    Artifact,
    /// `GET /api/v2/bundles/P/V`.
    ApiVersion,
    /// `GET /api/v2/bundles?package=P&version=V`.
    ApiQueryVersion,
}

/// Every file the site writes once per release.
pub fn release_files(package: &str, version: &str) -> [(String, ReleaseFile); 4] {
    [
        (manifest(package, version), ReleaseFile::Manifest),
        (artifact(package, version), ReleaseFile::Artifact),
        (api_bundle(package, version), ReleaseFile::ApiVersion),
        (
            api_package_version(package, version),
            ReleaseFile::ApiQueryVersion,
        ),
    ]
}

/// Whom a filtered list is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// A `signerId`.
    Developer(String),
    /// A `metadata.author`.
    Author(String),
}

/// Every filtered list the site writes: one per signer and per author of the latest version
/// of some package, sorted by path. They need no collision rules: they sit in folders of their
/// own, named by [`filter_file_name`], which no two values share even in letter case.
pub fn filter_files(apps: &[App]) -> Vec<(String, Filter)> {
    let mut files = BTreeMap::new();
    for latest in apps
        .iter()
        .filter_map(|app| app.latest.map(|i| &app.releases[i]))
    {
        let signer = &latest.bundle.signer_id;
        files.insert(api_developer(signer), Filter::Developer(signer.clone()));
        // An empty value is no filter at all (docs/read-api.md), so nothing asks for it.
        if let Some(author) = latest.author().filter(|a| !a.is_empty()) {
            files.insert(api_author(&author), Filter::Author(author));
        }
    }
    files.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_file_names_keep_only_lower_case_letters_digits_and_three_marks() {
        assert_eq!(filter_file_name("Calimero samples"), "%43alimero%20samples");
        assert_eq!(filter_file_name("did:key:z6Mk"), "did%3Akey%3Az6%4Dk");
        assert_eq!(filter_file_name("a-b_c~d"), "a-b_c~d");
        assert_eq!(filter_file_name("Zoë"), "%5Ao%C3%AB");
    }

    #[test]
    fn filter_file_names_differ_beyond_letter_case() {
        let names = ["Alice", "alice", "ALICE", "%41lice", "%41LICE"].map(filter_file_name);
        let folded: std::collections::BTreeSet<String> =
            names.iter().map(|n| n.to_ascii_lowercase()).collect();
        assert_eq!(folded.len(), names.len(), "{names:?}");
    }

    #[test]
    fn filter_file_names_too_long_for_a_file_system_are_digests() {
        // 84 bytes that each encode to three: 252 bytes encoded.
        let long = "A".repeat(84);
        let name = filter_file_name(&long);
        assert_eq!(
            name,
            format!(
                "sha256.{}",
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(long.as_bytes()))
            )
        );
        // At the limit, still the value itself; the digest's name is no value's.
        assert_eq!(filter_file_name(&"A".repeat(83)), "%41".repeat(83));
        assert_ne!(filter_file_name(&name), name);
        for value in [long.as_str(), &"é".repeat(300), &"a".repeat(512)] {
            assert!(api_author(value).rsplit('/').next().unwrap().len() <= 255);
        }
    }

    #[test]
    fn filter_file_names_are_never_hidden_nor_climb() {
        for value in [".", "..", ".NET team", "../x", "a/b"] {
            let name = filter_file_name(value);
            assert!(!name.starts_with('.') && !name.contains('/'), "{name}");
        }
    }
}
