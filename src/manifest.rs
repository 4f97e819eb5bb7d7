//! `manifest.json`: strict parsing and the field rules of spec §2.
//!
//! The raw JSON object is kept as parsed (it is what the signature covers and what the site
//! republishes); [`Manifest`] is a checked view of the fields the tool acts on.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::report::{escape_controls, Findings, Rule};

/// Longest `package` / `appVersion` merod's registry client will fetch.
const MAX_COORDINATE_LEN: usize = 128;

/// Whether a byte may appear in a `package` or `appVersion`: `[A-Za-z0-9._-]`, the
/// characters merod's registry client fetches.
pub fn is_coordinate_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

/// Whether `text` can be a package or version everywhere it is used as a path segment (site
/// files, API queries, registry folders): 1-128 coordinate bytes, not `.`, and no `..`. The
/// one rule: the manifest rules, the layout, `fetch` and the hosts all ask it.
pub fn is_coordinate(text: &str) -> bool {
    coordinate_problem(text).is_none()
}

/// Why `text` is not a coordinate (see [`is_coordinate`]), in words for a report.
pub fn coordinate_problem(text: &str) -> Option<String> {
    if text.is_empty() {
        Some("is empty".to_owned())
    } else if text == "." {
        Some("\".\" names the folder it is in, not a file of its own".to_owned())
    } else if text.contains("..") {
        Some(format!("{text:?} contains '..'"))
    } else if let Some(c) = text.chars().find(|c| matches!(c, '/' | '\\' | '\0')) {
        Some(format!("{text:?} contains the path separator {c:?}"))
    } else if text.as_bytes().get(1) == Some(&b':') {
        Some(format!(
            "{text:?} looks like a drive path (':' as 2nd character)"
        ))
    } else if text.len() > MAX_COORDINATE_LEN {
        Some(format!(
            "is {} bytes long; the limit is {MAX_COORDINATE_LEN}",
            text.len()
        ))
    } else {
        text.chars()
            .find(|c| !(c.is_ascii() && is_coordinate_byte(*c as u8)))
            .map(|c| format!("{text:?} contains {c:?}, outside [A-Za-z0-9._-]"))
    }
}

/// Which part of an app an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    Wasm,
    Abi,
}

/// A declared artifact the node will use: top-level `wasm`/`abi`, or those of each service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Artifact {
    /// Where it is declared, e.g. `wasm` or `services[1].abi`.
    pub field: String,
    pub kind: ArtifactKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub path: String,
    /// Lowercase hex SHA-256 as declared.
    pub sha256: String,
    pub size: u64,
}

/// The checked fields. Each is `None` when the manifest lacks it or it broke a rule (the
/// problem is in the findings).
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub package: Option<String>,
    pub app_version: Option<String>,
    pub min_runtime_version: Option<String>,
    pub signer_id: Option<String>,
    /// Every well-formed declared artifact: top-level `wasm`/`abi`, then each service's (a node
    /// uses `services` when it is not empty, else `wasm`/`abi`; the registry checks them all).
    pub artifacts: Vec<Artifact>,
}

/// Parses `manifest.json` bytes: UTF-8 JSON without a byte-order mark, an object at the top,
/// and no key twice in any object (parsers disagree on which copy wins).
pub fn parse(bytes: &[u8], findings: &mut Findings) -> Option<Map<String, Value>> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        findings.refuse(
            Rule::Bom,
            "manifest.json",
            "starts with a UTF-8 byte-order mark",
        );
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        path: String::new(),
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|_| v));
    match parsed {
        Ok(Value::Object(map)) => Some(map),
        Ok(_) => {
            findings.refuse(Rule::Json, "manifest.json", "is not a JSON object");
            None
        }
        Err(e) => {
            let text = e.to_string();
            match text.strip_prefix(DUPLICATE_MARK) {
                Some(rest) => findings.refuse(Rule::DuplicateKey, "manifest.json", rest),
                None => findings.refuse(
                    Rule::Json,
                    "manifest.json",
                    format!("is not valid JSON: {text}"),
                ),
            }
            None
        }
    }
}

const DUPLICATE_MARK: &str = "duplicate key: ";

/// Deserializes a `serde_json::Value`, failing on a repeated object key at any depth.
struct StrictValue {
    path: String,
}

impl StrictValue {
    fn child(&self, segment: fmt::Arguments) -> StrictValue {
        StrictValue {
            path: format!("{}{}", self.path, segment),
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self.child(format_args!("[{}]", items.len())))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let dot = if self.path.is_empty() { "" } else { "." };
            let value = map.next_value_seed(self.child(format_args!("{dot}{key}")))?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "{DUPLICATE_MARK}`{}{dot}{key}` appears more than once",
                    self.path
                )));
            }
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Applies the field rules to a parsed manifest, recording every problem.
pub fn check(raw: &Map<String, Value>, findings: &mut Findings) -> Manifest {
    let earlier = findings.problems.len();
    let mut fields = Fields { findings };
    let mut manifest = Manifest::default();

    fields.string(raw, "", "version", Required);
    manifest.package = fields
        .string(raw, "", "package", Required)
        .filter(|p| fields.coordinate(Rule::Package, "package", p))
        .map(str::to_owned);
    manifest.app_version = fields
        .string(raw, "", "appVersion", Required)
        .filter(|v| fields.coordinate(Rule::AppVersion, "appVersion", v))
        .map(str::to_owned);
    manifest.min_runtime_version = fields
        .string(raw, "", "minRuntimeVersion", Required)
        .filter(|v| match semver::Version::parse(v) {
            Ok(_) => true,
            Err(e) => {
                fields.findings.refuse(
                    Rule::MinRuntimeVersion,
                    "minRuntimeVersion",
                    format!("{v:?} is not a semver version ({e})"),
                );
                false
            }
        })
        .map(str::to_owned);
    manifest.signer_id = fields
        .string(raw, "", "signerId", Optional)
        .map(str::to_owned);

    if let Some(metadata) = fields.object(raw, "metadata") {
        fields.string(metadata, "metadata", "name", Required);
        for key in ["description", "author", "icon", "license"] {
            fields.string(metadata, "metadata", key, Optional);
        }
        fields.strings(metadata, "metadata", "tags");
    }
    if let Some(handlers) = fields.object(raw, "handlers") {
        fields.string(handlers, "handlers", "slug", Optional);
    }
    if let Some(interfaces) = fields.object(raw, "interfaces") {
        fields.strings(interfaces, "interfaces", "exports");
        fields.strings(interfaces, "interfaces", "uses");
    }
    if let Some(links) = fields.object(raw, "links") {
        for key in ["frontend", "github", "docs"] {
            fields.string(links, "links", key, Optional);
        }
    }

    let top_wasm = fields.artifact(raw, "wasm", "wasm", ArtifactKind::Wasm, None);
    let top_abi = fields.artifact(raw, "abi", "abi", ArtifactKind::Abi, None);
    let services = fields.services(raw);
    let declared_top_wasm = !matches!(raw.get("wasm"), None | Some(Value::Null));
    let declared_services = matches!(raw.get("services"), Some(Value::Array(a)) if !a.is_empty());
    // The registry checks every declared artifact, whichever ones the node will use.
    manifest.artifacts = top_wasm
        .into_iter()
        .chain(top_abi)
        .chain(services)
        .collect();
    if declared_services {
        if declared_top_wasm || !matches!(raw.get("abi"), None | Some(Value::Null)) {
            fields.findings.warn(
                Rule::ServicesOverride,
                "wasm",
                "top-level wasm/abi are ignored by nodes because `services` is not empty; the registry still checks them",
            );
        }
    } else if !declared_top_wasm {
        fields.findings.refuse(
            Rule::NoWasm,
            "wasm",
            "declares no wasm: neither a top-level `wasm` nor a non-empty `services`",
        );
    }
    check_text_sizes(raw, findings);
    // Last, so that a field another rule already refused is not reported twice.
    let mut text = TextCheck { findings, earlier };
    for (key, value) in raw {
        text.entry(key, value, "");
    }
    manifest
}

/// Invariant 5, bounded text: the longest each text field may be, in UTF-8 bytes, as
/// `(parent, key, limit)`. A node has no such limits; the registry has, so that one bundle
/// cannot add megabytes to `index.json` (one entry per app: name, description, author, tags)
/// or to the pages and API files that repeat a manifest per version. Every real Calimero
/// manifest fits with room to spare (names of a few words, one-line descriptions); icons are
/// `data:` URIs, so theirs is generous.
pub const TEXT_LIMITS: &[(&str, &str, usize)] = &[
    ("metadata", "name", 256),
    ("metadata", "description", 4096),
    ("metadata", "author", 512),
    ("metadata", "license", 128),
    ("metadata", "icon", 256 * 1024),
    ("links", "frontend", 2048),
    ("links", "github", 2048),
    ("links", "docs", 2048),
    ("handlers", "slug", 128),
];

/// Most tags `metadata.tags` may hold, and the longest tag, in UTF-8 bytes.
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_BYTES: usize = 64;

/// Refuses text fields over [`TEXT_LIMITS`] and tags over [`MAX_TAGS`] / [`MAX_TAG_BYTES`]
/// (fields of another type are the type rule's).
fn check_text_sizes(raw: &Map<String, Value>, findings: &mut Findings) {
    let mut too_long = |field: String, length: usize, limit: usize| {
        if length > limit {
            findings.refuse(
                Rule::TextSize,
                field,
                format!("is {length} bytes long; the limit is {limit}"),
            );
        }
    };
    for (parent, key, limit) in TEXT_LIMITS {
        if let Some(Value::String(text)) = raw.get(*parent).and_then(|p| p.get(key)) {
            too_long(field_path(parent, key), text.len(), *limit);
        }
    }
    let Some(Value::Array(tags)) = raw.get("metadata").and_then(|m| m.get("tags")) else {
        return;
    };
    if tags.len() > MAX_TAGS {
        findings.refuse(
            Rule::TextSize,
            "metadata.tags",
            format!("holds {} tags; the limit is {MAX_TAGS}", tags.len()),
        );
        return;
    }
    for (i, tag) in tags.iter().enumerate() {
        if let Value::String(tag) = tag {
            too_long(format!("metadata.tags[{i}]"), tag.len(), MAX_TAG_BYTES);
        }
    }
}

/// The one field where text may span lines (and be indented).
const MULTILINE_FIELD: &str = "metadata.description";

/// Text is data: no control character (C0, DEL, C1) in any key or string value at any depth,
/// except TAB and LF in [`MULTILINE_FIELD`]. A node accepts them; here they are refused, since
/// they would reach terminals, CI logs and feeds. Each offending field is reported once, with
/// its first control character; a field another rule already refused is left to that rule.
struct TextCheck<'a> {
    findings: &'a mut Findings,
    /// Problems before this index are not about the manifest's fields.
    earlier: usize,
}

impl TextCheck<'_> {
    fn entry(&mut self, key: &str, value: &Value, parent: &str) {
        let key_text = escape_controls(key);
        let path = if parent.is_empty() {
            key_text.into_owned()
        } else {
            format!("{parent}.{key_text}")
        };
        if let Some(found) = first_control(key, false) {
            self.findings
                .refuse(Rule::ControlCharacter, &path, format!("key {found}"));
        }
        self.value(value, &path);
    }

    fn value(&mut self, value: &Value, path: &str) {
        match value {
            Value::String(text) => {
                let Some(found) = first_control(text, path == MULTILINE_FIELD) else {
                    return;
                };
                let already_refused = self.findings.problems[self.earlier..]
                    .iter()
                    .any(|p| p.subject == path);
                if !already_refused {
                    self.findings.refuse(Rule::ControlCharacter, path, found);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(item, &format!("{path}[{i}]"));
                }
            }
            Value::Object(object) => {
                for (key, value) in object {
                    self.entry(key, value, path);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// "contains the control character U+000D (carriage return) at character 12 (and 2 more)",
/// for the first control character of `text`; TAB and LF are let through when `multiline`.
fn first_control(text: &str, multiline: bool) -> Option<String> {
    let forbidden = |c: char| c.is_control() && !(multiline && matches!(c, '\t' | '\n'));
    let (at, c) = text.chars().enumerate().find(|(_, c)| forbidden(*c))?;
    let more = text.chars().skip(at + 1).filter(|c| forbidden(*c)).count();
    let name = match c {
        '\0' => " (NUL)",
        '\t' => " (tab)",
        '\n' => " (line feed)",
        '\r' => " (carriage return)",
        '\u{1b}' => " (escape)",
        '\u{7f}' => " (delete)",
        '\u{85}' => " (next line)",
        _ => "",
    };
    let mut message = format!(
        "contains the control character U+{:04X}{name} at character {}",
        c as u32,
        at + 1
    );
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    if multiline {
        message.push_str("; only tab and line feed are allowed here");
    }
    Some(message)
}

/// Whether a manifest field must be there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    Optional,
}
use Presence::{Optional, Required};

/// A field's name in reports: `key` under `parent` (`metadata.name`), or `key` at the top.
fn field_path(parent: &str, key: &str) -> String {
    match parent {
        "" => key.to_owned(),
        parent => format!("{parent}.{key}"),
    }
}

/// Field readers that record a problem for a missing or mistyped field, named by its path.
struct Fields<'a> {
    findings: &'a mut Findings,
}

impl Fields<'_> {
    /// `obj[key]`, a string, where `obj` is the object at `parent`.
    fn string<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        parent: &str,
        key: &str,
        presence: Presence,
    ) -> Option<&'v str> {
        match obj.get(key) {
            Some(Value::String(s)) => Some(s),
            None if presence == Optional => None,
            None => {
                self.findings.refuse(
                    Rule::Required,
                    field_path(parent, key),
                    "is required but missing",
                );
                None
            }
            Some(other) => {
                self.findings.refuse(
                    Rule::Type,
                    field_path(parent, key),
                    format!("must be a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `obj[key]`, an optional object at the top of the manifest.
    fn object<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
    ) -> Option<&'v Map<String, Value>> {
        match obj.get(key)? {
            Value::Object(o) => Some(o),
            other => {
                self.findings.refuse(
                    Rule::Type,
                    key,
                    format!("must be an object, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// `obj[key]`, an optional array of strings, where `obj` is the object at `parent`.
    fn strings(&mut self, obj: &Map<String, Value>, parent: &str, key: &str) {
        match obj.get(key) {
            None => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            Some(_) => self.findings.refuse(
                Rule::Type,
                field_path(parent, key),
                "must be an array of strings",
            ),
        }
    }

    /// The coordinate rule ([`is_coordinate`]), for `package` and `appVersion`.
    fn coordinate(&mut self, rule: Rule, field: &str, value: &str) -> bool {
        let problem = if rule == Rule::AppVersion && value.contains('+') {
            Some(format!(
                "{value:?} carries '+' build metadata, which merod cannot address"
            ))
        } else {
            coordinate_problem(value)
        };
        match problem {
            Some(message) => {
                self.findings.refuse(rule, field, message);
                false
            }
            None => true,
        }
    }

    /// Reads an `Artifact = {path, hash, size}`; `null` or absent means none.
    fn artifact(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        field: &str,
        kind: ArtifactKind,
        service: Option<&str>,
    ) -> Option<Artifact> {
        let artifact = match obj.get(key)? {
            Value::Null => return None,
            Value::Object(a) => a,
            other => {
                self.findings.refuse(
                    Rule::Type,
                    field,
                    format!(
                        "must be an artifact object {{path, hash, size}}, found {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        let path = self
            .string(artifact, field, "path", Required)
            .filter(|p| self.artifact_path(&format!("{field}.path"), p));
        let hash = self.artifact_hash(artifact, &format!("{field}.hash"));
        let size_field = format!("{field}.size");
        let size = match artifact.get("size") {
            Some(v) => v.as_u64().or_else(|| {
                self.findings.refuse(
                    Rule::Type,
                    &size_field,
                    format!("must be a non-negative integer, found {v}"),
                );
                None
            }),
            None => {
                self.findings
                    .refuse(Rule::Required, &size_field, "is required but missing");
                None
            }
        };
        Some(Artifact {
            field: field.to_owned(),
            kind,
            service: service.map(str::to_owned),
            path: path?.to_owned(),
            sha256: hash?,
            size: size?,
        })
    }

    fn artifact_hash(&mut self, artifact: &Map<String, Value>, field: &str) -> Option<String> {
        let problem = match artifact.get("hash") {
            None => "is required but missing".to_owned(),
            Some(Value::Null) => "is null; nodes refuse a manifest without artifact digests".into(),
            Some(Value::String(h)) if h.starts_with("sha256:") => {
                "has a 'sha256:' prefix; nodes expect the bare hex digest".into()
            }
            Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                return Some(h.to_ascii_lowercase())
            }
            Some(Value::String(h)) => format!("{h:?} is not 64 hex characters of SHA-256"),
            Some(other) => format!("must be a hex string, found {}", type_name(other)),
        };
        self.findings.refuse(Rule::ArtifactHash, field, problem);
        None
    }

    fn artifact_path(&mut self, field: &str, path: &str) -> bool {
        let problem = if path.is_empty() {
            Some("is empty")
        } else if path.contains('\0') {
            Some("contains NUL")
        } else if path.contains('\\') {
            Some("contains '\\'")
        } else if path.starts_with('/') {
            Some("is absolute (starts with '/')")
        } else if path.as_bytes().get(1) == Some(&b':') {
            Some("looks like a drive path (':' as 2nd character)")
        } else if path.split('/').any(|c| c == "..") {
            Some("has a '..' component")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.findings
                .refuse(Rule::ArtifactPath, field, format!("{path:?} {problem}"));
        }
        problem.is_none()
    }

    /// A service's name picks it at install time: not empty (nothing could pick it) and not
    /// the name of an earlier service (which one would be picked is as ambiguous as a
    /// repeated JSON key).
    fn service_name<'v>(
        &mut self,
        field: &str,
        name: &'v str,
        index: usize,
        names: &mut BTreeMap<&'v str, usize>,
    ) {
        let field = format!("{field}.name");
        if name.is_empty() {
            self.findings.refuse(
                Rule::ServiceName,
                field,
                "is empty; every service needs a name",
            );
        } else if let Some(first) = names.get(name) {
            self.findings.refuse(
                Rule::ServiceName,
                field,
                format!(
                    "{:?} is also the name of services[{first}]; service names must be unique",
                    escape_controls(name)
                ),
            );
        } else {
            names.insert(name, index);
        }
    }

    fn services(&mut self, raw: &Map<String, Value>) -> Vec<Artifact> {
        let services = match raw.get("services") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(s)) => s,
            Some(other) => {
                self.findings.refuse(
                    Rule::Type,
                    "services",
                    format!("must be an array, found {}", type_name(other)),
                );
                return Vec::new();
            }
        };
        let mut artifacts = Vec::new();
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, service) in services.iter().enumerate() {
            let field = format!("services[{i}]");
            let Value::Object(service) = service else {
                self.findings
                    .refuse(Rule::Type, &field, "must be an object {name, wasm, abi?}");
                continue;
            };
            let name = self.string(service, &field, "name", Required);
            if let Some(name) = name {
                self.service_name(&field, name, i, &mut names);
            }
            let wasm_field = format!("{field}.wasm");
            if matches!(service.get("wasm"), None | Some(Value::Null)) {
                self.findings
                    .refuse(Rule::Required, &wasm_field, "is required but missing");
            }
            artifacts.extend(self.artifact(service, "wasm", &wasm_field, ArtifactKind::Wasm, name));
            artifacts.extend(self.artifact(
                service,
                "abi",
                &format!("{field}.abi"),
                ArtifactKind::Abi,
                name,
            ));
        }
        artifacts
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
