//! What may live in the registry folder. The one classifier of paths that `source`, `check`
//! and `policy` share: a file is a setting, a bundle or a document of a known shape, or it is
//! refused. Nothing is ignored, so nothing can ride along unjudged.
//!
//! ```text
//! registry.toml                      the registry's settings
//! README.md                          documents (also <package>/README.md)
//! <package>/package.toml             a package's settings
//! <package>/<package>-<version>.mpk  a bundle
//! orgs/<org>.toml                    an organisation
//! ```

use crate::git::Mode;
use crate::manifest::is_coordinate;
use crate::report::Rule;

/// The folder that holds organisations; no package can be named like it.
pub const ORGS: &str = "orgs";

/// Files that only document the registry or a package; the site ignores them.
pub const DOCUMENTS: &[&str] = &["README.md"];

/// What a path in the registry folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Registry,
    Package(String),
    Org(String),
    /// `<package>/<file>.mpk`; the file-name rule later ties it to its manifest.
    Bundle {
        package: String,
    },
    Document,
}

/// Why a path cannot be part of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub message: String,
}

impl Refusal {
    fn new(rule: Rule, message: impl Into<String>) -> Refusal {
        Refusal {
            rule,
            message: message.into(),
        }
    }
}

/// Classifies a path of the registry folder (`/`-separated, relative to it) with the mode git
/// records for it. `lossy` says the path's bytes were not UTF-8.
pub fn classify(rel: &str, mode: Mode, lossy: bool) -> Result<Kind, Refusal> {
    check_path(rel, lossy)?;
    check_mode(mode)?;
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.last() == Some(&".gitattributes") {
        return Err(Refusal::new(
            Rule::Gitattributes,
            "a .gitattributes inside the registry folder can make git check out other bytes than it stores",
        ));
    }
    match parts.as_slice() {
        ["registry.toml"] => Ok(Kind::Registry),
        [doc] if DOCUMENTS.contains(doc) => Ok(Kind::Document),
        [ORGS, file] => match file.strip_suffix(".toml") {
            Some(org) if is_coordinate(org) => Ok(Kind::Org(org.to_owned())),
            _ => Err(unknown(rel)),
        },
        [package, _] if *package == ORGS => Err(unknown(rel)),
        // A package folder is named as its bundles' `package` is, so names are ASCII and
        // letter case is the only folding two names can differ by ([`identity`]).
        [package, "package.toml"] if is_coordinate(package) => {
            Ok(Kind::Package((*package).to_owned()))
        }
        [package, doc] if is_coordinate(package) && DOCUMENTS.contains(doc) => Ok(Kind::Document),
        [package, file] if is_coordinate(package) && file.ends_with(".mpk") => Ok(Kind::Bundle {
            package: (*package).to_owned(),
        }),
        _ if rel.ends_with(".mpk") => Err(Refusal::new(
            Rule::FileName,
            "bundles live at registry-src/<package>/<package>-<appVersion>.mpk; this one is elsewhere",
        )),
        _ => Err(unknown(rel)),
    }
}

/// Who decides over a path of the folder, whatever its shape: a file in a package's folder is
/// its owners' business even when it is refused, so rights never depend on the shape.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Governor {
    /// The registry's maintainers.
    Registry,
    /// The members of an org, over `orgs/<org>.toml` (creating or deleting it is the
    /// maintainers').
    Org(String),
    /// The owners of a package, over its folder.
    Package(String),
}

/// The one identity of a package or org name, the same for every spelling that a
/// case-insensitive file system or host takes for one. Names are ASCII (package folders and
/// orgs are coordinates, `[A-Za-z0-9._-]`), so ASCII case folding is complete: no Unicode
/// compatibility form can make two of them one.
pub fn identity(name: &str) -> String {
    name.to_ascii_lowercase()
}

pub fn governor(rel: &str) -> Governor {
    match rel.split('/').collect::<Vec<_>>().as_slice() {
        [ORGS, file] => match file.strip_suffix(".toml") {
            Some(org) => Governor::Org(org.to_owned()),
            None => Governor::Registry,
        },
        [package, _, ..] if *package != ORGS => Governor::Package((*package).to_owned()),
        _ => Governor::Registry,
    }
}

fn unknown(rel: &str) -> Refusal {
    Refusal::new(
        Rule::UnknownFile,
        format!(
            "{rel} is not a file the registry knows: only registry.toml, README.md, <package>/package.toml, <package>/README.md, <package>/<package>-<version>.mpk and {ORGS}/<org>.toml may be here"
        ),
    )
}

/// Longest component of a path, in bytes: what Linux (ext4), macOS (APFS) and Windows (NTFS,
/// in UTF-16 units, never more than bytes) hold in one name.
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Longest path inside the registry folder, in bytes. macOS refuses absolute paths over 1024
/// bytes (Linux over 4096): 768 leaves 256 for wherever a clone lives. The longest path a
/// registry needs, `<package>/<package>-<version>.mpk`, is 128 + 1 + 255 bytes. Windows'
/// classic limit of 260 characters (MAX_PATH) for the whole path is not used: the longest
/// coordinates alone exceed it, so a Windows clone of a registry needs git's `core.longpaths`.
pub const MAX_PATH_BYTES: usize = 768;

/// Whether Windows takes a name whose part before the first dot is `stem` for a device, in
/// any letter case and with any extension (`nul.txt`): CON, PRN, AUX, NUL, CONIN$, CONOUT$,
/// COM0-9 and LPT0-9 (also with a superscript 1, 2 or 3, as Windows reads them).
fn is_windows_device(stem: &str) -> bool {
    let stem = stem.trim_end_matches(' ').to_ascii_lowercase();
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix).is_some_and(|n| {
            (n.len() == 1 && n.bytes().all(|b| b.is_ascii_digit()))
                || matches!(n, "\u{b9}" | "\u{b2}" | "\u{b3}")
        })
    };
    matches!(
        stem.as_str(),
        "con" | "prn" | "aux" | "nul" | "conin$" | "conout$"
    ) || numbered("com")
        || numbered("lpt")
}

/// Characters Windows refuses in a name (controls are refused everywhere).
const WINDOWS_FORBIDDEN: &[char] = &['<', '>', ':', '"', '|', '?', '*'];

/// Code points macOS (HFS+) ignores in names, so `.g\u{200c}it` is `.git` there.
fn hfs_ignorable(c: char) -> bool {
    matches!(c, '\u{200c}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{206a}'..='\u{206f}' | '\u{feff}')
}

/// Invariant 1: every path of the registry checks out on Linux, macOS and Windows, so no
/// accepted change can leave a repository that some clone, CI runner or host cannot hold.
/// Path names are also data that reaches logs, pages and annotations: no control characters.
/// Judged per component: length, characters Windows refuses, trailing dots and spaces (Windows
/// drops them, so `a.` is `a`), Windows device names, `~` (Windows' short names, `GIT~1` for
/// `.git`), and every spelling of `.git` and `.gitmodules` that git itself refuses to check out.
pub fn check_path(rel: &str, lossy: bool) -> Result<(), Refusal> {
    let refuse = |message: String| Err(Refusal::new(Rule::PathName, message));
    if lossy {
        return refuse("the path is not valid UTF-8".to_owned());
    }
    if let Some(c) = rel.chars().find(|c| c.is_control()) {
        return refuse(format!(
            "the path contains the control character U+{:04X}",
            c as u32
        ));
    }
    if rel.len() > MAX_PATH_BYTES {
        return refuse(format!(
            "the path is {} bytes long; paths in the registry folder are at most {MAX_PATH_BYTES} bytes, so that every clone can hold them",
            rel.len()
        ));
    }
    for part in rel.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return refuse(format!(
                "the path has a component {part:?}, which file systems read differently"
            ));
        }
        if part.len() > MAX_COMPONENT_BYTES {
            return refuse(format!(
                "the name {}… is {} bytes long; file systems hold names of at most {MAX_COMPONENT_BYTES} bytes",
                part.chars().take(32).collect::<String>(),
                part.len()
            ));
        }
        if let Some(c) = part.chars().find(|c| WINDOWS_FORBIDDEN.contains(c)) {
            return refuse(format!(
                "the name {part:?} contains {c:?}, which Windows does not allow in a file name"
            ));
        }
        if part.ends_with(['.', ' ']) {
            return refuse(format!(
                "the name {part:?} ends with a dot or a space, which Windows drops (it would be another file's name there)"
            ));
        }
        if part.contains('~') {
            return refuse(format!(
                "the name {part:?} contains '~', which can spell a Windows short name (GIT~1 is .git)"
            ));
        }
        let stem = part.split('.').next().unwrap_or(part);
        if is_windows_device(stem) {
            return refuse(format!(
                "the name {part:?} is a Windows device name ({stem}), which no Windows clone can hold as a file"
            ));
        }
        let plain: String = part.chars().filter(|c| !hfs_ignorable(*c)).collect();
        let plain = plain.trim_end_matches(['.', ' ']).to_ascii_lowercase();
        if plain == ".git" || plain == ".gitmodules" {
            return refuse(format!(
                "the name {part:?} is git's own {plain}, which git refuses to check out"
            ));
        }
    }
    Ok(())
}

fn check_mode(mode: Mode) -> Result<(), Refusal> {
    let what = match mode {
        Mode::File | Mode::Executable => return Ok(()),
        Mode::Symlink => "a symbolic link",
        Mode::Submodule => "a submodule",
        Mode::Unmerged => {
            return Err(Refusal::new(
                Rule::NotInGit,
                "the file has unresolved merge conflicts in git's index",
            ))
        }
        Mode::Other => "an object of an unknown kind",
    };
    Err(Refusal::new(
        Rule::NotAFile,
        format!("git records this path as {what}; the registry holds only regular files"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(rel: &str) -> Option<Rule> {
        classify(rel, Mode::File, false).err().map(|r| r.rule)
    }

    #[test]
    fn known_shapes_are_classified() {
        assert_eq!(
            classify("registry.toml", Mode::File, false),
            Ok(Kind::Registry)
        );
        assert_eq!(classify("README.md", Mode::File, false), Ok(Kind::Document));
        assert_eq!(
            classify("a/README.md", Mode::File, false),
            Ok(Kind::Document)
        );
        assert_eq!(
            classify("a/package.toml", Mode::File, false),
            Ok(Kind::Package("a".into()))
        );
        assert_eq!(
            classify("orgs/x.toml", Mode::File, false),
            Ok(Kind::Org("x".into()))
        );
        assert_eq!(
            classify("a/a-1.0.0.mpk", Mode::Executable, false),
            Ok(Kind::Bundle {
                package: "a".into()
            })
        );
    }

    #[test]
    fn every_path_has_a_governor() {
        assert_eq!(governor("registry.toml"), Governor::Registry);
        assert_eq!(governor("README.md"), Governor::Registry);
        assert_eq!(governor("orgs/x.toml"), Governor::Org("x".into()));
        assert_eq!(governor("orgs/x.txt"), Governor::Registry);
        assert_eq!(governor("orgs/a/b.toml"), Governor::Registry);
        assert_eq!(governor("a/blobs/x"), Governor::Package("a".into()));
        assert_eq!(governor("a/package.toml"), Governor::Package("a".into()));
    }

    #[test]
    fn unknown_shapes_are_refused() {
        for rel in [
            "a/b/c.toml",
            "a/blobs/x",
            "Registry.toml",
            "a/Package.toml",
            "orgs/package",
            "notes.txt",
        ] {
            assert_eq!(rule(rel), Some(Rule::UnknownFile), "{rel}");
        }
    }

    #[test]
    fn the_orgs_folder_is_never_a_package() {
        assert_eq!(rule("orgs/orgs-1.0.0.mpk"), Some(Rule::UnknownFile));
        assert_eq!(
            classify("orgs/package.toml", Mode::File, false),
            Ok(Kind::Org("package".into()))
        );
    }

    #[test]
    fn bundles_elsewhere_are_misplaced() {
        assert_eq!(rule("x.mpk"), Some(Rule::FileName));
        assert_eq!(rule("a/b/a-1.mpk"), Some(Rule::FileName));
    }

    #[test]
    fn gitattributes_at_any_level_is_refused() {
        assert_eq!(rule(".gitattributes"), Some(Rule::Gitattributes));
        assert_eq!(rule("a/.gitattributes"), Some(Rule::Gitattributes));
    }

    #[test]
    fn path_names_with_controls_or_odd_components_are_refused() {
        for rel in [
            "a/a\n::error::x.mpk",
            "a/\u{1b}[31m.mpk",
            "a/a\u{85}.mpk",
            "a/../b",
            "./a",
            "a//b",
            "a\\b/c",
        ] {
            assert_eq!(rule(rel), Some(Rule::PathName), "{rel:?}");
        }
        assert_eq!(
            classify("a/x.mpk", Mode::File, true).unwrap_err().rule,
            Rule::PathName
        );
    }

    #[test]
    fn paths_no_file_system_holds_are_refused() {
        let long_name = format!("a/{}.mpk", "x".repeat(252));
        let long_path = format!("a/{}", ["b"; 384].join("/"));
        for rel in [
            long_name.as_str(),
            long_path.as_str(),
            "a/a<1.mpk",
            "a/a:1.mpk",
            "a/a\"1.mpk",
            "a/a|1.mpk",
            "a/a?1.mpk",
            "a/a*1.mpk",
            "a/a>1.mpk",
            "a./package.toml",
            "a /package.toml",
            "a/README.md.",
            "CON/package.toml",
            "nul.tools/package.toml",
            "Com1/package.toml",
            "lpt9.x/package.toml",
            "LPT0/package.toml",
            "aux .x/package.toml",
            "com\u{b9}/package.toml",
            ".git/package.toml",
            ".GIT/package.toml",
            ".git. ./package.toml",
            ".g\u{200c}it/package.toml",
            ".\u{feff}GitModules/package.toml",
            "git~1/package.toml",
            "a/a~1.mpk",
        ] {
            assert_eq!(rule(rel), Some(Rule::PathName), "{rel:?}");
        }
    }

    #[test]
    fn paths_at_the_limits_are_accepted() {
        let package = "p".repeat(128);
        let longest = format!("{package}/{package}-{}.mpk", "v".repeat(250 - 128));
        assert_eq!(
            longest.rsplit('/').next().unwrap().len(),
            MAX_COMPONENT_BYTES
        );
        assert_eq!(
            classify(&longest, Mode::File, false),
            Ok(Kind::Bundle { package })
        );
        for rel in [
            "console/package.toml",
            "com10/package.toml",
            "a.nul/package.toml",
            ".gitx/package.toml",
            "github/package.toml",
        ] {
            assert_eq!(rule(rel), None, "{rel:?}");
        }
    }

    #[test]
    fn package_folders_are_named_as_packages() {
        for rel in ["Zoë/package.toml", "a b/README.md", "a+b/a+b-1.0.0.mpk"] {
            assert_ne!(rule(rel), None, "{rel:?}");
        }
        assert_eq!(rule("a+b/package.toml"), Some(Rule::UnknownFile));
        assert_eq!(rule("a+b/a+b-1.0.0.mpk"), Some(Rule::FileName));
    }

    #[test]
    fn identity_folds_letter_case_only() {
        assert_eq!(identity("Com.Example.App"), identity("com.example.app"));
        assert_ne!(identity("com.example.app"), identity("com.example.app-"));
    }

    #[test]
    fn links_and_submodules_are_refused() {
        for mode in [Mode::Symlink, Mode::Submodule, Mode::Other] {
            assert_eq!(
                classify("a/a-1.0.0.mpk", mode, false).unwrap_err().rule,
                Rule::NotAFile
            );
        }
        assert_eq!(
            classify("a/package.toml", Mode::Unmerged, false)
                .unwrap_err()
                .rule,
            Rule::NotInGit
        );
    }
}
