//! Reading an `.mpk` container (spec §1) in one streaming pass.
//!
//! Nothing is extracted and nothing but the manifest is held in memory: every entry is read
//! straight from the decompressor and, when it matters, into a SHA-256. The tar parser runs in
//! raw mode so GNU long names and pax headers are seen as entries and bounded here; the `tar`
//! crate would otherwise buffer them whole (a 64 MiB long name would cost 64 MiB).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::report::{escape_controls, Findings, Rule};

/// Bounds a node applies (and one of ours, for extension headers).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The manifest must start within this many decompressed bytes.
    pub manifest_window: u64,
    /// The manifest may be at most this long.
    pub manifest_max: u64,
    /// The whole decompressed stream, headers included.
    pub decompressed_cap: u64,
    /// A GNU long name or pax header may be at most this long (stricter than the node, which
    /// buffers them whole; real names are far below PATH_MAX).
    pub extension_header_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            manifest_window: 8 << 20,
            manifest_max: 1 << 20,
            decompressed_cap: 512 << 20,
            extension_header_max: 64 << 10,
        }
    }
}

/// What an archive entry is, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Symlink,
    HardLink,
    Directory,
    Other,
}

impl EntryKind {
    fn of(t: EntryType) -> Self {
        match t {
            EntryType::Regular | EntryType::Continuous => EntryKind::File,
            EntryType::Symlink => EntryKind::Symlink,
            EntryType::Link => EntryKind::HardLink,
            EntryType::Directory => EntryKind::Directory,
            _ => EntryKind::Other,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            EntryKind::File => "a regular file",
            EntryKind::Symlink => "a symlink",
            EntryKind::HardLink => "a hardlink",
            EntryKind::Directory => "a directory",
            EntryKind::Other => "a special file",
        }
    }
}

/// One entry at a path of interest. `sha256` is set for regular files.
#[derive(Debug, Clone)]
pub struct Seen {
    pub kind: EntryKind,
    pub size: u64,
    pub sha256: Option<[u8; 32]>,
}

/// The result of one pass over a bundle.
#[derive(Debug, Default)]
pub struct Scan {
    /// The first top-level `manifest.json`, if it was within bounds.
    pub manifest: Option<Vec<u8>>,
    /// Entries at the paths the manifest declares, keyed by normalized path.
    pub entries: BTreeMap<String, Vec<Seen>>,
    /// SHA-256 and length of the bundle file; set only when the whole file was read.
    pub file_digest: Option<([u8; 32], u64)>,
    /// The tar stream was read to its end, so every entry was seen. When it was not, the
    /// absence of an entry (or the digest of a cut-off one) proves nothing.
    pub complete: bool,
}

/// Decides, from the manifest bytes, which entry paths must be recorded. `None` means the
/// manifest is unusable, so no artifact can be checked.
pub type DeclaredPaths<'a> = dyn FnMut(&[u8], &mut Findings) -> Option<BTreeSet<String>> + 'a;

/// Reads `input` once, recording container problems in `findings`.
pub fn scan(
    input: impl Read,
    limits: Limits,
    findings: &mut Findings,
    declared: &mut DeclaredPaths,
) -> Scan {
    let mut file = BufReader::with_capacity(64 << 10, HashingReader::new(input));
    let mut scan = Scan::default();
    let mut stream = CappedReader {
        inner: flate2::bufread::GzDecoder::new(&mut file),
        read: 0,
        cap: limits.decompressed_cap,
        failure: None,
    };
    let walked = walk(&mut stream, limits, findings, declared, &mut scan);
    scan.complete = matches!(walked, Ok(Walk::Complete));
    let whole_stream_read = match walked {
        Ok(Walk::Complete) => drain(&mut stream).map(|()| true),
        Ok(Walk::Stopped) => Ok(false),
        Err(e) => Err(e),
    };
    match whole_stream_read {
        Ok(false) => return scan,
        Ok(true) => {}
        Err(e) => {
            stream.report(e, findings);
            return scan;
        }
    }
    drop(stream);
    match file.fill_buf() {
        Ok([]) => {
            let hashed = file.into_inner();
            scan.file_digest = Some((hashed.hasher.finalize().into(), hashed.len));
        }
        Ok(_) => findings.refuse(
            Rule::TrailingData,
            "archive",
            "has bytes after the end of the gzip stream (a second member or padding)",
        ),
        Err(e) => findings.refuse(Rule::Io, "archive", format!("read failed: {e}")),
    }
    scan
}

enum Walk {
    /// The tar stream ended normally; the rest of the gzip member still needs checking.
    Complete,
    /// Reading stopped on purpose after a refusal that makes the rest meaningless.
    Stopped,
}

/// Which entries are worth recording, as far as the manifest has told.
enum Wanted {
    /// No manifest yet: every entry might turn out to be declared.
    Unknown,
    /// The paths the manifest declares.
    Declared(BTreeSet<String>),
    /// The manifest is unusable, so no artifact can be checked.
    Nothing,
}

impl Wanted {
    fn records(&self, name: &str) -> bool {
        match self {
            Wanted::Unknown => true,
            Wanted::Declared(paths) => paths.contains(name),
            Wanted::Nothing => false,
        }
    }
}

/// Everything one walk carries from entry to entry.
struct Walker<'w, 'd> {
    limits: Limits,
    findings: &'w mut Findings,
    declared: &'w mut DeclaredPaths<'d>,
    scan: &'w mut Scan,
    wanted: Wanted,
    manifests_seen: u32,
    /// A long name (GNU or pax) for the next entry, and where that entry's headers began.
    pending_name: Option<Vec<u8>>,
    pending_start: Option<u64>,
    /// Entries whose names the registry refuses, by rule: the first name and how many.
    misnamed: BTreeMap<Rule, (String, u64)>,
}

/// What an extension header said.
enum Extension {
    /// A name for the next entry.
    Name(Vec<u8>),
    /// Nothing the rules care about.
    Other,
    /// A refusal that makes the rest of the archive meaningless.
    Stop,
}

fn walk(
    stream: &mut CappedReader<impl Read>,
    limits: Limits,
    findings: &mut Findings,
    declared: &mut DeclaredPaths,
    scan: &mut Scan,
) -> io::Result<Walk> {
    let mut archive = tar::Archive::new(stream);
    let mut walker = Walker {
        limits,
        findings,
        declared,
        scan,
        wanted: Wanted::Unknown,
        manifests_seen: 0,
        pending_name: None,
        pending_start: None,
        misnamed: BTreeMap::new(),
    };
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        if walker.entry(&mut entry)?.is_some() {
            return Ok(Walk::Stopped);
        }
    }
    Ok(walker.end())
}

impl Walker<'_, '_> {
    /// Takes one raw entry; `Some` when the walk must stop.
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> io::Result<Option<Walk>> {
        let header_pos = *self
            .pending_start
            .get_or_insert(entry.raw_header_position());
        if matches!(self.wanted, Wanted::Unknown) && header_pos >= self.limits.manifest_window {
            self.manifest_out_of_window(entry, header_pos);
            return Ok(Some(Walk::Stopped));
        }
        let entry_type = entry.header().entry_type();
        if is_extension(entry_type) {
            let stop = match self.extension(entry)? {
                Extension::Name(name) => {
                    let twice = self.pending_name.replace(name).is_some();
                    if twice {
                        self.findings.refuse(
                            Rule::Tar,
                            "archive",
                            "two long-name headers describe the same entry",
                        );
                    }
                    twice
                }
                Extension::Stop => true,
                Extension::Other => false,
            };
            return Ok(stop.then_some(Walk::Stopped));
        }
        if entry_type == EntryType::GNUSparse {
            self.findings.refuse(
                Rule::Tar,
                "archive",
                "contains a GNU sparse entry, which this format does not use",
            );
            return Ok(Some(Walk::Stopped));
        }
        self.pending_start = None;
        let raw_name = self
            .pending_name
            .take()
            .unwrap_or_else(|| entry.header().path_bytes().into_owned());
        match entry_key(&raw_name) {
            Ok(Some(name)) if name == "manifest.json" => self.manifest(entry)?,
            Ok(Some(name)) if self.wanted.records(&name) => self.record(entry, name)?,
            Ok(_) => {}
            Err(rule) => self.misnamed(rule, &raw_name),
        }
        Ok(None)
    }

    /// The first header past the window where the manifest must start.
    fn manifest_out_of_window<R: Read>(&mut self, entry: &tar::Entry<R>, header_pos: u64) {
        let window = self.limits.manifest_window >> 20;
        if self.pending_name.is_none()
            && entry_key(&entry.header().path_bytes()) == Ok(Some("manifest.json".to_owned()))
        {
            self.findings.refuse(
                Rule::ManifestOffset,
                "manifest.json",
                format!("starts at byte {header_pos}, after the first {window} MiB of the archive"),
            );
        } else {
            self.findings.refuse(
                Rule::ManifestMissing,
                "manifest.json",
                format!("no top-level manifest.json within the first {window} MiB of the archive"),
            );
        }
    }

    /// A GNU long-name or pax header, bounded before it is read.
    fn extension<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> io::Result<Extension> {
        let size = entry.size();
        if size > self.limits.extension_header_max {
            self.findings.refuse(
                Rule::ExtensionHeader,
                "archive",
                format!(
                    "a long-name or pax header of {size} bytes (limit {} KiB)",
                    self.limits.extension_header_max >> 10
                ),
            );
            return Ok(Extension::Stop);
        }
        let mut data = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut data)?;
        Ok(match entry.header().entry_type() {
            EntryType::GNULongName => Extension::Name(trim_nul(data)),
            EntryType::XHeader => match pax_path(&data) {
                Ok(Some(path)) => Extension::Name(path),
                Ok(None) => Extension::Other,
                Err(message) => {
                    self.findings
                        .refuse(Rule::ExtensionHeader, "archive", message);
                    Extension::Stop
                }
            },
            _ => Extension::Other,
        })
    }

    /// An entry at `manifest.json`: the first is read (within bounds) and decides which
    /// paths are recorded from then on; more than one is refused.
    fn manifest<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> io::Result<()> {
        self.manifests_seen += 1;
        if self.manifests_seen == 2 {
            self.findings.refuse(
                Rule::ManifestDuplicate,
                "manifest.json",
                "more than one entry at manifest.json (./manifest.json is the same entry)",
            );
        }
        if self.manifests_seen > 1 {
            return Ok(());
        }
        let kind = EntryKind::of(entry.header().entry_type());
        let size = entry.size();
        if kind != EntryKind::File {
            self.findings.refuse(
                Rule::ManifestNotFile,
                "manifest.json",
                format!("is {}, not a regular file", kind.describe()),
            );
            self.wanted = Wanted::Nothing;
            return Ok(());
        }
        if size > self.limits.manifest_max {
            self.findings.refuse(
                Rule::ManifestSize,
                "manifest.json",
                format!(
                    "is {size} bytes; the limit is {} bytes",
                    self.limits.manifest_max
                ),
            );
            self.wanted = Wanted::Nothing;
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes)?;
        self.wanted = match (self.declared)(&bytes, self.findings) {
            Some(paths) => {
                self.scan.entries.retain(|path, _| paths.contains(path));
                Wanted::Declared(paths)
            }
            None => {
                self.scan.entries.clear();
                Wanted::Nothing
            }
        };
        self.scan.manifest = Some(bytes);
        Ok(())
    }

    /// An entry that may be a declared artifact: its kind, size and (for a file) digest.
    fn record<R: Read>(&mut self, entry: &mut tar::Entry<R>, name: String) -> io::Result<()> {
        let kind = EntryKind::of(entry.header().entry_type());
        let size = entry.size();
        let sha256 = match kind {
            EntryKind::File => Some(hash(entry)?),
            _ => None,
        };
        self.scan
            .entries
            .entry(name)
            .or_default()
            .push(Seen { kind, size, sha256 });
        Ok(())
    }

    /// An entry whose name the registry refuses; reported once per rule, when the walk ends, so
    /// an archive of a million such names costs one line.
    fn misnamed(&mut self, rule: Rule, raw_name: &[u8]) {
        self.misnamed
            .entry(rule)
            .or_insert_with(|| (String::from_utf8_lossy(raw_name).into_owned(), 0))
            .1 += 1;
    }

    /// After the last entry: refused names, a dangling long name, or no manifest at all.
    fn end(mut self) -> Walk {
        for (rule, (first, count)) in std::mem::take(&mut self.misnamed) {
            let what = match rule {
                Rule::EntryAbsolute => "is absolute",
                Rule::EntryParent => {
                    "has a '..' component (unpacked with tar, it lands outside the folder)"
                }
                _ => {
                    "has an empty component (a node reads it as another spelling of a shorter name)"
                }
            };
            let more = match count {
                1 => String::new(),
                n => format!(" ({} more entries like it)", n - 1),
            };
            self.findings.refuse(
                rule,
                escape_controls(&first),
                format!("the entry name {what}{more}"),
            );
        }
        if self.pending_name.is_some() {
            self.findings.refuse(
                Rule::Tar,
                "archive",
                "ends with a long-name header that describes no entry",
            );
            return Walk::Stopped;
        }
        if matches!(self.wanted, Wanted::Unknown) {
            self.findings.refuse(
                Rule::ManifestMissing,
                "manifest.json",
                "no top-level manifest.json in the archive (old/manifest.json does not count)",
            );
        }
        Walk::Complete
    }
}

fn is_extension(t: EntryType) -> bool {
    matches!(
        t,
        EntryType::GNULongName
            | EntryType::GNULongLink
            | EntryType::XHeader
            | EntryType::XGlobalHeader
    )
}

/// The `path` a pax header sets for the next entry. A `size` override is refused: honouring it
/// or not would make two readers see different entries in one archive.
fn pax_path(data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut path = None;
    for record in tar::PaxExtensions::new(data) {
        let record = record.map_err(|_| "a pax header is malformed".to_owned())?;
        match record.key_bytes() {
            b"path" => path = Some(record.value_bytes().to_vec()),
            b"size" => return Err("a pax header overrides an entry's size".to_owned()),
            _ => {}
        }
    }
    Ok(path)
}

fn trim_nul(mut name: Vec<u8>) -> Vec<u8> {
    while name.last() == Some(&0) {
        name.pop();
    }
    name
}

/// An entry name as a node reads it, by path components (Rust's `Path::components`): `.` and
/// empty components name nothing, so `./manifest.json`, `.//manifest.json`, `a/./b` and
/// `manifest.json/` are `manifest.json`, `a/b` and `manifest.json`. `Ok(None)` for names that are
/// not UTF-8, which can never equal a declared path. `Err` for names the registry refuses
/// although a node would only ignore or alias them (the rule says why).
fn entry_key(raw: &[u8]) -> Result<Option<String>, Rule> {
    let Ok(name) = std::str::from_utf8(raw) else {
        return Ok(None);
    };
    if name.starts_with('/') {
        return Err(Rule::EntryAbsolute);
    }
    // Tar writes folders with one trailing `/`; any other empty component is a second spelling.
    let body = name.strip_suffix('/').unwrap_or(name);
    let components: Vec<&str> = body.split('/').collect();
    if components.contains(&"..") {
        return Err(Rule::EntryParent);
    }
    if components.len() > 1 && components.contains(&"") {
        return Err(Rule::EntryEmptyComponent);
    }
    Ok(Some(path_key(body)))
}

/// The components of a `/`-separated path that name something (not `.`, not empty), joined by
/// `/`: the key under which an entry and a declared artifact path are the same file.
pub fn path_key(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn hash(reader: &mut impl Read) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reads the decompressed stream to its end, so the gzip trailer (CRC, length) is checked and
/// every byte counts toward the cap.
fn drain(stream: &mut impl Read) -> io::Result<()> {
    io::copy(stream, &mut io::sink()).map(|_| ())
}

/// Which layer failed, so the report can say "not gzip" rather than "bad tar".
enum Failure {
    Gzip(String),
    Cap,
}

/// The decompressed stream, refusing to yield more than `cap` bytes.
struct CappedReader<R> {
    inner: R,
    read: u64,
    cap: u64,
    failure: Option<Failure>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .inspect_err(|e| self.failure = Some(Failure::Gzip(e.to_string())))?;
        self.read += n as u64;
        if self.read > self.cap {
            self.failure = Some(Failure::Cap);
            return Err(io::Error::other("decompressed size cap exceeded"));
        }
        Ok(n)
    }
}

impl<R> CappedReader<R> {
    fn report(&self, error: io::Error, findings: &mut Findings) {
        match &self.failure {
            Some(Failure::Cap) => findings.refuse(
                Rule::SizeCap,
                "archive",
                format!(
                    "decompresses to more than {} MiB (headers included)",
                    self.cap >> 20
                ),
            ),
            Some(Failure::Gzip(e)) => findings.refuse(
                Rule::Gzip,
                "archive",
                format!("is not a valid gzip stream: {e}"),
            ),
            None => findings.refuse(
                Rule::Tar,
                "archive",
                format!("is not a valid tar archive: {error}"),
            ),
        }
    }
}

/// Hashes the bundle file's bytes as they are read, so the file is read once.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}
