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
    check_name(rel, lossy)?;
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
        [package, "package.toml"] => Ok(Kind::Package((*package).to_owned())),
        [_, doc] if DOCUMENTS.contains(doc) => Ok(Kind::Document),
        [package, file] if file.ends_with(".mpk") => Ok(Kind::Bundle {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Governor {
    /// The registry's maintainers.
    Registry,
    /// The members of an org, over `orgs/<org>.toml` (creating or deleting it is the
    /// maintainers').
    Org(String),
    /// The owners of a package, over its folder.
    Package(String),
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

/// Path names are data that reaches logs, pages and annotations: no control characters, no
/// components that mean something else to a file system.
fn check_name(rel: &str, lossy: bool) -> Result<(), Refusal> {
    if lossy {
        return Err(Refusal::new(Rule::PathName, "the path is not valid UTF-8"));
    }
    if let Some(c) = rel.chars().find(|c| c.is_control()) {
        return Err(Refusal::new(
            Rule::PathName,
            format!("the path contains the control character U+{:04X}", c as u32),
        ));
    }
    if let Some(part) = rel
        .split('/')
        .find(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\'))
    {
        return Err(Refusal::new(
            Rule::PathName,
            format!("the path has a component {part:?}, which file systems read differently"),
        ));
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
