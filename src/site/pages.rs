//! HTML pages, the Atom feed and the sitemap, from the minijinja templates in `templates/`.
//!
//! Templates are compiled into the binary and strict: an unknown variable is an error, never
//! an empty string. Autoescaping is on for every file (by extension), so manifest text is
//! always escaped. The feed and the sitemap are XML, which cannot carry every character at all:
//! those it forbids are replaced (see [`xml_chars`]).

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
    /// Every signer with its versions, newest first; shown when there is more than one.
    signers: Vec<SignerCtx>,
}

/// One signer of an app's versions: to a node, an application of its own.
#[derive(Serialize)]
struct SignerCtx {
    signer_id: String,
    application_id: String,
    versions: Vec<String>,
}

/// The signers of `releases` (newest first) in the order their newest version comes.
fn signers(releases: &[Release]) -> Vec<SignerCtx> {
    let mut signers: Vec<SignerCtx> = Vec::new();
    for r in releases {
        let b = &r.bundle;
        match signers.iter_mut().find(|s| s.signer_id == b.signer_id) {
            Some(s) => s.versions.push(b.app_version.clone()),
            None => signers.push(SignerCtx {
                signer_id: b.signer_id.clone(),
                application_id: b.application_id.clone(),
                versions: vec![b.app_version.clone()],
            }),
        }
    }
    signers
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
    /// The signature scheme of the bundle at `download_path`, and which nodes install it.
    signature: SignatureCtx,
    /// The same version under the other scheme, at its content address.
    other_signatures: Vec<SignatureCtx>,
}

#[derive(Serialize)]
struct SignatureCtx {
    scheme: &'static str,
    installs_on: &'static str,
    path: String,
}

impl SignatureCtx {
    fn of(b: &crate::verify::Verified, path: String) -> SignatureCtx {
        SignatureCtx {
            scheme: b.signature_scheme.name(),
            installs_on: b.signature_scheme.installs_on(),
            path,
        }
    }
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
        if name.ends_with(".xml") {
            return Ok(xml_chars(text).into_bytes());
        }
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
            signers: signers(&app.releases),
        };
        self.render(
            "app.html",
            context! { site => self.site(site), root => "../../", app => ctx },
        )
    }

    /// The 404 page answers any path, so its links cannot be relative: they start at the
    /// site's address when it is known (a site under a sub-path, as on GitHub Pages), else at
    /// the origin's root.
    pub fn not_found(&self, site: &Site) -> anyhow::Result<Vec<u8>> {
        let root = site.base_url.as_deref().unwrap_or("/");
        self.render("404.html", context! { site => self.site(site), root })
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
                feed_id => feed_id(site),
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

/// XML 1.0 forbids C0 controls other than TAB, LF and CR, and U+FFFE and U+FFFF, even as
/// character references: a feed with one is not XML, and readers drop it whole. Manifests with
/// them are refused, but the site title comes from registry.toml; whatever gets here, each
/// such character becomes U+FFFD. Markup never contains one, so this only touches text, after
/// it was escaped; output without them is returned as it is.
fn xml_chars(text: String) -> String {
    let forbidden = |c: char| matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    if !text.contains(forbidden) {
        return text;
    }
    text.chars()
        .map(|c| {
            if forbidden(c) {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
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
        signature: SignatureCtx::of(b, paths::artifact(&b.package, &b.app_version)),
        other_signatures: r
            .others
            .iter()
            .map(|o| SignatureCtx::of(&o.bundle, paths::content_addressed(&o.bundle.bundle_sha256)))
            .collect(),
    }
}

/// The feed's `<id>`, which a reader keeps a feed by: its address when the site knows it, else a
/// URN made from what sets this registry apart from another (its title, maintainers and
/// catalog keys), so that two registries without `base_url` do not share one.
fn feed_id(site: &Site) -> String {
    if let Some(base) = &site.base_url {
        return format!("{base}feed.xml");
    }
    let identity = serde_json::json!([site.title, site.maintainers, site.index_keys]);
    let digest = <sha2::Sha256 as sha2::Digest>::digest(identity.to_string().as_bytes());
    format!("urn:mpk-registry:{}", &hex::encode(digest)[..32])
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
    use super::*;
    use crate::verify::Verified;

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
    }

    /// A site of one app whose manifest has `metadata`.
    fn site_with(title: &str, base_url: Option<&str>, metadata: serde_json::Value) -> Site {
        let bundle = Verified {
            package: "com.example.app".into(),
            signature_scheme: crate::canonical::Scheme::Legacy,
            app_version: "1.0.0".into(),
            signer_id: "did:key:z6Mk".into(),
            application_id: "app-id".into(),
            min_runtime_version: "0.1.0".into(),
            bundle_sha256: "00".repeat(32),
            bundle_size: 100,
            manifest_sha256: "11".repeat(32),
            artifacts: Vec::new(),
            manifest_bytes: Vec::new(),
        };
        let serde_json::Value::Object(manifest) = serde_json::json!({ "metadata": metadata })
        else {
            unreachable!("an object")
        };
        Site {
            title: title.into(),
            base_url: base_url.map(str::to_owned),
            maintainers: Vec::new(),
            apps: vec![App {
                package: bundle.package.clone(),
                releases: vec![Release {
                    bundle,
                    manifest,
                    published: Some(1_700_000_000),
                    yank_reason: None,
                    source: "com.example.app/com.example.app-1.0.0.mpk".into(),
                    others: Vec::new(),
                }],
                latest: Some(0),
            }],
            index_keys: Vec::new(),
        }
    }

    /// A small well-formedness check for what the templates write: only XML 1.0 characters,
    /// balanced elements under one root, quoted attributes, and `&` only in a reference.
    fn assert_well_formed(xml: &str) {
        let is_xml_char = |c: char| {
            matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
                || c >= '\u{10000}'
        };
        if let Some(c) = xml.chars().find(|c| !is_xml_char(*c)) {
            panic!("{c:?} is not an XML 1.0 character in:\n{xml}");
        }
        let check_text = |text: &str| {
            for (i, _) in text.match_indices('&') {
                let reference = &text[i + 1..text[i..].find(';').map_or(i, |e| i + e)];
                let ok = matches!(reference, "amp" | "lt" | "gt" | "quot" | "apos")
                    || reference
                        .strip_prefix('#')
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                assert!(ok, "a bare '&' in {text:?}");
            }
            assert!(!text.contains('>'), "a bare '>' in {text:?}");
        };
        let mut open: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = xml;
        while let Some(start) = rest.find('<') {
            check_text(&rest[..start]);
            rest = &rest[start..];
            if let Some(pi) = rest.strip_prefix("<?") {
                let end = pi.find("?>").expect("a closed declaration");
                rest = &pi[end + 2..];
                continue;
            }
            let end = rest.find('>').expect("a closed tag");
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name.trim()), "mismatched </{name}>");
                continue;
            }
            let (tag, empty) = match tag.strip_suffix('/') {
                Some(t) => (t, true),
                None => (tag, false),
            };
            let name = tag.split_whitespace().next().expect("a tag name");
            let attributes = &tag[name.len()..];
            assert_eq!(attributes.matches('"').count() % 2, 0, "quotes in <{tag}>");
            check_text(attributes);
            assert!(!attributes.contains('<'), "a '<' in <{tag}>");
            if open.is_empty() {
                roots += 1;
            }
            if !empty {
                open.push(name);
            }
        }
        assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
        assert!(open.is_empty(), "unclosed {open:?}");
        assert_eq!(roots, 1, "one root element");
    }

    #[test]
    fn the_feed_is_xml_whatever_the_text() {
        let site = site_with(
            "Reg\u{1}istry <&>",
            Some("https://apps.example.test/"),
            serde_json::json!({
                "name": "App\u{b}\u{ffff} \"one\" & 'two'",
                "description": "a\u{1}b <tag> & \"q\" \u{fffe}\u{0}\tkept\nkept",
            }),
        );
        let feed = String::from_utf8(Pages::new().feed(&site).expect("renders")).expect("UTF-8");
        assert_well_formed(&feed);
        for c in ['\u{0}', '\u{1}', '\u{b}', '\u{fffe}', '\u{ffff}'] {
            assert!(!feed.contains(c), "{c:?} in\n{feed}");
        }
        assert!(
            feed.contains("<summary>a\u{fffd}b &lt;tag&gt; &amp; &quot;q&quot; \u{fffd}\u{fffd}\tkept\nkept</summary>"),
            "{feed}"
        );
        assert!(
            feed.contains(
                "<title>App\u{fffd}\u{fffd} &quot;one&quot; &amp; &#39;two&#39; 1.0.0</title>"
            ),
            "{feed}"
        );
        assert!(
            feed.contains("<title>Reg\u{fffd}istry &lt;&amp;&gt;: releases</title>"),
            "{feed}"
        );
    }

    #[test]
    fn the_feed_of_ordinary_text_is_untouched() {
        let site = site_with(
            "Registry",
            None,
            serde_json::json!({"name": "App", "description": "Plain. Ünïcode ✓\tand\nlines"}),
        );
        let feed = Pages::new().feed(&site).expect("renders");
        let feed = String::from_utf8(feed).expect("UTF-8");
        assert_well_formed(&feed);
        assert!(
            feed.contains("<summary>Plain. Ünïcode ✓\tand\nlines</summary>"),
            "{feed}"
        );
        assert!(!feed.contains('\u{fffd}'), "{feed}");
    }

    #[test]
    fn the_feed_id_is_the_registrys_own() {
        let feed_id = |site: &Site| {
            let feed = String::from_utf8(Pages::new().feed(site).expect("renders")).unwrap();
            let start = feed.find("<id>").expect("an id") + 4;
            feed[start..start + feed[start..].find("</id>").unwrap()].to_owned()
        };
        let app = serde_json::json!({"name": "App"});
        let one = site_with("Registry", None, app.clone());
        let mut other = site_with("Registry", None, app.clone());
        other.maintainers = vec!["alice".into()];
        assert!(
            feed_id(&one).starts_with("urn:mpk-registry:"),
            "{}",
            feed_id(&one)
        );
        assert_ne!(feed_id(&one), feed_id(&other));
        assert_ne!(
            feed_id(&one),
            feed_id(&site_with("Other", None, app.clone()))
        );
        assert_eq!(
            feed_id(&one),
            feed_id(&site_with("Registry", None, app.clone()))
        );
        let served = site_with("Registry", Some("https://o.github.io/reg/"), app);
        assert_eq!(feed_id(&served), "https://o.github.io/reg/feed.xml");
    }

    #[test]
    fn the_404_page_links_from_the_sites_address() {
        let app = serde_json::json!({"name": "App"});
        let page = |base: Option<&str>| {
            let site = site_with("Registry", base, app.clone());
            String::from_utf8(Pages::new().not_found(&site).expect("renders")).unwrap()
        };
        let under = page(Some("https://o.github.io/reg/"));
        assert!(
            under.contains(r#"href="https://o.github.io/reg/assets/style.css""#),
            "{under}"
        );
        assert!(page(None).contains(r#"href="/assets/style.css""#));
    }

    #[test]
    fn a_signer_change_is_said_on_the_app_page() {
        let mut site = site_with("Registry", None, serde_json::json!({"name": "App"}));
        let app = &mut site.apps[0];
        let mut newer = app.releases[0].clone();
        newer.bundle.app_version = "2.0.0".into();
        newer.bundle.signer_id = "did:key:z6MkNew".into();
        newer.bundle.application_id = "new-app-id".into();
        app.releases.insert(0, newer);
        let page = |site: &Site| {
            String::from_utf8(Pages::new().app(site, &site.apps[0]).expect("renders")).unwrap()
        };
        let text = page(&site);
        assert!(text.contains("signed by 2 different keys"), "{text}");
        assert!(text.contains("did:key:z6MkNew</code> signed 2.0.0 (Application ID <code class=\"id\">new-app-id</code>)"), "{text}");
        site.apps[0].releases.remove(0);
        assert!(!page(&site).contains("different keys"));
    }

    #[test]
    fn the_sitemap_is_xml_whatever_the_base_url() {
        let site = site_with(
            "Registry",
            Some("https://apps.example.test/\u{1}<x>/"),
            serde_json::json!({"name": "App"}),
        );
        let sitemap = Pages::new()
            .sitemap(&site)
            .expect("renders")
            .expect("a base URL");
        let sitemap = String::from_utf8(sitemap).expect("UTF-8");
        assert_well_formed(&sitemap);
        assert!(
            sitemap.contains("<loc>https://apps.example.test/\u{fffd}&lt;x&gt;/</loc>"),
            "{sitemap}"
        );
    }

    #[test]
    fn only_characters_xml_forbids_are_replaced() {
        let all: String = ('\0'..='\u{ff}')
            .chain(['\u{fffe}', '\u{ffff}', '\u{10000}'])
            .collect();
        let kept = xml_chars(all.clone());
        for (a, b) in all.chars().zip(kept.chars()) {
            let allowed = matches!(a, '\t' | '\n' | '\r' | ' '..='\u{fffd}') || a > '\u{ffff}';
            assert_eq!(b, if allowed { a } else { '\u{fffd}' }, "{a:?}");
        }
        assert_eq!(all.chars().count(), kept.chars().count());
    }
}
