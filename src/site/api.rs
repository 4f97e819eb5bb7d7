//! The hosted registry's read API (spec §5, docs/read-api.md) as static files, so Desktop,
//! cargo-mero, mero-js and merod work against the site unchanged.

use std::borrow::Cow;

use super::paths::Filter;
use super::plan::{App, Release};
use crate::schema::{ApiBundle, ApiError, ApiErrorCode, Health};

/// A manifest as the API returns it: the signed manifest plus the fields clients expect.
/// `downloads` is always 0 (a static site counts nothing); in lists, `verified` is always true
/// (everything published passed every check).
fn bundle_item(r: &Release, in_list: bool) -> ApiBundle<'_> {
    ApiBundle {
        manifest: Cow::Borrowed(&r.manifest),
        min_runtime_version: r.bundle.min_runtime_version.clone(),
        min_runtime_version_snake: r.bundle.min_runtime_version.clone(),
        downloads: 0,
        verified: in_list.then_some(true),
        yanked: None,
    }
}

/// A list item that says whether its version is yanked.
fn item_with_yanked(r: &Release) -> ApiBundle<'_> {
    ApiBundle {
        yanked: Some(r.yank_reason.is_some()),
        ..bundle_item(r, true)
    }
}

/// `GET /api/v2/bundles`: the latest version of every package that has one (the catalog's
/// latest), sorted by package.
pub fn latest_list(apps: &[App]) -> Vec<ApiBundle<'_>> {
    filtered_list(apps, |_| true)
}

/// `?developer=D` or `?author=A`: the list, only the packages whose latest is D's or A's.
pub fn filter_list<'a>(apps: &'a [App], filter: &Filter) -> Vec<ApiBundle<'a>> {
    filtered_list(apps, |r| match filter {
        Filter::Developer(signer) => r.bundle.signer_id == *signer,
        Filter::Author(author) => r.author().as_ref() == Some(author),
    })
}

fn filtered_list(apps: &[App], keep: impl Fn(&Release) -> bool) -> Vec<ApiBundle<'_>> {
    apps.iter()
        .filter_map(|app| app.latest.map(|i| &app.releases[i]))
        .filter(|r| keep(r))
        .map(|r| bundle_item(r, true))
        .collect()
}

/// `?package=P`: the highest version ever published, yanked and prereleases included, as the
/// hosted registry answers. cargo-mero bumps the highest version it is given, so an answer
/// without it would propose a version that exists.
pub fn package_latest(app: &App) -> Vec<ApiBundle<'_>> {
    // Releases are newest first; a package has at least one.
    app.releases.iter().take(1).map(item_with_yanked).collect()
}

/// `?package=P&all_versions=true`: newest first, each with `yanked`.
pub fn package_all(app: &App) -> Vec<ApiBundle<'_>> {
    app.releases.iter().map(item_with_yanked).collect()
}

/// `?package=P&version=V`.
pub fn package_version(r: &Release) -> Vec<ApiBundle<'_>> {
    vec![item_with_yanked(r)]
}

/// `GET /api/v2/bundles/P/V`.
pub fn version(r: &Release) -> ApiBundle<'_> {
    bundle_item(r, false)
}

/// What a filter that matches nothing answers: unknown packages are `200 []`, never 404.
pub fn empty() -> Vec<ApiBundle<'static>> {
    Vec::new()
}

/// The body of every API 404.
pub fn not_found() -> ApiError {
    ApiError {
        error: ApiErrorCode::NotFound,
    }
}

/// `?all_versions=true` without a package.
pub fn invalid_params() -> ApiError {
    ApiError {
        error: ApiErrorCode::InvalidParams,
    }
}

/// `GET /api/healthz`.
pub fn health() -> Health {
    Health {
        status: "ok".to_owned(),
    }
}
