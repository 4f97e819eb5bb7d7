//! HTML pages, the Atom feed and the sitemap, from the minijinja templates in `templates/`.
//!
//! Templates are compiled into the binary and strict: an unknown variable is an error, never
//! an empty string. Autoescaping is on for every file (by extension), so manifest text is
//! always escaped.

use minijinja::{context, Environment, UndefinedBehavior};
use serde::Serialize;

use super::catalog::rfc3339;
use super::paths;
use super::plan::{App, Link, Release, Site};

/// Static files copied as they are, next to the pages.
pub const ASSETS: &[(&str, &str)] = &[
    (
        "assets/style.css",
        include_str!("../../templates/assets/style.css"),
    ),
    (
        "assets/search.js",
        include_str!("../../templates/assets/search.js"),
    ),
];

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("index.html", include_str!("../../templates/index.html")),
    ("app.html", include_str!("../../templates/app.html")),
    ("404.html", include_str!("../../templates/404.html")),
    ("feed.xml", include_str!("../../templates/feed.xml")),
    ("sitemap.xml", include_str!("../../templates/sitemap.xml")),
];

/// How many releases the feed lists.
const FEED_ENTRIES: usize = 100;

pub struct Pages {
    env: Environment<'static>,
}

#[derive(Serialize)]
struct SiteCtx<'a> {
    title: &'a str,
    base_url: Option<&'a str>,
}

#[derive(Serialize)]
struct CardCtx {
    package: String,
    name: String,
    description: Option<String>,
    tags: Vec<String>,
    icon: Option<String>,
    latest_version: String,
    latest_yanked: bool,
    version_count: usize,
    search_text: String,
    author: Option<String>,
}

#[derive(Serialize)]
struct AppCtx {
    package: String,
    name: String,
    description: Option<String>,
    author: Option<String>,
    license: Option<String>,
    tags: Vec<String>,
    icon: Option<String>,
    links: Vec<Link>,
    latest_version: String,
    signer_id: String,
    application_id: String,
    install_command: String,
    versions: Vec<VersionCtx>,
}

#[derive(Serialize)]
struct VersionCtx {
    version: String,
    published: Option<String>,
    min_runtime_version: String,
    size: u64,
    size_human: String,
    bundle_sha256: String,
    yanked: bool,
    yank_reason: Option<String>,
    download_path: String,
    manifest_path: String,
}

#[derive(Serialize)]
struct FeedEntry {
    id: String,
    title: String,
    updated: String,
    link: String,
    summary: Option<String>,
}

impl Default for Pages {
    fn default() -> Self {
        Pages::new()
    }
}

impl Pages {
    pub fn new() -> Pages {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_formatter(escape_markup);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("built-in templates are valid");
        }
        Pages { env }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> anyhow::Result<Vec<u8>> {
        let text = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| anyhow::anyhow!("template {name}: {e:#}"))?;
        Ok(text.into_bytes())
    }

    fn site<'a>(&self, site: &'a Site) -> SiteCtx<'a> {
        SiteCtx {
            title: &site.title,
            base_url: site.base_url.as_deref(),
        }
    }

    pub fn index(&self, site: &Site) -> anyhow::Result<Vec<u8>> {
        let apps: Vec<CardCtx> = site.apps.iter().map(card).collect();
        self.render(
            "index.html",
            context! { site => self.site(site), root => "", app_count => apps.len(), apps },
        )
    }

    pub fn app(&self, site: &Site, app: &App) -> anyhow::Result<Vec<u8>> {
        let face = app.face();
        let shown = face.bundle.app_version.clone();
        let ctx = AppCtx {
            package: app.package.clone(),
            name: face.name(),
            description: face.description(),
            author: face.author(),
            license: face.license(),
            tags: face.tags(),
            icon: face.icon(),
            links: face.links(),
            install_command: install_command(site, &app.package, &shown),
            latest_version: shown,
            signer_id: face.bundle.signer_id.clone(),
            application_id: face.bundle.application_id.clone(),
            versions: app.releases.iter().map(version).collect(),
        };
        self.render(
            "app.html",
            context! { site => self.site(site), root => "../../", app => ctx },
        )
    }

    pub fn not_found(&self, site: &Site) -> anyhow::Result<Vec<u8>> {
        self.render(
            "404.html",
            context! { site => self.site(site), root => "/" },
        )
    }

    /// Atom feed of releases, newest first. Entries without a git date sort last and carry
    /// the Unix epoch, so output never depends on the clock.
    pub fn feed(&self, site: &Site) -> anyhow::Result<Vec<u8>> {
        let mut releases: Vec<(&App, &Release)> = site
            .apps
            .iter()
            .flat_map(|a| a.releases.iter().map(move |r| (a, r)))
            .collect();
        releases.sort_by(|(a1, r1), (a2, r2)| {
            r2.published
                .cmp(&r1.published)
                .then_with(|| a1.package.cmp(&a2.package))
                .then_with(|| {
                    crate::version::compare(&r2.bundle.app_version, &r1.bundle.app_version)
                })
        });
        let base = site.base_url.as_deref().unwrap_or("");
        let entries: Vec<FeedEntry> = releases
            .iter()
            .take(FEED_ENTRIES)
            .map(|(app, r)| FeedEntry {
                id: format!("urn:mpk:{}:{}", app.package, r.bundle.app_version),
                title: format!(
                    "{} {}{}",
                    r.name(),
                    r.bundle.app_version,
                    if r.yank_reason.is_some() {
                        " (yanked)"
                    } else {
                        ""
                    }
                ),
                updated: rfc3339(r.published.unwrap_or(0)),
                link: format!("{base}{}", paths::app_page(&app.package)),
                summary: r.description(),
            })
            .collect();
        let updated = releases
            .iter()
            .filter_map(|(_, r)| r.published)
            .max()
            .unwrap_or(0);
        self.render(
            "feed.xml",
            context! {
                site => self.site(site),
                feed_id => format!("{base}feed.xml"),
                updated => rfc3339(updated),
                entries,
            },
        )
    }

    /// Only when the base URL is known: a sitemap needs absolute URLs.
    pub fn sitemap(&self, site: &Site) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(base) = &site.base_url else {
            return Ok(None);
        };
        let mut urls = vec![base.clone()];
        urls.extend(
            site.apps
                .iter()
                .map(|a| format!("{base}{}", paths::app_page(&a.package))),
        );
        self.render("sitemap.xml", context! { urls }).map(Some)
    }
}

/// Escapes the five characters that matter in HTML and XML text and quoted attributes, and
/// leaves the rest (minijinja's default also escapes `/`, which makes every URL noisy).
fn escape_markup(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &minijinja::Value,
) -> Result<(), minijinja::Error> {
    if state.auto_escape() == minijinja::AutoEscape::None || value.is_safe() {
        return minijinja::escape_formatter(out, state, value);
    }
    let text = value.to_string();
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    out.write_str(&escaped).map_err(minijinja::Error::from)
}

fn card(app: &App) -> CardCtx {
    let face = app.face();
    let name = face.name();
    let description = face.description();
    let tags = face.tags();
    let search_text = [
        name.as_str(),
        &app.package,
        description.as_deref().unwrap_or(""),
    ]
    .into_iter()
    .chain(tags.iter().map(String::as_str))
    .collect::<Vec<_>>()
    .join(" ")
    .to_lowercase();
    CardCtx {
        package: app.package.clone(),
        icon: face.icon(),
        author: face.author(),
        latest_version: face.bundle.app_version.clone(),
        latest_yanked: app.latest.is_none(),
        version_count: app.releases.len(),
        search_text,
        name,
        description,
        tags,
    }
}

fn version(r: &Release) -> VersionCtx {
    let b = &r.bundle;
    VersionCtx {
        version: b.app_version.clone(),
        published: r.published.map(|t| rfc3339(t)[..10].to_owned()),
        min_runtime_version: b.min_runtime_version.clone(),
        size: b.bundle_size,
        size_human: human_size(b.bundle_size),
        bundle_sha256: b.bundle_sha256.clone(),
        yanked: r.yank_reason.is_some(),
        yank_reason: r.yank_reason.clone(),
        download_path: paths::artifact(&b.package, &b.app_version),
        manifest_path: paths::manifest(&b.package, &b.app_version),
    }
}

/// What a node operator runs: straight from the registry URL when the site knows it.
fn install_command(site: &Site, package: &str, version: &str) -> String {
    let artifact = paths::artifact(package, version);
    match &site.base_url {
        Some(base) => format!("meroctl app install --url {base}{artifact}"),
        None => format!(
            "# download {package}-{version}.mpk from the table below, then:\nmeroctl app install --path {package}-{version}.mpk"
        ),
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
    }
}
