//! Making and signing a bundle (what `cargo mero bundle` does), reproducibly.
//!
//! The tar is fixed in every detail a clock or a machine could change — mtimes, owners, modes,
//! entry order, gzip header — so the same inputs always give the same bytes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{bail, Result};
use ed25519_dalek::SigningKey;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical::Scheme;
use crate::report::{Problem, Rule};
use crate::signature::{self, Signed};

/// The artifact objects of a manifest in cargo-mero's order, with the field each is declared
/// at: `wasm`, `abi`, then each service's `wasm` and `abi`.
fn artifact_slots(manifest: &mut Map<String, Value>) -> Vec<(String, &mut Map<String, Value>)> {
    let (mut slots, services) = wasm_abi_services(manifest, "");
    for (i, service) in services.into_iter().flatten().enumerate() {
        if let Value::Object(service) = service {
            slots.extend(wasm_abi_services(service, &format!("services[{i}].")).0);
        }
    }
    slots
}

/// An object's `wasm` then `abi` artifact objects (their fields prefixed with `prefix`), and
/// its `services` array.
#[allow(clippy::type_complexity)]
fn wasm_abi_services<'a>(
    object: &'a mut Map<String, Value>,
    prefix: &str,
) -> (
    Vec<(String, &'a mut Map<String, Value>)>,
    Option<&'a mut Vec<Value>>,
) {
    let (mut wasm, mut abi, mut services) = (None, None, None);
    for (key, value) in object.iter_mut() {
        match (key.as_str(), value) {
            ("wasm", Value::Object(a)) => wasm = Some((format!("{prefix}wasm"), a)),
            ("abi", Value::Object(a)) => abi = Some((format!("{prefix}abi"), a)),
            ("services", Value::Array(s)) => services = Some(s),
            _ => {}
        }
    }
    (wasm.into_iter().chain(abi).collect(), services)
}

/// Why a manifest could not be packed: every artifact that cannot be placed in the bundle, all
/// at once, or the output failing.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{}", problems_text(.0))]
    Refused(Vec<Problem>),
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn problems_text(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

/// Fills in each artifact's `hash` and `size` from the files under `root`, signs the manifest
/// with `key` under `scheme`, and writes the bundle to `out`: `manifest.json` first, then each
/// artifact once, in declaration order (the cargo-mero layout). Nothing is written unless every
/// artifact can be read.
pub fn pack(
    mut manifest: Map<String, Value>,
    root: &Path,
    key: &SigningKey,
    scheme: Scheme,
    out: impl Write,
) -> Result<(), PackError> {
    let mut paths = Vec::new();
    let mut problems = Vec::new();
    for (field, slot) in artifact_slots(&mut manifest) {
        let Some(Value::String(path)) = slot.get("path") else {
            problems.push(Problem::new(
                Rule::Required,
                format!("{field}.path"),
                "every artifact needs a string `path`, relative to the manifest's folder",
            ));
            continue;
        };
        let path = path.clone();
        if path.starts_with('/') || path.split('/').any(|c| c == "..") || path.contains('\\') {
            problems.push(Problem::new(
                Rule::ArtifactPath,
                format!("{field}.path"),
                format!("{path:?} must be relative and stay inside the bundle"),
            ));
            continue;
        }
        let file = root.join(&path);
        match digest_file(&file) {
            Ok((digest, size)) => {
                slot.insert("hash".into(), Value::String(digest));
                slot.insert("size".into(), Value::from(size));
                paths.push(path);
            }
            Err(e) => problems.push(Problem::new(
                Rule::ArtifactMissing,
                format!("{field}.path"),
                format!("cannot read {}: {e}", file.display()),
            )),
        }
    }
    if paths.is_empty() && problems.is_empty() {
        problems.push(Problem::new(
            Rule::NoWasm,
            "wasm",
            "the manifest declares no artifacts (a `wasm`, or `services` with a wasm each)",
        ));
    }
    if !problems.is_empty() {
        let found = field_problems(manifest, &problems);
        problems.extend(found);
        return Err(PackError::Refused(problems));
    }
    signature::sign(&mut manifest, key, scheme);
    let manifest_bytes = manifest_file(&manifest);

    let mut tar = tar::Builder::new(gzip(out));
    tar.mode(tar::HeaderMode::Deterministic);
    append(
        &mut tar,
        "manifest.json",
        manifest_bytes.len() as u64,
        &manifest_bytes[..],
    )?;
    let mut written = BTreeSet::new();
    for path in paths {
        if written.insert(path.clone()) {
            let file = root.join(&path);
            let size = file.metadata()?.len();
            append(&mut tar, &path, size, File::open(&file)?)?;
        }
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

/// The field rules' findings on a manifest that cannot be packed, so that a refusal lists them
/// with the artifacts that stopped it: each artifact without a digest gets a stand-in one, and
/// what `reported` already names is left out.
fn field_problems(mut manifest: Map<String, Value>, reported: &[Problem]) -> Vec<Problem> {
    for (_, slot) in artifact_slots(&mut manifest) {
        slot.entry("hash")
            .or_insert_with(|| Value::String("0".repeat(64)));
        slot.entry("size").or_insert_with(|| Value::from(0));
    }
    let mut findings = crate::report::Findings::default();
    crate::manifest::check(&manifest, &mut findings);
    findings
        .problems
        .into_iter()
        .filter(|p| !reported.iter().any(|r| r.subject == p.subject))
        .collect()
}

/// `manifest.json` as `pack` writes it: pretty JSON and a final newline.
fn manifest_file(manifest: &Map<String, Value>) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(manifest).expect("a JSON map serializes");
    bytes.push(b'\n');
    bytes
}

/// The gzip member every bundle is written in: no name, no clock, no operating system.
fn gzip<W: Write>(out: W) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, flate2::Compression::best())
}

/// Writes `bundle` re-signed under `scheme` with `key`, which must be the key that signed it:
/// every entry is copied header for header and byte for byte, and in `manifest.json` only the
/// signature's value changes (it keeps its length, so the entry's header stays too). Nodes that
/// verify the other scheme install the result; the bundle hash (SHA-256 of the canonical
/// manifest) is the same.
pub fn resign(bundle: impl Read, key: &SigningKey, scheme: Scheme, out: impl Write) -> Result<()> {
    rewrite_manifest(bundle, out, |manifest| {
        resigned_manifest(manifest, key, scheme)
    })
}

/// Writes `bundle` signed by `key` instead of the key that signed it, under the same scheme:
/// the route for a bundle that `cargo mero bundle` signed with the development key. The
/// signer changes, and with it `signerId` and the application id (to a node it is another
/// application), so `manifest.json` is written again as `pack` writes it; every other entry
/// is copied header for header and byte for byte.
pub fn rekey(bundle: impl Read, key: &SigningKey, out: impl Write) -> Result<()> {
    rewrite_manifest(bundle, out, |manifest| rekeyed_manifest(manifest, key))
}

/// Copies the bundle `input` to `out` entry by entry, replacing the content of its one plainly
/// named `manifest.json` with `replace`'s (the entry's header follows the new size).
fn rewrite_manifest(
    input: impl Read,
    out: impl Write,
    replace: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(input));
    let mut tar = tar::Builder::new(gzip(out));
    let mut replace = Some(replace);
    let mut manifests = 0;
    let mut after_extension = false;
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data)?;
        let is_manifest = !after_extension
            && crate::bundle::path_key(&String::from_utf8_lossy(&header.path_bytes()))
                == "manifest.json";
        after_extension = matches!(
            header.entry_type(),
            tar::EntryType::GNULongName | tar::EntryType::XHeader
        );
        if is_manifest {
            manifests += 1;
            if let Some(replace) = replace.take() {
                data = replace(&data)?;
                if header.entry_size()? != data.len() as u64 {
                    header.set_size(data.len() as u64);
                    header.set_cksum();
                }
            }
        }
        tar.append(&header, data.as_slice())?;
    }
    if manifests != 1 {
        bail!("the bundle must hold exactly one plainly named manifest.json to be re-signed; it holds {manifests}");
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(())
}

/// The manifest of a bundle, and who signed it under which scheme; only a bundle whose
/// signature verifies is re-signed.
fn signed_manifest(manifest: &[u8]) -> Result<(Map<String, Value>, Signed)> {
    let mut findings = crate::report::Findings::default();
    let Some(parsed) = crate::manifest::parse(manifest, &mut findings) else {
        bail!("manifest.json cannot be read: {}", findings.problems[0]);
    };
    let Some(signed) = signature::verify(&parsed, &Scheme::ALL, &mut findings) else {
        let why: Vec<String> = findings.problems.iter().map(|p| p.to_string()).collect();
        bail!(
            "only a bundle whose signature verifies can be re-signed: {}",
            why.join("; ")
        );
    };
    Ok((parsed, signed))
}

/// `manifest` with its signature value replaced by one under `scheme`, nothing else changed.
fn resigned_manifest(manifest: &[u8], key: &SigningKey, scheme: Scheme) -> Result<Vec<u8>> {
    let (parsed, signed) = signed_manifest(manifest)?;
    let signer = crate::keys::did_key(&key.verifying_key());
    if signed.signer != signer {
        bail!(
            "the bundle is signed by {}; moving it to the {scheme} scheme needs that key, not {signer} (to sign it with this key instead, which makes it another application, leave out --scheme)",
            signed.signer
        );
    }
    if signed.scheme == scheme {
        bail!("the bundle is already signed under the {scheme} scheme");
    }
    let old = parsed["signature"]["signature"]
        .as_str()
        .expect("a verified signature is a string");
    let quoted = format!("\"{old}\"");
    let text = std::str::from_utf8(manifest).expect("a parsed manifest is UTF-8");
    if text.matches(&quoted).count() != 1 {
        bail!("the signature value appears more than once in manifest.json (or escaped), so it cannot be replaced in place; re-sign with `pack` from the manifest");
    }
    let mut resigned = parsed.clone();
    signature::sign(&mut resigned, key, scheme);
    let new = resigned["signature"]["signature"]
        .as_str()
        .expect("sign writes a string");
    Ok(text
        .replacen(&quoted, &format!("\"{new}\""), 1)
        .into_bytes())
}

/// `manifest` signed by `key` under the scheme it was signed under, written as `pack` writes it.
fn rekeyed_manifest(manifest: &[u8], key: &SigningKey) -> Result<Vec<u8>> {
    let (mut parsed, signed) = signed_manifest(manifest)?;
    if signed.signer == crate::keys::did_key(&key.verifying_key()) {
        bail!(
            "the bundle is already signed by this key ({}); to move it to the other signature scheme, add --scheme",
            signed.signer
        );
    }
    signature::sign(&mut parsed, key, signed.scheme);
    Ok(manifest_file(&parsed))
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    tar.append_data(&mut header, path, data.take(size))
}

fn digest_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let size = io::copy(&mut file, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), size))
}
