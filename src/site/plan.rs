//! The site as data: apps and their releases, ordered, with everything shown already checked.
//!
//! Manifest text is untrusted. Only what passes here reaches a page: icons as raster `data:`
//! URIs, links as http(s) URLs. Escaping is the templates' job; this decides what is allowed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use serde_json::{Map, Value};

use super::collisions::Layout;
use crate::config::RegistryConfig;
use crate::policy::Checked;
use crate::source::Source;
use crate::verify::Verified;
use crate::version;

/// Default title when `registry.toml` gives none.
const DEFAULT_TITLE: &str = "Calimero app registry";

#[derive(Debug, Clone)]
pub struct Site {
    pub title: String,
    /// Always ends with `/` when set.
    pub base_url: Option<String>,
    /// Sorted by package.
    pub apps: Vec<App>,
    /// did:keys that may sign the catalog (from registry.toml).
    pub index_keys: Vec<String>,
    /// Its maintainers (from registry.toml): with the title and keys, what tells this
    /// registry's feed from another's when no `base_url` does.
    pub maintainers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub package: String,
    /// Newest first (spec §4 order).
    pub releases: Vec<Release>,
    /// Index into `releases` of the newest version that is not yanked.
    pub latest: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Release {
    pub bundle: Verified,
    /// The manifest's signed fields and its signature (no unsigned `_` keys).
    pub manifest: Map<String, Value>,
    /// Unix time of the first-parent commit that published the bundle (for a merged pull
    /// request, the maintainer's merge commit; [`crate::publication`]).
    pub published: Option<i64>,
    pub yank_reason: Option<String>,
    /// The bundle file in the source folder.
    pub source: PathBuf,
    /// The same version signed under the other scheme, when a re-signature was published: kept
    /// at its content address and listed in the app index, never at the version's paths.
    pub others: Vec<Alternate>,
}

/// One bundle of a release: its facts, its signed manifest fields and its source file.
#[derive(Debug, Clone)]
pub struct Alternate {
    pub bundle: Verified,
    pub manifest: Map<String, Value>,
    pub source: PathBuf,
}

impl Alternate {
    /// A bundle that passed every check, with only the manifest fields its signature covers
    /// (manifest.json itself stays byte-exact).
    fn of(c: Checked) -> Option<Alternate> {
        Some(Alternate {
            manifest: c
                .report
                .manifest
                .as_ref()
                .map(crate::canonical::signed_view)
                .unwrap_or_default(),
            bundle: c.report.bundle?,
            source: c.file.path,
        })
    }
}

impl Release {
    /// Adds the release's bundle under the other signature scheme. The one under `served`
    /// takes the version's paths and answers (so the nodes most registries serve today keep
    /// installing it); the other stays listed, at its content address.
    fn add_signature(&mut self, mut alternate: Alternate, served: crate::canonical::Scheme) {
        if alternate.bundle.signature_scheme == served {
            std::mem::swap(&mut self.bundle, &mut alternate.bundle);
            std::mem::swap(&mut self.manifest, &mut alternate.manifest);
            std::mem::swap(&mut self.source, &mut alternate.source);
        }
        self.others.push(alternate);
    }
}

/// A link that is safe to put in `href`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Link {
    pub label: &'static str,
    pub url: String,
}

impl Site {
    /// Builds the model from bundles that passed every check. Refuses apps whose paths collide
    /// (the registry rules refuse them first; a site that overwrote one app's files with
    /// another's must never be written).
    pub fn plan(source: &Source, checked: Vec<Checked>) -> Result<Site> {
        let mut apps: BTreeMap<String, Vec<Release>> = BTreeMap::new();
        // Re-signatures first, by the path of the bundle they re-sign.
        let (resignatures, versions): (Vec<Checked>, Vec<Checked>) = checked
            .into_iter()
            .partition(|c| crate::source::resignature(&c.file.rel).is_some());
        let mut resigned: BTreeMap<String, Alternate> = BTreeMap::new();
        for c in resignatures {
            let Some((original, _)) = crate::source::resignature(&c.file.rel) else {
                continue;
            };
            if let Some(alternate) = Alternate::of(c) {
                resigned.insert(original, alternate);
            }
        }
        for c in versions {
            let rel = c.file.rel.clone();
            let published = c.file.published.map(|p| p.time);
            let Some(Alternate {
                bundle,
                manifest,
                source: path,
            }) = Alternate::of(c)
            else {
                continue;
            };
            let yank_reason = source
                .packages
                .get(&bundle.package)
                .and_then(|p| p.yank_reason(&bundle.app_version))
                .map(str::to_owned);
            let mut release = Release {
                manifest,
                published,
                yank_reason,
                source: path,
                bundle,
                others: Vec::new(),
            };
            if let Some(alternate) = resigned.remove(&rel) {
                release.add_signature(alternate, source.registry.serve_signature);
            }
            apps.entry(release.bundle.package.clone())
                .or_default()
                .push(release);
        }
        let apps: Vec<App> = apps
            .into_iter()
            .map(|(package, mut releases)| {
                releases
                    .sort_by(|a, b| version::compare(&b.bundle.app_version, &a.bundle.app_version));
                let latest = latest(&releases);
                App {
                    package,
                    releases,
                    latest,
                }
            })
            .collect();
        check_layout(&apps)?;
        Ok(Site {
            title: title(&source.registry),
            base_url: source.registry.base_url.as_ref().map(|u| {
                if u.ends_with('/') {
                    u.clone()
                } else {
                    format!("{u}/")
                }
            }),
            apps,
            index_keys: source.registry.index_keys.clone(),
            maintainers: source.registry.maintainers.clone(),
        })
    }
}

fn check_layout(apps: &[App]) -> Result<()> {
    let mut layout = Layout::new();
    for app in apps {
        for r in &app.releases {
            if let Err(collision) = layout.add(&app.package, &r.bundle.app_version) {
                bail!("cannot write the site: {collision}; nothing was written");
            }
        }
    }
    Ok(())
}

/// The newest stable version that is not yanked; a prerelease only when there is no stable
/// one. Yanked versions are never the latest.
fn latest(releases: &[Release]) -> Option<usize> {
    let candidates = || {
        releases
            .iter()
            .enumerate()
            .filter(|(_, r)| r.yank_reason.is_none())
    };
    candidates()
        .find(|(_, r)| !version::is_prerelease(&r.bundle.app_version))
        .or_else(|| candidates().next())
        .map(|(i, _)| i)
}

fn title(config: &RegistryConfig) -> String {
    config
        .title
        .clone()
        .unwrap_or_else(|| DEFAULT_TITLE.to_owned())
}

impl App {
    /// The release whose metadata represents the app: the latest, or the newest if every
    /// version is yanked.
    pub fn face(&self) -> &Release {
        &self.releases[self.latest.unwrap_or(0)]
    }

    pub fn latest_version(&self) -> Option<&str> {
        self.latest
            .map(|i| self.releases[i].bundle.app_version.as_str())
    }
}

impl Release {
    fn metadata(&self, key: &str) -> Option<&Value> {
        self.manifest.get("metadata")?.get(key)
    }

    fn metadata_str(&self, key: &str) -> Option<String> {
        self.metadata(key)?.as_str().map(str::to_owned)
    }

    /// `metadata.name`, else the package.
    pub fn name(&self) -> String {
        self.metadata_str("name")
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| self.bundle.package.clone())
    }

    pub fn description(&self) -> Option<String> {
        self.metadata_str("description")
    }

    pub fn author(&self) -> Option<String> {
        self.metadata_str("author")
    }

    pub fn license(&self) -> Option<String> {
        self.metadata_str("license")
    }

    pub fn tags(&self) -> Vec<String> {
        match self.metadata("tags") {
            Some(Value::Array(tags)) => tags
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The icon, only when it is a base64 raster image: a `data:` URI cannot run script, but
    /// SVG could, and any other URL would make pages fetch from third parties.
    pub fn icon(&self) -> Option<String> {
        let icon = self.metadata_str("icon")?;
        let payload = ["png", "jpeg", "webp", "gif"].iter().find_map(|kind| {
            icon.strip_prefix("data:image/")?
                .strip_prefix(kind)?
                .strip_prefix(";base64,")
        })?;
        let is_base64 = !payload.is_empty()
            && payload
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        is_base64.then_some(icon)
    }

    /// `links.*`, only those that are plain http(s) URLs.
    pub fn links(&self) -> Vec<Link> {
        let links = self.manifest.get("links");
        [
            ("frontend", "Website"),
            ("github", "Source code"),
            ("docs", "Documentation"),
        ]
        .into_iter()
        .filter_map(|(key, label)| {
            let url = links?.get(key)?.as_str()?;
            safe_url(url).then(|| Link {
                label,
                url: url.to_owned(),
            })
        })
        .collect()
    }
}

/// An absolute http(s) URL without characters that could break out of an attribute or hide a
/// different target.
pub fn safe_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty()
        && !r.starts_with('/')
        && url.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`')))
}

#[cfg(test)]
mod tests {
    use super::{safe_url, Site};
    use crate::policy::Checked;
    use crate::source::{self, version_in_path};
    use crate::verify::{Report, Verified};

    /// Plans a site of these releases, each as a bundle that passed every check.
    fn plan(releases: &[(&str, &str)]) -> anyhow::Result<Site> {
        let dir = tempfile::tempdir().expect("temporary folder");
        for (package, version) in releases {
            let folder = dir.path().join(package);
            std::fs::create_dir_all(&folder).expect("package folder");
            std::fs::write(folder.join(format!("{package}-{version}.mpk")), b"")
                .expect("bundle file");
        }
        let source = source::discover(dir.path()).expect("the folder is listed");
        let checked = source
            .bundles
            .iter()
            .map(|file| {
                let bundle = Verified {
                    package: file.dir.clone(),
                    signature_scheme: crate::canonical::Scheme::Legacy,
                    app_version: version_in_path(&file.dir, &file.rel).unwrap().into(),
                    signer_id: String::new(),
                    application_id: String::new(),
                    min_runtime_version: "0.1.0".into(),
                    bundle_sha256: "0".repeat(64),
                    bundle_size: 0,
                    manifest_sha256: String::new(),
                    artifacts: Vec::new(),
                    manifest_bytes: Vec::new(),
                };
                Checked {
                    report: Report {
                        bundle: Some(bundle),
                        ..Report::for_file(&file.rel, Vec::new())
                    },
                    file: file.clone(),
                }
            })
            .collect();
        Site::plan(&source, checked)
    }

    #[test]
    fn a_plan_whose_paths_collide_is_an_error() {
        let fine = plan(&[("p", "1.0.0"), ("q", "1.0.0")]);
        assert_eq!(fine.map(|site| site.apps.len()).ok(), Some(2));
        let error = plan(&[("p", "1.0.0"), ("p", "index.json")])
            .expect_err("a colliding plan is refused")
            .to_string();
        assert!(error.contains("apps/p/index.json"), "{error}");
    }

    #[test]
    fn only_plain_http_links_are_safe() {
        assert!(safe_url("https://example.com/docs?x=1"));
        assert!(safe_url("http://example.com"));
        assert!(!safe_url("javascript:alert(1)"));
        assert!(!safe_url("JAVASCRIPT:alert(1)"));
        assert!(!safe_url("https://"));
        assert!(!safe_url("https:///evil"));
        assert!(!safe_url("https://example.com/\"onmouseover=x"));
        assert!(!safe_url("https://exa mple.com"));
        assert!(!safe_url("data:text/html,hi"));
    }
}
