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

/// What `init` writes, relative to the repository's folder, in the order it writes them:
/// `.github/CODEOWNERS` only when there are maintainers to name.
pub fn files(action: &ActionRef, maintainers: &[String]) -> Vec<(&'static str, String)> {
    let mut files = vec![
        ("registry-src/registry.toml", registry_toml(maintainers)),
        ("registry-src/README.md", PUBLISHER_GUIDE.to_owned()),
        (
            ".github/workflows/registry-check.yml",
            pin(CHECK_WORKFLOW, action),
        ),
        (
            ".github/workflows/registry-deploy.yml",
            pin(DEPLOY_WORKFLOW, action),
        ),
    ];
    if !maintainers.is_empty() {
        files.push((".github/CODEOWNERS", codeowners(maintainers)));
    }
    files
}

/// The template with `maintainers` filled in.
fn registry_toml(maintainers: &[String]) -> String {
    let quoted: Vec<String> = maintainers.iter().map(|m| format!("\"{m}\"")).collect();
    REGISTRY_TOML.replace(
        "\nmaintainers = []\n",
        &format!("\nmaintainers = [{}]\n", quoted.join(", ")),
    )
}

/// The paths only maintainers may approve changes to, for "Require review from Code Owners".
fn codeowners(maintainers: &[String]) -> String {
    let owners: Vec<String> = maintainers.iter().map(|m| format!("@{m}")).collect();
    let owners = owners.join(" ");
    format!(
        "# A pull request that changes these paths needs the approval of one of their owners,\n\
         # once branch protection requires review from Code Owners. Keep it in step with\n\
         # `maintainers` in registry-src/registry.toml.\n\
         /.github/                    {owners}\n\
         /registry-src/registry.toml  {owners}\n"
    )
}

/// A GitHub login as `--maintainer` takes it (a leading `@` is dropped): 1-39 letters, digits
/// and single hyphens, not at either end.
fn parse_login(text: &str) -> Result<String> {
    let login = text.strip_prefix('@').unwrap_or(text);
    let valid = (1..=39).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--");
    if !valid {
        bail!("--maintainer {text:?} is not a GitHub login (letters, digits and single hyphens, at most 39)");
    }
    Ok(login.to_owned())
}

/// The lines `init` makes sure `.gitignore` has: what `build` writes.
const GITIGNORE: [&str; 2] = ["public/", ".mpk-cache/"];

/// Adds to `.gitignore` (creating it) the lines it lacks; whether anything was added.
fn ignore_build_output(dir: &Path) -> Result<bool> {
    let path = dir.join(".gitignore");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let missing: Vec<&str> = GITIGNORE
        .iter()
        .copied()
        .filter(|line| !text.lines().any(|l| l.trim() == *line))
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    let mut added = String::new();
    if !text.is_empty() && !text.ends_with('\n') {
        added.push('\n');
    }
    if text.is_empty() {
        added
            .push_str("# What `mpk-registry build` writes: the site and its verification cache.\n");
    }
    for line in missing {
        added.push_str(line);
        added.push('\n');
    }
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(added.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(true)
}

/// Makes `dir` a git repository with `main` as its branch, unless it is already inside one.
/// `Ok(false)` when it was; an error names what to do when git cannot be run.
fn git_init(dir: &Path) -> Result<bool> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
    };
    let inside = git(&["rev-parse", "--is-inside-work-tree"]).context(
        "cannot run git (is it installed?); run `git init` in the registry's folder yourself",
    )?;
    if inside.status.success() {
        return Ok(false);
    }
    for args in [
        &["init", "--quiet"][..],
        &["symbolic-ref", "HEAD", "refs/heads/main"],
    ] {
        let out = git(args).context("cannot run git")?;
        if !out.status.success() {
            bail!(
                "git {} in {} failed: {}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(true)
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
    /// GitHub logins (`--maintainer`): `maintainers` in registry.toml and the code owners of
    /// `.github/` and registry.toml.
    pub maintainers: Vec<String>,
}

/// What `init` did.
#[derive(Debug, Clone)]
pub struct Scaffolded {
    pub dir: PathBuf,
    pub written: Vec<PathBuf>,
    pub action: ActionRef,
    /// `git init` was run (the folder was in no repository).
    pub git_initialized: bool,
    /// `.gitignore` was created or given the lines it lacked.
    pub gitignore_updated: bool,
    pub maintainers: Vec<String>,
}

/// Writes the scaffold. Refuses, writing nothing, when any of its files exists (unless
/// `force`), naming every one.
pub fn init(options: &InitOptions) -> Result<Scaffolded> {
    let action = resolve_action(options.action.as_deref(), ActionRef::of_this_build())?;
    let maintainers = options
        .maintainers
        .iter()
        .map(|m| parse_login(m))
        .collect::<Result<Vec<String>>>()?;
    let files = files(&action, &maintainers);
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
    fs::create_dir_all(&options.dir)
        .with_context(|| format!("cannot create {}", options.dir.display()))?;
    let git_initialized = git_init(&options.dir)?;
    let mut written = Vec::new();
    for (rel, text) in &files {
        let path = options.dir.join(rel);
        write(&path, text, options.force)?;
        written.push(path);
    }
    let gitignore_updated = ignore_build_output(&options.dir)?;
    Ok(Scaffolded {
        dir: options.dir.clone(),
        written,
        action,
        git_initialized,
        gitignore_updated,
        maintainers,
    })
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
    /// What was done, the pin, and the next steps: the maintainers, the address the site is
    /// served at, signing, where Calimero Desktop can read it, and the repository settings
    /// that make the check a gate.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        if self.git_initialized {
            text.push_str(&format!(
                "initialized a git repository in {} (branch main)\n",
                self.dir.display()
            ));
        }
        for path in &self.written {
            text.push_str(&format!("wrote {}\n", path.display()));
        }
        if self.gitignore_updated {
            text.push_str(&format!(
                "ignored {} in {}\n",
                GITIGNORE.join(" and "),
                self.dir.join(".gitignore").display()
            ));
        }
        text.push_str(&format!(
            "\nThe workflows run mpk-registry's action pinned at {}@{}.\n\
             That commit must be in a public repository (GitHub runs the action from it). To\n\
             update it, review the action's changes, then replace the SHA in both workflows.\n",
            self.action.repository, self.action.commit
        ));
        text.push_str("\nNext, in the registry's folder:\n\n");
        if self.maintainers.is_empty() {
            text.push_str(
                "- Put your GitHub login in `maintainers` in registry-src/registry.toml, and name the\n  \
                 maintainers in .github/CODEOWNERS (or run init again with --maintainer LOGIN --force).\n",
            );
        }
        text.push_str(NEXT_LOCAL);
        text.push_str(NEXT_STEPS);
        text
    }
}

const NEXT_LOCAL: &str = r#"- Set `base_url` in registry-src/registry.toml to the address the site is served at
  (https://OWNER.github.io/REPO/ on GitHub Pages): the feed's links and sitemap.xml need it.
- Publish a first app: `mpk-registry keygen -o my-key.json` (keep it out of the repository),
  then `mpk-registry pack app/manifest.json -k my-key.json --into registry-src`.
- Try the site: `mpk-registry build && mpk-registry serve public`.
- Commit and push to main: `git add -A && git commit -m "Start the registry"`.
- To sign the catalog for `mpk-registry fetch` clients: make a registry key with keygen, list
  its did:key in registry.toml `index_keys`, and build with `--sign-key` where the key is.
- Where the site is served decides who can use it: Calimero Desktop asks each address with a
  preflight (OPTIONS) first, which GitHub Pages cannot answer, so on Pages the site serves
  browsers, merod and `fetch`, not Desktop. Cloudflare Pages, Netlify, nginx
  (`mpk-registry host-config nginx`) and `mpk-registry serve` answer it (README: Deploying).
"#;

const NEXT_STEPS: &str = r#"
Then, in the repository on GitHub:

1. Settings → Pages → Source: GitHub Actions (registry-deploy.yml publishes the site from main).
2. Settings → Actions → General → Workflow permissions: "Read repository contents and packages
   permissions", and leave "Allow GitHub Actions to create and approve pull requests" off.
3. Protect main (Settings → Rules → Rulesets, or Branches → Add branch protection rule):
   - Require a pull request before merging, with at least one approval.
   - Require review from Code Owners (.github/CODEOWNERS names who owns these):
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
