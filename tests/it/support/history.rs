//! A registry's history made of pull requests, as GitHub makes them, and the same history as a
//! shell script that replays it.
//!
//! Each pull request is one or more commits on top of `main`, dated as its author's clock says
//! (forwards, repeated, backwards, before the first release), then a merge commit whose first
//! parent is `main`, as `refs/pull/N/merge` is. An accepted pull request moves `main` to its
//! merge commit; a refused one is dropped. Everything done to the repository is also written to
//! [`History::script`], so a failing history can be replayed by hand with the binary.

use std::fs;
use std::path::{Path, PathBuf};

use mpk_registry::check::{self, CheckOptions, CheckOutcome};
use mpk_registry::keys::KeyFile;
use mpk_registry::site::{self, BuildOptions, Outcome};
use tempfile::TempDir;

use super::bundle::{app_bundle, key};
use super::git::{git_at, EPOCH};
use super::registry::SRC;

/// What a file of the repository holds: a bundle (packed by `pack` from its coordinates and key
/// seed, [`app_bundle`]) or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bundle {
        package: String,
        version: String,
        seed: u8,
    },
    Text(String),
}

/// A git repository holding `registry-src/`, its history of pull requests, and the script that
/// replays it.
pub struct History {
    _tmp: TempDir,
    root: PathBuf,
    script: String,
    /// Seeds of the keys the script has written a key file for.
    keys: Vec<u8>,
}

impl History {
    /// A repository whose first commit on `main`, dated `at`, holds `files` (paths from the
    /// root).
    pub fn new(files: &[(String, Content)], at: i64) -> History {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let root = tmp.path().join("repo");
        fs::create_dir_all(&root).expect("create the repository");
        let mut history = History {
            _tmp: tmp,
            root,
            script: String::from(PREAMBLE),
            keys: Vec::new(),
        };
        history.git(at, &["init", "--quiet", "--initial-branch=main"]);
        for (path, content) in files {
            history.write(path, content);
        }
        history.commit(at, "the first release");
        history
    }

    /// Another repository with this one's history so far, and its script.
    pub fn copy(&self) -> History {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let root = tmp.path().join("repo");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&self.root)
            .arg(&root)
            .status()
            .expect("cp runs");
        assert!(status.success(), "cp -a {} failed", self.root.display());
        History {
            _tmp: tmp,
            root,
            script: self.script.clone(),
            keys: self.keys.clone(),
        }
    }

    pub fn src(&self) -> PathBuf {
        self.root.join(SRC)
    }

    /// The script so far: bash, run with `MPK` set to the binary (else `mpk-registry` on the
    /// `PATH`), in an empty folder.
    pub fn script(&self) -> &str {
        &self.script
    }

    fn line(&mut self, line: impl AsRef<str>) {
        self.script.push_str(line.as_ref());
        self.script.push('\n');
    }

    /// Runs git at `at`, in the repository and in the script.
    fn git(&mut self, at: i64, args: &[&str]) -> String {
        let quoted: Vec<String> = args.iter().map(|a| quote(a)).collect();
        self.line(format!("g {at} {}", quoted.join(" ")));
        git_at(&self.root, at, args)
    }

    /// Writes `content` at `path` (from the root).
    pub fn write(&mut self, path: &str, content: &Content) {
        let file = self.root.join(path);
        fs::create_dir_all(file.parent().expect("a file has a parent")).expect("create folder");
        match content {
            Content::Text(text) => {
                fs::write(&file, text).expect("write a file");
                let dir = Path::new(path).parent().expect("a file has a parent");
                self.line(format!("mkdir -p {}", quote(&dir.to_string_lossy())));
                self.line(format!("cat > {} <<'EOF'\n{}EOF", quote(path), text));
            }
            Content::Bundle {
                package,
                version,
                seed,
            } => {
                fs::write(&file, app_bundle(package, version, &key(*seed))).expect("write");
                self.key_file(*seed);
                self.line(format!(
                    "bundle {} {} {seed} {}",
                    quote(package),
                    quote(version),
                    quote(path)
                ));
            }
        }
    }

    /// Writes the key file of `seed` into the script, once.
    fn key_file(&mut self, seed: u8) {
        if self.keys.contains(&seed) {
            return;
        }
        self.keys.push(seed);
        let text = serde_json::to_string(&KeyFile::from_signing_key(&key(seed))).expect("JSON");
        self.line(format!("cat > ../keys/{seed}.json <<'EOF'\n{text}\nEOF"));
    }

    pub fn remove(&mut self, path: &str) {
        fs::remove_file(self.root.join(path)).expect("remove a file");
        self.line(format!("rm {}", quote(path)));
    }

    /// Commits everything at `at`; returns the commit.
    pub fn commit(&mut self, at: i64, message: &str) -> String {
        self.git(at, &["add", "-A"]);
        self.git(at, &["commit", "-q", "--allow-empty", "-m", message]);
        git_at(&self.root, at, &["rev-parse", "HEAD"])
    }

    /// Starts a pull request: its commits go on top of `main`.
    pub fn open(&mut self, step: usize, actor: &str) {
        self.line(format!("\n# step {step}: a pull request by {actor}"));
        self.git(EPOCH, &["checkout", "-q", "--detach", "main"]);
    }

    /// Makes the pull request's merge commit at `at`: its tree is the pull request's, its first
    /// parent `main`. Returns it; the script keeps it in `$head` and `main` in `$base`.
    pub fn merge(&mut self, at: i64) -> (String, String) {
        let base = git_at(&self.root, at, &["rev-parse", "main"]);
        let head = git_at(
            &self.root,
            at,
            &[
                "commit-tree",
                "HEAD^{tree}",
                "-p",
                "main",
                "-p",
                "HEAD",
                "-m",
                "Merge pull request",
            ],
        );
        self.line("base=$(git rev-parse main)");
        self.line(format!(
            "head=$(g {at} commit-tree 'HEAD^{{tree}}' -p main -p HEAD -m 'Merge pull request')"
        ));
        (base, head)
    }

    /// Runs the gate on `base..head` as `actor` through the library; the script runs the binary
    /// and prints its exit code (0 accepted, 1 refused) for `step`.
    pub fn check(&mut self, step: usize, base: &str, head: &str, actor: &str) -> CheckOutcome {
        self.line(format!(
            "set +e; \"$MPK\" check {SRC} --base \"$base\" --head \"$head\" --actor {} >/dev/null; code=$?; set -e",
            quote(actor)
        ));
        self.line(format!("echo \"step {step}: check exit $code\""));
        check::check(&CheckOptions {
            src: self.src(),
            base: base.to_owned(),
            head: Some(head.to_owned()),
            actors: vec![actor.to_owned()],
        })
        .unwrap_or_else(|e| panic!("check could not run: {e:#}"))
    }

    /// Moves `main` to `head` (the pull request is merged) and checks it out.
    pub fn accept(&mut self, head: &str) {
        self.line(format!("g {EPOCH} checkout -q -B main \"$head\""));
        git_at(&self.root, EPOCH, &["checkout", "-q", "-B", "main", head]);
    }

    /// Drops the pull request: `main` stays, and is checked out.
    pub fn drop_change(&mut self) {
        self.git(EPOCH, &["checkout", "-q", "-f", "main"]);
    }

    /// Builds `main`'s registry into `out`, as the deploy does.
    pub fn build(&mut self, out: &Path) -> Outcome {
        self.line(format!(
            "\"$MPK\" build {SRC} -o ../public --no-cache >/dev/null"
        ));
        site::build(&BuildOptions {
            src: self.src(),
            out: out.to_path_buf(),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("build could not run: {e:#}"))
    }

    /// The tree of `main`, which the script prints last.
    pub fn tree(&mut self) -> String {
        self.line("echo \"tree $(git rev-parse 'main^{tree}')\"");
        git_at(&self.root, EPOCH, &["rev-parse", "main^{tree}"])
    }
}

/// The start of every script: git as the tests run it, fixed author, and `bundle PACKAGE
/// VERSION SEED PATH` packing the test support's bundle ([`app_bundle`]) with `pack`.
const PREAMBLE: &str = r#"#!/usr/bin/env bash
# Replays a registry history of tests/it/model.rs. Run in an empty folder:
#   MPK=target/debug/mpk-registry bash history.sh
set -euo pipefail
MPK=${MPK:-mpk-registry}
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
g() {
  local at=$1; shift
  GIT_AUTHOR_DATE="$at +0000" GIT_COMMITTER_DATE="$at +0000" git -c user.name='Registry Tests' \
    -c user.email=registry-tests@example.test -c commit.gpgsign=false -c core.autocrlf=false "$@"
}
bundle() {
  local dir; dir=$(mktemp -d)
  cat > "$dir/manifest.json" <<EOF
{"version":"1.0","package":"$1","appVersion":"$2","minRuntimeVersion":"0.1.0","metadata":{"name":"App $1","description":"Test app $1","author":"Test Author","tags":["test"],"license":"MIT"},"wasm":{"path":"app.wasm"},"abi":{"path":"abi.json"}}
EOF
  printf '\0asm\1\0\0\0%s@%sapp.wasm' "$1" "$2" > "$dir/app.wasm"
  printf '{"package":"%s","methods":["get","set"]}\n' "$1" > "$dir/abi.json"
  mkdir -p "$(dirname "$4")"
  "$MPK" pack "$dir/manifest.json" --key "../keys/$3.json" -o "$4" --force >/dev/null
  rm -r "$dir"
}
mkdir -p keys repo
cd repo
"#;

/// `text` as one shell word.
fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=@:+".contains(c))
    {
        return text.to_owned();
    }
    let mut out = String::from("'");
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}
