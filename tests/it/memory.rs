//! Memory stays small whatever a bundle decompresses to: bombs are refused while streaming, and
//! a large valid bundle is hashed without being held.
//!
//! Peak memory is the maximum resident set size of a child process running the real binary.
//! Each child is reaped with `wait4`, which reports that child's own peak; at the end the
//! kernel's running maximum over all reaped children (`RUSAGE_CHILDREN`) is checked as well.
//! The other tests of this binary start children of their own, which would count towards that
//! maximum, so the test runs in a test process of its own (the binary runs itself with a filter).

use mpk_registry::canonical::Scheme;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::bundle::*;
use crate::support::cli::command;
use serde_json::Value;

/// Every child must stay under this.
const PEAK_LIMIT_KIB: i64 = 64 * 1024;

struct Run {
    exit_code: i32,
    max_rss_kib: i64,
    json: Value,
}

/// Runs `command` to its end and returns its exit code and its own peak RSS in KiB.
// The child is reaped by wait4 (which also reports its resource usage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn run_measured(command: &mut Command) -> (i32, i64) {
    let child = command.stdin(Stdio::null()).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4 failed: {}", io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "the child did not exit normally");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// Runs `mpk-registry verify --json <bundle>` and measures the child's peak RSS.
fn verify_measured(bundle: &Path, dir: &Path) -> Run {
    let out_path = dir.join("verify-stdout.json");
    let stdout = File::create(&out_path).expect("create stdout file");
    let (exit_code, max_rss_kib) = run_measured(
        command()
            .arg("verify")
            .arg("--json")
            .arg(bundle)
            .stdout(stdout),
    );
    let text = std::fs::read_to_string(&out_path).expect("read stdout");
    Run {
        exit_code,
        max_rss_kib,
        json: serde_json::from_str(&text).expect("verify --json prints JSON"),
    }
}

fn rules_of(run: &Run) -> Vec<String> {
    run.json["reports"][0]["problems"]
        .as_array()
        .expect("problems is an array")
        .iter()
        .map(|p| p["rule"].as_str().expect("rule is a string").to_owned())
        .collect()
}

/// Data that is cheap to make and compress but not one repeated byte: a 4 KiB pseudo-random
/// block, stamped with its block number.
fn write_large_file(path: &Path, size: u64) -> io::Result<()> {
    let mut block = [0u8; 4096];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in block.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let blocks = size / 4096;
    for n in 0..blocks {
        block[..8].copy_from_slice(&n.to_le_bytes());
        out.write_all(&block)?;
    }
    out.write_all(&block[..(size % 4096) as usize])?;
    out.flush()
}

/// Set in the test process that [`bombs_and_a_400_mib_bundle_verify_in_under_64_mib`] starts
/// to measure in.
const ALONE: &str = "MPK_REGISTRY_MEMORY_TEST_ALONE";

/// Runs this test alone in a new process of this test binary; false when already there.
fn rerun_alone(test: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return false;
    }
    let out = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{test} failed alone:\n{stdout}");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test} did not run alone:\n{stdout}"
    );
    true
}

#[test]
fn bombs_and_a_400_mib_bundle_verify_in_under_64_mib() {
    if rerun_alone("memory::bombs_and_a_400_mib_bundle_verify_in_under_64_mib") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = to_bytes(&signed(base_manifest(), &key(1)));

    // 1. A zero-run bomb: a valid bundle followed by a 600 MiB entry of zeros.
    let started = Instant::now();
    let zero_bomb = dir.path().join("zero-bomb.mpk");
    bundle_to_file(&zero_bomb, |t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)?;
        t.file_from("padding.bin", 600 * MIB, Repeat::zeros(600 * MIB))
    })
    .expect("write the zero bomb");
    let compressed = std::fs::metadata(&zero_bomb).expect("stat").len();
    let run = verify_measured(&zero_bomb, dir.path());
    eprintln!(
        "600 MiB zero bomb ({compressed} bytes compressed): exit {}, peak RSS {} KiB, {:?}",
        run.exit_code,
        run.max_rss_kib,
        started.elapsed()
    );
    assert_eq!(run.exit_code, 1);
    assert_eq!(rules_of(&run), ["archive.size-cap"]);
    assert!(run.max_rss_kib < PEAK_LIMIT_KIB, "{} KiB", run.max_rss_kib);

    // 2. A 64 MiB GNU long name, announced before a normal entry.
    let started = Instant::now();
    let name_bomb = dir.path().join("long-name-bomb.mpk");
    bundle_to_file(&name_bomb, |t| {
        t.file("manifest.json", &manifest)?;
        t.file("app.wasm", WASM)?;
        t.file("abi.json", ABI)?;
        t.gnu_long_name_from(64 * MIB, Repeat::byte(b'a', 64 * MIB))?;
        t.file("aaaa", b"x")
    })
    .expect("write the long-name bomb");
    let run = verify_measured(&name_bomb, dir.path());
    eprintln!(
        "64 MiB GNU long name: exit {}, peak RSS {} KiB, {:?}",
        run.exit_code,
        run.max_rss_kib,
        started.elapsed()
    );
    assert_eq!(run.exit_code, 1);
    assert_eq!(rules_of(&run), ["archive.extension-header"]);
    assert!(run.max_rss_kib < PEAK_LIMIT_KIB, "{} KiB", run.max_rss_kib);

    // 3. A valid bundle with a 400 MiB wasm, made by `pack`.
    let started = Instant::now();
    let root = dir.path().join("app");
    std::fs::create_dir(&root).expect("mkdir");
    write_large_file(&root.join("app.wasm"), 400 * MIB).expect("write the large wasm");
    let template = into_map(serde_json::json!({
        "version": "1.0",
        "package": "com.example.large",
        "appVersion": "1.0.0",
        "minRuntimeVersion": "0.1.0",
        "metadata": {"name": "Large"},
        "wasm": {"path": "app.wasm"},
    }));
    let large = dir.path().join("large.mpk");
    let out = BufWriter::new(File::create(&large).expect("create bundle"));
    mpk_registry::pack::pack(template, &root, &key(1), Scheme::Legacy, out)
        .expect("pack the large bundle");
    let packed = started.elapsed();
    let run = verify_measured(&large, dir.path());
    eprintln!(
        "400 MiB valid bundle: exit {}, peak RSS {} KiB, packed in {packed:?}, total {:?}",
        run.exit_code,
        run.max_rss_kib,
        started.elapsed()
    );
    assert_eq!(run.exit_code, 0, "{}", run.json);
    let report = &run.json["reports"][0];
    assert_eq!(report["ok"], true);
    assert_eq!(report["bundle"]["artifacts"][0]["size"], 400 * MIB);
    assert!(run.max_rss_kib < PEAK_LIMIT_KIB, "{} KiB", run.max_rss_kib);

    // The kernel's maximum over every child reaped so far agrees.
    // SAFETY: `rusage` is plain old data filled by getrusage.
    let mut children: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut children) },
        0
    );
    eprintln!("max RSS over all children: {} KiB", children.ru_maxrss);
    assert!(children.ru_maxrss > 0);
    assert!(
        children.ru_maxrss < PEAK_LIMIT_KIB,
        "{} KiB",
        children.ru_maxrss
    );

    // The probe does see a large child: dd touches a 96 MiB buffer.
    let (exit_code, dd_rss_kib) = run_measured(
        Command::new("dd")
            .args(["if=/dev/zero", "of=/dev/null", "bs=96M", "count=1"])
            .stderr(Stdio::null()),
    );
    assert_eq!(exit_code, 0);
    eprintln!("dd with a 96 MiB buffer: peak RSS {dd_rss_kib} KiB");
    assert!(dd_rss_kib > PEAK_LIMIT_KIB, "{dd_rss_kib} KiB");
}
