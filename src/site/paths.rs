//! Where each thing lives in the output tree. Clients depend on these paths; change none.
//!
//! [`site_files`], [`app_files`] and [`release_files`] list every file the site writes, and
//! `write` stages exactly what they list: a new file is added to the site by adding it here,
//! where the collision rules ([`super::collisions`]) see it too.

use super::pages;

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

/// Target of the `?package=P` rewrite.
pub fn api_package_latest(package: &str) -> String {
    format!("api/v2/packages/{package}/latest.json")
}

/// Target of the `?package=P&all_versions=true` rewrite.
pub fn api_package_all(package: &str) -> String {
    format!("api/v2/packages/{package}/all.json")
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
    Headers,
    Redirects,
    NoJekyll,
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
        ("_headers", SiteFile::Headers),
        ("_redirects", SiteFile::Redirects),
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
    ApiVersion,
}

/// Every file the site writes once per release.
pub fn release_files(package: &str, version: &str) -> [(String, ReleaseFile); 3] {
    [
        (manifest(package, version), ReleaseFile::Manifest),
        (artifact(package, version), ReleaseFile::Artifact),
        (api_bundle(package, version), ReleaseFile::ApiVersion),
    ]
}
