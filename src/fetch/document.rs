//! What every registry document must be before anything in it is used: strict JSON of a schema
//! this client knows, naming files by plain relative paths and SHA-256 digests in lowercase hex.

use anyhow::anyhow;
use serde_json::{Map, Value};

use super::{FetchError, Outcome, Refusal};
use crate::report::Findings;
use crate::site::catalog::SCHEMA_VERSION;

/// Parses a registry document strictly: a JSON object with no key twice at any depth, since
/// parsers disagree on which copy of a repeated key wins.
pub(super) fn parse_object(bytes: &[u8], document: &str) -> Outcome<Map<String, Value>> {
    let mut findings = Findings::default();
    crate::manifest::parse(bytes, &mut findings).ok_or_else(|| {
        Refusal::Malformed {
            document: document.to_owned(),
            problems: findings.problems,
        }
        .into()
    })
}

/// Documents of a newer, incompatible shape are not guessed at: that needs an upgrade, not a
/// refusal.
pub(super) fn check_schema(doc: &Map<String, Value>, document: &str) -> Outcome<()> {
    match doc.get("schemaVersion").and_then(Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(()),
        Some(v) if v > u64::from(SCHEMA_VERSION) => Err(FetchError::Failed(anyhow!(
            "{document} has schemaVersion {v}; this mpk-registry understands {SCHEMA_VERSION}: upgrade it"
        ))),
        _ => Err(Refusal::Schema {
            document: document.to_owned(),
        }
        .into()),
    }
}

/// A path the registry's JSON names: relative, `/`-separated, plain segments only, so it can
/// neither leave the registry nor mean two different files.
pub(super) fn site_path(text: &str) -> bool {
    text.len() <= 1024
        && text.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment.bytes().all(crate::manifest::is_coordinate_byte)
        })
}

pub(super) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::site_path;

    #[test]
    fn only_plain_relative_paths_are_followed() {
        assert!(site_path("artifacts/a/1.0.0/a-1.0.0.mpk"));
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "a//b",
            "./a",
            "a\\b",
            "a?b",
            "http:",
        ] {
            assert!(!site_path(bad), "{bad:?}");
        }
    }
}
