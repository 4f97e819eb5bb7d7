//! The `mpk-registry` command: parses arguments, calls the library, prints, and owns the exit
//! code (0 all good, 1 something was refused, 2 the tool could not do its job).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod progress;

/// Builds allocate and free per-bundle buffers from every core; glibc's allocator spends
/// measurable time on that and fragments (bench/RESULTS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use mpk_registry::keys::KeyFile;
use mpk_registry::report::Rule;
use mpk_registry::verify::{self, Report};

#[derive(Parser)]
#[command(name = "mpk-registry", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    /// Workflow annotations on each file, plus a summary table in $GITHUB_STEP_SUMMARY.
    Github,
}

#[derive(Subcommand)]
enum Host {
    /// An nginx `server` block and the `map` blocks it needs, for nginx's `http` block. It
    /// names the site's packages, versions, developers and authors: print it again after
    /// every build.
    Nginx {
        /// The built site.
        #[arg(long)]
        root: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Verify the bundles under SRC and write the static registry site to OUT.
    Build {
        /// The registry source folder.
        #[arg(default_value = "registry-src")]
        src: PathBuf,
        /// Where to write the site (replaced whole, only when every bundle passes; left as it is when nothing changed).
        #[arg(short, long, default_value = "public")]
        output: PathBuf,
        /// Worker threads [default: one per core].
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Sign index.json with this key file (mero-sign format); its did:key must be listed
        /// in registry.toml `index_keys`.
        #[arg(long)]
        sign_key: Option<PathBuf>,
        /// Version of the signed index [default: number of commits on the source's branch].
        #[arg(long, requires = "sign_key")]
        index_version: Option<u64>,
        /// How long the signed index stays valid, counted from the HEAD commit's time
        /// (e.g. 14d, 36h).
        #[arg(long, default_value = "14d", value_parser = parse_duration)]
        expires: i64,
        /// Verification cache folder: unchanged bundles are not verified again, and an unchanged site is not rewritten. Safe to delete.
        #[arg(long, default_value = ".mpk-cache")]
        cache: PathBuf,
        /// Verify every bundle and write the whole site, ignoring the cache.
        #[arg(long)]
        no_cache: bool,
        /// Print how many bundles were verified and how many came from the cache.
        #[arg(short, long)]
        verbose: bool,
    },
    /// The pull-request gate: verify what changed since BASE and enforce ownership,
    /// immutability and version rules.
    Check {
        /// The registry source folder (inside a git work tree).
        #[arg(default_value = "registry-src")]
        src: PathBuf,
        /// The revision to compare with (the pull request's base).
        #[arg(long)]
        base: String,
        /// The revision holding the change [default: HEAD]. Both sides are read from git
        /// objects: uncommitted changes are not looked at, and the head never needs to be
        /// checked out.
        #[arg(long)]
        head: Option<String>,
        /// Who made the change (CI passes $GITHUB_ACTOR); enables the ownership rules.
        #[arg(long)]
        actor: Option<String>,
        /// Report format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Scaffold a new registry repository: registry-src/ with its settings and a guide for
    /// publishers, and the check and deploy workflows pinned to a commit of this tool's action.
    Init {
        /// The repository's folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The action to pin, as OWNER/REPO@<40-hex commit SHA> [default: the commit this
        /// tool was built from, when built from a git checkout].
        #[arg(long)]
        action: Option<String>,
        /// Replace files that already exist.
        #[arg(long)]
        force: bool,
    },
    /// Download a bundle from a static registry, re-verifying the signed index, digests,
    /// the bundle itself and signer continuity before writing it.
    Fetch {
        /// PACKAGE or PACKAGE@VERSION (a yanked version only when named).
        spec: String,
        /// The registry: an https:// URL or a folder holding a built site.
        #[arg(long)]
        registry: String,
        /// The registry key to trust (did:key) [default: the one pinned on first use].
        #[arg(long)]
        trust: Option<String>,
        /// Folder to write the bundle into.
        #[arg(short, long, default_value = ".")]
        output: PathBuf,
        /// Trust state file [default: $XDG_STATE_HOME/mpk-registry/trust.json].
        #[arg(long)]
        state: Option<PathBuf>,
        /// Accept an unsigned index (no protection against stale or mixed files).
        #[arg(long)]
        insecure: bool,
        /// Let the latest version be a prerelease.
        #[arg(long)]
        prerelease: bool,
    },
    /// Preview a built site on 127.0.0.1, answering the read API as the deployed site does
    /// (docs/read-api.md): headers from _headers, the CORS preflight, every query form.
    Serve {
        /// The built site.
        #[arg(default_value = "public")]
        dir: PathBuf,
        /// Port to listen on (0 picks a free one).
        #[arg(short, long, default_value_t = 8000)]
        port: u16,
    },
    /// Print the configuration a web server needs to serve a built site as the read API's
    /// contract (docs/read-api.md) says.
    HostConfig {
        #[command(subcommand)]
        host: Host,
    },
    /// Verify bundles exactly as a Calimero node would, plus registry policy.
    Verify {
        /// The .mpk files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON report (schema in docs/report.md) instead of text.
        #[arg(long)]
        json: bool,
        /// Accept bundles signed with the public development key (local test registries only).
        #[arg(long)]
        allow_dev_key: bool,
    },
    /// Show what is inside a bundle: manifest, signer, ApplicationId, artifacts and digests.
    Inspect {
        file: PathBuf,
        /// Print JSON: the verification report plus the manifest.
        #[arg(long)]
        json: bool,
    },
    /// Write a new signing key in mero-sign's key file format (mode 0600).
    Keygen {
        /// Where to write the key file.
        #[arg(short, long)]
        output: PathBuf,
        /// Replace an existing file (its key is lost).
        #[arg(long)]
        force: bool,
    },
    /// Make and sign a bundle from a manifest and its wasm/abi files (reproducible output).
    Pack {
        /// manifest.json without hashes or signature; artifact paths are relative to --root.
        manifest: PathBuf,
        /// The signing key file (mero-sign format).
        #[arg(short, long)]
        key: PathBuf,
        /// The bundle to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Folder the artifact paths are relative to [default: the manifest's folder].
        #[arg(long)]
        root: Option<PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Build {
            src,
            output,
            jobs,
            sign_key,
            index_version,
            expires,
            cache,
            no_cache,
            verbose,
        } => {
            let sign = match sign_key {
                Some(path) => Some(mpk_registry::site::IndexSigning {
                    key: KeyFile::load(&path)?,
                    version: index_version,
                    expires_after: expires,
                }),
                None => None,
            };
            let options = mpk_registry::site::BuildOptions {
                src,
                out: output.clone(),
                jobs,
                sign,
                cache: (!no_cache).then_some(cache),
            };
            let outcome = mpk_registry::site::build_with(&options, &progress::Bar::default())?;
            for report in outcome.refused.iter().chain(&outcome.warnings) {
                print!("{}", report.to_text());
            }
            for warning in &outcome.cache_warnings {
                eprintln!("warning: {warning}");
            }
            if verbose && outcome.up_to_date {
                println!(
                    "{} bundle(s): 0 verified ({} identified by git's index, {} read to be identified); inputs unchanged since the site at {} was built",
                    outcome.bundles,
                    outcome.identified_by_git,
                    outcome.named_by_reading,
                    output.display()
                );
            } else if verbose {
                println!(
                    "{} bundle(s): {} verified, {} from the cache ({} identified by git's index, {} read to be identified)",
                    outcome.bundles,
                    outcome.verified,
                    outcome.bundles - outcome.verified,
                    outcome.identified_by_git,
                    outcome.named_by_reading
                );
            }
            if !outcome.untracked.is_empty() {
                eprintln!(
                    "note: {} bundle(s) not tracked by git were left out (git add them to publish): {}",
                    outcome.untracked.len(),
                    outcome.untracked.join(", ")
                );
            }
            if outcome.up_to_date {
                println!(
                    "up to date {}: {} apps, {} bundles (nothing changed since it was built; --no-cache rebuilds)",
                    output.display(),
                    outcome.apps,
                    outcome.bundles
                );
                Ok(ExitCode::SUCCESS)
            } else if outcome.refused.is_empty() {
                println!(
                    "built {}: {} apps, {} bundles",
                    output.display(),
                    outcome.apps,
                    outcome.bundles
                );
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "refused {} file(s); nothing was written ({} is unchanged)",
                    outcome.refused.len(),
                    output.display()
                );
                Ok(ExitCode::from(1))
            }
        }
        Command::Check {
            src,
            base,
            head,
            actor,
            format,
        } => {
            use mpk_registry::check;
            let outcome = check::check(&check::CheckOptions {
                src,
                base,
                head,
                actor,
            })?;
            match format {
                Format::Text => print!("{}", check::to_text(&outcome)),
                Format::Json => println!("{}", check::to_json(&outcome)),
                Format::Github => {
                    print!("{}", check::to_github(&outcome));
                    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
                        use std::io::Write;
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(&path)
                            .and_then(|mut f| {
                                f.write_all(check::summary_markdown(&outcome).as_bytes())
                            })
                            .with_context(|| {
                                format!(
                                    "cannot write the step summary to {}",
                                    Path::new(&path).display()
                                )
                            })?;
                    }
                }
            }
            Ok(if outcome.refused() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Init { dir, action, force } => {
            use mpk_registry::init;
            let outcome = init::init(&init::InitOptions { dir, action, force })?;
            print!("{}", outcome.to_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch {
            spec,
            registry,
            trust,
            output,
            state,
            insecure,
            prerelease,
        } => {
            use mpk_registry::fetch::{self, FetchError, FetchOptions};
            let options = FetchOptions {
                spec,
                registry,
                trust,
                output,
                state,
                insecure,
                prerelease,
                now: None,
            };
            match fetch::fetch(&options) {
                Ok(got) => {
                    for note in &got.notes {
                        eprintln!("note: {note}");
                    }
                    println!(
                        "fetched {} {} (signed by {}, sha256 {})",
                        got.package, got.version, got.signer_id, got.bundle_sha256
                    );
                    println!("wrote {}", got.path.display());
                    println!(
                        "install it on a node with:\n  meroctl app install --path {}",
                        got.path.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(FetchError::Refused(reason)) => {
                    eprintln!("refused: {reason}");
                    Ok(ExitCode::from(1))
                }
                Err(FetchError::Failed(e)) => Err(e),
            }
        }
        Command::Serve { dir, port } => {
            mpk_registry::serve::serve(&dir, port)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::HostConfig {
            host: Host::Nginx { root, listen },
        } => {
            let site = mpk_registry::nginx::Site::read(&root)?;
            print!("{}", mpk_registry::nginx::config(&site, listen)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            files,
            json,
            allow_dev_key,
        } => {
            let options = verify::Options {
                allow_dev_key,
                ..Default::default()
            };
            let reports: Vec<Report> = files
                .iter()
                .map(|f| verify::verify_file(f, &f.display().to_string(), &options))
                .collect();
            if json {
                println!("{}", verify::reports_json(&reports));
            } else {
                for report in &reports {
                    print!("{}", report.to_text());
                }
                let refused = reports.iter().filter(|r| !r.ok).count();
                println!("{} verified, {refused} refused", reports.len() - refused);
            }
            Ok(verdict_code(&reports))
        }
        Command::Inspect { file, json } => {
            let report =
                verify::verify_file(&file, &file.display().to_string(), &Default::default());
            if json {
                println!("{}", verify::inspect_json(&report));
            } else {
                print!("{}", report.to_inspect_text());
            }
            Ok(verdict_code(std::slice::from_ref(&report)))
        }
        Command::Keygen { output, force } => {
            let key = mpk_registry::keys::generate()?;
            let file = KeyFile::from_signing_key(&key);
            file.write(&output, force)?;
            println!("wrote {} (mode 0600)", output.display());
            println!("signerId: {}", file.signer_id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Pack {
            manifest,
            key,
            output,
            root,
            force,
        } => {
            pack(&manifest, &key, &output, root.as_deref(), force)?;
            let report =
                verify::verify_file(&output, &output.display().to_string(), &Default::default());
            print!("{}", report.to_text());
            Ok(verdict_code(std::slice::from_ref(&report)))
        }
    }
}

fn pack(
    manifest: &Path,
    key: &Path,
    output: &Path,
    root: Option<&Path>,
    force: bool,
) -> Result<()> {
    let key = KeyFile::load(key)?;
    let text =
        std::fs::read(manifest).with_context(|| format!("cannot read {}", manifest.display()))?;
    let template = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a JSON object", manifest.display()))?;
    let root = root
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.parent().unwrap_or(Path::new(".")).to_path_buf());
    if output.exists() && !force {
        anyhow::bail!(
            "{} already exists; pass --force to replace it",
            output.display()
        );
    }
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    mpk_registry::pack::pack(template, &root, &key, &mut tmp)
        .with_context(|| format!("cannot pack {}", manifest.display()))?;
    tmp.persist(output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(())
}

/// `14d`, `36h`, `90m` or `600s`, in seconds.
fn parse_duration(text: &str) -> Result<i64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 14d or 36h"))?;
    let scale = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("{text:?}: the unit must be d, h, m or s")),
    };
    number
        .checked_mul(scale)
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("{text:?} must be a positive duration"))
}

/// 2 when a file could not be read at all, else 1 when anything was refused.
fn verdict_code(reports: &[Report]) -> ExitCode {
    if reports
        .iter()
        .any(|r| r.problems.iter().any(|p| p.rule == Rule::Io))
    {
        ExitCode::from(2)
    } else if reports.iter().any(|r| !r.ok) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
