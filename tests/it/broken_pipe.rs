//! Output to a reader that went away (`mpk-registry verify *.mpk | head -1`) ends the command
//! quietly with exit code 0, never with a panic.

use std::io::Read;
use std::process::Stdio;

use crate::support::cli::command;

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // Enough refused files that their reports fill the pipe's buffer long after it closed.
    let files: Vec<String> = (0..4000)
        .map(|i| {
            dir.path()
                .join(format!("missing-{i}.mpk"))
                .display()
                .to_string()
        })
        .collect();
    let mut child = command()
        .arg("verify")
        .args(&files)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = [0u8; 1];
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_exact(&mut first)
        .expect("some output");
    // The reading end is dropped here, as `head -c1` would.
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("the binary exits");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}
