//! Rules for static hosts: `_headers` (CORS, content types, caching) and `_redirects`
//! (query-string rewrites for the read API), in the syntax Netlify and Cloudflare Pages read.
//!
//! The same rules are parsed back by `serve`, so the preview behaves like the deployed site.

/// Headers for every path matching `pattern` (`*` matches the rest of the path).
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderRule {
    pub pattern: String,
    pub headers: Vec<(String, String)>,
}

/// A rewrite: requests for `from` (with every `query` condition met) are answered by `to`.
/// `:name` in a query value captures it; `*` in `from` captures the rest as `:splat`.
/// `force` applies it even when a file exists at `from`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rewrite {
    pub from: String,
    pub query: Vec<(String, String)>,
    pub to: String,
    pub status: u16,
    pub force: bool,
}

/// The headers the site needs.
pub fn header_rules() -> Vec<HeaderRule> {
    let rule = |pattern: &str, headers: &[(&str, &str)]| HeaderRule {
        pattern: pattern.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    vec![
        rule(
            "/*",
            &[
                ("Access-Control-Allow-Origin", "*"),
                ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
            ],
        ),
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
            ],
        ),
    ]
}

/// The query rewrites of the read API, most specific first.
pub fn rewrites() -> Vec<Rewrite> {
    let package = ("package".to_owned(), ":package".to_owned());
    vec![
        Rewrite {
            from: "/api/v2/bundles".into(),
            query: vec![package.clone(), ("all_versions".into(), "true".into())],
            to: "/api/v2/packages/:package/all.json".into(),
            status: 200,
            force: true,
        },
        Rewrite {
            from: "/api/v2/bundles".into(),
            query: vec![package],
            to: "/api/v2/packages/:package/latest.json".into(),
            status: 200,
            force: true,
        },
        Rewrite {
            from: "/api/v2/bundles/*".into(),
            query: vec![],
            to: "/api/v2/not-found.json".into(),
            status: 404,
            force: false,
        },
    ]
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

/// Reads a `_redirects` file; lines it cannot read are skipped, as hosts do.
pub fn parse_redirects(text: &str) -> Vec<Rewrite> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 3 || fields[0].starts_with('#') {
                return None;
            }
            let (status, force) = match fields[fields.len() - 1].strip_suffix('!') {
                Some(s) => (s.parse().ok()?, true),
                None => (fields[fields.len() - 1].parse().ok()?, false),
            };
            let query = fields[1..fields.len() - 2]
                .iter()
                .map(|q| q.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<Option<Vec<_>>>()?;
            Some(Rewrite {
                from: fields[0].to_owned(),
                query,
                to: fields[fields.len() - 2].to_owned(),
                status,
                force,
            })
        })
        .collect()
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

impl Rewrite {
    /// The target path when this rule applies to `path` with `query` pairs.
    pub fn apply(&self, path: &str, query: &[(String, String)]) -> Option<String> {
        if !matches(&self.from, path) {
            return None;
        }
        let mut to = self.to.clone();
        if let Some(prefix) = self.from.strip_suffix('*') {
            to = to.replace(":splat", &path[prefix.len()..]);
        }
        for (key, wanted) in &self.query {
            let (_, value) = query.iter().find(|(k, _)| k == key)?;
            match wanted.strip_prefix(':') {
                Some(name) => {
                    // Captured values become paths: only plain coordinates may pass.
                    if value.is_empty()
                        || value.contains("..")
                        || !value.bytes().all(crate::manifest::is_coordinate_byte)
                    {
                        return None;
                    }
                    to = to.replace(&format!(":{name}"), value);
                }
                None if value == wanted => {}
                None => return None,
            }
        }
        Some(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip_through_their_files() {
        assert_eq!(
            parse_headers(&render_headers(&header_rules())),
            header_rules()
        );
        assert_eq!(parse_redirects(&render_redirects(&rewrites())), rewrites());
    }

    #[test]
    fn query_rewrites_pick_the_most_specific_rule() {
        let rules = rewrites();
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let first = |query: &[(String, String)]| {
            rules.iter().find_map(|r| r.apply("/api/v2/bundles", query))
        };
        assert_eq!(
            first(&q(&[("package", "a.b"), ("all_versions", "true")])).as_deref(),
            Some("/api/v2/packages/a.b/all.json")
        );
        assert_eq!(
            first(&q(&[("package", "a.b")])).as_deref(),
            Some("/api/v2/packages/a.b/latest.json")
        );
        assert_eq!(first(&q(&[("package", "../etc")])), None);
        assert_eq!(first(&q(&[])), None);
    }
}
