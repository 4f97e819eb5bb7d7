//! `host-config`: the configuration a web server needs to answer like the deployed site.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use mpk_registry::nginx;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    host: Host,
}

#[derive(clap::Subcommand)]
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

pub fn run(args: Args) -> Result<ExitCode> {
    match args.host {
        Host::Nginx { root, listen } => {
            let site = nginx::SiteNames::read(&root)?;
            super::out(&nginx::config(&site, listen)?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
