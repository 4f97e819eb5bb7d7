//! Generates a registry source tree of signed bundles for benchmarks.
//!
//! ```text
//! cargo run --release --example bench_corpus -- OUT_DIR --apps N --versions M --wasm-bytes B
//!     [--seed S] [--alphabet K] [--owner LOGIN] [--add-one | --pull-request N]
//! ```
//!
//! Writes `OUT_DIR/registry-src/<pkg>/<pkg>-<ver>.mpk` with `mpk_registry::pack::pack`, in
//! parallel, then makes `OUT_DIR` a git repository with one commit (fixed author, dates and
//! branch), so `build` sees a tracked work tree as it does in CI.
//!
//! Everything is derived from the seed: one Ed25519 key per app, and the wasm bytes from an
//! xorshift generator. With `--alphabet 256` (the default) the wasm is incompressible, so a
//! bundle is about as large as its wasm; a smaller alphabet (e.g. 64) makes the deflate stream
//! Huffman-coded instead of stored, which exercises the decompressor harder.
//!
//! `--add-one` adds the next version of app 0 to an existing corpus and commits it (one day
//! later), for measuring a rebuild after a small change.
//!
//! `--owner LOGIN` gives every app a `package.toml` naming LOGIN as its owner. With it,
//! `--pull-request N` makes, on an existing corpus, a branch `pull-request` with one commit (a
//! day later) that adds a `README.md` to every app and N new apps (`package.toml`, `README.md`
//! and M versions each), for measuring `check --actor LOGIN` on a large pull request: with
//! 10,000 apps, 2 versions and N = 10,000, 50,000 changed files of which 20,000 bundles.

mod support;

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ed25519_dalek::SigningKey;
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// 2024-01-01T00:00:00Z: the corpus commit.
const BASE_TIME: i64 = 1_704_067_200;

struct Args {
    out: PathBuf,
    apps: usize,
    versions: usize,
    wasm_bytes: u64,
    seed: u64,
    alphabet: u32,
    owner: Option<String>,
    add_one: bool,
    pull_request: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_corpus OUT_DIR --apps N --versions M --wasm-bytes B [--seed S] [--alphabet K] [--owner LOGIN] [--add-one | --pull-request N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut out = None;
    let mut parsed = Args {
        out: PathBuf::new(),
        apps: 0,
        versions: 0,
        wasm_bytes: 0,
        seed: 1,
        alphabet: 256,
        owner: None,
        add_one: false,
        pull_request: 0,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next()
                .and_then(|v| support::parse_size(&v))
                .unwrap_or_else(|| {
                    eprintln!("{name} needs a number");
                    usage()
                })
        };
        match arg.as_str() {
            "--apps" => parsed.apps = value("--apps") as usize,
            "--versions" => parsed.versions = value("--versions") as usize,
            "--wasm-bytes" => parsed.wasm_bytes = value("--wasm-bytes"),
            "--seed" => parsed.seed = value("--seed"),
            "--alphabet" => parsed.alphabet = value("--alphabet") as u32,
            "--add-one" => parsed.add_one = true,
            "--pull-request" => parsed.pull_request = value("--pull-request") as usize,
            "--owner" => parsed.owner = Some(args.next().unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            _ if arg.starts_with('-') => {
                eprintln!("unknown option {arg}");
                usage()
            }
            _ if out.is_none() => out = Some(PathBuf::from(arg)),
            _ => usage(),
        }
    }
    parsed.out = out.unwrap_or_else(|| usage());
    if parsed.apps == 0
        || parsed.versions == 0
        || !(2..=256).contains(&parsed.alphabet)
        || (parsed.pull_request > 0 && (parsed.add_one || parsed.owner.is_none()))
    {
        usage()
    }
    parsed
}

fn main() -> Result<()> {
    let args = parse_args();
    let started = Instant::now();
    let src = args.out.join("registry-src");
    if args.add_one {
        let (package, version) = add_one(&args, &src)?;
        git_commit(
            &args.out,
            BASE_TIME + 86_400,
            &format!("add {package} {version}"),
        )?;
        println!(
            "added {package} {version} in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    if args.pull_request > 0 {
        let files = pull_request(&args, &src)?;
        git_commit(&args.out, BASE_TIME + 86_400, "a large pull request")?;
        git(&args.out, &["checkout", "-q", "main"])?;
        println!(
            "committed a pull request of {files} files on branch pull-request in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }

    if args.out.exists() {
        fs::remove_dir_all(&args.out)
            .with_context(|| format!("cannot clear {}", args.out.display()))?;
    }
    fs::create_dir_all(&src)?;
    fs::write(
        src.join("registry.toml"),
        "title = \"Benchmark registry\"\n",
    )?;
    let scratch = args.out.join(".scratch");
    fs::create_dir_all(&scratch)?;

    let total = args.apps * args.versions;
    let bytes = write_apps(&args, &src, &scratch, 0..args.apps)?;
    fs::remove_dir_all(&scratch)?;
    let packed = started.elapsed().as_secs_f64();

    // The scratch folder is gone; nothing else in OUT_DIR needs ignoring.
    git(&args.out, &["init", "-q", "-b", "main"])?;
    git_commit(&args.out, BASE_TIME, "benchmark corpus")?;
    println!(
        "wrote {total} bundles ({} apps x {} versions, {} MiB) in {packed:.1} s; committed in {:.1} s",
        args.apps,
        args.versions,
        bytes >> 20,
        started.elapsed().as_secs_f64() - packed
    );
    Ok(())
}

/// Packs every version of `apps` (in parallel) and writes their `package.toml` when the
/// corpus has an owner; returns the bundles' total size in bytes.
fn write_apps(
    args: &Args,
    src: &Path,
    scratch: &Path,
    apps: std::ops::Range<usize>,
) -> Result<u64> {
    let first = apps.start;
    let bytes = (0..apps.len() * args.versions)
        .into_par_iter()
        .map(|i| {
            let (app, version) = (first + i / args.versions, i % args.versions);
            write_bundle(args, src, scratch, app, version)
        })
        .collect::<Result<Vec<u64>>>()?
        .into_iter()
        .sum();
    if let Some(owner) = &args.owner {
        for app in apps {
            fs::write(
                src.join(package(app)).join("package.toml"),
                // Each its own bytes, as real settings files mostly are.
                format!("# {}\nowners = [\"{owner}\"]\n", package(app)),
            )?;
        }
    }
    Ok(bytes)
}

/// On branch `pull-request`: a `README.md` for every app, and `args.pull_request` new apps
/// with their settings, a `README.md` and every version. Returns the number of files.
fn pull_request(args: &Args, src: &Path) -> Result<usize> {
    git(&args.out, &["checkout", "-q", "-B", "pull-request", "main"])?;
    let apps = args.apps + args.pull_request;
    let scratch = args.out.join(".scratch");
    fs::create_dir_all(&scratch)?;
    write_apps(args, src, &scratch, args.apps..apps)?;
    fs::remove_dir_all(&scratch)?;
    for app in 0..apps {
        fs::write(
            src.join(package(app)).join("README.md"),
            format!("# Bench app {app}\n"),
        )?;
    }
    Ok(args.apps + args.pull_request * (args.versions + 2))
}

fn package(app: usize) -> String {
    format!("com.bench.app{app:05}")
}

fn version(v: usize) -> String {
    format!("1.{v}.0")
}

/// The app's publisher key: fixed by the seed and the app number.
fn app_key(seed: u64, app: usize) -> SigningKey {
    let digest = Sha256::new()
        .chain_update(b"mpk-registry bench key\0")
        .chain_update(seed.to_le_bytes())
        .chain_update((app as u64).to_le_bytes())
        .finalize();
    SigningKey::from_bytes(&digest.into())
}

/// Packs one bundle; returns its size in bytes.
fn write_bundle(args: &Args, src: &Path, scratch: &Path, app: usize, v: usize) -> Result<u64> {
    let package = package(app);
    let version = version(v);
    let root = scratch.join(format!("{package}-{version}"));
    fs::create_dir_all(&root)?;
    let stream = args.seed ^ ((app as u64) << 20 | v as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    write_wasm(
        &root.join("app.wasm"),
        args.wasm_bytes,
        stream,
        args.alphabet,
    )?;
    fs::write(
        root.join("abi.json"),
        format!(
            "{{\"methods\":[\"get\",\"set\",\"remove\"],\"app\":\"{package}\",\"version\":\"{version}\"}}\n"
        ),
    )?;
    let dir = src.join(&package);
    fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{package}-{version}.mpk"));
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(256 << 10, file);
    mpk_registry::pack::pack(
        manifest(&package, &version, app),
        &root,
        &app_key(args.seed, app),
        mpk_registry::canonical::Scheme::Legacy,
        &mut out,
    )
    .with_context(|| format!("cannot pack {}", path.display()))?;
    out.flush()?;
    fs::remove_dir_all(&root)?;
    Ok(fs::metadata(&path)?.len())
}

fn manifest(package: &str, version: &str, app: usize) -> Map<String, Value> {
    let value = json!({
        "version": "1.0",
        "package": package,
        "appVersion": version,
        "minRuntimeVersion": "0.1.0",
        "metadata": {
            "name": format!("Bench app {app}"),
            "description": format!("Synthetic application number {app}, generated for the build benchmark."),
            "author": "Benchmark corpus",
            "tags": ["bench", if app % 2 == 0 { "even" } else { "odd" }],
            "license": "MIT",
        },
        "links": {"github": format!("https://github.com/example/bench-app-{app}")},
        "wasm": {"path": "app.wasm"},
        "abi": {"path": "abi.json"},
    });
    match value {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// `len` bytes: the wasm magic and version, then xorshift output mapped onto `alphabet`
/// byte values. Written in chunks, so a 400 MiB module needs no 400 MiB buffer.
fn write_wasm(path: &Path, len: u64, stream: u64, alphabet: u32) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let header: &[u8] = b"\0asm\x01\0\0\0";
    let head = header.len().min(len as usize);
    out.write_all(&header[..head])?;
    let mut state = stream | 1;
    let mut left = len - head as u64;
    let mut chunk = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        for word in chunk[..n].chunks_mut(8) {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            for (b, r) in word.iter_mut().zip(bits) {
                *b = if alphabet == 256 {
                    r
                } else {
                    (r as u32 % alphabet) as u8
                };
            }
        }
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.flush()?;
    Ok(())
}

/// Adds the next unused version of app 0, signed with the same key.
fn add_one(args: &Args, src: &Path) -> Result<(String, String)> {
    let app = 0;
    let package = package(app);
    let dir = src.join(&package);
    if !dir.is_dir() {
        bail!(
            "{} does not exist: generate the corpus first",
            dir.display()
        );
    }
    let mut v = args.versions;
    while dir.join(format!("{package}-{}.mpk", version(v))).exists() {
        v += 1;
    }
    let scratch = args.out.join(".scratch");
    fs::create_dir_all(&scratch)?;
    write_bundle(args, src, &scratch, app, v)?;
    fs::remove_dir_all(&scratch)?;
    Ok((package, version(v)))
}

fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .status()
        .context("cannot run git")?;
    if !status.success() {
        bail!("git {} failed", args.join(" "));
    }
    Ok(())
}

fn git_commit(dir: &Path, time: i64, message: &str) -> Result<()> {
    git(dir, &["add", "-A", "registry-src"])?;
    let date = format!("@{time} +0000");
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--no-verify",
            "-m",
            message,
        ])
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .status()
        .context("cannot run git")?;
    if !status.success() {
        bail!("git commit failed");
    }
    Ok(())
}
