//! `build`: verify the registry source and write the static site.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use mpk_registry::keys::KeyFile;
use mpk_registry::site::{self, BuildOptions, IndexSigning};

use crate::progress;

#[derive(clap::Args)]
pub struct Args {
    /// The registry source folder.
    #[arg(default_value = "registry-src")]
    src: PathBuf,
    /// Where to write the site (replaced whole, only when every bundle passes; left as it is
    /// when nothing changed).
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
    /// Verification cache folder: unchanged bundles are not verified again, and an unchanged
    /// site is not rewritten. Safe to delete.
    #[arg(long, default_value = ".mpk-cache")]
    cache: PathBuf,
    /// Verify every bundle and write the whole site, ignoring the cache.
    #[arg(long)]
    no_cache: bool,
    /// Print how many bundles were verified and how many came from the cache.
    #[arg(short, long)]
    verbose: bool,
    /// Warnings are errors: a bundle's warnings, or no bundle published while .mpk files are
    /// under SRC, write nothing and exit 1.
    #[arg(long)]
    strict: bool,
    /// Let a source that publishes no bundle replace a site that has apps (refused otherwise:
    /// an empty or mistyped source folder would take the registry down).
    #[arg(long)]
    allow_empty: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let sign = match &args.sign_key {
        Some(path) => Some(IndexSigning {
            key: KeyFile::load(path)?,
            version: args.index_version,
            expires_after: args.expires,
        }),
        None => None,
    };
    let options = BuildOptions {
        src: args.src,
        out: args.output.clone(),
        jobs: args.jobs,
        sign,
        cache: (!args.no_cache).then_some(args.cache),
        strict: args.strict,
        allow_empty: args.allow_empty,
    };
    crate::signals::stop_builds_on_signals()?;
    let outcome = site::build_with(&options, &progress::Bar::default());
    let outcome = crate::signals::exit_if_received(outcome, &args.output)?;
    for note in outcome.notes() {
        eprintln!("{note}");
    }
    super::report(&outcome.to_text(&args.output, args.verbose))?;
    Ok(super::refused(
        !outcome.refused.is_empty() || outcome.held_back,
    ))
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
