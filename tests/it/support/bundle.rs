//! Keys and bundles: manifests complete with their digests, bundles written entry by entry
//! (any entry order, any entry type, raw tar headers, archives too large to hold in memory),
//! bundles packed by `mpk_registry::pack`, reading bundles back, and verifying them.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Cursor, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use ed25519_dalek::{Signer, SigningKey};
use flate2::write::GzEncoder;
use flate2::Compression;
use mpk_registry::canonical::{signing_payload, Scheme};
use mpk_registry::keys::{did_key, B64URL};
use mpk_registry::report::Rule;
use mpk_registry::verify::{self, Options, Report};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use super::Verdict;

pub const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Keys and digests

/// A signing key from a fixed seed: `key(1)` and `key(2)` are two different publishers.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The `signerId` (did:key) of `key`.
pub fn signer(key: &SigningKey) -> String {
    did_key(&key.verifying_key())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// Manifests with their digests, for bundles written entry by entry

/// A tiny valid wasm module (magic + version + one empty custom section).
pub const WASM: &[u8] = b"\0asm\x01\0\0\0\0\x05\x04test";
/// A second, different module (for services and tampering).
pub const WASM_2: &[u8] = b"\0asm\x01\0\0\0\0\x06\x05other";
pub const ABI: &[u8] = b"{\"methods\":[\"greet\"]}\n";
/// `WASM` with one byte changed: same length, different digest.
pub const WASM_TAMPERED: &[u8] = b"\0asm\x01\0\0\0\0\x05\x04tesT";
/// `WASM_2` with one byte changed.
pub const WASM_2_TAMPERED: &[u8] = b"\0asm\x01\0\0\0\0\x06\x05otheR";
/// `ABI` with one byte changed.
pub const ABI_TAMPERED: &[u8] = b"{\"methods\":[\"greeT\"]}\n";

/// `{path, hash, size}` describing `bytes` stored at `path`.
pub fn artifact(path: &str, bytes: &[u8]) -> Value {
    json!({"path": path, "hash": sha256_hex(bytes), "size": bytes.len()})
}

/// A complete, unsigned single-service manifest for `WASM` at `app.wasm` and `ABI` at
/// `abi.json`.
pub fn base_manifest() -> Map<String, Value> {
    let value = json!({
        "version": "1.0",
        "package": "com.example.app",
        "appVersion": "1.0.0",
        "minRuntimeVersion": "0.1.0",
        "metadata": {"name": "App", "description": "A test app", "tags": ["test"]},
        "wasm": artifact("app.wasm", WASM),
        "abi": artifact("abi.json", ABI),
    });
    into_map(value)
}

/// A multi-service manifest: `store` (wasm + abi under services/) and `auth` (wasm only).
pub fn services_manifest() -> Map<String, Value> {
    into_map(json!({
        "version": "1.0",
        "package": "com.example.suite",
        "appVersion": "0.3.0",
        "minRuntimeVersion": "0.2.0",
        "metadata": {"name": "Suite"},
        "services": [
            {"name": "store",
             "wasm": artifact("services/store.wasm", WASM),
             "abi": artifact("services/store-abi.json", ABI)},
            {"name": "auth", "wasm": artifact("services/auth.wasm", WASM_2)},
        ],
    }))
}

/// The files `services_manifest` declares, in archive order.
pub fn services_files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("services/store.wasm", WASM),
        ("services/store-abi.json", ABI),
        ("services/auth.wasm", WASM_2),
    ]
}

pub fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// Signs with the library's signer (what mero-sign does).
pub fn signed(mut manifest: Map<String, Value>, key: &SigningKey) -> Map<String, Value> {
    mpk_registry::signature::sign(&mut manifest, key, Scheme::Legacy);
    manifest
}

/// Signs `manifest` exactly as it is, with whatever `signerId` it has (or none): the signature
/// is valid for the manifest, but `signerId` is not forced to match the key.
pub fn signed_as_is(mut manifest: Map<String, Value>, key: &SigningKey) -> Map<String, Value> {
    manifest.remove("signature");
    let signature = key.sign(&signing_payload(&manifest, Scheme::Legacy));
    manifest.insert(
        "signature".into(),
        json!({
            "algorithm": "ed25519",
            "publicKey": B64URL.encode(key.verifying_key().as_bytes()),
            "signature": B64URL.encode(signature.to_bytes()),
        }),
    );
    manifest
}

/// The manifest as cargo-mero writes it: pretty JSON.
pub fn to_bytes(manifest: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec_pretty(manifest).expect("a JSON map serializes")
}

/// Mutable access to `signature` of a signed manifest.
pub fn signature_mut(manifest: &mut Map<String, Value>) -> &mut Map<String, Value> {
    manifest
        .get_mut("signature")
        .and_then(Value::as_object_mut)
        .expect("the manifest is signed")
}

// ---------------------------------------------------------------------------------------------
// Bundles written entry by entry

/// A `Read` that yields `remaining` copies of one byte without allocating them.
pub struct Repeat {
    byte: u8,
    remaining: u64,
}

impl Repeat {
    pub fn zeros(len: u64) -> Self {
        Repeat {
            byte: 0,
            remaining: len,
        }
    }
    pub fn byte(byte: u8, len: u64) -> Self {
        Repeat {
            byte,
            remaining: len,
        }
    }
}

impl Read for Repeat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        buf[..n].fill(self.byte);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Which header layout to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gnu,
    Ustar,
}

/// Writes a tar stream header by header. Names are copied byte for byte into the header (no
/// normalization: `./x`, `../x` and `/x` are written as given).
pub struct TarWriter<W: Write> {
    out: W,
    pub format: Format,
    /// Bytes written so far.
    pub position: u64,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter {
            out,
            format: Format::Gnu,
            position: 0,
        }
    }

    /// A header of the current format with deterministic metadata and `name` copied raw
    /// (truncated to the 100-byte name field). The checksum is not set yet.
    pub fn header(&self, name: &[u8], entry_type: EntryType, size: u64) -> Header {
        let mut header = match self.format {
            Format::Gnu => Header::new_gnu(),
            Format::Ustar => Header::new_ustar(),
        };
        let field = &mut header.as_old_mut().name;
        let n = name.len().min(field.len());
        field[..n].copy_from_slice(&name[..n]);
        header.set_entry_type(entry_type);
        header.set_size(size);
        header.set_mode(if entry_type == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header
    }

    /// Writes a 512-byte header block exactly as given (checksum included or not).
    pub fn raw_header(&mut self, header: &Header) -> io::Result<()> {
        self.out.write_all(header.as_bytes())?;
        self.position += 512;
        Ok(())
    }

    /// Copies `size` bytes of `data` and pads to the next 512-byte block.
    pub fn data(&mut self, data: impl Read, size: u64) -> io::Result<()> {
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        assert_eq!(copied, size, "entry data shorter than its header says");
        let pad = (512 - size % 512) % 512;
        self.out.write_all(&vec![0u8; pad as usize])?;
        self.position += size + pad;
        Ok(())
    }

    /// A header (checksum set) followed by its data.
    pub fn entry(&mut self, mut header: Header, data: impl Read) -> io::Result<()> {
        header.set_cksum();
        let size = header.size()?;
        self.raw_header(&header)?;
        self.data(data, size)
    }

    pub fn file(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let header = self.header(name.as_bytes(), EntryType::Regular, bytes.len() as u64);
        self.entry(header, bytes)
    }

    /// A regular file of `size` bytes read from `data` (never held in memory here).
    pub fn file_from(&mut self, name: &str, size: u64, data: impl Read) -> io::Result<()> {
        let header = self.header(name.as_bytes(), EntryType::Regular, size);
        self.entry(header, data)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.link(name, target, EntryType::Symlink)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.link(name, target, EntryType::Link)
    }

    fn link(&mut self, name: &str, target: &str, entry_type: EntryType) -> io::Result<()> {
        let mut header = self.header(name.as_bytes(), entry_type, 0);
        let field = &mut header.as_old_mut().linkname;
        field[..target.len()].copy_from_slice(target.as_bytes());
        self.entry(header, io::empty())
    }

    pub fn directory(&mut self, name: &str) -> io::Result<()> {
        let header = self.header(name.as_bytes(), EntryType::Directory, 0);
        self.entry(header, io::empty())
    }

    /// A GNU `L` header whose data is `size` bytes from `name` (a long name is normally the
    /// name plus a NUL).
    pub fn gnu_long_name_from(&mut self, size: u64, name: impl Read) -> io::Result<()> {
        let header = self.header(b"././@LongLink", EntryType::GNULongName, size);
        self.entry(header, name)
    }

    /// A regular file whose name is too long for the header: a GNU `L` header, then the entry
    /// with the name truncated to 100 bytes.
    pub fn long_named_file(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let mut long = name.as_bytes().to_vec();
        long.push(0);
        self.gnu_long_name_from(long.len() as u64, &long[..])?;
        self.file(name, bytes)
    }

    /// A pax `x` header carrying `records` for the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> io::Result<()> {
        let data = pax_records(records);
        let header = self.header(b"PaxHeaders/entry", EntryType::XHeader, data.len() as u64);
        self.entry(header, &data[..])
    }

    /// The end-of-archive marker (two zero blocks); returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 1024])?;
        self.position += 1024;
        Ok(self.out)
    }
}

/// Encodes pax records: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
pub fn pax_records(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = body + body.to_string().len();
        if len.to_string().len() != body.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

pub type Tar = TarWriter<GzEncoder<Vec<u8>>>;

/// A gzip-compressed tar built in memory by `fill`.
pub fn bundle(fill: impl FnOnce(&mut Tar) -> io::Result<()>) -> Vec<u8> {
    bundle_with(Format::Gnu, fill)
}

pub fn bundle_with(format: Format, fill: impl FnOnce(&mut Tar) -> io::Result<()>) -> Vec<u8> {
    let mut tar = TarWriter::new(GzEncoder::new(Vec::new(), Compression::default()));
    tar.format = format;
    fill(&mut tar).expect("writing to memory cannot fail");
    tar.finish()
        .and_then(GzEncoder::finish)
        .expect("writing to memory cannot fail")
}

/// Plain (uncompressed) tar bytes.
pub fn plain_tar(fill: impl FnOnce(&mut TarWriter<Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
    let mut tar = TarWriter::new(Vec::new());
    fill(&mut tar).expect("writing to memory cannot fail");
    tar.finish().expect("writing to memory cannot fail")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(bytes).expect("writing to memory cannot fail");
    gz.finish().expect("writing to memory cannot fail")
}

/// Streams a gzip-compressed tar to `path` (fast compression: these are the large ones).
pub fn bundle_to_file(
    path: &Path,
    fill: impl FnOnce(&mut TarWriter<GzEncoder<BufWriter<File>>>) -> io::Result<()>,
) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut tar = TarWriter::new(GzEncoder::new(file, Compression::fast()));
    fill(&mut tar)?;
    tar.finish()?.finish()?.flush()
}

/// The usual layout: `manifest.json` first, then `app.wasm` and `abi.json`.
pub fn standard(manifest: &Map<String, Value>) -> Vec<u8> {
    let manifest = to_bytes(manifest);
    bundle(|t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)
    })
}

/// `manifest` changed by `edit` (before signing), signed with `key(1)`, in the usual layout.
pub fn standard_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let mut manifest = base_manifest();
    edit(&mut manifest);
    standard(&signed(manifest, &key(1)))
}

/// A multi-service bundle from `manifest` (already signed), files in `services_files` order.
pub fn services_bundle(manifest: &Map<String, Value>) -> Vec<u8> {
    let manifest = to_bytes(manifest);
    bundle(|t| {
        t.file("manifest.json", &manifest)?;
        for (path, bytes) in services_files() {
            t.file(path, bytes)?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Packed bundles: manifests naming their files, packed and signed by `mpk_registry::pack`

/// A 1×1 PNG as a `data:` URI, the only kind of icon pages show.
pub const PNG_ICON: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/// Wasm bytes that differ per package and version, so every bundle is distinct: the wasm
/// header (nothing in the registry looks past it), then `<package>@<version>`.
pub fn wasm_for(package: &str, version: &str) -> Vec<u8> {
    let mut bytes = WASM[..8].to_vec();
    bytes.extend_from_slice(format!("{package}@{version}").as_bytes());
    bytes
}

pub fn abi_for(package: &str) -> Vec<u8> {
    format!("{{\"package\":\"{package}\",\"methods\":[\"get\",\"set\"]}}\n").into_bytes()
}

/// An unsigned single-service manifest for `pack` (`app.wasm` + `abi.json`, no digests).
pub fn pack_manifest(package: &str, version: &str) -> Map<String, Value> {
    into_map(json!({
        "version": "1.0",
        "package": package,
        "appVersion": version,
        "minRuntimeVersion": "0.1.0",
        "metadata": {
            "name": format!("App {package}"),
            "description": format!("Test app {package}"),
            "author": "Test Author",
            "tags": ["test"],
            "license": "MIT",
        },
        "wasm": {"path": "app.wasm"},
        "abi": {"path": "abi.json"},
    }))
}

/// An unsigned manifest for `pack` with two services, `store` (wasm + abi) and `auth` (wasm
/// only).
pub fn pack_services_manifest(package: &str, version: &str) -> Map<String, Value> {
    into_map(json!({
        "version": "1.0",
        "package": package,
        "appVersion": version,
        "minRuntimeVersion": "0.2.0",
        "metadata": {"name": format!("Suite {package}"), "tags": ["multi-service"]},
        "services": [
            {"name": "store",
             "wasm": {"path": "services/store.wasm"},
             "abi": {"path": "services/store-abi.json"}},
            {"name": "auth", "wasm": {"path": "services/auth.wasm"}},
        ],
    }))
}

/// The artifact files a manifest for `pack` names, with per-version contents.
fn artifact_files(manifest: &Map<String, Value>) -> Vec<(String, Vec<u8>)> {
    let package = manifest["package"].as_str().unwrap_or("p");
    let version = manifest["appVersion"].as_str().unwrap_or("v");
    let mut paths = Vec::new();
    let mut collect = |slot: &Value| {
        if let Some(path) = slot.get("path").and_then(Value::as_str) {
            paths.push(path.to_owned());
        }
    };
    for key in ["wasm", "abi"] {
        if let Some(slot) = manifest.get(key) {
            collect(slot);
        }
    }
    if let Some(Value::Array(services)) = manifest.get("services") {
        for service in services {
            for key in ["wasm", "abi"] {
                if let Some(slot) = service.get(key) {
                    collect(slot);
                }
            }
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let bytes = if path.ends_with(".wasm") {
                let mut w = wasm_for(package, version);
                w.extend_from_slice(path.as_bytes());
                w
            } else {
                abi_for(package)
            };
            (path, bytes)
        })
        .collect()
}

/// Signs (legacy scheme) and packs `manifest` with artifact files made up for it.
pub fn packed(manifest: Map<String, Value>, key: &SigningKey) -> Vec<u8> {
    packed_as(manifest, key, Scheme::Legacy)
}

/// Signs `manifest` under `scheme` and packs it with artifact files made up for it.
pub fn packed_as(manifest: Map<String, Value>, key: &SigningKey, scheme: Scheme) -> Vec<u8> {
    let files = artifact_files(&manifest);
    let dir = tempfile::tempdir().expect("temporary folder");
    for (path, bytes) in &files {
        let file = dir.path().join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, bytes).unwrap();
    }
    let mut out = Vec::new();
    mpk_registry::pack::pack(manifest, dir.path(), key, scheme, &mut out).expect("pack");
    out
}

/// `bundle` re-signed under `scheme` by `key` (`pack --resign`).
pub fn resigned(bundle: &[u8], key: &SigningKey, scheme: Scheme) -> Vec<u8> {
    let mut out = Vec::new();
    mpk_registry::pack::resign(bundle, key, scheme, &mut out).expect("re-sign");
    out
}

/// The bundle of `package` `version` from [`pack_manifest`], signed by `key`.
pub fn app_bundle(package: &str, version: &str, key: &SigningKey) -> Vec<u8> {
    packed(pack_manifest(package, version), key)
}

/// The canonical place of a bundle inside a registry folder: `<package>/<package>-<version>.mpk`.
pub fn bundle_path(package: &str, version: &str) -> String {
    format!("{package}/{package}-{version}.mpk")
}

/// A bundle of `tests/fixtures/interop/bundles/` (`rel` as `valid/<name>.mpk`).
pub fn interop_bundle(rel: &str) -> PathBuf {
    super::repo_path("tests/fixtures/interop/bundles").join(rel)
}

// ---------------------------------------------------------------------------------------------
// Reading bundles back

/// The bytes of `manifest.json` inside a bundle.
pub fn bundle_manifest(bundle: &[u8]) -> Vec<u8> {
    bundle_entries(bundle)
        .remove("manifest.json")
        .expect("bundle has manifest.json")
}

/// Every regular entry of a bundle, by path.
pub fn bundle_entries(bundle: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let mut entries = BTreeMap::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.insert(path, bytes);
    }
    entries
}

/// The same bundle with one bit of the entry at `path` flipped and everything else, the
/// signed manifest included, unchanged: the artifact no longer matches its digest.
pub fn tamper_entry(bundle: &[u8], path: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    let gzip = GzEncoder::new(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(gzip);
    let mut found = false;
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("tar entry");
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut header = entry.header().clone();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name == path {
            bytes[0] ^= 1;
            found = true;
        }
        builder.append_data(&mut header, &name, &bytes[..]).unwrap();
    }
    assert!(found, "no entry {path} in the bundle");
    builder.into_inner().unwrap().finish().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Verifying and asserting

pub fn verify(bytes: &[u8]) -> Report {
    verify_with(bytes, &Options::default())
}

pub fn verify_with(bytes: &[u8], options: &Options) -> Report {
    verify::verify_reader(Cursor::new(bytes), "test.mpk", options)
}

fn listing(report: &Report) -> String {
    let mut out = String::new();
    for p in report.problems.iter().chain(&report.warnings) {
        out.push_str(&format!("\n  {p}"));
    }
    out
}

/// The bundle verified: no problems, and its facts are in the report.
#[track_caller]
pub fn assert_ok(report: &Report) {
    assert!(
        report.ok() && report.problems.is_empty() && report.bundle.is_some(),
        "expected the bundle to verify; got:{}",
        listing(report)
    );
}

/// The bundle was refused and the distinct rules it broke are exactly `rules`.
#[track_caller]
pub fn assert_rules(report: &Report, rules: &[Rule]) {
    let mut got: Vec<Rule> = report.problems.iter().map(|p| p.rule).collect();
    got.sort();
    got.dedup();
    let mut want = rules.to_vec();
    want.sort();
    want.dedup();
    assert!(!report.ok(), "expected a refusal; the bundle verified");
    assert!(report.bundle.is_none(), "a refused bundle has no facts");
    assert_eq!(got, want, "problems:{}", listing(report));
}

/// A bundle's report: refused for exactly one rule, `rule`, and a problem under it names
/// `subject` (`wasm.path`, `signature.signature`, an entry's path …).
impl Verdict for Report {
    #[track_caller]
    fn assert_refused(&self, subject: &str, rule: Rule) {
        assert_rules(self, &[rule]);
        assert!(
            self.problems
                .iter()
                .any(|p| p.rule == rule && p.subject == subject),
            "no {} problem about {subject:?}; problems:{}",
            rule.code(),
            listing(self)
        );
    }
}

/// For a manifest defect: the base bundle verifies, and the one changed by `edit` (before
/// signing) is refused with exactly `rule`, naming `subject`.
#[track_caller]
pub fn assert_manifest_defect(
    edit: impl FnOnce(&mut Map<String, Value>),
    subject: &str,
    rule: Rule,
) {
    assert_ok(&verify(&standard_with(|_| {})));
    super::assert_refused(&verify(&standard_with(edit)), subject, rule);
}
