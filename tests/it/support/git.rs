//! Git for tests, and the pull-request gate on a registry's history.
//!
//! Git runs without the machine's own configuration, as a fixed author, at fixed dates: the
//! same calls give the same commits everywhere. The gate's tests commit a base, commit a change
//! on top, and run `check` against the base ([`Registry::check`]).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use mpk_registry::check::{self, Change, CheckOptions, CheckOutcome};
use mpk_registry::report::Rule;

use super::registry::Registry;
use super::Verdict;

/// Unix time of every commit git makes here unless told otherwise: 2024-06-01T00:00:00Z.
pub const EPOCH: i64 = 1_717_200_000;

/// The date of the `n`-th commit a test makes without naming one: around [`EPOCH`], going
/// backwards and repeating as the clocks of authors' machines do, so no test passes only
/// because commit dates grow.
pub fn author_clock(n: i64) -> i64 {
    const STEPS: [i64; 5] = [0, -86_400, -86_400, 3_600, -600];
    EPOCH + STEPS[n.rem_euclid(5) as usize]
}

/// Runs git in `dir` (commits dated [`EPOCH`]); panics on failure, returns stdout trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    run_git(dir, EPOCH, args, None)
}

/// [`git`] with `at` (unix seconds) as the author and committer date of any commit it makes.
pub fn git_at(dir: &Path, at: i64, args: &[&str]) -> String {
    run_git(dir, at, args, None)
}

/// [`git`] with `input` on its standard input.
pub fn git_with_input(dir: &Path, args: &[&str], input: &str) -> String {
    run_git(dir, EPOCH, args, Some(input))
}

fn run_git(dir: &Path, at: i64, args: &[&str], input: Option<&str>) -> String {
    let date = format!("{at} +0000");
    let mut child = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .args([
            "-c",
            "user.name=Registry Tests",
            "-c",
            "user.email=registry-tests@example.test",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.autocrlf=false",
        ])
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(input.as_bytes())
            .expect("write git's input");
    }
    let out = child.wait_with_output().expect("git runs");
    assert!(
        out.status.success(),
        "git {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

// ---------------------------------------------------------------------------------------------
// The gate

impl Registry {
    /// Runs the gate against `base` through the library; panics when it cannot run.
    pub fn check(&self, base: &str, actor: Option<&str>) -> CheckOutcome {
        self.check_options(base, None, actor)
    }

    /// Runs the gate on `base..head` through the library; panics when it cannot run.
    pub fn check_range(&self, base: &str, head: &str, actor: Option<&str>) -> CheckOutcome {
        self.check_options(base, Some(head), actor)
    }

    fn check_options(&self, base: &str, head: Option<&str>, actor: Option<&str>) -> CheckOutcome {
        self.check_actors(base, head, actor.as_slice())
    }

    /// Runs the gate on `base..head` (head: `HEAD`) as made by every one of `actors`.
    pub fn check_actors(&self, base: &str, head: Option<&str>, actors: &[&str]) -> CheckOutcome {
        check::check(&CheckOptions {
            src: self.src(),
            base: base.to_owned(),
            head: head.map(str::to_owned),
            actors: actors.iter().map(|a| (*a).to_owned()).collect(),
        })
        .unwrap_or_else(|e| panic!("check could not run: {e:#}"))
    }
}

/// The change to `file`, or a panic that lists every change.
pub fn change<'a>(outcome: &'a CheckOutcome, file: &str) -> &'a Change {
    outcome
        .changes
        .iter()
        .find(|c| c.file == file)
        .unwrap_or_else(|| panic!("no change to {file}; report:\n{}", check::to_text(outcome)))
}

/// The rules a changed file was refused for, in report order.
pub fn problems(outcome: &CheckOutcome, file: &str) -> Vec<Rule> {
    change(outcome, file)
        .report
        .problems
        .iter()
        .map(|p| p.rule)
        .collect()
}

/// The rules a changed file was warned about, in report order.
pub fn warnings(outcome: &CheckOutcome, file: &str) -> Vec<Rule> {
    change(outcome, file)
        .report
        .warnings
        .iter()
        .map(|p| p.rule)
        .collect()
}

/// A check: `file` (its path in the registry folder, `/`-prefixed from the repository root
/// when outside it) changed, was refused, and `rule` is among its problems.
impl Verdict for CheckOutcome {
    #[track_caller]
    fn assert_refused(&self, file: &str, rule: Rule) {
        let c = change(self, file);
        assert!(
            !c.report.ok() && c.report.problems.iter().any(|p| p.rule == rule),
            "expected {file} refused for {}; report:\n{}",
            rule.code(),
            check::to_text(self)
        );
        assert!(self.refused());
    }
}

/// Asserts that nothing was refused.
#[track_caller]
pub fn assert_clear(outcome: &CheckOutcome) {
    assert!(
        !outcome.refused() && outcome.changes.iter().all(|c| c.report.problems.is_empty()),
        "expected a clear check; report:\n{}",
        check::to_text(outcome)
    );
}
