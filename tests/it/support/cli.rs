//! Running the `mpk-registry` binary and reading what it printed.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use super::registry::Registry;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_mpk-registry");

/// The binary, with nothing on its standard input and without the GitHub step summary of
/// the environment the tests run in.
pub fn command() -> Command {
    let mut command = Command::new(BIN);
    command
        .stdin(Stdio::null())
        .env_remove("GITHUB_STEP_SUMMARY");
    command
}

/// Runs the binary with `args` to its end.
pub fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command().args(args).output().expect("run mpk-registry")
}

/// Runs the binary with `args` in `dir` to its end.
pub fn run_in<I, S>(dir: &Path, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run mpk-registry")
}

impl Registry {
    /// The binary with `args`, to run in the root.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut run = command();
        run.current_dir(self.root()).args(args);
        run
    }

    /// Runs the binary in the root with `args`, plus extra environment, to its end.
    pub fn run(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut run = self.command(args);
        for (k, v) in env {
            run.env(k, v);
        }
        run.output().expect("run mpk-registry")
    }
}

/// The exit code (a signal is a failure of its own).
pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited with a code")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("UTF-8 stderr")
}

/// Standard output, then standard error, as one text (for messages and `contains`).
pub fn stdout_and_stderr(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A run as a golden file holds it: the command line, the exit code, then standard output and
/// standard error, each under a heading of its own.
pub fn transcript(args: &[&str], output: &Output) -> String {
    let mut text = format!(
        "$ mpk-registry {}\nexit code {}\n",
        args.join(" "),
        code(output)
    );
    for (name, stream) in [("stdout", stdout(output)), ("stderr", stderr(output))] {
        text.push_str(&format!("--- {name}\n{stream}"));
        if !stream.is_empty() && !stream.ends_with('\n') {
            text.push_str("\n(no newline at the end)\n");
        }
    }
    text
}

/// Standard output parsed as JSON.
pub fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}
