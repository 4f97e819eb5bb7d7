//! The hosted registry's read API (spec §5) as static files, so Calimero Desktop, mero-js and
//! merod work against the site unchanged.

use serde_json::{json, Value};

use super::plan::{App, Release};

/// A manifest as the API returns it: the signed manifest plus the fields clients expect.
fn bundle_item(r: &Release, with_stats: bool) -> Value {
    let mut item = r.manifest.clone();
    let min = Value::String(r.bundle.min_runtime_version.clone());
    item.insert("minRuntimeVersion".into(), min.clone());
    item.insert("min_runtime_version".into(), min);
    item.insert("downloads".into(), json!(0));
    if with_stats {
        item.insert("verified".into(), json!(true));
    }
    Value::Object(item)
}

/// `GET /api/v2/bundles`: the latest version of every package that has one, sorted by package.
pub fn latest_list(apps: &[App]) -> Value {
    Value::Array(
        apps.iter()
            .filter_map(|app| app.latest.map(|i| bundle_item(&app.releases[i], true)))
            .collect(),
    )
}

/// `GET /api/v2/bundles?package=P`: one element, or none when every version is yanked.
pub fn package_latest(app: &App) -> Value {
    latest_list(std::slice::from_ref(app))
}

/// `GET /api/v2/bundles?package=P&all_versions=true`: newest first, each with `yanked`.
pub fn package_all(app: &App) -> Value {
    Value::Array(
        app.releases
            .iter()
            .map(|r| {
                let mut item = bundle_item(r, true);
                item["yanked"] = json!(r.yank_reason.is_some());
                item
            })
            .collect(),
    )
}

/// `GET /api/v2/bundles/P/V`.
pub fn version(r: &Release) -> Value {
    bundle_item(r, false)
}

/// The body of every API 404.
pub fn not_found() -> Value {
    json!({"error": "not_found"})
}
