//! The workflows that judge pull requests cannot run the pull request's code, and the action
//! they call builds the tool from its own files.
//!
//! Each property is a function that returns the first violation. Each test holds this
//! repository's workflow and the one `init` writes to the property, and shows that the property
//! catches a small workflow that breaks it. The action's shell script is run for real against
//! throwaway git repositories, with a stand-in for the tool that records its arguments.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::cli::{stdout_and_stderr, BIN};
use crate::support::git::git;
use crate::support::repo_file;
use mpk_registry::init::{self, ActionRef};
use tempfile::TempDir;
use yaml_rust2::{Yaml, YamlLoader};

const PINNED: &str = "calimero-network/mpk-registry@0123456789abcdef0123456789abcdef01234567";

/// How a workflow must refer to mpk-registry's action.
#[derive(Clone, Copy, Debug)]
enum Pin {
    /// `./`: this repository's own copy, which on pull_request_target is the base branch's.
    Base,
    /// `OWNER/REPO@<40 hex>`: a generated registry's workflows.
    Sha,
}

type Property = fn(&Yaml, Pin) -> Result<(), String>;

fn load(text: &str) -> Yaml {
    let mut docs =
        YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("not YAML ({e}):\n{text}"));
    assert_eq!(docs.len(), 1, "one YAML document expected:\n{text}");
    docs.remove(0)
}

/// A file `init` writes, pinned to `PINNED`.
fn generated(rel: &str) -> String {
    let action = ActionRef::parse(PINNED).expect("a valid pin");
    init::files(&action, &[])
        .into_iter()
        .find(|(name, _)| *name == rel)
        .unwrap_or_else(|| panic!("init writes no {rel}"))
        .1
}

/// One of this repository's workflows (which uses `./`) and the one `init` writes from it.
fn ours_and_generated(ours: &str, generated_as: &str) -> Vec<(String, Yaml, Pin)> {
    let ours = format!(".github/workflows/{ours}");
    let generated_as = format!(".github/workflows/{generated_as}");
    vec![
        (ours.clone(), load(&repo_file(&ours)), Pin::Base),
        (
            format!("init's {generated_as}"),
            load(&generated(&generated_as)),
            Pin::Sha,
        ),
    ]
}

/// The workflows that run on pull requests.
fn gate_workflows() -> Vec<(String, Yaml, Pin)> {
    ours_and_generated("pr-check.yml", "registry-check.yml")
}

fn deploy_workflows() -> Vec<(String, Yaml, Pin)> {
    ours_and_generated("pages.yml", "registry-deploy.yml")
}

/// A minimal gate with every property; each bad example changes one thing in it.
const MINIMAL_GATE: &str = "\
on:
  pull_request_target:
    types: [opened, synchronize, reopened, edited]
permissions:
  contents: read
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
        with:
          fetch-depth: 0
          persist-credentials: false
      - uses: calimero-network/mpk-registry@0123456789abcdef0123456789abcdef01234567
        with:
          command: check
          pull-request: ${{ github.event.pull_request.number }}
          actor: ${{ github.event.pull_request.user.login }}
          pusher: ${{ github.event.sender.login }}
";

/// `MINIMAL_GATE` with `from` replaced by `to`.
fn gate_with(from: &str, to: &str) -> String {
    assert!(MINIMAL_GATE.contains(from), "{from:?} is not in the gate");
    MINIMAL_GATE.replacen(from, to, 1)
}

/// `property` holds for `workflows` and for the minimal gate, and fails for each bad one.
fn holds(property: Property, workflows: Vec<(String, Yaml, Pin)>, bad: &[String]) {
    for (name, workflow, pin) in &workflows {
        if let Err(e) = property(workflow, *pin) {
            panic!("{name}: {e}");
        }
    }
    property(&load(MINIMAL_GATE), Pin::Sha).expect("the minimal gate has every property");
    for text in bad {
        assert!(
            property(&load(text), Pin::Sha).is_err(),
            "the property lets this through:\n{text}"
        );
    }
}

/// Every step of every job (of a workflow), or of a composite action.
fn steps(doc: &Yaml) -> Vec<&Yaml> {
    let mut steps = Vec::new();
    if let Some(jobs) = doc["jobs"].as_hash() {
        for job in jobs.values() {
            steps.extend(job["steps"].as_vec().into_iter().flatten());
        }
    }
    steps.extend(doc["runs"]["steps"].as_vec().into_iter().flatten());
    steps
}

/// Every string in `doc`, keys included.
fn strings(doc: &Yaml) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![doc];
    while let Some(node) = stack.pop() {
        match node {
            Yaml::String(s) => out.push(s.as_str()),
            Yaml::Array(items) => stack.extend(items),
            Yaml::Hash(map) => map.iter().for_each(|(k, v)| stack.extend([k, v])),
            _ => {}
        }
    }
    out
}

fn uses(step: &Yaml) -> &str {
    step["uses"].as_str().unwrap_or("")
}

fn is_sha_pinned(uses: &str) -> bool {
    uses.split_once('@').is_some_and(|(repo, rev)| {
        repo.contains('/') && rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

// --- properties of the pull-request workflows ------------------------------------------------

/// pull_request and workflow_run would run with the pull request's own workflow and code.
fn triggered_by_pull_request_target(workflow: &Yaml, _: Pin) -> Result<(), String> {
    let on = &workflow["on"];
    let triggers: Vec<&str> = match on {
        Yaml::String(s) => vec![s.as_str()],
        Yaml::Array(items) => items.iter().filter_map(Yaml::as_str).collect(),
        Yaml::Hash(map) => map.keys().filter_map(Yaml::as_str).collect(),
        _ => Vec::new(),
    };
    if let Some(bad) = triggers
        .iter()
        .find(|t| matches!(**t, "pull_request" | "workflow_run"))
    {
        return Err(format!(
            "triggered by {bad}, which runs the pull request's version of the workflow"
        ));
    }
    if !triggers.contains(&"pull_request_target") {
        return Err(format!("not triggered by pull_request_target: {on:?}"));
    }
    Ok(())
}

/// Without a `permissions` block the token gets the repository's default, which may write.
fn token_is_read_only(workflow: &Yaml, _: Pin) -> Result<(), String> {
    fn read_only(permissions: &Yaml, at: &str) -> Result<(), String> {
        let map = permissions
            .as_hash()
            .ok_or_else(|| format!("{at}permissions is {permissions:?}, not a map of scopes"))?;
        for (scope, level) in map {
            if !matches!(level.as_str(), Some("read" | "none")) {
                return Err(format!("{at}permissions gives {scope:?}: {level:?}"));
            }
        }
        Ok(())
    }
    read_only(&workflow["permissions"], "")?;
    if workflow["permissions"]["contents"].as_str() != Some("read") {
        return Err("permissions must give contents: read".into());
    }
    for (name, job) in workflow["jobs"].as_hash().into_iter().flatten() {
        if !job["permissions"].is_badvalue() {
            read_only(&job["permissions"], &format!("job {name:?}: "))?;
        }
    }
    Ok(())
}

fn uses_no_secrets(workflow: &Yaml, _: Pin) -> Result<(), String> {
    match strings(workflow)
        .into_iter()
        .find(|s| s.contains("secrets.") || s.contains("secrets[") || *s == "secrets")
    {
        Some(s) => Err(format!("refers to secrets: {s:?}")),
        None => Ok(()),
    }
}

/// The base branch, and no token left in `.git/config` for a later step to read.
fn checkout_is_base_without_credentials(workflow: &Yaml, _: Pin) -> Result<(), String> {
    for step in steps(workflow) {
        if !uses(step).starts_with("actions/checkout@") {
            continue;
        }
        let with = &step["with"];
        for input in ["ref", "repository"] {
            if !with[input].is_badvalue() {
                return Err(format!(
                    "a checkout sets {input}: {:?}; it must take the base",
                    with[input]
                ));
            }
        }
        let persist = &with["persist-credentials"];
        if *persist != Yaml::Boolean(false) && persist.as_str() != Some("false") {
            return Err(format!(
                "a checkout has persist-credentials: {persist:?}; it must be false"
            ));
        }
    }
    Ok(())
}

/// The only thing the workflow passes about the pull request is its number (and its author).
fn never_names_the_head(workflow: &Yaml, _: Pin) -> Result<(), String> {
    match strings(workflow).into_iter().find(|s| {
        s.contains("pull_request.head.") || s.contains("head_ref") || s.contains("merge_commit_sha")
    }) {
        Some(s) => Err(format!("refers to the pull request's code: {s:?}")),
        None => Ok(()),
    }
}

/// The step that runs `command` is the registry action: `./` or a full SHA as `pin` says;
/// any other action outside GitHub's own `actions/` must be pinned the same way.
fn registry_action_pinned(workflow: &Yaml, pin: Pin, command: &str) -> Result<(), String> {
    let runners: Vec<&str> = steps(workflow)
        .into_iter()
        .filter(|s| s["with"]["command"].as_str() == Some(command))
        .map(uses)
        .collect();
    if runners.len() != 1 {
        return Err(format!(
            "{} steps run the registry action with command: {command}, not one",
            runners.len()
        ));
    }
    for step in steps(workflow) {
        let uses = uses(step);
        let gate = step["with"]["command"].as_str() == Some(command);
        if uses.is_empty() || (!gate && uses.starts_with("actions/")) {
            continue;
        }
        let ok = match pin {
            Pin::Base => uses == "./",
            Pin::Sha => is_sha_pinned(uses),
        };
        if !ok {
            return Err(format!("uses: {uses} is not pinned as {pin:?}"));
        }
    }
    Ok(())
}

fn gate_action_pinned(workflow: &Yaml, pin: Pin) -> Result<(), String> {
    registry_action_pinned(workflow, pin, "check")
}

/// A `run:` step executes in the work tree; a list of forbidden commands can never be
/// complete, so the gate has none: everything it does happens inside the pinned action.
fn runs_no_shell_step(workflow: &Yaml, _: Pin) -> Result<(), String> {
    match steps(workflow)
        .into_iter()
        .find(|s| !s["run"].is_badvalue())
    {
        Some(step) => Err(format!("a step runs {:?}", step["run"])),
        None => Ok(()),
    }
}

#[test]
fn gate_is_triggered_only_by_pull_request_target() {
    holds(
        triggered_by_pull_request_target,
        gate_workflows(),
        &[
            gate_with("  pull_request_target:\n", "  pull_request:\n"),
            gate_with(
                "on:\n  pull_request_target:\n    types: [opened, synchronize, reopened, edited]\n",
                "on: [pull_request_target, workflow_run]\n",
            ),
            gate_with(
                "on:\n  pull_request_target:\n    types: [opened, synchronize, reopened, edited]\n",
                "on: push\n",
            ),
        ],
    );
}

#[test]
fn gate_token_is_read_only() {
    holds(
        token_is_read_only,
        gate_workflows(),
        &[
            gate_with("  contents: read\n", "  contents: write\n"),
            gate_with(
                "  contents: read\n",
                "  contents: read\n  pull-requests: write\n",
            ),
            gate_with(
                "permissions:\n  contents: read\n",
                "permissions: write-all\n",
            ),
            gate_with("permissions:\n  contents: read\n", ""),
            gate_with(
                "    runs-on: ubuntu-latest\n",
                "    runs-on: ubuntu-latest\n    permissions:\n      checks: write\n",
            ),
        ],
    );
}

#[test]
fn gate_uses_no_secrets() {
    holds(
        uses_no_secrets,
        gate_workflows(),
        &[gate_with(
            "          command: check\n",
            "          command: check\n          token: ${{ secrets.DEPLOY_TOKEN }}\n",
        )],
    );
}

#[test]
fn gate_checks_out_the_base_without_credentials() {
    holds(
        checkout_is_base_without_credentials,
        gate_workflows(),
        &[
            gate_with(
                "          fetch-depth: 0\n",
                "          fetch-depth: 0\n          ref: refs/pull/1/merge\n",
            ),
            gate_with(
                "          fetch-depth: 0\n",
                "          fetch-depth: 0\n          repository: someone/fork\n",
            ),
            gate_with("          persist-credentials: false\n", ""),
            gate_with(
                "          persist-credentials: false\n",
                "          persist-credentials: true\n",
            ),
        ],
    );
}

#[test]
fn gate_never_names_the_pull_requests_head() {
    holds(
        never_names_the_head,
        gate_workflows(),
        &[
            gate_with(
                "          command: check\n",
                "          command: check\n          head: ${{ github.event.pull_request.head.sha }}\n",
            ),
            gate_with(
                "          command: check\n",
                "          command: check\n          branch: ${{ github.head_ref }}\n",
            ),
        ],
    );
}

#[test]
fn gate_runs_the_registry_action_from_the_base_or_a_pinned_commit() {
    holds(
        gate_action_pinned,
        gate_workflows(),
        &[
            gate_with(
                "mpk-registry@0123456789abcdef0123456789abcdef01234567",
                "mpk-registry@v1",
            ),
            gate_with(
                "mpk-registry@0123456789abcdef0123456789abcdef01234567",
                "mpk-registry@main",
            ),
            gate_with(
                "mpk-registry@0123456789abcdef0123456789abcdef01234567",
                "mpk-registry@0123456",
            ),
            gate_with(
                "      - uses: actions/checkout@v5\n",
                "      - uses: someone/setup-thing@v2\n      - uses: actions/checkout@v5\n",
            ),
            gate_with("          command: check\n", "          command: build\n"),
        ],
    );
}

#[test]
fn gate_runs_no_shell_steps() {
    holds(
        runs_no_shell_step,
        gate_workflows(),
        &[
            gate_with(
                "      - uses: calimero",
                "      - run: cargo build --release --locked\n      - uses: calimero",
            ),
            gate_with(
                "      - uses: calimero",
                "      - run: ./scripts/check.sh\n      - uses: calimero",
            ),
        ],
    );
}

/// A pull request retargeted to another base (`edited`) is judged again; nothing skips the
/// check, since a skipped job reports a pass to branch protection.
fn rechecks_when_the_base_changes(workflow: &Yaml, _: Pin) -> Result<(), String> {
    let types = &workflow["on"]["pull_request_target"]["types"];
    let listed: Vec<&str> = types
        .as_vec()
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    if !listed.contains(&"edited") {
        return Err(format!(
            "pull_request_target types {types:?} lack edited: a retargeted pull request keeps its old verdict"
        ));
    }
    for (name, job) in workflow["jobs"].as_hash().into_iter().flatten() {
        let conditions = std::iter::once(&job["if"]).chain(
            job["steps"]
                .as_vec()
                .into_iter()
                .flatten()
                .map(|s| &s["if"]),
        );
        if let Some(condition) = conditions.into_iter().find(|c| !c.is_badvalue()) {
            return Err(format!(
                "job {name:?} runs only if {condition:?}; a skipped check passes"
            ));
        }
    }
    Ok(())
}

/// The change is judged with the rights of the author and of whoever triggered the event.
fn judges_the_author_and_the_pusher(workflow: &Yaml, _: Pin) -> Result<(), String> {
    for step in steps(workflow) {
        let with = &step["with"];
        if with["command"].as_str() != Some("check") {
            continue;
        }
        for (input, expected) in [
            ("actor", "${{ github.event.pull_request.user.login }}"),
            ("pusher", "${{ github.event.sender.login }}"),
        ] {
            if with[input].as_str() != Some(expected) {
                return Err(format!(
                    "the check's {input} is {:?}, not {expected}",
                    with[input]
                ));
            }
        }
    }
    Ok(())
}

/// A pull request's job never saves a cache: caches saved there are the base branch's, which
/// the deploy restores.
fn saves_no_cache(workflow: &Yaml, _: Pin) -> Result<(), String> {
    match steps(workflow)
        .into_iter()
        .map(uses)
        .find(|u| u.starts_with("actions/cache@") || u.starts_with("actions/cache/save@"))
    {
        Some(uses) => Err(format!(
            "uses: {uses} saves a cache; only actions/cache/restore may run here"
        )),
        None => Ok(()),
    }
}

#[test]
fn gate_is_judged_again_when_the_base_changes() {
    holds(
        rechecks_when_the_base_changes,
        gate_workflows(),
        &[
            gate_with(", edited]", "]"),
            gate_with("    types: [opened, synchronize, reopened, edited]\n", ""),
            gate_with(
                "    runs-on: ubuntu-latest\n",
                "    runs-on: ubuntu-latest\n    if: github.event.action != 'edited'\n",
            ),
            gate_with(
                "      - uses: calimero",
                "      - if: github.event.action != 'edited'\n        uses: calimero",
            ),
        ],
    );
}

#[test]
fn gate_judges_the_author_and_the_pusher() {
    holds(
        judges_the_author_and_the_pusher,
        gate_workflows(),
        &[
            gate_with("          pusher: ${{ github.event.sender.login }}\n", ""),
            gate_with(
                "          actor: ${{ github.event.pull_request.user.login }}\n",
                "",
            ),
            gate_with(
                "          pusher: ${{ github.event.sender.login }}\n",
                "          pusher: ${{ github.event.pull_request.user.login }}\n",
            ),
        ],
    );
}

#[test]
fn gate_only_restores_caches() {
    holds(
        saves_no_cache,
        gate_workflows(),
        &[
            gate_with(
                "      - uses: calimero",
                "      - uses: actions/cache@v5\n        with:\n          path: .mpk-cache\n          key: k\n      - uses: calimero",
            ),
            gate_with(
                "      - uses: calimero",
                "      - uses: actions/cache/save@v5\n        with:\n          path: x\n          key: k\n      - uses: calimero",
            ),
        ],
    );
    // The action the gate runs saves its own cache only for `build`.
    action_saves_caches_only_for_build(&action()).unwrap_or_else(|e| panic!("action.yml: {e}"));
    let always = action_with(
        "    - if: inputs.command == 'build'\n      uses: actions/cache/save@v5\n",
        "    - uses: actions/cache/save@v5\n",
    );
    assert!(action_saves_caches_only_for_build(&always).is_err());
    let saving_restore = action_with("actions/cache/restore@v5", "actions/cache@v5");
    assert!(action_saves_caches_only_for_build(&saving_restore).is_err());
}

// --- the deploy workflows --------------------------------------------------------------------

/// A minimal deploy; the properties below are shown to catch changes to it.
const MINIMAL_DEPLOY: &str = "\
on:
  push:
    branches: [main]
permissions:
  contents: read
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - uses: actions/cache@v5
        with:
          path: .mpk-cache
          key: mpk-cache-${{ github.sha }}
      - uses: calimero-network/mpk-registry@0123456789abcdef0123456789abcdef01234567
        with:
          command: build
  deploy:
    needs: build
    runs-on: ubuntu-latest
    permissions:
      pages: write
      id-token: write
    steps:
      - uses: actions/deploy-pages@v5
";

fn deploy_with(from: &str, to: &str) -> Yaml {
    assert!(
        MINIMAL_DEPLOY.contains(from),
        "{from:?} is not in the deploy"
    );
    load(&MINIMAL_DEPLOY.replacen(from, to, 1))
}

/// Verdicts of bundles verified by earlier runs: without them every deploy verifies all.
fn keeps_the_verdict_cache(workflow: &Yaml) -> Result<(), String> {
    let cached = steps(workflow).into_iter().any(|s| {
        uses(s).starts_with("actions/cache@") && s["with"]["path"].as_str() == Some(".mpk-cache")
    });
    if cached {
        Ok(())
    } else {
        Err("no actions/cache step keeps .mpk-cache".into())
    }
}

#[test]
fn deploy_builds_with_the_registry_action_from_main_or_a_pinned_commit() {
    for (name, workflow, pin) in deploy_workflows() {
        if let Err(e) = registry_action_pinned(&workflow, pin, "build") {
            panic!("{name}: {e}");
        }
    }
    let minimal = load(MINIMAL_DEPLOY);
    registry_action_pinned(&minimal, Pin::Sha, "build").expect("the minimal deploy is pinned");
    let by_tag = deploy_with("@0123456789abcdef0123456789abcdef01234567", "@v1");
    assert!(registry_action_pinned(&by_tag, Pin::Sha, "build").is_err());
    let by_cargo = deploy_with(
        "      - uses: calimero-network/mpk-registry@0123456789abcdef0123456789abcdef01234567\n        with:\n          command: build\n",
        "      - run: cargo run --release -- build\n",
    );
    assert!(registry_action_pinned(&by_cargo, Pin::Sha, "build").is_err());
}

#[test]
fn deploy_keeps_the_verdict_cache() {
    for (name, workflow, _) in deploy_workflows() {
        if let Err(e) = keeps_the_verdict_cache(&workflow) {
            panic!("{name}: {e}");
        }
    }
    keeps_the_verdict_cache(&load(MINIMAL_DEPLOY)).expect("the minimal deploy caches");
    let elsewhere = deploy_with("path: .mpk-cache", "path: target");
    assert!(keeps_the_verdict_cache(&elsewhere).is_err());
}

/// Write permissions (`pages`, `id-token`) belong to the job that only deploys: the build
/// job runs the tool on the registry's contents, and the workflow level reaches every job.
fn writes_only_in_the_deploy_job(workflow: &Yaml) -> Result<(), String> {
    fn writes(permissions: &Yaml) -> bool {
        match permissions {
            Yaml::String(all) => all != "read-all",
            Yaml::Hash(map) => map.values().any(|level| level.as_str() == Some("write")),
            _ => false,
        }
    }
    if workflow["permissions"].is_badvalue() || writes(&workflow["permissions"]) {
        return Err(format!(
            "the workflow's permissions {:?} are not read-only",
            workflow["permissions"]
        ));
    }
    for (name, job) in workflow["jobs"].as_hash().into_iter().flatten() {
        let only_deploys = job["steps"].as_vec().is_some_and(|steps| {
            steps
                .iter()
                .all(|s| uses(s).starts_with("actions/deploy-pages@"))
        });
        if writes(&job["permissions"]) && !only_deploys {
            return Err(format!("job {name:?} may write but does more than deploy"));
        }
    }
    Ok(())
}

#[test]
fn deploy_writes_only_in_the_deploy_job() {
    for (name, workflow, _) in deploy_workflows() {
        if let Err(e) = writes_only_in_the_deploy_job(&workflow) {
            panic!("{name}: {e}");
        }
    }
    writes_only_in_the_deploy_job(&load(MINIMAL_DEPLOY)).expect("the minimal deploy");
    for bad in [
        deploy_with(
            "  contents: read\njobs:",
            "  contents: read\n  pages: write\njobs:",
        ),
        deploy_with("permissions:\n  contents: read\njobs:", "jobs:"),
        deploy_with(
            "  build:\n    runs-on: ubuntu-latest\n",
            "  build:\n    runs-on: ubuntu-latest\n    permissions:\n      id-token: write\n",
        ),
        deploy_with(
            "      - uses: actions/deploy-pages@v5\n",
            "      - uses: actions/checkout@v5\n      - uses: actions/deploy-pages@v5\n",
        ),
    ] {
        assert!(writes_only_in_the_deploy_job(&bad).is_err(), "{bad:?}");
    }
}

// --- action.yml ------------------------------------------------------------------------------

fn action() -> Yaml {
    load(&repo_file("action.yml"))
}

/// A minimal composite action; the properties below are shown to catch changes to it.
const MINIMAL_ACTION: &str = "\
name: x
description: x
inputs:
  src:
    default: registry-src
runs:
  using: composite
  steps:
    - id: cache
      uses: actions/cache/restore@v5
      with:
        path: x
        key: k
    - shell: bash
      working-directory: ${{ github.action_path }}
      run: cargo install --locked --path \"$GITHUB_ACTION_PATH\" --root \"$ROOT\"
    - if: inputs.command == 'build'
      uses: actions/cache/save@v5
      with:
        path: x
        key: k
    - shell: bash
      env:
        SRC: ${{ inputs.src }}
      run: mpk-registry check -- \"$SRC\"
";

fn action_with(from: &str, to: &str) -> Yaml {
    assert!(
        MINIMAL_ACTION.contains(from),
        "{from:?} is not in the action"
    );
    load(&MINIMAL_ACTION.replacen(from, to, 1))
}

/// `${{ }}` in `run:` is pasted into the script before the shell sees it: script injection.
fn inputs_only_through_env(action: &Yaml) -> Result<(), String> {
    for step in steps(action) {
        if let Some(run) = step["run"].as_str() {
            if run.contains("${{") {
                return Err(format!("an expression inside run: {run:?}"));
            }
        }
    }
    Ok(())
}

/// The tool comes from the action's own files, with its locked dependencies, and cargo runs
/// in the action's folder so that the caller's `.cargo/config.toml` is not read.
fn installs_from_own_files(action: &Yaml) -> Result<(), String> {
    let installs: Vec<&Yaml> = steps(action)
        .into_iter()
        .filter(|s| s["run"].as_str().is_some_and(|r| r.contains("cargo ")))
        .collect();
    let [install] = installs.as_slice() else {
        return Err(format!("{} steps run cargo, not one", installs.len()));
    };
    let run = install["run"].as_str().unwrap_or_default();
    for needed in [
        "cargo install",
        "--locked",
        "--path \"$GITHUB_ACTION_PATH\"",
    ] {
        if !run.contains(needed) {
            return Err(format!("the install step {run:?} lacks {needed}"));
        }
    }
    if install["working-directory"].as_str() != Some("${{ github.action_path }}") {
        return Err("the install step does not run in the action's folder".into());
    }
    Ok(())
}

/// Caches are restored by any command and saved only by `build` (which runs on the default
/// branch), never by `check`.
fn action_saves_caches_only_for_build(action: &Yaml) -> Result<(), String> {
    for step in steps(action) {
        let uses = uses(step);
        if uses.starts_with("actions/cache@") {
            return Err(format!("uses: {uses} saves the cache whatever the command"));
        }
        if uses.starts_with("actions/cache/save@")
            && !step["if"]
                .as_str()
                .is_some_and(|c| c.starts_with("inputs.command == 'build'"))
        {
            return Err(format!(
                "uses: {uses} saves the cache without if: inputs.command == 'build'"
            ));
        }
    }
    Ok(())
}

#[test]
fn action_run_steps_take_inputs_only_through_env() {
    inputs_only_through_env(&action()).unwrap_or_else(|e| panic!("action.yml: {e}"));
    inputs_only_through_env(&load(MINIMAL_ACTION)).expect("the minimal action is clean");
    let injected = action_with("check -- \"$SRC\"", "check -- ${{ inputs.src }}");
    assert!(inputs_only_through_env(&injected).is_err());
}

#[test]
fn action_installs_the_tool_from_its_own_files() {
    installs_from_own_files(&action()).unwrap_or_else(|e| panic!("action.yml: {e}"));
    installs_from_own_files(&load(MINIMAL_ACTION)).expect("the minimal action installs");
    let from_workspace = action_with("--path \"$GITHUB_ACTION_PATH\"", "--path .");
    assert!(installs_from_own_files(&from_workspace).is_err());
    let unlocked = action_with("--locked ", "");
    assert!(installs_from_own_files(&unlocked).is_err());
    let in_workspace = action_with("      working-directory: ${{ github.action_path }}\n", "");
    assert!(installs_from_own_files(&in_workspace).is_err());
    let builds_workspace = action_with(
        "    - shell: bash\n      env:",
        "    - shell: bash\n      run: cargo build --release\n    - shell: bash\n      env:",
    );
    assert!(installs_from_own_files(&builds_workspace).is_err());
}

// --- the action's script, run ----------------------------------------------------------------

/// A base commit, a pull request on top of it, and GitHub's merge commit of the two, in a bare
/// `origin`; `work` is a clone of it at the base, like the gate's checkout.
struct Remote {
    dir: TempDir,
    base: String,
    head: String,
    merge: String,
}

impl Remote {
    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }
}

/// A repository whose base is what `base` writes and whose pull request 7 adds what `change`
/// writes on top of it, pushed to `origin` with GitHub's refs.
fn remote_with(base: impl FnOnce(&Path), change: impl FnOnce(&Path)) -> Remote {
    let dir = tempfile::tempdir().expect("temporary folder");
    let author = dir.path().join("author");
    let origin = dir.path().join("origin.git");
    fs::create_dir_all(&author).expect("create the author's repository");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "origin.git"],
    );
    git(&author, &["init", "-q", "-b", "main"]);
    base(&author);
    git(&author, &["add", "."]);
    git(&author, &["commit", "-q", "-m", "base"]);
    let base = git(&author, &["rev-parse", "HEAD"]);
    change(&author);
    git(&author, &["add", "."]);
    git(&author, &["commit", "-q", "-m", "pull request"]);
    let head = git(&author, &["rev-parse", "HEAD"]);
    let tree = format!("{head}^{{tree}}");
    let merge = git(
        &author,
        &[
            "commit-tree",
            &tree,
            "-p",
            &base,
            "-p",
            &head,
            "-m",
            "merge",
        ],
    );
    let origin_url = origin.to_str().expect("UTF-8 path");
    git(&author, &["remote", "add", "origin", origin_url]);
    git(
        &author,
        &[
            "push",
            "-q",
            "origin",
            &format!("{base}:refs/heads/main"),
            &format!("{head}:refs/pull/7/head"),
            &format!("{merge}:refs/pull/7/merge"),
        ],
    );
    git(dir.path(), &["clone", "-q", origin_url, "work"]);
    Remote {
        dir,
        base,
        head,
        merge,
    }
}

/// A registry with only its settings; the pull request adds a package's settings.
fn remote() -> Remote {
    remote_with(
        |dir| {
            fs::create_dir_all(dir.join("registry-src")).expect("create registry-src");
            fs::write(dir.join("registry-src/registry.toml"), "title = \"t\"\n").expect("write");
        },
        |dir| {
            fs::create_dir_all(dir.join("registry-src/app")).expect("create a package folder");
            fs::write(
                dir.join("registry-src/app/package.toml"),
                "owners = [\"alice\"]\n",
            )
            .expect("write");
        },
    )
}

/// The script and environment of action.yml's step `run`.
fn run_step() -> (String, Vec<String>) {
    let action = action();
    let step = steps(&action)
        .into_iter()
        .find(|s| s["id"].as_str() == Some("run"))
        .expect("action.yml has a step with id: run");
    let env = step["env"]
        .as_hash()
        .expect("the run step has env")
        .keys()
        .map(|k| k.as_str().expect("env names are strings").to_owned())
        .collect();
    (
        step["run"]
            .as_str()
            .expect("the run step has run")
            .to_owned(),
        env,
    )
}

/// Runs the step as GitHub runs `shell: bash`, in `cwd`, with `inputs` for its `env:` (each
/// variable the step declares must be given). The tool is a stand-in that records its
/// arguments, one per line, which are returned; `MPK_REGISTRY` in `inputs` replaces it.
fn run_action(cwd: &Path, inputs: &[(&str, &str)]) -> (Output, Option<Vec<String>>) {
    let scratch = tempfile::tempdir().expect("temporary folder");
    let (script, declared) = run_step();
    let script_path = scratch.path().join("step.sh");
    fs::write(&script_path, script).expect("write the script");
    let tool = scratch.path().join("mpk-registry");
    let args = scratch.path().join("args");
    fs::write(
        &tool,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", args.display()),
    )
    .expect("write the stand-in");
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o755))
        .expect("make the stand-in executable");
    let mut env: BTreeMap<&str, &str> = [
        ("MPK_REGISTRY", tool.to_str().expect("UTF-8 path")),
        ("SRC", "registry-src"),
        ("OUTPUT", "public"),
        ("ACTOR", "alice"),
        ("PUSHER", ""),
        ("EVENT_BASE_REF", "main"),
        ("DEFAULT_BRANCH", "main"),
        ("FORMAT", "github"),
        ("TOKEN", ""),
        ("EVENT_PULL_REQUEST", ""),
        ("EVENT_HEAD_SHA", ""),
        ("MERGE_REF_ATTEMPTS", "1"),
        ("COMMAND", ""),
        ("PULL_REQUEST", ""),
    ]
    .into_iter()
    .collect();
    env.extend(inputs.iter().copied());
    for name in &declared {
        assert!(env.contains_key(name.as_str()), "the test gives no {name}");
    }
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail"])
        .arg(&script_path)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .envs(env)
        .output()
        .expect("run bash");
    let recorded = fs::read_to_string(&args)
        .ok()
        .map(|text| text.lines().map(str::to_owned).collect());
    (out, recorded)
}

/// Checks pull request 7 of `remote`, whose event names `head`.
fn check_pull_request(remote: &Remote, number: &str, head: &str) -> (Output, Option<Vec<String>>) {
    run_action(
        &remote.work(),
        &[
            ("COMMAND", "check"),
            ("PULL_REQUEST", number),
            ("EVENT_PULL_REQUEST", "7"),
            ("EVENT_HEAD_SHA", head),
        ],
    )
}

#[test]
fn action_check_judges_the_merge_commit_against_its_first_parent() {
    let remote = remote();
    let (out, args) = check_pull_request(&remote, "7", &remote.head);
    assert!(out.status.success(), "{}", stdout_and_stderr(&out));
    let expected: Vec<String> = [
        "check",
        "--base",
        &remote.base,
        "--head",
        &remote.merge,
        "--format=github",
        "--actor=alice",
        "--",
        "registry-src",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(args, Some(expected));
}

#[test]
fn action_check_leaves_the_work_tree_at_the_base() {
    let remote = remote();
    let (out, _) = check_pull_request(&remote, "7", &remote.head);
    assert!(out.status.success(), "{}", stdout_and_stderr(&out));
    let work = remote.work();
    assert_eq!(git(&work, &["rev-parse", "HEAD"]), remote.base);
    assert_eq!(git(&work, &["status", "--porcelain"]), "");
    assert!(!work.join("registry-src/app").exists());
    assert_eq!(
        git(&work, &["rev-parse", "refs/mpk-registry/merge"]),
        remote.merge
    );
}

#[test]
fn action_check_fails_clearly_without_a_merge_ref() {
    let remote = remote();
    let (out, args) = check_pull_request(&remote, "8", "");
    assert_eq!(out.status.code(), Some(2), "{}", stdout_and_stderr(&out));
    let text = stdout_and_stderr(&out);
    assert!(
        text.contains("GitHub has no merge commit for pull request #8")
            && text.contains("conflicts with its base branch"),
        "{text}"
    );
    assert_eq!(args, None, "the tool must not run");
}

#[test]
fn action_check_refuses_a_stale_merge_ref() {
    let remote = remote();
    let (out, args) = check_pull_request(&remote, "7", &remote.base);
    assert_eq!(out.status.code(), Some(2), "{}", stdout_and_stderr(&out));
    let text = stdout_and_stderr(&out);
    assert!(
        text.contains(&format!("not the pull request's head {}", remote.base))
            && text.contains("has not updated its merge commit"),
        "{text}"
    );
    assert_eq!(args, None, "the tool must not run");
}

#[test]
fn action_check_needs_a_pull_request_number() {
    let remote = remote();
    for number in ["", "7; rm -rf /", "0"] {
        let (out, args) = check_pull_request(&remote, number, &remote.head);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{number:?}: {}",
            stdout_and_stderr(&out)
        );
        assert!(stdout_and_stderr(&out).contains("check needs pull-request"));
        assert_eq!(args, None, "{number:?}: the tool must not run");
    }
}

#[test]
fn action_check_judges_the_author_and_the_pusher() {
    let remote = remote();
    let judged = |pusher: &str| {
        let (out, args) = run_action(
            &remote.work(),
            &[
                ("COMMAND", "check"),
                ("PULL_REQUEST", "7"),
                ("PUSHER", pusher),
            ],
        );
        assert!(out.status.success(), "{}", stdout_and_stderr(&out));
        args.expect("the tool ran")
            .into_iter()
            .filter(|a| a.starts_with("--actor"))
            .collect::<Vec<_>>()
    };
    assert_eq!(judged("bob"), ["--actor=alice", "--actor=bob"]);
    assert_eq!(judged("alice"), ["--actor=alice"]);
    assert_eq!(judged(""), ["--actor=alice"]);
}

#[test]
fn action_check_needs_an_actor() {
    let remote = remote();
    let (out, args) = run_action(
        &remote.work(),
        &[("COMMAND", "check"), ("PULL_REQUEST", "7"), ("ACTOR", "")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout_and_stderr(&out));
    assert!(stdout_and_stderr(&out).contains("check needs actor"));
    assert_eq!(args, None, "the tool must not run");
}

#[test]
fn action_check_refuses_a_base_other_than_the_default_branch() {
    let remote = remote();
    let (out, args) = run_action(
        &remote.work(),
        &[
            ("COMMAND", "check"),
            ("PULL_REQUEST", "7"),
            ("EVENT_BASE_REF", "release"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stdout_and_stderr(&out));
    assert!(
        stdout_and_stderr(&out).contains("based on 'release', not the default branch 'main'"),
        "{}",
        stdout_and_stderr(&out)
    );
    assert_eq!(args, None, "the tool must not run");
}

#[test]
fn action_build_passes_src_and_output() {
    let remote = remote();
    let (out, args) = run_action(
        &remote.work(),
        &[("COMMAND", "build"), ("SRC", "-src"), ("OUTPUT", "-site")],
    );
    assert!(out.status.success(), "{}", stdout_and_stderr(&out));
    let expected: Vec<String> = ["build", "--output=-site", "--", "-src"]
        .map(str::to_owned)
        .to_vec();
    assert_eq!(args, Some(expected));
}

#[test]
fn action_refuses_an_unknown_command() {
    let remote = remote();
    let (out, args) = run_action(&remote.work(), &[("COMMAND", "publish")]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout_and_stderr(&out));
    assert!(stdout_and_stderr(&out).contains("command must be check or build, not 'publish'"));
    assert_eq!(args, None);
}

/// The whole gate on a registry made by `init`: the action's script runs the real tool on a pull
/// request that edits the check workflow itself.
#[test]
fn action_check_refuses_a_workflow_edit_by_someone_not_a_maintainer() {
    let remote = remote_with(
        |dir| {
            init::init(&init::InitOptions {
                dir: dir.to_path_buf(),
                action: Some(PINNED.to_owned()),
                force: false,
                maintainers: Vec::new(),
            })
            .expect("init");
            let settings = dir.join("registry-src/registry.toml");
            let text = fs::read_to_string(&settings).expect("read registry.toml");
            let text = text.replace("maintainers = []", "maintainers = [\"alice\"]");
            fs::write(&settings, text).expect("write registry.toml");
        },
        |dir| {
            let workflow = dir.join(".github/workflows/registry-check.yml");
            let text = fs::read_to_string(&workflow).expect("read the workflow");
            let text = text.replace("pull_request_target", "pull_request");
            fs::write(&workflow, text).expect("write the workflow");
        },
    );
    let judge = |actor: &str| {
        let (out, _) = run_action(
            &remote.work(),
            &[
                ("MPK_REGISTRY", BIN),
                ("COMMAND", "check"),
                ("PULL_REQUEST", "7"),
                ("EVENT_PULL_REQUEST", "7"),
                ("EVENT_HEAD_SHA", &remote.head),
                ("ACTOR", actor),
                ("FORMAT", "text"),
            ],
        );
        (out.status.code(), stdout_and_stderr(&out))
    };
    let (code, text) = judge("mallory");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("change.outside-registry")
            && text.contains(".github/workflows/registry-check.yml"),
        "{text}"
    );
    let (code, text) = judge("alice");
    assert_eq!(code, Some(0), "a maintainer may change it: {text}");
}
