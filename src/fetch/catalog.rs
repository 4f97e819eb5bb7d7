//! The catalog (`index.json`): the one file whose signature covers every other file a client
//! relies on, since it pins the SHA-256 of each app index. Loaded, then its signature checked
//! against the key the client trusts, then its freshness, before anything in it is believed.

use anyhow::anyhow;
use serde_json::{Map, Value};

use super::document::Document;
use super::registry::{Registry, MAX_INDEX_BYTES};
use super::state::Pins;
use super::{KeySource, Refusal, Step};
use crate::canonical::Scheme;
use crate::keys::parse_did_key;
use crate::report::Findings;
use crate::schema::Catalog;

/// `--trust`, if given, as long as it is an Ed25519 did:key: a typo should fail before anything
/// is downloaded, not look like a registry signed by the wrong key.
pub(super) fn trusted_key(trust: Option<&str>) -> Step<Option<&str>> {
    match trust {
        Some(key) if parse_did_key(key).is_none() => Err(anyhow!(
            "--trust {key} is not an Ed25519 did:key (did:key:z6Mk…); copy it from the registry's keys.json"
        )
        .into()),
        _ => Ok(trust),
    }
}

/// Step 1: the catalog, parsed strictly; nothing in it is believed yet.
pub(super) fn load(registry: &Registry) -> Step<Document> {
    let bytes = registry.read("index.json", MAX_INDEX_BYTES)?;
    Document::parse(bytes, "index.json")
}

/// Before step 2, for the message only: an `index.json` with neither `apps` nor a signature is
/// not a catalog at all (an app's index, when `--registry` points at an app's page), which is
/// a wrong address rather than a stripped signature. Nothing in it is believed.
pub(super) fn check_is_catalog(document: &Document, registry: &Registry) -> Step<()> {
    let object = &document.object;
    if object.contains_key("apps") || object.contains_key("signature") {
        return Ok(());
    }
    let what = match object.get("package").and_then(Value::as_str) {
        Some(package) if object.contains_key("versions") => format!(
            "the index of one app ({})",
            crate::report::escape_controls(package)
        ),
        _ => "not a registry's catalog (it has no `apps` list)".to_owned(),
    };
    let top = match registry.key.find("/apps/") {
        Some(i) => format!(": try --registry {}", &registry.key[..=i]),
        None => String::new(),
    };
    Err(anyhow!(
        "index.json at {} is {what}; --registry takes the address of the registry's top, where its catalog is{top}",
        registry.key
    )
    .into())
}

/// Step 2: who signed the catalog. The key expected is `trust`, else the one pinned for the
/// registry; with neither, the signer is pinned on first use. An unsigned catalog is accepted
/// only with `insecure` and only while no key is expected: stripping a signature must not
/// downgrade a registry. Returns the signer, `None` for an accepted unsigned catalog.
pub(super) fn check_signature(
    catalog: &Map<String, Value>,
    trust: Option<&str>,
    insecure: bool,
    pins: &Pins,
    notes: &mut Vec<String>,
) -> Step<Option<String>> {
    let pinned = &pins.pinned;
    let expected = match (trust, &pinned.index_key) {
        (Some(trust), _) => Some((trust.to_owned(), KeySource::Trust)),
        (None, Some(pin)) => Some((
            pin.clone(),
            KeySource::Pin {
                pinned_at: pinned.index_key_pinned_at.clone(),
            },
        )),
        (None, None) => None,
    };
    if catalog.get("signature").is_none_or(Value::is_null) {
        if let Some((expected, source)) = expected {
            return Err(Refusal::SignatureStripped {
                expected,
                key_source: source,
            }
            .into());
        }
        if !insecure {
            return Err(Refusal::Unsigned.into());
        }
        notes.push(
            "index.json is not signed; accepted because of --insecure (no protection against a stale, rolled-back or mixed index)".to_owned(),
        );
        return Ok(None);
    }

    let mut findings = Findings::default();
    let Some(crate::signature::Signed { signer, .. }) =
        crate::signature::verify(catalog, &[Scheme::Legacy], &mut findings)
    else {
        return Err(Refusal::CatalogSignature {
            problems: findings.problems,
        }
        .into());
    };
    let registry = &pins.registry;
    match expected {
        Some((expected, source)) if expected != signer => {
            return Err(Refusal::CatalogKey {
                key: signer,
                expected,
                key_source: source,
            }
            .into());
        }
        Some(_) => match &pinned.index_key {
            Some(pin) if *pin != signer => notes.push(format!(
                "re-pinned the index key of {registry} from {pin} to {signer} (--trust)"
            )),
            Some(_) => {}
            None => notes.push(format!("pinned index key {signer} for {registry} (--trust)")),
        },
        None => notes.push(format!(
            "pinned index key {signer} for {registry} on first use; compare it with the key the registry publishes (keys.json)"
        )),
    }
    Ok(Some(signer))
}

/// After the signature, the catalog's schema version, then the catalog as its type.
pub(super) fn read(document: &Document) -> Step<Catalog> {
    document.check_schema()?;
    document.read("apps", || Refusal::NoApps)
}

/// Step 3: a signed catalog is not expired at `now`, and its version is not lower than the
/// highest seen for the registry; either would let an old copy hide a fix or a yank. Returns
/// the version, `None` for an unsigned catalog, which proves nothing about its age.
pub(super) fn check_freshness(
    catalog: &Catalog,
    signed: bool,
    pins: &Pins,
    now: i64,
) -> Step<Option<u64>> {
    if !signed {
        return Ok(None);
    }
    let Some(expires) = catalog.expires.as_deref() else {
        return Err(Refusal::NoExpiry { found: None }.into());
    };
    let Ok(expires_at) =
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
    else {
        return Err(Refusal::NoExpiry {
            found: Some(expires.to_owned()),
        }
        .into());
    };
    let expired_at = expires_at.unix_timestamp();
    if now >= expired_at {
        return Err(Refusal::Stale { expired_at, now }.into());
    }

    let Some(got) = catalog.version else {
        return Err(Refusal::NoVersion.into());
    };
    match pins.pinned.highest_version {
        Some(seen) if got < seen => Err(Refusal::Rollback {
            seen,
            seen_at: pins.pinned.highest_version_seen_at.clone(),
            got,
        }
        .into()),
        _ => Ok(Some(got)),
    }
}
