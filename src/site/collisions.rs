//! Whether a set of apps fits in one site. Every path the site writes ([`paths`]) must be one
//! file on every host, so no path may be both a file and a folder, no two paths may differ
//! only in letter case (case-insensitive file systems and CDNs take them for one), no file
//! `x` may sit beside a file `x.html` (hosts answer `/x` with `x.html` only when there is no
//! file `x`), and nothing but the content-addressed copies may be inside their folder.
//!
//! Judged on the paths themselves, not on a list of bad names, so a file added to the site
//! is covered by adding it to [`paths`].

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use super::paths;

/// Who puts a path in the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Site,
    App(String),
    Release { package: String, version: String },
}

impl Owner {
    fn package(&self) -> Option<&str> {
        match self {
            Owner::Site => None,
            Owner::App(package) | Owner::Release { package, .. } => Some(package),
        }
    }

    fn version(&self) -> Option<&str> {
        match self {
            Owner::Release { version, .. } => Some(version),
            _ => None,
        }
    }

    /// Whether `self` is another spelling, in letter case only, of the package or release
    /// `other`: a name already taken, which the version rules (`policy.version-exists`) judge.
    pub fn is_respelling_of(&self, other: &Owner) -> bool {
        match (self.package(), other.package()) {
            (Some(p), Some(q)) if p.eq_ignore_ascii_case(q) => {
                p != q
                    || matches!((self.version(), other.version()),
                        (Some(v), Some(w)) if v != w && v.eq_ignore_ascii_case(w))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Site => f.write_str("the site itself"),
            Owner::App(package) => write!(f, "app {package}"),
            Owner::Release { package, version } => write!(f, "{package} {version}"),
        }
    }
}

/// A path that cannot be added, and what it collides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// Whose path it is.
    pub owner: Rc<Owner>,
    /// Whose path is already there.
    pub other_owner: Rc<Owner>,
    /// Whether the part of the path that collides holds the version (else only the package).
    pub from_version: bool,
    message: String,
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Folder,
    /// A folder of files no list names (the content-addressed copies): its owner's alone.
    Reserved,
}

impl Kind {
    fn is_folder(self) -> bool {
        self != Kind::File
    }
}

struct Claim {
    /// The path as its owner spells it.
    path: String,
    owner: Rc<Owner>,
    kind: Kind,
}

/// A path being added.
struct New<'a> {
    path: &'a str,
    owner: &'a Rc<Owner>,
    /// The first segment of `path` that holds the version, for a release's path.
    version_segment: Option<usize>,
}

/// The paths of the site and of the apps added so far, by their ASCII-lowercase form.
pub struct Layout {
    claims: HashMap<String, Claim>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout::new()
    }
}

impl Layout {
    /// The site's own files and folders, with no app yet.
    pub fn new() -> Layout {
        let mut layout = Layout {
            claims: HashMap::new(),
        };
        let site = Rc::new(Owner::Site);
        let files = paths::site_files()
            .into_iter()
            .map(|(rel, _)| (rel, Kind::File));
        for (path, kind) in files.chain([(paths::CONTENT_ADDRESSED, Kind::Reserved)]) {
            let new = New {
                path,
                owner: &site,
                version_segment: None,
            };
            if let Err(collision) = layout.claim(&new, kind, &mut Vec::new()) {
                unreachable!("the site's own paths collide: {collision}");
            }
        }
        layout
    }

    /// Adds the files of release `version` of `package`, and of its app. When one of them
    /// collides, nothing is added.
    pub fn add(&mut self, package: &str, version: &str) -> Result<(), Collision> {
        let app = Rc::new(Owner::App(package.to_owned()));
        let release = Rc::new(Owner::Release {
            package: package.to_owned(),
            version: version.to_owned(),
        });
        // The same paths for a longer version: every segment holding the version differs.
        let longer = paths::release_files(package, &format!("{version}x"));
        let release_paths = paths::release_files(package, version)
            .into_iter()
            .zip(longer)
            .map(|((path, _), (other, _))| {
                let same = path
                    .split('/')
                    .zip(other.split('/'))
                    .take_while(|(a, b)| a == b)
                    .count();
                (path, &release, Some(same))
            });
        let app_paths = paths::app_files(package)
            .into_iter()
            .map(|(path, _)| (path, &app, None));
        let mut added = Vec::new();
        for (path, owner, version_segment) in app_paths.chain(release_paths) {
            let new = New {
                path: &path,
                owner,
                version_segment,
            };
            if let Err(collision) = self.claim(&new, Kind::File, &mut added) {
                for key in added {
                    self.claims.remove(&key);
                }
                return Err(collision);
            }
        }
        Ok(())
    }

    /// Claims `new.path` and every folder above it, noting in `added` the keys it inserted.
    fn claim(&mut self, new: &New, kind: Kind, added: &mut Vec<String>) -> Result<(), Collision> {
        let key = new.path.to_ascii_lowercase();
        for (end, _) in key.match_indices('/') {
            self.claim_one(&key[..end], &new.path[..end], Kind::Folder, new, added)?;
        }
        self.claim_one(&key, new.path, kind, new, added)?;
        if kind != Kind::File {
            return Ok(());
        }
        // Hosts answer `/x` with `x.html` only when there is no file `x`.
        let file_at = |at: &str| self.claims.get(at).filter(|c| c.kind == Kind::File);
        if let Some(stem) = key.strip_suffix(".html") {
            if let Some(c) = file_at(stem) {
                let message = format!(
                    "/{} would be answered by {} ({}) instead of {} ({}): hosts answer /x with x.html only when there is no file x",
                    &new.path[..stem.len()],
                    c.path,
                    c.owner,
                    new.path,
                    new.owner
                );
                return Err(collision(new, c, stem, message));
            }
        }
        if let Some(c) = file_at(&format!("{key}.html")) {
            let message = format!(
                "{0} ({1}) would answer /{0}, which is meant for {2} ({3}): hosts answer /x with x.html only when there is no file x",
                new.path, new.owner, c.path, c.owner
            );
            return Err(collision(new, c, &key, message));
        }
        Ok(())
    }

    /// Claims one path (`key` is its lowercase form, `spelled` as `new` spells it).
    fn claim_one(
        &mut self,
        key: &str,
        spelled: &str,
        kind: Kind,
        new: &New,
        added: &mut Vec<String>,
    ) -> Result<(), Collision> {
        let Some(old) = self.claims.get(key) else {
            self.claims.insert(
                key.to_owned(),
                Claim {
                    path: spelled.to_owned(),
                    owner: new.owner.clone(),
                    kind,
                },
            );
            added.push(key.to_owned());
            return Ok(());
        };
        let (me, them) = (&**new.owner, &*old.owner);
        let reserved = kind == Kind::Reserved || old.kind == Kind::Reserved;
        let message = if reserved && me != them {
            format!(
                "{} ({me}) is inside {}/, which holds the site's content-addressed copies",
                new.path, old.path
            )
        } else if old.path != spelled && kind.is_folder() == old.kind.is_folder() {
            format!(
                "{spelled} ({me}) and {} ({them}) differ only in letter case, and case-insensitive hosts take them for one path",
                old.path
            )
        } else if (kind.is_folder() && old.kind.is_folder()) || (kind == old.kind && me == them) {
            return Ok(());
        } else if kind == Kind::File && old.kind == Kind::File {
            format!("{spelled} is a file of both {me} and {them}")
        } else if kind == Kind::File {
            format!(
                "{spelled} would be a file of {me}, but {them} has files inside {}/",
                old.path
            )
        } else {
            format!(
                "{} ({me}) needs {spelled}/ to be a folder, but {} is a file of {them}",
                new.path, old.path
            )
        };
        Err(collision(new, old, key, message))
    }
}

/// A collision of `new` with `old` at `key` (a path or one of its folders).
fn collision(new: &New, old: &Claim, key: &str, message: String) -> Collision {
    let depth = key.split('/').count();
    Collision {
        owner: new.owner.clone(),
        other_owner: old.owner.clone(),
        from_version: new.version_segment.is_some_and(|first| depth > first),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_collides(adds: &[(&str, &str)]) -> Collision {
        let mut layout = Layout::new();
        let (last, first) = adds.split_last().expect("at least one release");
        for (package, version) in first {
            layout.add(package, version).expect("fits");
        }
        layout
            .add(last.0, last.1)
            .expect_err("the last release collides")
    }

    fn release(package: &str, version: &str) -> Owner {
        Owner::Release {
            package: package.into(),
            version: version.into(),
        }
    }

    #[test]
    fn apps_with_ordinary_names_fit_together() {
        let mut layout = Layout::new();
        for (package, version) in [
            ("com.example.notes", "1.0.0"),
            ("com.example.notes", "1.1.0-rc.1"),
            ("com.example.notes-pro", "1.0.0"),
            ("com.example.chat", "index"),
            ("index", "1.0.0"),
            // Named like the API's own files and folders, which sit elsewhere.
            ("com.example.notes", "versions"),
            ("com.example.notes", "latest"),
            ("empty.json", "1.0.0"),
            ("healthz", "1.0.0"),
            ("developers", "1.0.0"),
        ] {
            assert_eq!(layout.add(package, version), Ok(()));
        }
    }

    #[test]
    fn a_package_named_like_a_site_file_makes_that_file_a_folder() {
        let c = last_collides(&[("index.html", "1.0.0")]);
        assert_eq!(*c.other_owner, Owner::Site);
        assert!(!c.from_version);
        assert!(c.to_string().contains("api/v2/bundles/index.html"), "{c}");
    }

    #[test]
    fn a_version_named_like_an_app_file_makes_that_file_a_folder() {
        for version in ["index.json", "index.html"] {
            let c = last_collides(&[("com.example.notes", version)]);
            assert_eq!(*c.owner, release("com.example.notes", version));
            assert_eq!(*c.other_owner, Owner::App("com.example.notes".into()));
            assert!(c.from_version);
            assert!(
                c.to_string()
                    .contains(&format!("apps/com.example.notes/{version}")),
                "{c}"
            );
        }
    }

    #[test]
    fn names_differing_only_in_case_collide() {
        let c = last_collides(&[
            ("com.example.notes", "1.0.0"),
            ("com.example.Notes", "2.0.0"),
        ]);
        assert!(c.to_string().contains("letter case"), "{c}");
        assert!(c.owner.is_respelling_of(&c.other_owner));
        let c = last_collides(&[("p", "1.0.0-RC.1"), ("p", "1.0.0-rc.1")]);
        assert!(c.from_version && c.owner.is_respelling_of(&c.other_owner));
        // A site file in other letter case is no respelling of an app.
        let c = last_collides(&[("INDEX.HTML", "1.0.0")]);
        assert!(!c.owner.is_respelling_of(&c.other_owner));
    }

    #[test]
    fn a_version_whose_url_is_another_versions_file_collides() {
        for adds in [
            [("p", "1.0.0"), ("p", "1.0.0.html")],
            [("p", "1.0.0.html"), ("p", "1.0.0")],
        ] {
            let c = last_collides(&adds);
            assert!(c.from_version);
            assert!(
                c.to_string()
                    .contains("/api/v2/bundles/p/1.0.0.html would be answered by")
                    || c.to_string()
                        .contains("would answer /api/v2/bundles/p/1.0.0.html"),
                "{c}"
            );
        }
    }

    #[test]
    fn nothing_goes_inside_the_content_addressed_folder() {
        for package in ["sha256", "SHA256"] {
            let c = last_collides(&[(package, "1.0.0")]);
            assert_eq!(*c.other_owner, Owner::Site);
            assert!(!c.from_version);
            assert!(c.to_string().contains("artifacts/sha256/"), "{c}");
        }
    }

    #[test]
    fn a_release_that_collides_adds_nothing() {
        let mut layout = Layout::new();
        assert!(layout.add("p", "index.json").is_err());
        // Had app p's files stayed, P would differ from them only in case.
        assert_eq!(layout.add("P", "1.0.0"), Ok(()));
    }

    #[test]
    fn respellings_are_of_the_same_name_only() {
        let app = |p: &str| Owner::App(p.into());
        assert!(app("Notes").is_respelling_of(&release("notes", "2.0.0")));
        assert!(release("p", "1.0.0-RC").is_respelling_of(&release("p", "1.0.0-rc")));
        assert!(!release("p", "index.json").is_respelling_of(&app("p")));
        assert!(!release("p", "1.0.0").is_respelling_of(&release("p", "1.0.0.html")));
        assert!(!app("index.html").is_respelling_of(&Owner::Site));
    }
}
