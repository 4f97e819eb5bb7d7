//! `host-config nginx`: the nginx configuration that serves a built site as docs/read-api.md
//! says, for a registry on a server of its own.
//!
//! nginx without modules cannot percent-decode a query string, so the read API's query values
//! are matched as clients send them: `map` blocks spell out every way a client may write each
//! package, version, developer and author the site holds (read from its API files), and
//! anything else is unknown. A value from a request becomes part of a path only when it is a
//! plain name ([`PLAIN_NAME`]). The headers are the site's `_headers` rules
//! ([`hosting::header_rules`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::manifest::is_coordinate;
use crate::site::hosting::{self, HeaderRule};
use crate::site::paths::{self, SiteFile};

/// The query parameters of `GET /api/v2/bundles`, in the order of the contract's table.
const PARAMETERS: [&str; 5] = ["package", "version", "all_versions", "developer", "author"];

/// A query value that can name a package's or version's file as it is sent: plain coordinate
/// bytes, and not `.` or `..` (docs/read-api.md).
const PLAIN_NAME: &str = r"^(?!\.\.?$)[A-Za-z0-9._-]+$";

/// Where nginx sends a request whose path it cannot parse; no file is there.
const UNPARSED: &str = "/.unparsed";

/// What the decoding maps give for a value the site does not hold: no file is named so.
const UNKNOWN: &str = "(unknown)";

/// What the configuration needs to know of a built site: where it is, and the names its API
/// files answer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteNames {
    /// The site's folder, absolute.
    pub root: String,
    /// Every package, with its versions.
    pub packages: BTreeMap<String, BTreeSet<String>>,
    /// The file name (without `.json`) of each developer's list, with the signer it is for.
    pub developers: BTreeMap<String, String>,
    /// The file name (without `.json`) of each author's list, with the author it is for.
    pub authors: BTreeMap<String, String>,
}

impl SiteNames {
    /// Reads the names from the site in `dir`: packages and versions from the folders and files
    /// of `api/v2/packages/`, developers and authors by decoding the names of their lists.
    /// A name that the configuration could not hold literally is refused: a site written by
    /// `build` has none.
    pub fn read(dir: &Path) -> Result<SiteNames> {
        let root = dir
            .canonicalize()
            .with_context(|| format!("cannot read the site {}", dir.display()))?;
        if !root.join("index.json").is_file() {
            bail!(
                "{} has no index.json, so it is not a site written by `mpk-registry build`",
                dir.display()
            );
        }
        let Some(text) = root.to_str() else {
            bail!(
                "nginx cannot name the folder {}: it is not UTF-8",
                root.display()
            );
        };
        nginx_string(text)?;

        // The folders the contract's files live in, from the paths `build` writes.
        let packages_dir = root.join(parent(parent(&paths::api_package_latest("p"))));
        let mut packages = BTreeMap::new();
        for package in entries(&packages_dir)? {
            if !is_coordinate(&package) || !packages_dir.join(&package).is_dir() {
                bail!(
                    "{}: not a package's folder",
                    packages_dir.join(package).display()
                );
            }
            let versions_dir = root.join(parent(&paths::api_package_version(&package, "v")));
            let mut versions = BTreeSet::new();
            for name in entries(&versions_dir)? {
                match name.strip_suffix(".json").filter(|v| is_coordinate(v)) {
                    Some(version) => versions.insert(version.to_owned()),
                    None => bail!(
                        "{}: not a version's file",
                        versions_dir.join(name).display()
                    ),
                };
            }
            packages.insert(package, versions);
        }
        Ok(SiteNames {
            packages,
            developers: filter_lists(&root, &paths::api_developer("d"), &["signerId"])?,
            authors: filter_lists(&root, &paths::api_author("a"), &["metadata", "author"])?,
            root: text.to_owned(),
        })
    }
}

/// The lists in the folder of `example` (a developer's or author's list): file name → value.
/// A list named by its value's digest ([`paths::DIGEST_NAME_PREFIX`]) holds the value at
/// `field` of its items, which must be named so.
fn filter_lists(root: &Path, example: &str, field: &[&str]) -> Result<BTreeMap<String, String>> {
    let dir = root.join(parent(example));
    let mut lists = BTreeMap::new();
    for name in entries(&dir)? {
        let value = |stem: &str| match stem.strip_prefix(paths::DIGEST_NAME_PREFIX) {
            None => decode_file_name(stem),
            Some(_) => value_in_list(&dir.join(&name), field)
                .filter(|value| paths::filter_file_name(value) == stem),
        };
        let Some((stem, value)) = name
            .strip_suffix(".json")
            .and_then(|stem| Some((stem, value(stem)?)))
        else {
            bail!("{}: not the list of one value", dir.join(name).display());
        };
        lists.insert(stem.to_owned(), value);
    }
    Ok(lists)
}

/// The text at `field` of the first item of the JSON list in `file`.
fn value_in_list(file: &Path, field: &[&str]) -> Option<String> {
    let list: serde_json::Value = serde_json::from_slice(&fs::read(file).ok()?).ok()?;
    let mut value = list.get(0)?;
    for key in field {
        value = value.get(key)?;
    }
    value.as_str().map(str::to_owned)
}

/// The names in folder `dir`, sorted; none when it does not exist (a site without apps).
fn entries(dir: &Path) -> Result<Vec<String>> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut names = Vec::new();
    for entry in read {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        match entry.file_name().into_string() {
            Ok(name) => names.push(name),
            Err(name) => bail!("{}: not UTF-8", dir.join(name).display()),
        }
    }
    names.sort();
    Ok(names)
}

/// The value a developer's or author's list is named after: its percent-encoded file name
/// decoded. Only names as `build` writes them are read (unreserved bytes and `%XX` with
/// upper-case hex), so that every file name the configuration holds is plain text.
fn decode_file_name(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut value = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex
                .iter()
                .all(|d| d.is_ascii_digit() || d.is_ascii_uppercase())
            {
                return None;
            }
            value.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            value.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(value).ok().filter(|v| !v.is_empty())
}

/// `text` in double quotes. nginx reads `$` as a variable and has no escape for it, so text
/// holding one, a quote, a backslash or a control character cannot be written.
fn nginx_string(text: &str) -> Result<String> {
    if let Some(c) = text
        .chars()
        .find(|&c| matches!(c, '$' | '"' | '\\') || c.is_control())
    {
        bail!("nginx's configuration cannot hold {c:?}, in {text:?}");
    }
    Ok(format!("\"{text}\""))
}

/// Every way a client may write `value` in a query string, as a regular expression: letters
/// and digits as they are (no client encodes them), a space as `+` or `%20`, any other byte
/// as `%XX` with either letter case, and also as itself where a query may hold it unencoded.
fn spellings(value: &str) -> String {
    let mut pattern = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() {
            pattern.push(char::from(b));
            continue;
        }
        let mut alternatives = Vec::new();
        if b == b' ' {
            alternatives.push(r"\+".to_owned());
        } else if is_unencoded_in_query(b) {
            alternatives.push(format!("\\{}", char::from(b)));
        }
        let mut escape = String::from("%");
        for digit in format!("{b:02X}").chars() {
            if digit.is_ascii_alphabetic() {
                write!(escape, "[{digit}{}]", digit.to_ascii_lowercase()).unwrap();
            } else {
                escape.push(digit);
            }
        }
        alternatives.push(escape);
        match &alternatives[..] {
            [only] => pattern.push_str(only),
            _ => write!(pattern, "(?:{})", alternatives.join("|")).unwrap(),
        }
    }
    pattern
}

/// Whether a query value may hold byte `b` unencoded, meaning itself (RFC 3986 `query`): not
/// `&` (between parameters), `+` (a space in a form), `%` or `#`.
fn is_unencoded_in_query(b: u8) -> bool {
    b"-._~!$'()*,;=:@/?".contains(&b)
}

/// A site path (`api/…`) as a URI path.
fn uri(path: &str) -> String {
    format!("/{path}")
}

/// The URI path of the site file of kind `kind`.
fn site_file(kind: SiteFile) -> String {
    let (path, _) = paths::site_files()
        .into_iter()
        .find(|(_, k)| *k == kind)
        .expect("the site writes one file of every kind");
    uri(path)
}

/// The folder of site path `path` (`api/v2` for `api/v2/empty.json`).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(folder, _)| folder)
}

/// A `map` from `source` to `variable` with `entries` (key, value; a key alone, such as
/// `volatile`, when the value is empty), after a comment.
fn map(
    out: &mut String,
    comment: &str,
    source: &str,
    variable: &str,
    entries: &[(String, String)],
) {
    for line in comment.lines() {
        writeln!(out, "# {line}").unwrap();
    }
    writeln!(out, "map {source} ${variable} {{").unwrap();
    for (key, value) in entries {
        match value.is_empty() {
            true => writeln!(out, "    {key};").unwrap(),
            false => writeln!(out, "    {key}  {value};").unwrap(),
        }
    }
    out.push_str("}\n\n");
}

/// A map key: `~` and a regular expression, quoted.
fn regex(pattern: &str) -> String {
    format!("\"~{pattern}\"")
}

/// A regular expression that matches `text` (a path) literally.
fn literal(text: &str) -> String {
    let mut re = String::new();
    for c in text.chars() {
        if !c.is_ascii_alphanumeric() && c != '/' {
            re.push('\\');
        }
        re.push(c);
    }
    re
}

/// The nginx variable that holds header `name`'s value for the path answered.
fn header_variable(name: &str) -> String {
    format!("mpk_{}", name.to_ascii_lowercase().replace('-', "_"))
}

/// The headers of `rules` other than `Content-Type` (which nginx sets from `types`): a value
/// for every path, or else a map from the path answered. The `add_header` lines, and the maps
/// they need.
fn headers(rules: &[HeaderRule]) -> Result<(Vec<String>, String)> {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in rules.iter().flat_map(|r| &r.headers) {
        if !name.eq_ignore_ascii_case("Content-Type") && !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut lines = Vec::new();
    let mut maps = String::new();
    for name in names {
        let setting: Vec<(&str, &str)> = rules
            .iter()
            .flat_map(|r| {
                r.headers
                    .iter()
                    .filter(|(n, _)| n == name)
                    .map(|(_, v)| (r.pattern.as_str(), v.as_str()))
            })
            .collect();
        if let [("/*", value)] = setting[..] {
            lines.push(format!(
                "add_header {name} {} always;",
                nginx_string(value)?
            ));
            continue;
        }
        // Later rules win: the map takes the first regular expression that matches.
        let mut entries = vec![("volatile".to_owned(), String::new())];
        let mut default = "\"\"".to_owned();
        for (pattern, value) in setting.iter().rev() {
            let value = nginx_string(value)?;
            match pattern.strip_suffix('*') {
                Some("/") => default = value,
                Some(prefix) => entries.push((regex(&format!("^{}", literal(prefix))), value)),
                None => entries.push((regex(&format!("^{}$", literal(pattern))), value)),
            }
        }
        entries.push(("default".to_owned(), default));
        let variable = header_variable(name);
        map(
            &mut maps,
            &format!("{name}, by the path answered (`_headers`)."),
            "$uri",
            &variable,
            &entries,
        );
        lines.push(format!("add_header {name} ${variable} always;"));
    }
    Ok((lines, maps))
}

/// `types { }` and `default_type` for a location whose paths `_headers` gives a Content-Type.
fn content_type(rules: &[HeaderRule], path: &str) -> Result<String> {
    match hosting::headers_for(rules, path)
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Type"))
    {
        Some((_, value)) => Ok(format!(
            "        types {{ }}\n        default_type {};\n",
            nginx_string(&value)?
        )),
        None => Ok(String::new()),
    }
}

/// Media types by extension, as the site's files are served (the `_headers` rules override
/// them for whole folders).
const TYPES: [(&str, &str); 10] = [
    ("text/html; charset=utf-8", "html htm"),
    ("application/json; charset=utf-8", "json"),
    ("text/css; charset=utf-8", "css"),
    ("text/javascript; charset=utf-8", "js mjs"),
    ("application/xml; charset=utf-8", "xml"),
    ("text/plain; charset=utf-8", "txt"),
    ("application/gzip", "mpk"),
    ("image/png", "png"),
    ("image/svg+xml", "svg"),
    ("image/x-icon", "ico"),
];

/// The configuration for `site`, listening on `listen`: `map` blocks and one `server` block,
/// to be included in nginx's `http` block.
pub fn config(site: &SiteNames, listen: SocketAddr) -> Result<String> {
    let rules = hosting::header_rules();
    let (header_lines, header_maps) = headers(&rules)?;
    let mut out = format!(
        "# Generated by `mpk-registry host-config nginx` from the site at {}\n\
         # ({} packages, {} versions, {} developers, {} authors): serves it as docs/read-api.md says.\n\
         # Include it in nginx's `http` block. It names what the site holds: write it again and\n\
         # reload nginx after every build.\n\n",
        site.root,
        site.packages.len(),
        site.packages.values().map(BTreeSet::len).sum::<usize>(),
        site.developers.len(),
        site.authors.len(),
    );
    query_maps(&mut out, site);
    request_maps(&mut out);
    out.push_str(&header_maps);
    server(&mut out, site, listen, &rules, &header_lines)?;
    Ok(out)
}

/// The maps that pick the file answering `GET /api/v2/bundles?…`.
fn query_maps(out: &mut String, site: &SiteNames) {
    out.push_str(
        "# The query parameters of /api/v2/bundles as sent (nginx does not decode them): the first\n\
         # occurrence of each, with `&` or the end after it; an empty value is no value. Names are\n\
         # matched as they are, letter case included.\n",
    );
    for parameter in PARAMETERS {
        writeln!(
            out,
            "map $args $mpk_arg_{parameter} {{ \"~(?:^|&){parameter}(?:=(?<mpk_value>[^&]*))?(?:&|$)\" $mpk_value; default \"\"; }}"
        )
        .unwrap();
    }
    out.push('\n');

    // Names of letters and digits only have no spelling but the plain one.
    let spelled = |names: Vec<&String>| -> Vec<(String, String)> {
        names
            .into_iter()
            .filter(|name| !name.bytes().all(|b| b.is_ascii_alphanumeric()))
            .map(|name| (regex(&format!("^{}$", spellings(name))), name.clone()))
            .collect()
    };
    let unknown = ("default".to_owned(), format!("\"{UNKNOWN}\""));
    let versions: BTreeSet<&String> = site.packages.values().flatten().collect();
    for (parameter, names, comment) in [
        (
            "package",
            site.packages.keys().collect::<Vec<_>>(),
            format!(
                "The package a query names: a plain name as sent, or any encoding of a package's name.\n\
                 Anything else is {UNKNOWN:?}, which names no file."
            ),
        ),
        (
            "version",
            versions.into_iter().collect(),
            "The version a query names, the same way.".to_owned(),
        ),
    ] {
        let mut entries = vec![
            unknown.clone(),
            (regex(PLAIN_NAME), format!("$mpk_arg_{parameter}")),
        ];
        entries.extend(spelled(names));
        let source = format!("$mpk_arg_{parameter}");
        map(out, &comment, &source, &format!("mpk_{parameter}"), &entries);
    }
    for (parameter, lists) in [("developer", &site.developers), ("author", &site.authors)] {
        let mut entries = vec![unknown.clone()];
        entries.extend(
            lists
                .iter()
                .map(|(file, value)| (regex(&format!("^{}$", spellings(value))), file.clone())),
        );
        map(
            out,
            &format!(
                "The {parameter} a query names, as the name of its list: any encoding of a value the\n\
                 site has a list for."
            ),
            &format!("$mpk_arg_{parameter}"),
            &format!("mpk_{parameter}"),
            &entries,
        );
    }

    let key = PARAMETERS.map(|p| format!("$mpk_arg_{p}")).join("&");
    let mut rows: Vec<(String, String)> = [
        (r"^[^&]+&[^&]+&", "version"),
        (r"^[^&]+&[^&]*&true&", "all_versions"),
        (r"^[^&]+&", "package"),
        (r"^&[^&]*&true&", "invalid"),
        (r"^&[^&]*&[^&]*&[^&]+&", "developer"),
        (r"&[^&]+$", "author"),
    ]
    .iter()
    .map(|(pattern, row)| (regex(pattern), row.to_string()))
    .collect();
    rows.push(("default".into(), "list".into()));
    let list = site_file(SiteFile::LatestList);
    map(
        out,
        &format!(
            "The row of docs/read-api.md's table that answers {}?…: the first that matches\n\
             package, version, all_versions, developer and author, joined by `&` (no value holds one).",
            list_uri()
        ),
        &format!("\"{key}\""),
        "mpk_query",
        &rows,
    );
    let list_file =
        |example: &str, variable: &str| format!("{}/${variable}.json", uri(parent(example)));
    map(
        out,
        "The file that answers that row,",
        "$mpk_query",
        "mpk_query_file",
        &[
            (
                "version".into(),
                uri(&paths::api_package_version("$mpk_package", "$mpk_version")),
            ),
            (
                "all_versions".into(),
                uri(&paths::api_package_all("$mpk_package")),
            ),
            (
                "package".into(),
                uri(&paths::api_package_latest("$mpk_package")),
            ),
            (
                "developer".into(),
                list_file(&paths::api_developer("d"), "mpk_developer"),
            ),
            (
                "author".into(),
                list_file(&paths::api_author("a"), "mpk_author"),
            ),
            ("list".into(), list),
            ("default".into(), "\"\"".into()),
        ],
    );
    map(
        out,
        "and what answers when there is no such file.",
        "$mpk_query",
        "mpk_query_else",
        &[
            ("version".into(), "@api_not_found".into()),
            ("invalid".into(), "@api_invalid_params".into()),
            ("default".into(), site_file(SiteFile::ApiEmpty)),
        ],
    );
}

/// The maps that read the request line and the path.
fn request_maps(out: &mut String) {
    map(
        out,
        "A path with a `.` or `..` segment or a hidden name, however encoded, is not found,\n\
         whatever nginx would make of it.",
        "$request_uri",
        "mpk_refused",
        &[
            (regex(r"^[^?]*(?:/|%2[Ff])(?:\.|%2[Ee])"), "1".into()),
            ("default".into(), "\"\"".into()),
        ],
    );
    map(
        out,
        "The method of the request line, which stays when an `error_page` makes $request_method GET.",
        "$request",
        "mpk_method",
        &[
            (regex("^(?<mpk_value>[^ ]+) "), "$mpk_value".into()),
            ("default".into(), "\"\"".into()),
        ],
    );
    map(
        out,
        "A path ending in `/` is answered by its index.html.",
        "$uri",
        "mpk_index",
        &[
            ("volatile".into(), String::new()),
            (regex("/$"), "${uri}index.html".into()),
            ("default".into(), "\"\"".into()),
        ],
    );
}

/// `GET /api/v2/bundles`, the path of the list and of its queries.
fn list_uri() -> String {
    site_file(SiteFile::LatestList)
        .trim_end_matches(".html")
        .to_owned()
}

/// The value of a preflight header.
fn preflight(name: &str) -> &'static str {
    hosting::PREFLIGHT
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .expect("the preflight has every header asked for")
}

/// The `server` block.
fn server(
    out: &mut String,
    site: &SiteNames,
    listen: SocketAddr,
    rules: &[HeaderRule],
    header_lines: &[String],
) -> Result<()> {
    // The methods a preflight allows are the ones answered.
    let methods = preflight("Access-Control-Allow-Methods");
    let method_regex = methods.split(", ").collect::<Vec<_>>().join("|");
    let mut types = String::new();
    for (media_type, extensions) in TYPES {
        writeln!(types, "        {} {extensions};", nginx_string(media_type)?)?;
    }
    let headers: String = header_lines.iter().map(|l| format!("    {l}\n")).collect();
    writeln!(
        out,
        "server {{\n\
         \x20   listen {listen};\n\
         \x20   root {root};\n\
         \x20   # A redirect names the path only, as the site's own links do.\n\
         \x20   absolute_redirect off;\n\n\
         \x20   types {{\n{types}    }}\n\
         \x20   default_type application/octet-stream;\n\n\
         \x20   # The site's `_headers` rules; `always`: on every status.\n\
         {headers}\n\
         \x20   error_page 404 @not_found;\n\
         \x20   error_page 405 @method_not_allowed;\n\
         \x20   # A request whose path nginx cannot parse (a NUL, a broken escape, a path out of the\n\
         \x20   # site) is answered as any other: it meets the checks below, then {UNPARSED} is not\n\
         \x20   # found. Those answers are error pages of an error page.\n\
         \x20   error_page 400 = {UNPARSED};\n\
         \x20   recursive_error_pages on;\n\n\
         \x20   if ($mpk_method !~ ^(?:{method_regex})$) {{ return 405; }}\n\
         \x20   # A CORS preflight, on any path: the headers above are its answer.\n\
         \x20   if ($mpk_method = OPTIONS) {{ return 204; }}\n\
         \x20   if ($mpk_refused) {{ return 404; }}\n",
        root = nginx_string(&site.root)?,
    )?;

    let files = "try_files $uri $uri.html $mpk_index";
    let location = |spec: &str, path: &str, last: &str, comment: &str| -> Result<String> {
        Ok(format!(
            "{comment}    location {spec} {{\n{}        {last};\n    }}\n",
            content_type(rules, path)?
        ))
    };
    out.push_str(&location(
        "/",
        "/",
        &format!("{files} @folder"),
        "    # A path is its file, else x.html, else (ending in /) its index.html, else a redirect\n\
         \x20   # to x/ when that has an index.html, else the 404 page.\n",
    )?);
    // Folders that `_headers` gives a Content-Type, which nginx takes from `types`.
    for rule in rules {
        let sets_type = rule
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("Content-Type"));
        let spec = match rule.pattern.strip_suffix('*') {
            Some("/") => continue,
            Some(prefix) => prefix.to_owned(),
            None => format!("= {}", rule.pattern),
        };
        if sets_type {
            let path = rule.pattern.trim_end_matches('*');
            out.push_str(&location(&spec, path, &format!("{files} @folder"), "")?);
        }
    }
    let list = list_uri();
    out.push_str(&location(
        &format!("= {list}"),
        &list,
        "try_files $mpk_query_file $mpk_query_else",
        "",
    )?);
    let versions = format!("{list}/");
    out.push_str(&location(
        &versions,
        &versions,
        &format!("{files} @api_not_found"),
        &format!("    # {list}/P/V is answered by its .html file.\n"),
    )?);
    out.push_str("    # Rules for hosts, which `serve` does not publish either.\n");
    for (path, kind) in paths::site_files() {
        if kind.is_host_rule() {
            writeln!(out, "    location = {} {{ return 404; }}", uri(path))?;
        }
    }
    writeln!(
        out,
        "\n    location = {UNPARSED} {{\n\
         \x20       internal;\n\
         \x20       return 404;\n\
         \x20   }}\n\
         \x20   location @folder {{\n\
         \x20       if (-f $request_filename/index.html) {{ return 301 $uri/$is_args$args; }}\n\
         \x20       return 404;\n\
         \x20   }}\n\
         \x20   location @not_found {{ try_files {not_found_page} =404; }}\n\
         \x20   location @api_not_found {{\n\
         \x20       error_page 404 {api_not_found};\n\
         \x20       return 404;\n\
         \x20   }}\n\
         \x20   location @api_invalid_params {{\n\
         \x20       error_page 400 {invalid_params};\n\
         \x20       return 400;\n\
         \x20   }}\n\
         \x20   location @method_not_allowed {{\n\
         \x20       types {{ }}\n\
         \x20       default_type \"text/plain; charset=utf-8\";\n\
         \x20       add_header Access-Control-Allow-Origin {origin} always;\n\
         \x20       add_header Allow {allow} always;\n\
         \x20       return 405 \"405 method not allowed: this site answers {methods}\\n\";\n\
         \x20   }}\n\
         }}",
        not_found_page = site_file(SiteFile::NotFoundPage),
        api_not_found = site_file(SiteFile::ApiNotFound),
        invalid_params = site_file(SiteFile::ApiInvalidParams),
        origin = nginx_string(preflight("Access-Control-Allow-Origin"))?,
        allow = nginx_string(methods)?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_digits_are_spelled_only_as_they_are() {
        assert_eq!(spellings("aZ9"), "aZ9");
    }

    #[test]
    fn a_dot_is_itself_or_its_escape_in_either_case() {
        assert_eq!(spellings("a.b"), r"a(?:\.|%2[Ee])b");
    }

    #[test]
    fn a_colon_may_come_unencoded() {
        assert_eq!(spellings("did:key"), r"did(?:\:|%3[Aa])key");
    }

    #[test]
    fn a_space_is_a_plus_or_percent_20() {
        assert_eq!(spellings("a b"), r"a(?:\+|%20)b");
    }

    #[test]
    fn a_plus_is_only_its_escape() {
        assert_eq!(spellings("a+b"), "a%2[Bb]b");
    }

    #[test]
    fn bytes_a_query_cannot_hold_are_only_escaped() {
        assert_eq!(spellings("&#%\""), "%26%23%25%22");
    }

    #[test]
    fn non_ascii_is_escaped_byte_by_byte_in_either_case() {
        assert_eq!(spellings("é"), "%[Cc]3%[Aa]9");
    }

    #[test]
    fn a_dollar_stays_literal_in_the_pattern() {
        assert_eq!(spellings("$x"), r"(?:\$|%24)x");
    }

    #[test]
    fn list_file_names_decode_to_their_values() {
        assert_eq!(
            decode_file_name("%41nn%20%45x.-_~").as_deref(),
            Some("Ann Ex.-_~")
        );
        assert_eq!(decode_file_name("Zo%C3%AB").as_deref(), Some("Zoë"));
    }

    #[test]
    fn list_file_names_build_does_not_write_are_refused() {
        for name in ["", "a b", "a+b", "a$b", "%4a", "%4", "%G0", "%FF"] {
            assert_eq!(decode_file_name(name), None, "{name:?}");
        }
    }

    /// A site with `files` (relative path, text) and an index.json.
    fn site_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for rel in files.iter().chain(&["index.json"]) {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "[]").unwrap();
        }
        dir
    }

    #[test]
    fn names_are_read_from_the_api_files() {
        let dir = site_with(&[
            "api/v2/packages/a.b/versions/1.0.0.json",
            "api/v2/packages/a.b/versions/1.1.0-rc.1.json",
            "api/v2/packages/c/versions/2.json",
            &paths::api_developer("did:key:z6MkA"),
            &paths::api_author("Zoë & Co"),
        ]);
        let site = SiteNames::read(dir.path()).unwrap();
        let versions = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            site.packages,
            BTreeMap::from([
                ("a.b".to_owned(), versions(&["1.0.0", "1.1.0-rc.1"])),
                ("c".to_owned(), versions(&["2"])),
            ])
        );
        assert_eq!(
            site.developers.values().collect::<Vec<_>>(),
            ["did:key:z6MkA"]
        );
        assert_eq!(site.authors.values().collect::<Vec<_>>(), ["Zoë & Co"]);
        assert_eq!(Path::new(&site.root), dir.path().canonicalize().unwrap());
    }

    #[test]
    fn a_list_named_by_a_digest_is_read_for_its_value() {
        let author = "Ä".repeat(200);
        let file = paths::api_author(&author);
        assert!(file.contains(paths::DIGEST_NAME_PREFIX), "{file}");
        let dir = site_with(&[]);
        let list = serde_json::json!([{ "metadata": { "author": author } }]);
        fs::create_dir_all(dir.path().join(parent(&file))).unwrap();
        fs::write(dir.path().join(&file), list.to_string()).unwrap();
        let site = SiteNames::read(dir.path()).unwrap();
        assert_eq!(site.authors.values().collect::<Vec<_>>(), [&author]);
        // A digest that is not its value's is not a list of the site's.
        let list = serde_json::json!([{ "metadata": { "author": "someone else" } }]);
        fs::write(dir.path().join(&file), list.to_string()).unwrap();
        let e = SiteNames::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not the list of one value"), "{e}");
    }

    #[test]
    fn a_folder_without_index_json_is_not_a_site() {
        let dir = tempfile::tempdir().unwrap();
        let e = SiteNames::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a site"), "{e}");
    }

    #[test]
    fn a_package_folder_that_is_not_a_plain_name_is_refused() {
        let dir = site_with(&["api/v2/packages/a$b/versions/1.0.0.json"]);
        let e = SiteNames::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a package's folder"), "{e}");
    }

    #[test]
    fn a_file_among_the_package_folders_is_refused() {
        let dir = site_with(&["api/v2/packages/a.b"]);
        let e = SiteNames::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a package's folder"), "{e}");
    }

    #[test]
    fn a_version_file_that_is_not_a_plain_name_is_refused() {
        let dir = site_with(&["api/v2/packages/a.b/versions/1 0.json"]);
        let e = SiteNames::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a version's file"), "{e}");
    }

    #[test]
    fn a_list_file_not_named_as_build_names_it_is_refused() {
        let dir = site_with(&["api/v2/authors/a\"b.json"]);
        let e = SiteNames::read(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not the list of one value"), "{e}");
    }

    #[test]
    fn a_site_folder_nginx_cannot_name_literally_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        for name in ["a$b", "a\"b", "a\\b", "a\nb"] {
            let dir = parent.path().join(name);
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("index.json"), "{}").unwrap();
            let e = SiteNames::read(&dir).unwrap_err().to_string();
            assert!(e.contains("nginx's configuration cannot hold"), "{e}");
        }
    }

    #[test]
    fn request_values_reach_a_path_only_as_plain_names() {
        let site = SiteNames {
            root: "/srv/site".into(),
            packages: BTreeMap::from([("a.b".into(), BTreeSet::from(["1.0".into()]))]),
            developers: BTreeMap::from([("d".into(), "did:key:z".into())]),
            authors: BTreeMap::from([("a".into(), "A b".into())]),
        };
        let config = config(&site, "127.0.0.1:8080".parse().unwrap()).unwrap();
        // A map entry whose value is a query value as sent.
        let as_sent: Vec<&str> = config
            .lines()
            .filter(|line| line.contains("  $mpk_arg_"))
            .collect();
        let plain = format!("    {}  $mpk_arg_", regex(PLAIN_NAME));
        assert_eq!(as_sent.len(), 2, "{as_sent:#?}");
        assert!(
            as_sent.iter().all(|line| line.starts_with(&plain)),
            "{as_sent:#?}"
        );
    }
}
