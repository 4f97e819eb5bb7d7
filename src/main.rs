//! The `mpk-registry` command: parses arguments and hands each command to its file in
//! `cmd/`, which calls the library and prints. The exit code is decided here, once: 0 all
//! good, 1 something was refused, 2 the tool could not do its job. A reader that went away
//! (`… | head -1`) is no error; for `check`, `verify` and `build` it changes nothing, since
//! their exit code is their verdict ([`cmd::report`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod progress;
mod signals;

/// Builds allocate and free per-bundle buffers from every core; glibc's allocator spends
/// measurable time on that and fragments (bench/RESULTS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "mpk-registry", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify the bundles under SRC and write the static registry site to OUT.
    Build(cmd::build::Args),
    /// The pull-request gate: verify what changed since BASE and enforce ownership,
    /// immutability and version rules.
    Check(cmd::check::Args),
    /// Scaffold a new registry repository: registry-src/ with its settings and a guide for
    /// publishers, and the check and deploy workflows pinned to a commit of this tool's action.
    Init(cmd::init::Args),
    /// Bring every bundle of a registry speaking the read API into a registry folder, verified.
    Import(cmd::import::Args),
    /// Download a bundle from a static registry, re-verifying the signed index, digests,
    /// the bundle itself and signer continuity before writing it.
    Fetch(cmd::fetch::Args),
    /// Preview a built site on 127.0.0.1, answering the read API as the deployed site does
    /// (docs/read-api.md): headers from _headers, the CORS preflight, every query form.
    Serve(cmd::serve::Args),
    /// Print the configuration a web server needs to serve a built site as the read API's
    /// contract (docs/read-api.md) says.
    HostConfig(cmd::host_config::Args),
    /// Verify bundles exactly as a Calimero node would, plus registry policy.
    Verify(cmd::verify::Args),
    /// Show what is inside a bundle: manifest, signer, ApplicationId, artifacts and digests.
    Inspect(cmd::inspect::Args),
    /// Write a new signing key in mero-sign's key file format (mode 0600).
    Keygen(cmd::keygen::Args),
    /// Make and sign a bundle from a manifest and its wasm/abi files (reproducible output).
    Pack(cmd::pack::Args),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Build(args) => cmd::build::run(args),
        Command::Check(args) => cmd::check::run(args),
        Command::Init(args) => cmd::init::run(args),
        Command::Import(args) => cmd::import::run(args),
        Command::Fetch(args) => cmd::fetch::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::HostConfig(args) => cmd::host_config::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Pack(args) => cmd::pack::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) if cmd::broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
