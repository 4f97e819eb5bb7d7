//! Golden files: output compared byte for byte with files checked in under `tests/golden/`.
//!
//! With `UPDATE_GOLDEN=1` in the environment the comparison writes the output there instead
//! (and passes); review the diff before committing it.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use super::registry::tree;

/// `rel` under `tests/golden/`.
pub fn golden_path(rel: &str) -> PathBuf {
    super::repo_path("tests/golden").join(rel)
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// `actual` is `tests/golden/<rel>`, byte for byte.
#[track_caller]
pub fn assert_golden(rel: &str, actual: impl AsRef<[u8]>) {
    let actual = actual.as_ref();
    let path = golden_path(rel);
    if updating() {
        fs::create_dir_all(path.parent().expect("a file has a parent")).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "tests/golden/{rel}: {e}; UPDATE_GOLDEN=1 writes it, the output is:\n{}",
            String::from_utf8_lossy(actual)
        )
    });
    assert!(
        expected == actual,
        "the output differs from tests/golden/{rel} (UPDATE_GOLDEN=1 rewrites it after an intended change)\n{}\nthe output is:\n{}",
        first_difference(&expected, actual),
        String::from_utf8_lossy(actual)
    );
}

/// The files of `actual`, by `/`-separated path, are those below `tests/golden/<rel>/`, byte
/// for byte.
#[track_caller]
pub fn assert_golden_tree(rel: &str, actual: &BTreeMap<String, Vec<u8>>) {
    let golden = golden_path(rel);
    if updating() {
        let _ = fs::remove_dir_all(&golden);
        for (rel, bytes) in actual {
            let path = golden.join(rel);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        }
        return;
    }
    assert!(
        golden.is_dir(),
        "tests/golden/{rel} is missing; UPDATE_GOLDEN=1 writes it"
    );
    let expected = tree(&golden);
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let changed: Vec<String> = expected
        .iter()
        .filter_map(|(path, bytes)| {
            let got = actual.get(path)?;
            (got != bytes).then(|| format!("{path}: {}", first_difference(bytes, got)))
        })
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && changed.is_empty(),
        "the output differs from tests/golden/{rel} (UPDATE_GOLDEN=1 rewrites it after an intended change)\n\
         missing from the output: {missing:#?}\nnot in the golden folder: {extra:#?}\nchanged:\n{}",
        changed.join("\n")
    );
}

/// The first line where two texts differ, for a readable failure.
fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let (e, a) = (
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(actual),
    );
    for (i, (el, al)) in e.lines().zip(a.lines()).enumerate() {
        if el != al {
            return format!("line {}:\n  golden: {el}\n  output: {al}", i + 1);
        }
    }
    format!(
        "{} lines golden, {} lines output (or a difference in line endings)",
        e.lines().count(),
        a.lines().count()
    )
}
