//! `init`: scaffolds a new registry repository — the registry folder with its settings and a
//! guide for publishers, and this repository's own check and deploy workflows with the action
//! pinned to a full commit SHA (a tag or branch can be moved to other code, which would then
//! judge every pull request).

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The workflows this repository runs are the ones `init` writes, so both stay one text.
const CHECK_WORKFLOW: &str = include_str!("../.github/workflows/pr-check.yml");
const DEPLOY_WORKFLOW: &str = include_str!("../.github/workflows/pages.yml");
const REGISTRY_TOML: &str = include_str!("../templates/init/registry.toml");
const PUBLISHER_GUIDE: &str = include_str!("../templates/init/README.md");

/// mpk-registry's GitHub Action pinned to one commit: `owner/repo@<40 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRef {
    /// `owner/repo` on GitHub.
    pub repository: String,
    /// The full commit SHA, lowercase.
    pub commit: String,
    /// The tool's version at that commit, when known; written beside the pin for readers.
    pub version: Option<String>,
}

impl ActionRef {
    /// Parses `--action OWNER/REPO@SHA`, refusing anything but a full commit SHA.
    pub fn parse(text: &str) -> Result<ActionRef> {
        let Some((repository, commit)) = text.split_once('@') else {
            bail!("--action {text:?}: expected OWNER/REPO@<40-hex commit SHA>");
        };
        let valid_name = |part: &str, extra: &[u8]| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || extra.contains(&b))
        };
        match repository.split_once('/') {
            Some((owner, repo)) if valid_name(owner, b"") && valid_name(repo, b"._") => {}
            _ => bail!(
                "--action {text:?}: {repository:?} is not a GitHub repository; expected OWNER/REPO@<40-hex commit SHA>"
            ),
        }
        if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!(
                "--action {text:?}: {commit:?} is not a full commit SHA. The generated workflows run this \
                 action on every pull request; a tag, a branch or a short SHA can be made to point at \
                 other code by whoever controls {repository}, and the gate would then run that code \
                 unreviewed. Pin the full 40-hex SHA of a commit you reviewed \
                 (`git ls-remote https://github.com/{repository} {commit}` lists it for a tag or branch)."
            );
        }
        Ok(ActionRef {
            repository: repository.to_owned(),
            commit: commit.to_ascii_lowercase(),
            version: None,
        })
    }

    /// The action at the commit this binary was built from, when build.rs could name it.
    pub fn of_this_build() -> Option<ActionRef> {
        Self::from_build(
            env!("CARGO_PKG_REPOSITORY"),
            option_env!("MPK_REGISTRY_GIT_COMMIT"),
            env!("CARGO_PKG_VERSION"),
        )
    }

    /// The action of a build from `repository_url` (a github.com URL) at `commit`.
    pub fn from_build(repository_url: &str, commit: Option<&str>, version: &str) -> Option<Self> {
        let repository = repository_url
            .strip_prefix("https://github.com/")?
            .trim_end_matches('/')
            .trim_end_matches(".git");
        let action = Self::parse(&format!("{repository}@{}", commit?)).ok()?;
        Some(ActionRef {
            version: Some(version.to_owned()),
            ..action
        })
    }
}

impl fmt::Display for ActionRef {
    /// The value of a workflow's `uses:`, with the version as a comment when known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repository, self.commit)?;
        match &self.version {
            Some(version) => write!(f, " # v{version}"),
            None => Ok(()),
        }
    }
}

/// The action given with `--action`, else the one this binary was built from.
pub fn resolve_action(explicit: Option<&str>, built: Option<ActionRef>) -> Result<ActionRef> {
    match (explicit, built) {
        (Some(text), _) => ActionRef::parse(text),
        (None, Some(action)) => Ok(action),
        (None, None) => bail!(
            "this mpk-registry was not built from a git checkout of {}, so it cannot name a commit of \
             its action; pass --action OWNER/REPO@<40-hex commit SHA> (a commit you reviewed)",
            env!("CARGO_PKG_REPOSITORY")
        ),
    }
}

/// What `init` writes, relative to the repository's folder, in the order it writes them.
pub fn files(action: &ActionRef) -> Vec<(&'static str, String)> {
    vec![
        ("registry-src/registry.toml", REGISTRY_TOML.to_owned()),
        ("registry-src/README.md", PUBLISHER_GUIDE.to_owned()),
        (
            ".github/workflows/registry-check.yml",
            pin(CHECK_WORKFLOW, action),
        ),
        (
            ".github/workflows/registry-deploy.yml",
            pin(DEPLOY_WORKFLOW, action),
        ),
    ]
}

/// Replaces this repository's `uses: ./` (the action as on its base branch) with the pin.
fn pin(workflow: &str, action: &ActionRef) -> String {
    let mut out = String::with_capacity(workflow.len());
    for line in workflow.lines() {
        match line.split_once("uses: ./") {
            Some((indent, "")) => out.push_str(&format!("{indent}uses: {action}")),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The repository's folder (created when missing).
    pub dir: PathBuf,
    /// `OWNER/REPO@SHA` from `--action`; `None` takes the commit this binary was built from.
    pub action: Option<String>,
    /// Replace files that already exist.
    pub force: bool,
}

/// What `init` did.
#[derive(Debug, Clone)]
pub struct Scaffolded {
    pub written: Vec<PathBuf>,
    pub action: ActionRef,
}

/// Writes the scaffold. Refuses, writing nothing, when any of its files exists (unless
/// `force`), naming every one.
pub fn init(options: &InitOptions) -> Result<Scaffolded> {
    let action = resolve_action(options.action.as_deref(), ActionRef::of_this_build())?;
    let files = files(&action);
    if !options.force {
        let existing: Vec<String> = files
            .iter()
            .map(|(rel, _)| options.dir.join(rel))
            .filter(|path| path.symlink_metadata().is_ok())
            .map(|path| path.display().to_string())
            .collect();
        if !existing.is_empty() {
            bail!(
                "{} file(s) already exist: {}; nothing was written (pass --force to replace them)",
                existing.len(),
                existing.join(", ")
            );
        }
    }
    let mut written = Vec::new();
    for (rel, text) in &files {
        let path = options.dir.join(rel);
        write(&path, text, options.force)?;
        written.push(path);
    }
    Ok(Scaffolded { written, action })
}

/// Writes a new file; with `replace`, swaps it in whole, so that a symlink in its place is
/// replaced rather than written through.
fn write(path: &Path, text: &str, replace: bool) -> Result<()> {
    let dir = path
        .parent()
        .expect("every scaffold file is inside a folder");
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if replace {
        crate::atomic_file::write(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    } else {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    Ok(())
}

impl Scaffolded {
    /// The files written, the pin, and the repository settings that make the check a gate.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for path in &self.written {
            text.push_str(&format!("wrote {}\n", path.display()));
        }
        text.push_str(&format!(
            "\nThe workflows run mpk-registry's action pinned at {}@{}.\n\
             To update it, review the action's changes, then replace the SHA in both workflows.\n",
            self.action.repository, self.action.commit
        ));
        text.push_str(NEXT_STEPS);
        text
    }
}

const NEXT_STEPS: &str = r#"
Next, in the repository on GitHub:

1. Put your GitHub login in `maintainers` in registry-src/registry.toml; commit and push to main.
2. Settings → Pages → Source: GitHub Actions (registry-deploy.yml publishes the site from main).
3. Settings → Actions → General → Workflow permissions: "Read repository contents and packages
   permissions", and leave "Allow GitHub Actions to create and approve pull requests" off.
4. Protect main (Settings → Rules → Rulesets, or Branches → Add branch protection rule):
   - Require a pull request before merging, with at least one approval.
   - Require review from Code Owners, with a .github/CODEOWNERS naming the maintainers:
         /.github/                    @<maintainer or team>
         /registry-src/registry.toml  @<maintainer or team>
   - Require status checks to pass: "Registry check", and require branches to be up to date
     before merging (the check judged the merge with main as it was then).
   - Block force pushes and deletions.
   - Restrict who may push to main to the maintainers, with no one allowed to bypass.

Why the check is safe for pull requests from anyone: it runs on pull_request_target, so
"Require approval for workflows from outside collaborators" does not apply, and it runs on every
pull request, forks included, without approval. What it runs is the workflow and the action as
they are on main, never the pull request's: the pull request's files are fetched as git objects
and read, never checked out, built or run; the token is read-only and no secret is used. A pull
request that edits the workflows or registry.toml is judged by main's copy, and its edits take
effect only once a maintainer merges it. Merging is the trust root: only maintainers may merge.
"#;
