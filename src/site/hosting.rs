//! Rules for static hosts: `_headers` (CORS, content types, caching) in the syntax Netlify and
//! Cloudflare Pages read, and `_redirects`, Netlify's rules for the read API's query strings
//! (docs/read-api.md). `serve` reads `_headers` back, so the preview sends what hosts send.

use super::paths::{self, Filter};
use super::plan::Site;

/// The answer to a CORS preflight (`OPTIONS`), on any path. Desktop sends
/// `Content-Type: application/json` with every request, which makes each one preflighted.
pub const PREFLIGHT: [(&str, &str); 4] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "Content-Type, Authorization",
    ),
    ("Access-Control-Max-Age", "86400"),
];

/// Headers for every path matching `pattern` (`*` matches the rest of the path).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderRule {
    pub pattern: String,
    pub headers: Vec<(String, String)>,
}

/// A Netlify rewrite: requests for `from` with every `query` condition met are answered by
/// `to` with `status`. A condition value starting with `:` matches any value; `force` applies
/// the rule even when a file exists at `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    pub from: String,
    pub query: Vec<(String, String)>,
    pub to: String,
    pub status: u16,
    pub force: bool,
}

/// The headers the site needs. The preflight headers go on every path too: on a host that
/// answers `OPTIONS` for a static file, they are what makes that answer a preflight's.
pub fn header_rules() -> Vec<HeaderRule> {
    let rule = |pattern: &str, headers: &[(&str, &str)]| HeaderRule {
        pattern: pattern.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let mut every_path = PREFLIGHT.to_vec();
    every_path.extend([
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]);
    vec![
        rule("/*", &every_path),
        rule(
            "/api/*",
            &[
                ("Content-Type", "application/json; charset=utf-8"),
                ("Cache-Control", "public, max-age=300"),
            ],
        ),
        rule("/index.json", &[("Cache-Control", "public, max-age=300")]),
        rule("/apps/*", &[("Cache-Control", "public, max-age=300")]),
        rule(
            "/artifacts/*",
            &[
                ("Content-Type", "application/gzip"),
                ("Cache-Control", "public, max-age=31536000, immutable"),
                // A browser saves the bundle under its file name (`P-V.mpk`), as the hosted
                // registry has it do, rather than trying to show it.
                ("Content-Disposition", "attachment"),
            ],
        ),
    ]
}

const LIST: &str = "/api/v2/bundles";
const EMPTY: &str = "/api/v2/empty.json";
const NOT_FOUND: &str = "/api/v2/not-found.json";
const INVALID_PARAMS: &str = "/api/v2/invalid-params.json";

/// Netlify's rules for the read API, in the order of docs/read-api.md's request table.
///
/// Netlify takes the first rule that matches, a rule matches requests that carry more
/// parameters than it names, a forced rewrite to a missing file answers the site's 404 page and
/// rewrites do not chain. So every known package, version, developer and author gets a rule
/// naming its value and its file, each group more specific first, and a catch-all after each
/// group answers the unknown values from a file that exists.
pub fn rewrites(site: &Site) -> Vec<Rewrite> {
    let rule = |query: &[(&str, &str)], to: &str, status: u16| Rewrite {
        from: LIST.into(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        to: to.into(),
        status,
        force: true,
    };
    let mut rules = Vec::new();
    for app in &site.apps {
        let package = app.package.as_str();
        for r in &app.releases {
            let version = r.bundle.app_version.as_str();
            let file = paths::api_package_version(package, version);
            rules.push(rule(
                &[("package", package), ("version", version)],
                &url(&file),
                200,
            ));
        }
        rules.push(rule(
            &[("package", package), ("version", ":version")],
            NOT_FOUND,
            404,
        ));
        rules.push(rule(
            &[("package", package), ("all_versions", "true")],
            &url(&paths::api_package_all(package)),
            200,
        ));
        rules.push(rule(
            &[("package", package)],
            &url(&paths::api_package_latest(package)),
            200,
        ));
    }
    rules.push(rule(
        &[("package", ":package"), ("version", ":version")],
        NOT_FOUND,
        404,
    ));
    rules.push(rule(&[("package", ":package")], EMPTY, 200));
    rules.push(rule(&[("all_versions", "true")], INVALID_PARAMS, 400));
    let filters = paths::filter_files(&site.apps);
    for key in ["developer", "author"] {
        for (file, filter) in &filters {
            let value = match filter {
                Filter::Developer(signer) if key == "developer" => signer,
                Filter::Author(author) if key == "author" => author,
                _ => continue,
            };
            rules.push(rule(&[(key, &query_value(value))], &url(file), 200));
        }
        rules.push(rule(&[(key, &format!(":{key}"))], EMPTY, 200));
    }
    // `/api/v2/bundles/P/V` is answered by `V.html`, when there is one.
    rules.push(Rewrite {
        from: format!("{LIST}/*"),
        query: Vec::new(),
        to: NOT_FOUND.into(),
        status: 404,
        force: false,
    });
    rules
}

/// A site path as a URL path. Hosts decode a rewrite's target before looking up its file, so
/// the `%` of a developer's or author's file name is encoded once more.
fn url(path: &str) -> String {
    format!("/{}", path.replace('%', "%25"))
}

/// A query value as `_redirects` spells it: URL-encoded, so it holds no space.
fn query_value(value: &str) -> String {
    paths::percent_encode(value, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    })
}

pub fn render_headers(rules: &[HeaderRule]) -> String {
    let mut out = String::new();
    for rule in rules {
        out.push_str(&rule.pattern);
        out.push('\n');
        for (name, value) in &rule.headers {
            out.push_str(&format!("  {name}: {value}\n"));
        }
    }
    out
}

pub fn render_redirects(rules: &[Rewrite]) -> String {
    let mut out = String::new();
    for r in rules {
        let mut fields = vec![r.from.clone()];
        fields.extend(r.query.iter().map(|(k, v)| format!("{k}={v}")));
        fields.push(r.to.clone());
        fields.push(format!("{}{}", r.status, if r.force { "!" } else { "" }));
        out.push_str(&fields.join("  "));
        out.push('\n');
    }
    out
}

/// Reads a `_headers` file (comments and blank lines ignored).
pub fn parse_headers(text: &str) -> Vec<HeaderRule> {
    let mut rules: Vec<HeaderRule> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            rules.push(HeaderRule {
                pattern: trimmed.to_owned(),
                headers: Vec::new(),
            });
        } else if let (Some(rule), Some((name, value))) =
            (rules.last_mut(), trimmed.split_once(':'))
        {
            rule.headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    rules
}

/// Whether `path` matches `pattern`, where a trailing `*` matches any rest.
pub fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

/// The headers for `path`: every matching rule applies, later ones overriding a same name.
pub fn headers_for(rules: &[HeaderRule], path: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for rule in rules.iter().filter(|r| matches(&r.pattern, path)) {
        for (name, value) in &rule.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rules_round_trip_through_their_file() {
        assert_eq!(
            parse_headers(&render_headers(&header_rules())),
            header_rules()
        );
    }

    #[test]
    fn every_path_carries_the_preflight_headers() {
        let headers = headers_for(&header_rules(), "/api/v2/bundles");
        for (name, value) in PREFLIGHT {
            assert!(
                headers.contains(&(name.to_owned(), value.to_owned())),
                "{name}"
            );
        }
    }

    #[test]
    fn query_values_are_written_without_spaces() {
        assert_eq!(query_value("Calimero samples"), "Calimero%20samples");
        assert_eq!(query_value("did:key:z6Mk"), "did%3Akey%3Az6Mk");
        assert_eq!(query_value("a.b-c_d~"), "a.b-c_d~");
    }

    #[test]
    fn targets_name_files_whose_names_hold_percent_signs() {
        assert_eq!(
            url("api/v2/authors/%41b.json"),
            "/api/v2/authors/%2541b.json"
        );
    }
}
