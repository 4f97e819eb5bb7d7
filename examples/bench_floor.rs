//! The floor a build is measured against: read every `.mpk` under a folder, gunzip it and
//! SHA-256 the decompressed bytes, on all cores. Same decompressor (flate2 with the crate's
//! backend feature) and same SHA-256 (sha2) as `build`, same 64 KiB buffers.
//!
//! ```text
//! cargo run --release --example bench_floor -- DIR [--jobs N] [--no-sha | --read-only] [--hash-file]
//! cargo run --release --example bench_floor -- --sha-only BYTES
//! ```
//!
//! `--no-sha` stops after gunzip, `--read-only` after reading; `--hash-file` also hashes the
//! compressed bytes, which `build` does on top of the floor (the bundle's own SHA-256).
//! `--sha-only` hashes BYTES of memory on one thread and prints the throughput.

mod support;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

const BUF: usize = 64 << 10;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Full,
    NoSha,
    ReadOnly,
}

fn usage() -> ! {
    eprintln!("usage: bench_floor DIR [--jobs N] [--no-sha | --read-only] [--hash-file]");
    eprintln!("       bench_floor --sha-only BYTES");
    std::process::exit(2)
}

fn backends() -> String {
    let inflate = if cfg!(feature = "zlib-rs") {
        "zlib-rs"
    } else if cfg!(feature = "miniz") {
        "miniz_oxide"
    } else {
        "flate2 (features from the command line)"
    };
    let sha = if cfg!(feature = "soft-sha") {
        "sha2 force-soft"
    } else if std::is_x86_feature_detected!("sha") {
        "sha2 with SHA-NI (detected)"
    } else {
        "sha2 without SHA-NI"
    };
    format!("inflate: {inflate}; sha256: {sha}")
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut jobs = None;
    let mut mode = Mode::Full;
    let mut hash_file = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--jobs" => jobs = args.next().and_then(|v| v.parse::<usize>().ok()),
            "--no-sha" => mode = Mode::NoSha,
            "--read-only" => mode = Mode::ReadOnly,
            "--hash-file" => hash_file = true,
            "--sha-only" => {
                let bytes = args
                    .next()
                    .and_then(|v| support::parse_size(&v))
                    .unwrap_or_else(|| usage());
                sha_only(bytes);
                return Ok(());
            }
            _ if arg.starts_with('-') => usage(),
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    let dir = dir.unwrap_or_else(|| usage());
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(jobs) = jobs {
        pool = pool.num_threads(jobs.max(1));
    }
    let pool = pool.build().map_err(io::Error::other)?;

    let started = Instant::now();
    let (files, compressed, decompressed) = pool.install(|| -> io::Result<(usize, u64, u64)> {
        let files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && e.path().extension() == Some("mpk".as_ref()))
            .map(|e| e.into_path())
            .collect();
        let (compressed, decompressed) = files
            .par_iter()
            .map(|path| one(path, mode, hash_file))
            .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))?;
        Ok((files.len(), compressed, decompressed))
    })?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{files} files, {compressed} bytes read, {decompressed} bytes decompressed in {secs:.3} s \
         ({:.2} GB/s decompressed, {} threads; {})",
        decompressed as f64 / secs / 1e9,
        pool.current_num_threads(),
        backends()
    );
    Ok(())
}

/// Reads one bundle; returns (compressed, decompressed) byte counts.
fn one(path: &Path, mode: Mode, hash_file: bool) -> io::Result<(u64, u64)> {
    let file = File::open(path)?;
    let mut counted = Counting {
        inner: file,
        hasher: hash_file.then(Sha256::new),
        read: 0,
    };
    let mut buf = vec![0u8; BUF];
    if mode == Mode::ReadOnly {
        while read(&mut counted, &mut buf)? != 0 {}
        return Ok((counted.read, 0));
    }
    let mut gz = flate2::bufread::GzDecoder::new(BufReader::with_capacity(BUF, &mut counted));
    let mut hasher = Sha256::new();
    let mut out = 0u64;
    loop {
        let n = read(&mut gz, &mut buf)?;
        if n == 0 {
            break;
        }
        out += n as u64;
        if mode == Mode::Full {
            hasher.update(&buf[..n]);
        }
    }
    drop(gz);
    std::hint::black_box(hasher.finalize());
    if let Some(h) = counted.hasher.take() {
        std::hint::black_box(h.finalize());
    }
    Ok((counted.read, out))
}

fn read(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The file as read, counted and optionally hashed on the way (as `build` hashes it).
struct Counting {
    inner: File,
    hasher: Option<Sha256>,
    read: u64,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.read += n as u64;
        Ok(n)
    }
}

/// SHA-256 throughput of one core over `bytes` of memory, in 1 MiB updates.
fn sha_only(bytes: u64) {
    let chunk: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // Warm up (and let the CPU feature detection run) before timing.
    std::hint::black_box(Sha256::digest(&chunk));
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    std::hint::black_box(hasher.finalize());
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sha256 of {bytes} bytes on one core in {secs:.3} s: {:.2} GB/s ({})",
        bytes as f64 / secs / 1e9,
        backends()
    );
}
