//! Manifest text is written by publishers, so the site must show it as inert text: no markup,
//! no script, no links or images that are not plain http(s) or raster `data:` images.
//!
//! Pages are checked with a small tag scanner rather than by searching for strings, so an
//! escaped payload (shown as text) passes and a live one (a real tag or attribute) fails.

use crate::support::bundle::*;
use crate::support::registry::*;
use mpk_registry::site::paths;
use serde_json::json;

const SCRIPT: &str = "<script>alert(1)</script>";
const BREAKOUT: &str = "\"'><img src=x onerror=alert(1)>";
const SVG_ICON: &str = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIG9ubG9hZD0iYWxlcnQoMSkiLz4=";

const EVIL: &str = "com.example.evil";
const REMOTE: &str = "com.example.remote";
const GOOD: &str = "com.example.good";

fn hostile_registry() -> Registry {
    let reg = Registry::new();
    let mut evil = pack_manifest(EVIL, "1.0.0");
    evil.insert(
        "metadata".into(),
        json!({
            "name": SCRIPT,
            "description": BREAKOUT,
            "author": SCRIPT,
            "tags": [SCRIPT, BREAKOUT],
            "license": BREAKOUT,
            "icon": SVG_ICON,
        }),
    );
    evil.insert(
        "links".into(),
        json!({
            "frontend": "javascript:alert(1)",
            "github": "data:text/html,<script>alert(1)</script>",
            "docs": "JaVaScRiPt:alert(1)",
        }),
    );
    reg.add(evil, &key(31));

    let mut remote = pack_manifest(REMOTE, "1.0.0");
    remote["metadata"]["icon"] = json!("https://evil.example/x.png");
    remote.insert(
        "links".into(),
        json!({
            "frontend": " javascript:alert(1)",
            "github": "https://evil.example/\" onmouseover=\"alert(1)",
            "docs": "//evil.example/protocol-relative",
        }),
    );
    reg.add(remote, &key(32));

    let mut good = pack_manifest(GOOD, "1.0.0");
    good["metadata"]["icon"] = json!(PNG_ICON);
    good.insert(
        "links".into(),
        json!({"docs": "https://docs.example.com/good?a=1&b=2"}),
    );
    reg.add(good, &key(33));
    reg
}

/// One start tag: its lowercase name, attributes with entity-decoded values, and for
/// `<script>` the text up to `</script>`.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
    body: String,
    /// Byte offset in the page.
    at: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes the character references that the templates produce.
fn decode(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e < 12) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every start tag of an HTML page, read the way a browser tokenizes them.
fn tags(html: &str) -> Vec<Tag> {
    let bytes = html.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        let start = i + offset;
        let rest = &html[start..];
        if rest.starts_with("<!--") {
            i = start + rest.find("-->").expect("closed comment") + 3;
            continue;
        }
        if rest.starts_with("</") || rest.starts_with("<!") || rest.starts_with("<?") {
            i = start + rest.find('>').expect("closed tag") + 1;
            continue;
        }
        let mut j = start + 1;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'-') {
            j += 1;
        }
        if j == start + 1 {
            // A `<` not followed by a tag name is text.
            i = start + 1;
            continue;
        }
        let name = html[start + 1..j].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while j < bytes.len() && (bytes[j].is_ascii_whitespace() || bytes[j] == b'/') {
                j += 1;
            }
            if j >= bytes.len() || bytes[j] == b'>' {
                j += 1;
                break;
            }
            let name_start = j;
            while j < bytes.len()
                && !matches!(bytes[j], b'=' | b'>' | b'/')
                && !bytes[j].is_ascii_whitespace()
            {
                j += 1;
            }
            let attr = html[name_start..j].to_ascii_lowercase();
            let mut value = String::new();
            if j < bytes.len() && bytes[j] == b'=' {
                j += 1;
                match bytes.get(j) {
                    Some(&q) if q == b'"' || q == b'\'' => {
                        let end = j + 1 + html[j + 1..].find(q as char).expect("closed quote");
                        value = decode(&html[j + 1..end]);
                        j = end + 1;
                    }
                    _ => {
                        let value_start = j;
                        while j < bytes.len() && bytes[j] != b'>' && !bytes[j].is_ascii_whitespace()
                        {
                            j += 1;
                        }
                        value = decode(&html[value_start..j]);
                    }
                }
            }
            attrs.push((attr, value));
        }
        let mut body = String::new();
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            let end = j + html[j..]
                .to_ascii_lowercase()
                .find(&close)
                .expect("closed raw text");
            body = html[j..end].to_owned();
            j = end;
        }
        tags.push(Tag {
            name,
            attrs,
            body,
            at: start,
        });
        i = j;
    }
    tags
}

/// The scheme of a URL, lowercase, if it has one.
fn scheme(url: &str) -> Option<String> {
    let url = url.trim_start_matches(|c: char| c.is_ascii_whitespace() || c.is_ascii_control());
    let colon = url.find(':')?;
    let before = &url[..colon];
    (!before.is_empty() && !before.contains(['/', '?', '#']))
        .then(|| before.to_ascii_lowercase().replace(['\t', '\n', '\r'], ""))
}

/// What every page must satisfy whatever manifests it shows.
fn assert_inert(page: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script>alert"), "{page}: live script");
    let tags = tags(html);
    for tag in &tags {
        for (name, value) in &tag.attrs {
            assert!(
                !name.starts_with("on"),
                "{page}: event handler {name}={value:?} on <{}>",
                tag.name
            );
            assert_ne!(name, "style", "{page}: inline style (the CSP blocks it)");
            if matches!(name.as_str(), "href" | "src" | "action" | "formaction") {
                let scheme = scheme(value);
                let allowed = match (tag.name.as_str(), scheme.as_deref()) {
                    (_, None | Some("http") | Some("https")) => true,
                    // The site's own favicon, from the template.
                    ("link", Some("data")) => tag.attr("rel") == Some("icon"),
                    ("img", Some("data")) => value.starts_with("data:image/png;base64,"),
                    _ => false,
                };
                assert!(
                    allowed,
                    "{page}: <{} {name}={value:?}> has a scheme that can run code",
                    tag.name
                );
            }
        }
        if tag.name == "a" {
            if let Some(href) = tag.attr("href") {
                assert!(
                    !href.trim_start().starts_with("//"),
                    "{page}: protocol-relative link {href:?}"
                );
            }
        }
        if tag.name == "script" {
            assert!(
                tag.attr("src").is_some() && tag.body.trim().is_empty(),
                "{page}: inline script {:?}",
                tag.body
            );
        }
        assert_ne!(tag.name, "iframe", "{page}");
        assert_ne!(tag.name, "object", "{page}");
        assert_ne!(tag.name, "embed", "{page}");
        assert_ne!(tag.name, "base", "{page}");
    }
    // The policy comes first in <head>, before anything it must govern.
    let csp = tags
        .iter()
        .find(|t| {
            t.name == "meta"
                && t.attr("http-equiv")
                    .is_some_and(|v| v.eq_ignore_ascii_case("content-security-policy"))
        })
        .unwrap_or_else(|| panic!("{page}: no Content-Security-Policy meta tag"));
    let policy = csp.attr("content").unwrap();
    for directive in ["default-src 'none'", "script-src 'self'", "base-uri 'none'"] {
        assert!(policy.contains(directive), "{page}: CSP lacks {directive}");
    }
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
    let first_fetching = tags
        .iter()
        .find(|t| matches!(t.name.as_str(), "script" | "link" | "img" | "style"))
        .unwrap();
    assert!(
        csp.at < first_fetching.at,
        "{page}: the CSP comes after <{}>",
        first_fetching.name
    );
}

fn images(html: &str) -> Vec<String> {
    tags(html)
        .into_iter()
        .filter(|t| t.name == "img")
        .map(|t| t.attr("src").unwrap_or_default().to_owned())
        .collect()
}

fn links(html: &str) -> Vec<String> {
    tags(html)
        .into_iter()
        .filter(|t| t.name == "a")
        .filter_map(|t| t.attr("href").map(str::to_owned))
        .collect()
}

#[test]
fn untrusted_manifest_text_renders_inert() {
    let reg = hostile_registry();
    reg.build_ok();
    let out = reg.out();
    let index = read_text(&out, "index.html");
    assert_inert("index.html", &index);
    for package in [EVIL, REMOTE, GOOD] {
        let rel = paths::app_page(package);
        assert_inert(&rel, &read_text(&out, &rel));
    }
    let evil = read_text(&out, &paths::app_page(EVIL));
    let remote = read_text(&out, &paths::app_page(REMOTE));
    let good = read_text(&out, &paths::app_page(GOOD));

    // The payloads are shown, as text.
    for page in [&index, &evil] {
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;"),
            "name shown escaped"
        );
        assert!(decode(page).contains(BREAKOUT), "description shown as text");
    }
    assert!(
        evil.contains("onerror=alert(1)"),
        "only inside escaped text"
    );

    // Only the raster data: icon is an image; SVG and remote icons are dropped.
    assert_eq!(images(&evil), Vec::<String>::new());
    assert_eq!(images(&remote), Vec::<String>::new());
    assert_eq!(images(&good), [PNG_ICON]);
    assert_eq!(images(&index), [PNG_ICON]);
    assert!(!decode(&evil).contains("image/svg+xml;base64"));
    assert!(!decode(&remote).contains("evil.example"));

    // Only the plain https link becomes a link; the others are not shown at all.
    for page in [&evil, &remote] {
        let external: Vec<String> = links(page)
            .into_iter()
            .filter(|h| scheme(h).is_some())
            .collect();
        assert_eq!(external, Vec::<String>::new());
    }
    assert!(links(&good).contains(&"https://docs.example.com/good?a=1&b=2".to_owned()));
}

#[test]
fn every_page_has_the_csp_and_no_inline_script() {
    let reg = hostile_registry();
    reg.build_ok();
    let site = tree(&reg.out());
    let pages: Vec<&String> = site
        .keys()
        .filter(|rel| rel.ends_with(".html") && !rel.starts_with("api/"))
        .collect();
    assert_eq!(pages.len(), 5, "{pages:?}");
    for rel in pages {
        assert_inert(rel, std::str::from_utf8(&site[rel]).unwrap());
    }
}

/// `api/v2/bundles.html`, `api/v2/bundles/index.html` and `api/v2/bundles/<P>/<V>.html` are
/// JSON in files named `.html`. `_headers` gives `/api/*` a JSON content type, but hosts that
/// ignore `_headers` (GitHub Pages, plain nginx, S3) serve them as `text/html` by extension,
/// without the pages' CSP: a manifest's raw `<script>` would run on the registry's origin.
#[test]
fn api_files_named_html_carry_no_markup() {
    let reg = hostile_registry();
    reg.build_ok();
    let out = reg.out();
    let mut checked = 0;
    for (rel, bytes) in tree(&out) {
        if rel.starts_with("api/") && rel.ends_with(".html") {
            checked += 1;
            // Still JSON, with the manifest text intact once parsed.
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            if rel == paths::api_bundle(EVIL, "1.0.0") {
                assert_eq!(value["metadata"]["name"], SCRIPT);
            }
            assert!(
                !bytes.contains(&b'<'),
                "{rel} would be served as text/html by hosts without _headers, and holds raw markup: {}",
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .find(|l| l.contains('<'))
                    .unwrap_or_default()
                    .trim()
            );
        }
    }
    // Every API answer named .html: the list (twice), each version's, and healthz.
    assert_eq!(checked, 6);
}
