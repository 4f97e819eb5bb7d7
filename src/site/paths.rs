//! Where each thing lives in the output tree. Clients depend on these paths; change none.

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

/// Content-addressed copy: immutable, cacheable forever.
pub fn content_addressed(sha256: &str) -> String {
    format!("artifacts/sha256/{sha256}.mpk")
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
